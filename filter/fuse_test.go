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

// tokenFor is a token whose key of kind k is key, issued at iat.
func tokenFor(k jwtrevoke.Kind, key string, iat time.Time) jwtrevoke.Token {
	tok := jwtrevoke.Token{IssuedAt: iat}
	switch k {
	case jwtrevoke.KindToken:
		tok.JTI = key
	case jwtrevoke.KindSubject:
		tok.Subject = key
	case jwtrevoke.KindSession:
		tok.Session = key
	case jwtrevoke.KindKey:
		tok.KeyID = key
	}
	return tok
}

// TestCompactMatchesGenerations: a filter with the compact layer answers
// every check exactly as one without it, over a random history of every
// kind (merges of one key, expiries of whole generations, settled false
// positives), with checks made while its builds run. The budget holds
// every entry exactly, so both must agree to the verdict.
func TestCompactMatchesGenerations(t *testing.T) {
	r := rand.New(rand.NewPCG(20261201, 13))
	opts := []Option{WithMaxTokenLifetime(time.Hour), WithGenerationWidth(10 * time.Minute), WithGrace(0), WithMemoryBudget(256 << 20)}
	with := newFilter(t, opts...)
	without := newFilter(t, append(opts, withoutCompact())...)
	kinds := []jwtrevoke.Kind{jwtrevoke.KindToken, jwtrevoke.KindToken, jwtrevoke.KindSubject, jwtrevoke.KindSession, jwtrevoke.KindKey}
	now := t0
	n := 40_000
	if testing.Short() {
		n = 20_000
	}
	var keys []string // every key added, to ask about again
	compare := func(step int, tok jwtrevoke.Token) {
		vw, kw := with.CheckAt(&tok, now)
		vo, ko := without.CheckAt(&tok, now)
		if vw != vo || kw != ko {
			t.Fatalf("step %d, %+v at %v: with the layer %v (%v), without %v (%v)", step, tok, now, vw, kw, vo, ko)
		}
	}
	for i := range n {
		now = now.Add(time.Duration(r.IntN(60)) * time.Millisecond)
		k := kinds[r.IntN(len(kinds))]
		key := fmt.Sprintf("%v-%d", k, r.IntN(i+1)) // some keys come again: merges
		keys = append(keys, key)
		before := now.Add(-time.Duration(r.IntN(600)) * time.Second)
		rv := jwtrevoke.Revocation{Kind: k, Key: key, Before: before, Issued: now, Expires: now.Add(time.Duration(1+r.IntN(3600)) * time.Second)}
		mustAdd(t, with, rv, now)
		mustAdd(t, without, rv, now)
		if i%4096 == 4095 {
			// As an agent does after a replay; the checks below then run
			// while the build does.
			with.Compact()
		}
		if i%5 != 0 {
			continue
		}
		for range 4 {
			c := keys[r.IntN(len(keys))]
			kind := kinds[r.IntN(len(kinds))]
			compare(i, tokenFor(kind, c, now.Add(-time.Duration(r.IntN(1200))*time.Second)))
		}
		compare(i, tokenFor(kinds[r.IntN(len(kinds))], fmt.Sprint("never-", i), now))
	}
	with.Compact()
	with.WaitCompact()
	for i, key := range keys {
		for _, k := range kinds[1:] {
			compare(n+i, tokenFor(k, key, now.Add(-time.Duration(i%1200)*time.Second)))
		}
	}
	st := with.Stats()
	if st.CompactBuilds == 0 || !st.Kinds[0].CompactOn || st.Kinds[0].CompactKeys == 0 {
		t.Fatalf("the layer was never built (%d builds, jti layer on %v with %d keys): the comparison proves nothing", st.CompactBuilds, st.Kinds[0].CompactOn, st.Kinds[0].CompactKeys)
	}
	if st.Evictions != 0 || without.Stats().Evictions != 0 {
		t.Fatalf("evictions %d / %d: the budget was meant to hold every entry", st.Evictions, without.Stats().Evictions)
	}
	t.Logf("%d adds, %d builds, jti layer %d keys, %d bytes", n, st.CompactBuilds, st.Kinds[0].CompactKeys, st.Kinds[0].CompactBytes)
}

// TestCompactConcurrentNoFalseNegatives: while one goroutine adds (and
// builds follow in the background), others check keys already added and
// must never see one NotRevoked: a build replaces the recent segments only
// with a fuse filter holding their keys.
func TestCompactConcurrentNoFalseNegatives(t *testing.T) {
	f := newFilter(t, WithMaxTokenLifetime(time.Hour), WithMemoryBudget(64<<20))
	n := 60_000
	if testing.Short() {
		n = 30_000
	}
	var done atomic.Int64 // keys 0..done-1 have been added
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var checked atomic.Int64
	for w := range 2 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				d := done.Load()
				if d == 0 {
					continue
				}
				i := r.Int64N(d)
				tok := jwtrevoke.Token{JTI: fmt.Sprint("k-", i)}
				if v, _ := f.CheckAt(&tok, t0); v != Revoked {
					t.Errorf("key %d of %d added: %v, want revoked", i, d, v)
					return
				}
				checked.Add(1)
			}
		})
	}
	for i := range n {
		mustAdd(t, f, rev(jwtrevoke.KindToken, fmt.Sprint("k-", i), t0, time.Duration(1+i%3000)*time.Second), t0)
		done.Store(int64(i + 1))
	}
	f.Compact()
	f.WaitCompact()
	close(stop)
	wg.Wait()
	st := f.Stats()
	if st.CompactBuilds < 2 {
		t.Fatalf("%d builds over %d adds: the checks did not run across builds", st.CompactBuilds, n)
	}
	if got := st.Kinds[0].CompactKeys; got != n {
		t.Errorf("after the last build the layer holds %d keys, want %d", got, n)
	}
	t.Logf("%d checks during %d adds and %d builds", checked.Load(), n, st.CompactBuilds)
}

// TestCompactFalsePositiveRate: once built, the layer alone rejects nearly
// every key never added (the fuse filter's 8-bit fingerprints: about
// 1/256), so the generations are rarely probed.
func TestCompactFalsePositiveRate(t *testing.T) {
	f := newFilter(t, WithMaxTokenLifetime(time.Hour))
	const n, misses = 100_000, 100_000
	for i := range n {
		mustAdd(t, f, rev(jwtrevoke.KindToken, fmt.Sprint("rev-", i), t0, time.Duration(1+i%3600)*time.Second), t0)
	}
	f.WaitCompact()
	p := f.view.Load().pre[0]
	if p == nil || p.fuse == nil {
		t.Fatal("no fuse filter after the builds")
	}
	var maybe int
	for i := range misses {
		if p.mayHold(f.hash(jwtrevoke.KindToken, fmt.Sprint("miss-", i))) {
			maybe++
		}
	}
	rate := float64(maybe) / misses
	t.Logf("%d keys: layer false-positive rate %.2e (%d recent segments, %d keys in the fuse filter)", n, rate, len(p.recent), p.keys)
	if rate > 8e-3 {
		t.Errorf("layer false-positive rate %.2e, want ≤ 8e-3 (fuse 8-bit ≈ 3.9e-3 plus the recent part's 1e-3)", rate)
	}
}

// TestCompactOffPastShare: a kind whose hashes outgrow a quarter of the
// budget drops its layer (checks go on from the generations alone, within
// the budget), and gets it back once its generations have all expired.
func TestCompactOffPastShare(t *testing.T) {
	f := newFilter(t, WithMaxTokenLifetime(time.Hour), WithGrace(0), WithMemoryBudget(1<<20))
	n := 40_000 // 320 KB of hashes, past the 256 KiB share
	for i := range n {
		mustAdd(t, f, rev(jwtrevoke.KindToken, fmt.Sprint("rev-", i), t0, time.Duration(60+i%3000)*time.Second), t0)
	}
	f.WaitCompact()
	st := f.Stats()
	if st.CompactOff == 0 || st.Kinds[0].CompactOn || st.CompactBytes != 0 {
		t.Fatalf("after %d keys in a 1 MiB budget: CompactOff %d, layer on %v, %d bytes; want it dropped", n, st.CompactOff, st.Kinds[0].CompactOn, st.CompactBytes)
	}
	if st.Bytes > st.Budget {
		t.Errorf("filter holds %d bytes, over its %d budget", st.Bytes, st.Budget)
	}
	for i := range n {
		tok := jwtrevoke.Token{JTI: fmt.Sprint("rev-", i)}
		if v, _ := f.CheckAt(&tok, t0); v == NotRevoked {
			t.Fatalf("revoked key %d answers not_revoked with the layer dropped", i)
		}
	}
	later := t0.Add(2 * time.Hour)
	f.Expire(later)
	mustAdd(t, f, rev(jwtrevoke.KindToken, "again", later, time.Minute), later)
	if st := f.Stats(); !st.Kinds[0].CompactOn {
		t.Error("the layer did not come back once every generation had expired")
	}
	if v, _ := f.CheckAt(&jwtrevoke.Token{JTI: "again"}, later); v != Revoked {
		t.Errorf("key added after the layer came back: %v, want revoked", v)
	}
}

// TestCompactOffForALargeReplay: a replay announced (Expect) with more
// keys than the layer's share does not build a layer it would drop.
func TestCompactOffForALargeReplay(t *testing.T) {
	f := newFilter(t, WithMemoryBudget(1<<20))
	f.Expect(1 << 20)
	mustAdd(t, f, rev(jwtrevoke.KindToken, "a", t0, time.Minute), t0)
	if st := f.Stats(); st.Kinds[0].CompactOn || st.CompactBuilds != 0 {
		t.Fatalf("layer on %v after %d builds; want none for a replay of 1M keys in a 1 MiB budget", st.Kinds[0].CompactOn, st.CompactBuilds)
	}
	if v, _ := f.CheckAt(&jwtrevoke.Token{JTI: "a"}, t0); v != Revoked {
		t.Errorf("check = %v, want revoked", v)
	}
}

// TestCompactRebuiltAfterExpiry: when a generation expires, the fuse
// filter is built again without its keys.
func TestCompactRebuiltAfterExpiry(t *testing.T) {
	f := newFilter(t, WithMaxTokenLifetime(time.Hour), WithGenerationWidth(10*time.Minute), WithGrace(0))
	for i := range 30_000 {
		life := 5 * time.Minute // the first generation
		if i%3 == 0 {
			life = 45 * time.Minute
		}
		mustAdd(t, f, rev(jwtrevoke.KindToken, fmt.Sprint("rev-", i), t0, life), t0)
	}
	f.Compact()
	f.WaitCompact()
	if got := f.Stats().Kinds[0].CompactKeys; got != 30_000 {
		t.Fatalf("layer holds %d keys, want 30000", got)
	}
	f.Expire(t0.Add(20 * time.Minute))
	f.WaitCompact()
	if got := f.Stats().Kinds[0].CompactKeys; got != 10_000 {
		t.Errorf("after the first generation expired the layer holds %d keys, want 10000", got)
	}
}

// TestCheckDoesNotAllocateCompact: a check through a built layer
// allocates nothing either.
func TestCheckDoesNotAllocateCompact(t *testing.T) {
	f := newFilter(t, WithMaxTokenLifetime(time.Hour))
	for i := range 50_000 {
		mustAdd(t, f, rev(jwtrevoke.KindToken, fmt.Sprint("j", i), t0, time.Hour), t0)
	}
	f.WaitCompact()
	if f.view.Load().pre[0].fuse == nil {
		t.Fatal("no fuse filter built")
	}
	for _, tok := range []jwtrevoke.Token{{JTI: "nope"}, {JTI: "j7"}} {
		if a := testing.AllocsPerRun(1000, func() { f.CheckAt(&tok, t0) }); a != 0 {
			t.Errorf("CheckAt(%+v) allocates %v times per run, want 0", tok, a)
		}
	}
}
