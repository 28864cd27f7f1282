package filter_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
)

// compactFP is the false-positive target of the compaction tests: high
// enough that a measurement over 200 000 misses means something.
const compactFP = 1e-3

// burstExpiry is the expiry of the i-th token of a burst: all of a burst
// expire within one second, so they share one generation (30 minutes wide
// with an hour's max lifetime), which outgrows the prediction for it.
func burstExpiry(i int) time.Time {
	return epoch.Add(10*time.Minute + time.Duration(i%1000)*time.Millisecond)
}

func burstKey(i int) string { return fmt.Sprint("burst-", i) }

// addBurst adds burst tokens from next on, until done(Stats()) (asked
// every 32 adds) or limit tokens are in; it returns the next index and the
// most segments the jti kind had in the meantime.
func addBurst(t *testing.T, f *filter.Filter, next, limit int, done func(filter.Stats) bool) (int, int) {
	t.Helper()
	most := 0
	for ; next < limit; next++ {
		mustAddAt(t, f, jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: burstKey(next), Before: epoch, Expires: burstExpiry(next)}, epoch)
		if next%32 == 0 {
			st := f.Stats()
			most = max(most, kindStats(t, st, jwtrevoke.KindToken).Segments)
			if done(st) {
				return next + 1, most
			}
		}
	}
	return next, most
}

func compacted(st filter.Stats) bool { return st.Compactions > 0 }

// TestCompaction drives one generation of jti revocations past its
// prediction until it is rebuilt as one segment, beside revocations of
// another kind in the same window and of the same kind in a later window,
// and checks that no revoked key is lost, that never-revoked keys still
// answer NotRevoked at no more than the target false-positive rate, and
// that Stats shows the rebuild.
func TestCompaction(t *testing.T) {
	f := mustNew(t, filter.WithFalsePositiveRate(compactFP), filter.WithMaxTokenLifetime(time.Hour), filter.WithGrace(0))
	const others = 500
	for i := range others {
		// Same window, other kind; same kind, a later window.
		mustAddAt(t, f, revocation(jwtrevoke.KindSubject, fmt.Sprint("sub-", i), epoch, 10*time.Minute), epoch)
		mustAddAt(t, f, revocation(jwtrevoke.KindToken, fmt.Sprint("late-", i), epoch, 50*time.Minute), epoch)
	}
	before := f.Stats()
	n, most := addBurst(t, f, 0, 100_000, compacted)
	st := f.Stats()
	jti, sub := kindStats(t, st, jwtrevoke.KindToken), kindStats(t, st, jwtrevoke.KindSubject)
	// The later generation keeps its one segment throughout.
	burstMost := most - 1
	t.Logf("compacted after %d burst tokens: the burst's generation had %d segments, now 1; %d Bloom bytes", n, burstMost, st.BloomBytes)

	if st.Compactions != 1 {
		t.Fatalf("Stats().Compactions = %d after %d tokens in one window, want 1", st.Compactions, n)
	}
	if st.Evictions != 0 {
		t.Fatalf("Stats().Evictions = %d, want 0 (the default budget holds every entry)", st.Evictions)
	}
	// The burst's generation grew several segments and is one again; the
	// later generation and the other kind are untouched.
	if burstMost < 2 || jti.Generations != 2 || jti.Segments != 2 {
		t.Errorf("jti: burst generation had %d segments at most, then %d generations with %d segments, want ≥ 2, then 2 with 2 (one each)", burstMost, jti.Generations, jti.Segments)
	}
	if b := kindStats(t, before, jwtrevoke.KindSubject); sub.Segments != b.Segments || sub.BloomBytes != b.BloomBytes {
		t.Errorf("sub: %d segments of %d bytes after a jti compaction, want %d of %d as before", sub.Segments, sub.BloomBytes, b.Segments, b.BloomBytes)
	}
	if want := int64(n + others); jti.Entries != want {
		t.Errorf("jti Entries = %d, want %d", jti.Entries, want)
	}
	// The old segments' bytes were given back.
	var sum int64
	for _, ks := range st.Kinds {
		sum += ks.BloomBytes
	}
	if st.BloomBytes != sum {
		t.Errorf("Stats().BloomBytes = %d, want %d, the sum over kinds' segments", st.BloomBytes, sum)
	}
	if jti.EstimatedFPRate > compactFP {
		t.Errorf("jti EstimatedFPRate = %.2e after compaction, want ≤ %.0e", jti.EstimatedFPRate, compactFP)
	}

	checkRevoked(t, f, n, others)

	// Fill the rebuilt segment to the capacity it was sized for (the entry
	// past it opens a second segment), where its false-positive rate is at
	// its highest: every key is still found, and never-revoked keys meet
	// the target.
	n, _ = addBurst(t, f, n, 200_000, func(st filter.Stats) bool { return kindStats(t, st, jwtrevoke.KindToken).Segments > 2 })
	st = f.Stats()
	jti = kindStats(t, st, jwtrevoke.KindToken)
	if st.Compactions != 1 || jti.Segments != 3 {
		t.Fatalf("after %d burst tokens: Stats() = %d compactions, %d jti segments, want 1 and 3", n, st.Compactions, jti.Segments)
	}
	checkRevoked(t, f, n, others)
	if jti.EstimatedFPRate > compactFP {
		t.Errorf("jti EstimatedFPRate = %.2e with the rebuilt segment full, want ≤ %.0e", jti.EstimatedFPRate, compactFP)
	}
	const misses = 200_000
	now := epoch.Add(time.Minute)
	maybe0 := kindStats(t, f.Stats(), jwtrevoke.KindToken).Maybe // after checkRevoked's hits
	for i := range misses {
		key := fmt.Sprint("never-", i)
		if v := f.CheckKeyAt(jwtrevoke.KindToken, key, time.Time{}, now); v != filter.NotRevoked {
			t.Fatalf("CheckKeyAt(jti, %q) = %v, never revoked, want not_revoked", key, v)
		}
	}
	rate := float64(kindStats(t, f.Stats(), jwtrevoke.KindToken).Maybe-maybe0) / misses
	t.Logf("%d burst tokens: measured false-positive rate %.2e over %d misses (target %.0e, estimated %.2e)", n, rate, misses, compactFP, jti.EstimatedFPRate)
	if rate > compactFP {
		t.Errorf("measured false-positive rate %.2e with the rebuilt segment full, want ≤ %.0e", rate, compactFP)
	}
}

// checkRevoked checks that the first n burst tokens and the others of
// TestCompaction are all Revoked.
func checkRevoked(t *testing.T, f *filter.Filter, n, others int) {
	t.Helper()
	now := epoch.Add(time.Minute)
	for i := range n {
		if v := f.CheckKeyAt(jwtrevoke.KindToken, burstKey(i), time.Time{}, now); v != filter.Revoked {
			t.Fatalf("CheckKeyAt(jti, %q) = %v after compaction, want revoked", burstKey(i), v)
		}
	}
	for i := range others {
		if v := f.CheckKeyAt(jwtrevoke.KindToken, fmt.Sprint("late-", i), time.Time{}, now); v != filter.Revoked {
			t.Fatalf("CheckKeyAt(jti, late-%d) = %v after compaction, want revoked", i, v)
		}
		if v := f.CheckKeyAt(jwtrevoke.KindSubject, fmt.Sprint("sub-", i), epoch.Add(-time.Second), now); v != filter.Revoked {
			t.Fatalf("CheckKeyAt(sub, sub-%d) = %v after compaction, want revoked", i, v)
		}
	}
}

// TestCompactionSkippedAfterEviction adds the same burst twice: with room
// for every entry the generation is compacted, and under a budget that
// evicts some of its entries it is not (a rebuild from the exact entries
// would lose the evicted ones' bits). Either way no revoked key is reported
// NotRevoked.
func TestCompactionSkippedAfterEviction(t *testing.T) {
	const n = 12_000 // past the point where the first test compacts
	for _, tt := range []struct {
		name        string
		budget      int64
		compactions bool
	}{
		{"room for all", 64 << 20, true},
		{"evicting", 1 << 20, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := mustNew(t, filter.WithMemoryBudget(tt.budget), filter.WithFalsePositiveRate(compactFP), filter.WithMaxTokenLifetime(time.Hour), filter.WithGrace(0))
			never := func(filter.Stats) bool { return false }
			next := 0
			if !tt.compactions {
				// The burst's first tokens, then more settled "not
				// revoked" entries (exact entries without Bloom bits)
				// than the exact side holds: the oldest, the burst's own,
				// are evicted before its generation outgrows its
				// prediction.
				next, _ = addBurst(t, f, 0, 1000, never)
				for i := range 12_000 {
					if err := f.Settle(jwtrevoke.KindSubject, fmt.Sprint("fill-", i), nil, epoch); err != nil {
						t.Fatal(err)
					}
				}
			}
			addBurst(t, f, next, n, never)
			st := f.Stats()
			t.Logf("budget %d: %d compactions, %d evictions, %d segments", tt.budget, st.Compactions, st.Evictions, kindStats(t, st, jwtrevoke.KindToken).Segments)
			if got := st.Compactions > 0; got != tt.compactions {
				t.Errorf("Stats().Compactions = %d with %d evictions, want compactions %v", st.Compactions, st.Evictions, tt.compactions)
			}
			if got := st.Evictions > 0; got == tt.compactions {
				t.Fatalf("Stats().Evictions = %d, want evictions %v", st.Evictions, !tt.compactions)
			}
			now := epoch.Add(time.Minute)
			for i := range n {
				if v := f.CheckKeyAt(jwtrevoke.KindToken, burstKey(i), time.Time{}, now); v == filter.NotRevoked {
					t.Fatalf("CheckKeyAt(jti, %q) = not_revoked, want revoked or unknown", burstKey(i))
				}
			}
		})
	}
}

// TestCompactionConcurrentChecks checks revoked keys from other goroutines
// while a writer drives a generation through its compaction: a check that
// runs during the rebuild still finds every key added before it.
func TestCompactionConcurrentChecks(t *testing.T) {
	f := mustNew(t, filter.WithFalsePositiveRate(compactFP), filter.WithMaxTokenLifetime(time.Hour), filter.WithGrace(0))
	var added atomic.Int64 // burst tokens known to be in
	var checks atomic.Int64
	stop := make(chan struct{})
	var readers sync.WaitGroup
	now := epoch.Add(time.Minute)
	for r := range 2 {
		readers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 2026))
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := added.Load()
				if n == 0 {
					continue
				}
				key := burstKey(int(rng.Int64N(n)))
				checks.Add(1)
				if v := f.CheckKeyAt(jwtrevoke.KindToken, key, time.Time{}, now); v != filter.Revoked {
					t.Errorf("CheckKeyAt(jti, %q) = %v during compaction, want revoked", key, v)
					return
				}
			}
		})
	}
	const limit = 100_000
	var next int
	for next < limit && f.Stats().Compactions == 0 {
		for range 64 {
			mustAddAt(t, f, jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: burstKey(next), Before: epoch, Expires: burstExpiry(next)}, epoch)
			next++
			added.Store(int64(next))
		}
	}
	close(stop)
	readers.Wait()
	if c := f.Stats().Compactions; c != 1 {
		t.Fatalf("Stats().Compactions = %d after %d tokens, want 1", c, next)
	}
	t.Logf("%d concurrent checks while %d tokens were added", checks.Load(), next)
}
