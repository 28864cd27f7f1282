package filter

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newFilter(t testing.TB, opts ...Option) *Filter {
	t.Helper()
	f, err := New(opts...)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	return f
}

func rev(k jwtrevoke.Kind, key string, before time.Time, lifetime time.Duration) jwtrevoke.Revocation {
	return jwtrevoke.Revocation{Kind: k, Key: key, Before: before, Expires: before.Add(lifetime), Issued: before}
}

func TestCheckTable(t *testing.T) {
	sec := time.Second
	tests := []struct {
		name  string
		rev   jwtrevoke.Revocation
		tok   jwtrevoke.Token
		now   time.Time
		want  Verdict
		wantK jwtrevoke.Kind
	}{
		{"jti match", rev(jwtrevoke.KindToken, "j1", t0, time.Hour), jwtrevoke.Token{JTI: "j1"}, t0, Revoked, jwtrevoke.KindToken},
		{"jti other", rev(jwtrevoke.KindToken, "j1", t0, time.Hour), jwtrevoke.Token{JTI: "j2"}, t0, NotRevoked, 0},
		{"jti issued after still revoked", rev(jwtrevoke.KindToken, "j1", t0, time.Hour), jwtrevoke.Token{JTI: "j1", IssuedAt: t0.Add(time.Minute)}, t0, Revoked, jwtrevoke.KindToken},
		{"jti at expiry within grace", rev(jwtrevoke.KindToken, "j1", t0, time.Hour), jwtrevoke.Token{JTI: "j1"}, t0.Add(time.Hour), Revoked, jwtrevoke.KindToken},
		{"jti just before grace ends", rev(jwtrevoke.KindToken, "j1", t0, time.Hour), jwtrevoke.Token{JTI: "j1"}, t0.Add(time.Hour + 5*time.Minute - sec), Revoked, jwtrevoke.KindToken},
		{"jti after grace", rev(jwtrevoke.KindToken, "j1", t0, time.Hour), jwtrevoke.Token{JTI: "j1"}, t0.Add(time.Hour + 5*time.Minute), NotRevoked, 0},
		{"sub iat before cutoff", rev(jwtrevoke.KindSubject, "alice", t0, time.Hour), jwtrevoke.Token{JTI: "x", Subject: "alice", IssuedAt: t0.Add(-sec)}, t0, Revoked, jwtrevoke.KindSubject},
		{"sub iat equal cutoff", rev(jwtrevoke.KindSubject, "alice", t0, time.Hour), jwtrevoke.Token{JTI: "x", Subject: "alice", IssuedAt: t0}, t0, NotRevoked, 0},
		{"sub whole-second iat inside cutoff second", rev(jwtrevoke.KindSubject, "alice", t0.Add(500*time.Millisecond), time.Hour), jwtrevoke.Token{JTI: "x", Subject: "alice", IssuedAt: t0}, t0.Add(sec), Revoked, jwtrevoke.KindSubject},
		{"sub fractional iat after cutoff", rev(jwtrevoke.KindSubject, "alice", t0.Add(500*time.Millisecond), time.Hour), jwtrevoke.Token{JTI: "x", Subject: "alice", IssuedAt: t0.Add(700 * time.Millisecond)}, t0.Add(sec), NotRevoked, 0},
		{"sub no iat", rev(jwtrevoke.KindSubject, "alice", t0, time.Hour), jwtrevoke.Token{JTI: "x", Subject: "alice"}, t0, Revoked, jwtrevoke.KindSubject},
		{"sub other", rev(jwtrevoke.KindSubject, "alice", t0, time.Hour), jwtrevoke.Token{JTI: "x", Subject: "bob", IssuedAt: t0.Add(-sec)}, t0, NotRevoked, 0},
		{"sid before", rev(jwtrevoke.KindSession, "s1", t0, time.Hour), jwtrevoke.Token{JTI: "x", Session: "s1", IssuedAt: t0.Add(-sec)}, t0, Revoked, jwtrevoke.KindSession},
		{"sid after", rev(jwtrevoke.KindSession, "s1", t0, time.Hour), jwtrevoke.Token{JTI: "x", Session: "s1", IssuedAt: t0.Add(sec)}, t0, NotRevoked, 0},
		{"kid match", rev(jwtrevoke.KindKey, "k1", t0, time.Hour), jwtrevoke.Token{JTI: "x", KeyID: "k1", IssuedAt: t0.Add(sec)}, t0, Revoked, jwtrevoke.KindKey},
		{"kid other", rev(jwtrevoke.KindKey, "k1", t0, time.Hour), jwtrevoke.Token{JTI: "x", KeyID: "k2"}, t0, NotRevoked, 0},
		{"all before", rev(jwtrevoke.KindAll, "", t0, time.Hour), jwtrevoke.Token{JTI: "x", IssuedAt: t0.Add(-sec)}, t0, Revoked, jwtrevoke.KindAll},
		{"all equal", rev(jwtrevoke.KindAll, "", t0, time.Hour), jwtrevoke.Token{JTI: "x", IssuedAt: t0}, t0, NotRevoked, 0},
		{"all expired", rev(jwtrevoke.KindAll, "", t0, time.Hour), jwtrevoke.Token{JTI: "x", IssuedAt: t0.Add(-sec)}, t0.Add(2 * time.Hour), NotRevoked, 0},
		{"sub expired", rev(jwtrevoke.KindSubject, "alice", t0, time.Hour), jwtrevoke.Token{JTI: "x", Subject: "alice", IssuedAt: t0.Add(-sec)}, t0.Add(2 * time.Hour), NotRevoked, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFilter(t, WithMaxTokenLifetime(time.Hour))
			if err := f.AddAt(tt.rev, t0.Add(-time.Minute)); err != nil {
				t.Fatalf("step %d: AddAt(%+v) error = %v", i, tt.rev, err)
			}
			got, k := f.CheckAt(&tt.tok, tt.now)
			if got != tt.want || k != tt.wantK {
				t.Errorf("step %d: CheckAt(%+v, %v) = %v, %v, want %v, %v", i, tt.tok, tt.now, got, k, tt.want, tt.wantK)
			}
		})
	}
}

func TestAddRejects(t *testing.T) {
	f := newFilter(t)
	for _, r := range []jwtrevoke.Revocation{
		{Kind: 0, Key: "x", Before: t0, Expires: t0.Add(time.Hour)},
		{Kind: jwtrevoke.KindToken, Key: "", Before: t0, Expires: t0.Add(time.Hour)},
		{Kind: jwtrevoke.KindToken, Key: "x", Before: t0},
	} {
		if err := f.AddAt(r, t0); err == nil {
			t.Errorf("AddAt(%+v) = nil, want error", r)
		}
	}
	// Already expired: ignored, not an error.
	if err := f.AddAt(rev(jwtrevoke.KindToken, "old", t0.Add(-2*time.Hour), time.Hour), t0); err != nil {
		t.Errorf("AddAt(expired) = %v, want nil", err)
	}
	if st := f.Stats(); st.IgnoredExpired != 1 {
		t.Errorf("Stats().IgnoredExpired = %d, want 1", st.IgnoredExpired)
	}
}

func TestCutoffMerges(t *testing.T) {
	f := newFilter(t, WithMaxTokenLifetime(time.Hour))
	mustAdd(t, f, rev(jwtrevoke.KindSubject, "alice", t0.Add(10*time.Second), time.Hour), t0)
	mustAdd(t, f, rev(jwtrevoke.KindSubject, "alice", t0, time.Hour), t0) // older cut-off arrives late
	tok := jwtrevoke.Token{JTI: "x", Subject: "alice", IssuedAt: t0.Add(5 * time.Second)}
	if got, _ := f.CheckAt(&tok, t0.Add(20*time.Second)); got != Revoked {
		t.Errorf("CheckAt(iat between cut-offs) = %v, want revoked", got)
	}
	// The later expiry is kept too.
	if got, _ := f.CheckAt(&tok, t0.Add(time.Hour+9*time.Second)); got != Revoked {
		t.Errorf("CheckAt(after first expiry) = %v, want revoked", got)
	}
}

func mustAdd(t testing.TB, f *Filter, r jwtrevoke.Revocation, now time.Time) {
	t.Helper()
	if err := f.AddAt(r, now); err != nil {
		t.Fatalf("AddAt(%+v) error = %v", r, err)
	}
}

func TestExpiryDropsGenerations(t *testing.T) {
	f := newFilter(t, WithMaxTokenLifetime(time.Hour), WithGrace(0))
	for i := range 5000 {
		mustAdd(t, f, rev(jwtrevoke.KindToken, fmt.Sprint("j", i), t0, time.Duration(1+i%60)*time.Minute), t0)
	}
	before := f.Stats()
	if before.Kinds[0].Generations < 2 {
		t.Fatalf("generations = %d, want several", before.Kinds[0].Generations)
	}
	f.Expire(t0.Add(2 * time.Hour))
	after := f.Stats()
	if after.Kinds[0].Generations != 0 || after.BloomBytes != 0 || after.ExactEntries != 0 {
		t.Errorf("after expiry: generations %d, bloom bytes %d, exact %d, want 0, 0, 0",
			after.Kinds[0].Generations, after.BloomBytes, after.ExactEntries)
	}
	tok := jwtrevoke.Token{JTI: "j59"}
	if got, _ := f.CheckAt(&tok, t0.Add(2*time.Hour)); got != NotRevoked {
		t.Errorf("CheckAt(expired) = %v, want not_revoked", got)
	}
	// Partial expiry: the first half hour's entries go, the rest stay.
	f2 := newFilter(t, WithMaxTokenLifetime(time.Hour), WithGrace(0), WithGenerationWidth(10*time.Minute))
	for i := range 600 {
		mustAdd(t, f2, rev(jwtrevoke.KindToken, fmt.Sprint("j", i), t0, time.Duration(1+i%60)*time.Minute), t0)
	}
	g0 := f2.Stats().Kinds[0].Generations
	f2.Expire(t0.Add(31 * time.Minute))
	if g := f2.Stats().Kinds[0].Generations; g >= g0 || g == 0 {
		t.Errorf("generations after partial expiry = %d (from %d), want fewer but some", g, g0)
	}
	for i := range 600 {
		tok := jwtrevoke.Token{JTI: fmt.Sprint("j", i)}
		got, _ := f2.CheckAt(&tok, t0.Add(31*time.Minute))
		live := time.Duration(1+i%60)*time.Minute > 31*time.Minute
		if live && got != Revoked {
			t.Fatalf("CheckAt(%s) = %v, want revoked (live)", tok.JTI, got)
		}
	}
}

// TestPropertyNoFalseNegatives adds many revocations of every kind under a
// budget far too small to hold them and checks that an unexpired revoked
// token is never reported NotRevoked, and that a never-revoked token is
// never reported Revoked.
func TestPropertyNoFalseNegatives(t *testing.T) {
	seed := uint64(20261127)
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, seed))
	lifetime := 10 * time.Minute
	f := newFilter(t, WithMemoryBudget(1<<20), WithMaxTokenLifetime(lifetime), WithGrace(0), WithFalsePositiveRate(1e-3))
	type live struct {
		tok jwtrevoke.Token
		exp time.Time
	}
	var revoked []live
	now := t0
	n := 60000
	if testing.Short() {
		n = 20000
	}
	kinds := []jwtrevoke.Kind{jwtrevoke.KindToken, jwtrevoke.KindToken, jwtrevoke.KindToken, jwtrevoke.KindSubject, jwtrevoke.KindSession, jwtrevoke.KindKey}
	var unknown, checks int
	for i := range n {
		now = now.Add(time.Duration(r.IntN(20)) * time.Millisecond)
		k := kinds[r.IntN(len(kinds))]
		key := fmt.Sprintf("%v-%d", k, i)
		exp := now.Add(time.Duration(1+r.IntN(int(lifetime/time.Second))) * time.Second)
		rv := jwtrevoke.Revocation{Kind: k, Key: key, Before: now, Expires: exp, Issued: now}
		mustAdd(t, f, rv, now)
		tok := tokenFor(k, key, now.Add(-time.Second))
		if k != jwtrevoke.KindToken {
			tok.JTI = "other-" + key
		}
		revoked = append(revoked, live{tok, exp})
		if i%7 == 0 {
			for range 8 {
				c := revoked[r.IntN(len(revoked))]
				if !c.exp.After(now) {
					continue
				}
				if got, _ := f.CheckAt(&c.tok, now); got == NotRevoked {
					t.Fatalf("step %d: CheckAt(%+v, %v) = not_revoked, want revoked or unknown (exp %v)", i, c.tok, now, c.exp)
				}
			}
			clean := jwtrevoke.Token{JTI: fmt.Sprint("never-", i), Subject: fmt.Sprint("nobody-", i), IssuedAt: now}
			got, _ := f.CheckAt(&clean, now)
			checks++
			switch got {
			case Revoked:
				t.Fatalf("step %d: CheckAt(never revoked %+v) = revoked", i, clean)
			case Unknown:
				unknown++
			}
		}
	}
	st := f.Stats()
	if st.Evictions == 0 {
		t.Fatalf("Stats().Evictions = 0: the budget did not force evictions, the test proves nothing")
	}
	if st.Bytes > st.Budget {
		t.Errorf("Stats().Bytes = %d, want ≤ budget %d (Bloom %d, %d exact)", st.Bytes, st.Budget, st.BloomBytes, st.ExactEntries)
	}
	t.Logf("entries %d, exact %d/%d, evictions %d, unknown for clean tokens %d/%d", n, st.ExactEntries, st.ExactCapacity, st.Evictions, unknown, checks)
}

// TestFalsePositiveRate measures the Bloom false-positive rate over 1M keys
// that were never added, with no evictions: each Bloom "maybe" must be
// settled NotRevoked by the exact entries, and the rate must stay at its
// target as the set grows from nothing.
func TestFalsePositiveRate(t *testing.T) {
	const target = 1e-3
	// The generations' rate: the compact layer, checked first, would hide
	// most of their "maybe" answers (TestCompactFalsePositiveRate).
	f := newFilter(t, WithFalsePositiveRate(target), WithMaxTokenLifetime(time.Hour), withoutCompact())
	misses := 1_000_000
	if testing.Short() {
		misses = 250_000
	}
	for _, n := range []int{1000, 30_000, 200_000} {
		for i := f.Stats().Kinds[0].Added; i < uint64(n); i++ {
			mustAdd(t, f, rev(jwtrevoke.KindToken, fmt.Sprint("rev-", i), t0, time.Duration(1+i%3600)*time.Second), t0)
		}
		maybe0 := f.Stats().Kinds[0].Maybe
		for i := range misses {
			tok := jwtrevoke.Token{JTI: fmt.Sprint("miss-", n, "-", i)}
			if got, _ := f.CheckAt(&tok, t0); got != NotRevoked {
				t.Fatalf("CheckAt(%s) = %v, want not_revoked (no evictions)", tok.JTI, got)
			}
		}
		st := f.Stats()
		rate := float64(st.Kinds[0].Maybe-maybe0) / float64(misses)
		t.Logf("%d entries: measured fp %.2e (target %.0e), estimated %.2e, %d generations, %d segments, %.1f bits/entry",
			n, rate, target, st.Kinds[0].EstimatedFPRate, st.Kinds[0].Generations, st.Kinds[0].Segments, float64(st.BloomBytes*8)/float64(n))
		if rate > 1.5*target {
			t.Errorf("%d entries: measured false-positive rate %.2e, want ≤ %.2e", n, rate, 1.5*target)
		}
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	f := newFilter(t, WithMaxTokenLifetime(time.Hour))
	for i := range 1000 {
		mustAdd(t, f, rev(jwtrevoke.KindToken, fmt.Sprint("j", i), t0, time.Hour), t0)
		mustAdd(t, f, rev(jwtrevoke.KindSubject, fmt.Sprint("s", i), t0, time.Hour), t0)
	}
	mustAdd(t, f, rev(jwtrevoke.KindAll, "", t0.Add(-time.Hour), time.Hour), t0)
	miss := jwtrevoke.Token{JTI: "nope", Subject: "nobody", Session: "x", KeyID: "k", IssuedAt: t0}
	hit := jwtrevoke.Token{JTI: "j7", Subject: "s7", IssuedAt: t0.Add(-time.Second)}
	for _, tok := range []jwtrevoke.Token{miss, hit} {
		if a := testing.AllocsPerRun(1000, func() { f.CheckAt(&tok, t0) }); a != 0 {
			t.Errorf("CheckAt(%+v) allocates %v times per run, want 0", tok, a)
		}
	}
}

// TestConcurrentAddCheckExpire adds, checks and expires from several
// goroutines at once while time passes. Time is the filter's clock, and it
// moves with the writers' progress (each add moves it by step), never with
// the real clock: on a fast machine or a slow one the same revocations
// have expired by the end, and generations are dropped while the writers
// are still adding.
func TestConcurrentAddCheckExpire(t *testing.T) {
	const (
		writers, adds = 2, 20000
		lifetime      = time.Minute
		// 400 s of clock over the test: most entries expire before it
		// ends, the last minute's stay live.
		step = 10 * time.Millisecond
	)
	var finished atomic.Int64 // adds done, by every writer
	clock := func() time.Time { return t0.Add(time.Duration(finished.Load()) * step) }
	f := newFilter(t, WithMemoryBudget(1<<20), WithMaxTokenLifetime(lifetime), WithGrace(0), WithClock(clock))
	type record struct {
		kind jwtrevoke.Kind
		key  string
		exp  time.Time
	}
	added := make([][]record, writers)
	var writing, others sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		writing.Go(func() {
			for i := range adds {
				r := record{kind: jwtrevoke.Kind(1 + i%4), key: fmt.Sprintf("w%d-%d", w, i)}
				now := clock()
				r.exp = now.Add(lifetime)
				if err := f.Add(jwtrevoke.Revocation{Kind: r.kind, Key: r.key, Before: now, Expires: r.exp}); err != nil {
					t.Errorf("Add() error = %v", err)
					return
				}
				// Every add is found at once, while the others go on. (Unless
				// the entry expired meanwhile, which takes a minute of clock:
				// 6000 adds by the other writer.)
				if v := f.CheckKeyAt(r.kind, r.key, time.Time{}, now); v == NotRevoked && clock().Before(r.exp) {
					t.Errorf("CheckKeyAt(%v, %q) = not_revoked right after Add", r.kind, r.key)
					return
				}
				added[w] = append(added[w], r)
				finished.Add(1)
			}
		})
	}
	for range 2 {
		others.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok := jwtrevoke.Token{JTI: fmt.Sprint("r", i), Subject: "s", IssuedAt: clock()}
				if v, _ := f.Check(&tok); v == Revoked {
					t.Errorf("Check(%+v) = revoked, never revoked", tok)
					return
				}
			}
		})
	}
	others.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			f.Expire(clock())
			_ = f.Stats()
		}
	})
	writing.Wait()
	close(stop)
	others.Wait()

	end := clock()
	var live, expired int
	for w := range writers {
		for _, r := range added[w] {
			v := f.CheckKeyAt(r.kind, r.key, time.Time{}, end)
			switch {
			case r.exp.After(end):
				live++
				if v == NotRevoked {
					t.Fatalf("CheckKeyAt(%v, %q) = not_revoked at %v, expiring at %v, after concurrent adds", r.kind, r.key, end, r.exp)
				}
			case !r.exp.Add(time.Second).After(end): // entries keep whole seconds
				expired++
				if v == Revoked {
					t.Fatalf("CheckKeyAt(%v, %q) = revoked at %v, expired at %v", r.kind, r.key, end, r.exp)
				}
			}
		}
	}
	if live == 0 || expired == 0 {
		t.Fatalf("%d live and %d expired entries at the end: the test needs both", live, expired)
	}
	st := f.Stats()
	for _, ks := range st.Kinds[:4] {
		if ks.Generations > f.maxGenerations() {
			t.Errorf("%v: %d generations at the end, want ≤ %d: expired ones were not dropped", ks.Kind, ks.Generations, f.maxGenerations())
		}
	}
	t.Logf("%d live and %d expired entries at the end; %d exact, %d evictions", live, expired, st.ExactEntries, st.Evictions)
}

// TestBudgetHeld grows the live set far past what a 1 MiB budget holds at
// the target false-positive rate: the Bloom filters must stop growing at
// the budget (invariant 3) and still never answer NotRevoked for a live
// revocation (invariant 1).
func TestBudgetHeld(t *testing.T) {
	f := newFilter(t, WithMemoryBudget(1<<20), WithMaxTokenLifetime(time.Hour), WithGrace(0))
	const n = 300_000
	for i := range n {
		mustAdd(t, f, rev(jwtrevoke.KindToken, fmt.Sprint("b", i), t0, time.Duration(1+i%3600)*time.Second), t0)
		if i%50_000 == 0 {
			if st := f.Stats(); st.Bytes > st.Budget {
				t.Fatalf("after %d entries: Stats().Bytes = %d, want ≤ budget %d", i, st.Bytes, st.Budget)
			}
		}
	}
	st := f.Stats()
	if st.Bytes > st.Budget || st.OverBudget == 0 || st.Evictions == 0 {
		t.Fatalf("Stats() = bytes %d (budget %d), over-budget %d, evictions %d; want bytes ≤ budget, both counters > 0", st.Bytes, st.Budget, st.OverBudget, st.Evictions)
	}
	for i := 0; i < n; i += 97 {
		if v := f.CheckKeyAt(jwtrevoke.KindToken, fmt.Sprint("b", i), time.Time{}, t0); v == NotRevoked {
			t.Fatalf("CheckKeyAt(b%d) = not_revoked, want revoked or unknown", i)
		}
	}
	t.Logf("%d live entries in %d bytes (Bloom %d), %d exact", n, st.Bytes, st.BloomBytes, st.ExactEntries)
}

// withoutCompact turns the compact layer off, so a test can compare the
// generations' answers alone with the layer's.
func withoutCompact() Option {
	return func(c *config) error {
		c.noCompact = true
		return nil
	}
}
