package filter

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/jwtrevoke/jwtrevoke"
)

// Benchmarks compare the filter with the structures users would otherwise
// write, holding the same keys, in one run:
//
//	go test -run '^$' -bench . -benchmem -cpu 1,2 ./filter
//
// Keys are 36-byte UUID-shaped strings from a fixed seed (benchSeed).

const benchSeed = 42

func uuidKey(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(a), uint16(a>>32), uint16(a>>48), uint16(b), b>>16&0xffffffffffff)
}

type corpus struct {
	revoked []string // keys that are revoked
	clean   []string // keys that are not
}

var (
	corpusMu sync.Mutex
	corpora  = map[int]*corpus{}
	filters  = map[int]*Filter{}
)

func benchCorpus(n int) *corpus {
	corpusMu.Lock()
	defer corpusMu.Unlock()
	if c := corpora[n]; c != nil {
		return c
	}
	r := rand.New(rand.NewPCG(benchSeed, uint64(n)))
	c := &corpus{revoked: make([]string, n), clean: make([]string, 1<<16)}
	for i := range c.revoked {
		c.revoked[i] = uuidKey(r)
	}
	for i := range c.clean {
		c.clean[i] = uuidKey(r)
	}
	corpora[n] = c
	return c
}

// benchFilter holds n jti revocations with expiries spread over a 1 h
// lifetime, plus 1% as many subject, session and key revocations, loaded as
// an agent's replay is (Expect, then Compact once it is in).
func benchFilter(b testing.TB, n int) *Filter { return benchFilterOf(b, n, true) }

// benchFilterOf is benchFilter with the compact layer on or off.
func benchFilterOf(b testing.TB, n int, compact bool) *Filter {
	c := benchCorpus(n)
	corpusMu.Lock()
	defer corpusMu.Unlock()
	key := n
	if !compact {
		key = -n
	}
	if f := filters[key]; f != nil {
		return f
	}
	opts := []Option{WithMaxTokenLifetime(time.Hour), WithMemoryBudget(256 << 20)}
	if !compact {
		opts = append(opts, withoutCompact())
	}
	f := newFilter(b, opts...)
	f.Expect(int64(n))
	for i, k := range c.revoked {
		mustAdd(b, f, jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: k, Before: t0, Expires: t0.Add(time.Duration(1+i%3600) * time.Second)}, t0)
		if i%100 == 0 {
			for _, kind := range []jwtrevoke.Kind{jwtrevoke.KindSubject, jwtrevoke.KindSession, jwtrevoke.KindKey} {
				mustAdd(b, f, jwtrevoke.Revocation{Kind: kind, Key: k, Before: t0, Expires: t0.Add(time.Hour)}, t0)
			}
		}
	}
	f.Expect(0)
	f.Compact()
	f.WaitCompact()
	filters[key] = f
	return f
}

type rwMap struct {
	mu sync.RWMutex
	m  map[string]struct{}
}

func (m *rwMap) has(k string) bool {
	m.mu.RLock()
	_, ok := m.m[k]
	m.mu.RUnlock()
	return ok
}

func run(b *testing.B, parallel bool, fn func(i int)) {
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for i := range b.N {
			fn(i)
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(1 << 16)
		for pb.Next() {
			fn(i)
			i++
		}
	})
}

// BenchmarkNegative: a token whose jti is not revoked, jti checked only.
func BenchmarkNegative(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		c := benchCorpus(n)
		mask := len(c.clean) - 1
		for _, mode := range []string{"serial", "parallel"} {
			par := mode == "parallel"
			b.Run(fmt.Sprintf("n=%d/filter/%s", n, mode), func(b *testing.B) {
				f := benchFilter(b, n)
				now := t0
				run(b, par, func(i int) {
					if f.CheckKeyAt(jwtrevoke.KindToken, c.clean[i&mask], now, now) != NotRevoked {
						b.Fatal("clean key revoked")
					}
				})
			})
			b.Run(fmt.Sprintf("n=%d/filter-generations-only/%s", n, mode), func(b *testing.B) {
				f := benchFilterOf(b, n, false)
				now := t0
				run(b, par, func(i int) {
					if f.CheckKeyAt(jwtrevoke.KindToken, c.clean[i&mask], now, now) != NotRevoked {
						b.Fatal("clean key revoked")
					}
				})
			})
			b.Run(fmt.Sprintf("n=%d/rwmutex-map/%s", n, mode), func(b *testing.B) {
				m := &rwMap{m: make(map[string]struct{}, n)}
				for _, k := range c.revoked {
					m.m[k] = struct{}{}
				}
				run(b, par, func(i int) {
					if m.has(c.clean[i&mask]) {
						b.Fatal("clean key revoked")
					}
				})
			})
			b.Run(fmt.Sprintf("n=%d/sync-map/%s", n, mode), func(b *testing.B) {
				var m sync.Map
				for _, k := range c.revoked {
					m.Store(k, struct{}{})
				}
				run(b, par, func(i int) {
					if _, ok := m.Load(c.clean[i&mask]); ok {
						b.Fatal("clean key revoked")
					}
				})
			})
		}
	}
}

// BenchmarkFull: a clean token checked against every kind (jti, sub, sid,
// kid, all); the maps do the same four lookups.
func BenchmarkFull(b *testing.B) {
	n := 1_000_000
	c := benchCorpus(n)
	mask := len(c.clean) - 1
	for _, mode := range []string{"serial", "parallel"} {
		par := mode == "parallel"
		b.Run("filter/"+mode, func(b *testing.B) {
			f := benchFilter(b, n)
			toks := make([]jwtrevoke.Token, len(c.clean))
			for i, k := range c.clean {
				toks[i] = jwtrevoke.Token{JTI: k, Subject: "user-" + k[:8], Session: k[9:], KeyID: "key-1", IssuedAt: t0}
			}
			run(b, par, func(i int) {
				if v, _ := f.CheckAt(&toks[i&mask], t0); v != NotRevoked {
					b.Fatal("clean token revoked")
				}
			})
		})
		b.Run("rwmutex-map/"+mode, func(b *testing.B) {
			m := &rwMap{m: make(map[string]struct{}, n)}
			for i, k := range c.revoked {
				m.m["jti:"+k] = struct{}{}
				if i%100 == 0 {
					m.m["sub:"+k] = struct{}{}
					m.m["sid:"+k] = struct{}{}
					m.m["kid:"+k] = struct{}{}
				}
			}
			keys := make([][4]string, len(c.clean))
			for i, k := range c.clean {
				keys[i] = [4]string{"jti:" + k, "sub:user-" + k[:8], "sid:" + k[9:], "kid:key-1"}
			}
			run(b, par, func(i int) {
				ks := &keys[i&mask]
				if m.has(ks[0]) || m.has(ks[1]) || m.has(ks[2]) || m.has(ks[3]) {
					b.Fatal("clean token revoked")
				}
			})
		})
	}
}

// BenchmarkPositive: a revoked jti (the compact layer's or the Bloom's
// "maybe", settled by the exact entry), beside the map's hit.
func BenchmarkPositive(b *testing.B) {
	n := 1_000_000
	c := benchCorpus(n)
	for _, mode := range []string{"serial", "parallel"} {
		b.Run("filter/"+mode, func(b *testing.B) {
			f := benchFilter(b, n)
			run(b, mode == "parallel", func(i int) {
				if f.CheckKeyAt(jwtrevoke.KindToken, c.revoked[i&0xffff], t0, t0) != Revoked {
					b.Fatal("revoked key not revoked")
				}
			})
		})
		b.Run("filter-generations-only/"+mode, func(b *testing.B) {
			f := benchFilterOf(b, n, false)
			run(b, mode == "parallel", func(i int) {
				if f.CheckKeyAt(jwtrevoke.KindToken, c.revoked[i&0xffff], t0, t0) != Revoked {
					b.Fatal("revoked key not revoked")
				}
			})
		})
		b.Run("rwmutex-map/"+mode, func(b *testing.B) {
			m := &rwMap{m: make(map[string]struct{}, n)}
			for _, k := range c.revoked {
				m.m[k] = struct{}{}
			}
			run(b, mode == "parallel", func(i int) {
				if !m.has(c.revoked[i&0xffff]) {
					b.Fatal("revoked key not found")
				}
			})
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkBytesPerEntry measures the heap held per live jti revocation
// while every entry fits the LRU, beside the structures users would write.
func BenchmarkBytesPerEntry(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		c := benchCorpus(n)
		measure := func(b *testing.B, build func() any) {
			for b.Loop() {
				before := heapInUse()
				v := build()
				after := heapInUse()
				runtime.KeepAlive(v)
				b.ReportMetric(float64(after-before)/float64(n), "B/entry")
			}
		}
		b.Run(fmt.Sprintf("n=%d/filter", n), func(b *testing.B) {
			measure(b, func() any {
				f := newFilter(b, WithMaxTokenLifetime(time.Hour), WithMemoryBudget(1<<30))
				f.Expect(int64(n))
				for i, k := range c.revoked {
					mustAdd(b, f, jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: k, Before: t0, Expires: t0.Add(time.Duration(1+i%3600) * time.Second)}, t0)
				}
				if st := f.Stats(); st.Evictions != 0 {
					b.Fatalf("evictions = %d, want 0", st.Evictions)
				}
				return f
			})
		})
		b.Run(fmt.Sprintf("n=%d/map-string", n), func(b *testing.B) {
			measure(b, func() any {
				m := make(map[string]struct{})
				for _, k := range c.revoked {
					m[string([]byte(k))] = struct{}{}
				}
				return m
			})
		})
		b.Run(fmt.Sprintf("n=%d/lru-string", n), func(b *testing.B) {
			measure(b, func() any {
				m, _ := lru.New[string, struct{}](n)
				for _, k := range c.revoked {
					m.Add(string([]byte(k)), struct{}{})
				}
				return m
			})
		})
	}
}

// BenchmarkTenMillion holds 10M live jti revocations in a 64 MiB budget and
// reports bytes, evictions, and the Unknown rate for clean tokens. It fails
// if any revoked token is reported NotRevoked. Run it alone:
//
//	go test -run '^$' -bench TenMillion -benchtime 1x ./filter
func BenchmarkTenMillion(b *testing.B) {
	const n = 10_000_000
	// spread: expiries even over the 1 h max lifetime (the steady state);
	// short: 15-minute tokens under a 24 h max lifetime, so every expiry
	// falls in one or two generations (a replay of a typical deployment).
	for _, c := range []struct {
		name     string
		lifetime time.Duration
		exp      func(i int) time.Duration
	}{
		{"spread", time.Hour, func(i int) time.Duration { return time.Duration(1+i%3600) * time.Second }},
		{"short", 24 * time.Hour, func(i int) time.Duration { return time.Duration(1+i%900) * time.Second }},
	} {
		b.Run(c.name, func(b *testing.B) { benchTenMillion(b, n, c.lifetime, c.exp) })
	}
}

func benchTenMillion(b *testing.B, n int, lifetime time.Duration, expIn func(int) time.Duration) {
	for b.Loop() {
		r := rand.New(rand.NewPCG(benchSeed, uint64(n)))
		f := newFilter(b, WithMaxTokenLifetime(lifetime), WithMemoryBudget(64<<20))
		f.Expect(int64(n))
		base := heapInUse()
		keys := make([]uint64, n) // the keys are regenerated from these, not kept as strings
		for i := range keys {
			keys[i] = r.Uint64()
			mustAdd(b, f, jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("%016x", keys[i]), Before: t0, Expires: t0.Add(expIn(i))}, t0)
		}
		heap := heapInUse() - base - uint64(n*8)
		st := f.Stats()
		var missed int
		for i, k := range keys {
			if f.CheckKeyAt(jwtrevoke.KindToken, fmt.Sprintf("%016x", k), t0, t0) == NotRevoked {
				missed++
				if missed < 5 {
					b.Errorf("key %d reported not revoked", i)
				}
			}
		}
		const clean = 2_000_000
		var unknown int
		for i := range clean {
			if f.CheckKeyAt(jwtrevoke.KindToken, fmt.Sprintf("clean-%d", i), t0, t0) == Unknown {
				unknown++
			}
		}
		b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(st.Bytes)/(1<<20), "est-MiB")
		b.ReportMetric(float64(missed), "false-negatives")
		b.ReportMetric(float64(unknown)/clean, "unknown-rate")
		b.ReportMetric(float64(st.Evictions), "evictions")
		b.ReportMetric(float64(st.OverBudget), "over-budget-segments")
		b.Logf("heap %.1f MiB (estimate %.1f), bloom %.1f MiB, exact %d, evictions %d, false negatives %d, unknown %d/%d",
			float64(heap)/(1<<20), float64(st.Bytes)/(1<<20), float64(st.BloomBytes)/(1<<20), st.ExactEntries, st.Evictions, missed, unknown, clean)
	}
}

// BenchmarkAdd: what one revocation costs the writer (a replay or a
// snapshot load), with every entry kept exact and with a budget that keeps
// about a tenth of them, over 1M jti revocations spread over a 1 h lifetime.
//
//	go test -run '^$' -bench BenchmarkAdd -benchtime 1x ./filter
func BenchmarkAdd(b *testing.B) {
	const n = 1_000_000
	c := benchCorpus(n)
	for _, bc := range []struct {
		name   string
		budget int64
	}{{"exact", 256 << 20}, {"evicting", 8 << 20}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				f := newFilter(b, WithMaxTokenLifetime(time.Hour), WithMemoryBudget(bc.budget))
				f.Expect(n)
				for i, k := range c.revoked {
					mustAdd(b, f, jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: k, Before: t0, Expires: t0.Add(time.Duration(1+i%3600) * time.Second)}, t0)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
		})
	}
}

// BenchmarkHundredMillion holds 100M live jti revocations, expiries spread
// over a 1 h lifetime, in a 512 MiB budget, loaded as an agent loads a
// snapshot (AddBatchAt, 4,096 at a time, each batch told how many follow).
// It reports the heap the filter holds, the false negatives over every
// tenth revoked key (10M), and the Unknown rate over 10M clean keys; it
// fails on any false negative. It needs about 2 GiB and a few minutes; run
// it alone:
//
//	go test -run '^$' -bench HundredMillion -benchtime 1x -timeout 30m ./filter
func BenchmarkHundredMillion(b *testing.B) {
	const n, batch = 100_000_000, 4096
	for b.Loop() {
		r := rand.New(rand.NewPCG(benchSeed, n))
		f := newFilter(b, WithMaxTokenLifetime(time.Hour), WithMemoryBudget(512<<20))
		f.Expect(n)
		keys := make([]uint64, n) // the keys are regenerated from these, not kept as strings
		for i := range keys {
			keys[i] = r.Uint64()
		}
		base := heapInUse()
		start := time.Now()
		rs := make([]jwtrevoke.Revocation, 0, batch)
		for i, k := range keys {
			rs = append(rs, jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("%016x", k), Before: t0, Expires: t0.Add(time.Duration(1+i%3600) * time.Second)})
			if len(rs) == batch || i == n-1 {
				if err := f.AddBatchAt(rs, t0, n-1-i); err != nil {
					b.Fatal(err)
				}
				rs = rs[:0]
			}
		}
		load := time.Since(start)
		heap := heapInUse() - base
		st := f.Stats()
		var missed, sampled int
		for i := 0; i < n; i += 10 {
			sampled++
			if f.CheckKeyAt(jwtrevoke.KindToken, fmt.Sprintf("%016x", keys[i]), t0, t0) == NotRevoked {
				missed++
				if missed < 5 {
					b.Errorf("key %d reported not revoked", i)
				}
			}
		}
		const clean = 10_000_000
		var unknown int
		for i := range clean {
			if f.CheckKeyAt(jwtrevoke.KindToken, fmt.Sprintf("clean-%d", i), t0, t0) == Unknown {
				unknown++
			}
		}
		b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(missed), "false-negatives")
		b.ReportMetric(float64(unknown)/clean, "unknown-rate")
		b.ReportMetric(load.Seconds(), "load-s")
		b.Logf("100M loaded in %v: heap %.1f MiB (estimate %.1f), bloom %.1f MiB, exact %d, evictions %d, over-budget segments %d; false negatives %d of %d sampled; unknown %d of %d clean",
			load.Round(time.Millisecond), float64(heap)/(1<<20), float64(st.Bytes)/(1<<20), float64(st.BloomBytes)/(1<<20), st.ExactEntries, st.Evictions, st.OverBudget, missed, sampled, unknown, clean)
	}
}
