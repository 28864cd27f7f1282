package main

// Scenario 5: heap per live revocation in the filter, beside what the same
// keys cost in a Redis denylist.

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
)

// defaultBudget is the agent's and filter's default memory budget.
const defaultBudget = 64 << 20

// redisTTLMargin is added to every Redis key's TTL in the memory scenario.
const redisTTLMargin = 10 * time.Minute

// gcTime is the median duration of three forced collections: the mark work
// the live heap costs every GC cycle.
func gcTime() time.Duration {
	runtime.GC()
	var d []float64
	for range 3 {
		t0 := time.Now()
		runtime.GC()
		d = append(d, float64(time.Since(t0)))
	}
	return time.Duration(median(d))
}

// heapAfterGC is the live heap once garbage is collected.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func runMemory(ctx context.Context, s *scenarioRun) error {
	for _, n := range s.plan.memory {
		if err := s.memoryExact(ctx, n); err != nil {
			return err
		}
	}
	if s.plan.memoryTenM > 0 {
		if err := s.memoryBudget(ctx, s.plan.memoryTenM); err != nil {
			return err
		}
	}
	s.note("filter heap is runtime.MemStats.HeapAlloc after GC, before and after adding the revocations (keys made beforehand, so only the filter is counted), with filter.Expect(n) as an agent calls it before a replay; the filter runs on a fixed clock (%s) so the figures repeat, and the exact-entry sizes are measured at %d phases of its %v generation window (how expiries fall into the windows changes the Bloom sizing), the worst judged; Redis is used_memory from INFO memory before and after pipelined SET revoked:<jti> 1 EX <ttl> of the same keys", memoryClock.Format(time.RFC3339), windowPhases, lifetime/2)
	return nil
}

// memoryClock is the fixed "now" of the memory scenario, so its figures
// repeat from run to run: the filter groups entries in generations by
// expiry, in windows aligned to the clock (half the token lifetime wide),
// and how a run's expiries fall into those windows changes the Bloom
// sizing. Each size is measured at windowPhases phases of the window and
// the worst is judged.
var memoryClock = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const windowPhases = 3

// exactBuild is one measurement of a filter holding keys, all exact.
type exactBuild struct {
	perEntry float64
	heap     uint64
	st       filter.Stats
}

// buildExact adds one live revocation per key at now and measures the
// filter's heap; it checks that every key reads Revoked. keep, if not nil,
// runs while the filter is still alive.
func buildExact(keys []string, budget int64, now time.Time, keep func()) (exactBuild, error) {
	before := heapAfterGC()
	f, err := filter.New(filter.WithMaxTokenLifetime(lifetime), filter.WithMemoryBudget(budget))
	if err != nil {
		return exactBuild{}, err
	}
	f.Expect(int64(len(keys)))
	for i, k := range keys {
		if err := f.AddAt(steadyRevocation(k, i, now), now); err != nil {
			return exactBuild{}, err
		}
	}
	after := heapAfterGC()
	st := f.Stats()
	for _, k := range keys {
		if f.CheckKeyAt(jwtrevoke.KindToken, k, time.Time{}, now) != filter.Revoked {
			return exactBuild{}, fmt.Errorf("revoked key %q not reported revoked", k)
		}
	}
	if keep != nil {
		keep()
	}
	runtime.KeepAlive(f)
	return exactBuild{perEntry: float64(after-before) / float64(len(keys)), heap: after - before, st: st}, nil
}

// memoryExact measures n live revocations with a budget that keeps every
// entry exact, at windowPhases phases of the generation window.
func (s *scenarioRun) memoryExact(ctx context.Context, n int) error {
	keys := newKeyGen(s.seedFor("keys")).keys(n)
	budget := exactBudget(n)
	gcBase := gcTime()
	var gcFilter time.Duration
	var builds []exactBuild
	for p := range windowPhases {
		now := memoryClock.Add(time.Duration(p) * lifetime / 2 / windowPhases)
		var keep func()
		if p == 0 {
			keep = func() { gcFilter = gcTime() }
		}
		b, err := buildExact(keys, budget, now, keep)
		if err != nil {
			return err
		}
		s.log.printf("filter, %s, window phase %d/%d: %.1f B per revocation (heap %.1f MiB; estimate %.1f MiB; %d exact entries, %d evictions, %d generations)",
			countText(n), p+1, windowPhases, b.perEntry, float64(b.heap)/(1<<20), float64(b.st.Bytes)/(1<<20), b.st.ExactEntries, b.st.Evictions, b.st.Kinds[0].Generations)
		builds = append(builds, b)
	}
	worst := builds[0]
	lo := worst.perEntry
	exact := true
	detail := map[string]float64{}
	for p, b := range builds {
		if b.perEntry > worst.perEntry {
			worst = b
		}
		lo = min(lo, b.perEntry)
		exact = exact && b.st.Evictions == 0 && b.st.ExactEntries == n
		detail[fmt.Sprintf("phase%d_bytes_per_entry", p+1)] = b.perEntry
	}
	detail["evictions"] = float64(worst.st.Evictions)
	detail["estimate_bytes"] = float64(worst.st.Bytes)
	ours := worst.perEntry

	m := make(map[string]struct{}, n)
	for _, k := range keys {
		m[k] = struct{}{}
	}
	gcMap := gcTime()
	runtime.KeepAlive(m)
	m = nil
	gcRow := Row{
		Figure:     fmt.Sprintf("GC work, %s live revocations: a forced runtime.GC() with them held (median of 3; the keys alone: %s)", countText(n), durText(gcBase)),
		Ours:       Value{Value: us(gcFilter), Unit: "µs", Text: durText(gcFilter), Detail: map[string]float64{"gc_keys_alone_us": us(gcBase)}},
		Comparison: &Value{Label: "map[string]struct{} of the same keys", Value: us(gcMap), Unit: "µs", Text: durText(gcMap), Detail: map[string]float64{"gc_keys_alone_us": us(gcBase)}},
	}
	gcRow.ratio(float64(gcFilter)/float64(gcMap), num(float64(gcFilter)/float64(gcMap))+"× the map")
	defer s.add(gcRow)
	row := Row{
		Figure: fmt.Sprintf("memory per live revocation, %s, all exact (budget %d MiB), worst of %d window phases", countText(n), budget>>20, windowPhases),
		Ours:   Value{Value: ours, Unit: "B", Text: fmt.Sprintf("%s B (range %s–%s; %d evictions)", num(ours), num(lo), num(ours), worst.st.Evictions), Detail: detail},
	}
	const target = "< Redis per key, 0 evictions"
	if s.redis == nil {
		row.Comparison = &Value{Label: "Redis", Text: "skipped (no redis-server)"}
		row.skip(target)
		s.add(row)
		return nil
	}
	perKey, total, err := s.redisPerKey(ctx, n, func(yield func(int, string) bool) {
		for i, k := range keys {
			if !yield(i, k) {
				return
			}
		}
	}, memoryClock)
	if err != nil {
		return err
	}
	row.Comparison = &Value{Label: "Redis SET … EX, same keys", Value: perKey, Unit: "B", Text: num(perKey) + " B", Detail: map[string]float64{"used_memory_delta": float64(total)}}
	x := ours / perKey
	row.ratio(x, num(x)+"× Redis per key")
	row.judge(target, ours < perKey && exact)
	s.add(row)
	return nil
}

// redisPerKey loads n keys into a flushed Redis and returns used_memory
// per key; it flushes again afterwards.
func (s *scenarioRun) redisPerKey(ctx context.Context, n int, keys func(yield func(int, string) bool), now time.Time) (float64, int64, error) {
	rc := s.redis.client
	if err := rc.FlushAll(ctx).Err(); err != nil {
		return 0, 0, err
	}
	before, err := s.redis.usedMemory(ctx)
	if err != nil {
		return 0, 0, err
	}
	const batch = 10_000
	pipe := rc.Pipeline()
	queued := 0
	t0 := time.Now()
	var perr error
	keys(func(i int, k string) bool {
		// The entry's own TTL plus a margin, so that no key expires while
		// the keys load (a key's size does not depend on its TTL).
		r := steadyRevocation(k, i, now)
		pipe.Set(ctx, "revoked:"+k, "1", r.Expires.Sub(now).Round(time.Second)+redisTTLMargin)
		queued++
		if queued == batch {
			if _, err := pipe.Exec(ctx); err != nil {
				perr = err
				return false
			}
			queued = 0
		}
		return true
	})
	if perr != nil {
		return 0, 0, perr
	}
	if queued > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, 0, err
		}
	}
	size, err := rc.DBSize(ctx).Result()
	if err != nil {
		return 0, 0, err
	}
	if size != int64(n) {
		return 0, 0, fmt.Errorf("redis holds %d keys, want %d", size, n)
	}
	after, err := s.redis.usedMemory(ctx)
	if err != nil {
		return 0, 0, err
	}
	s.log.printf("redis, %s keys: %.1f B per key (used_memory +%.1f MiB, loaded in %.1fs)", countText(n), float64(after-before)/float64(n), float64(after-before)/(1<<20), time.Since(t0).Seconds())
	if err := rc.FlushAll(ctx).Err(); err != nil {
		return 0, 0, err
	}
	return float64(after-before) / float64(n), after - before, nil
}

// budgetBuild is one measurement of a filter holding n revocations in the
// default budget.
type budgetBuild struct {
	heap                   float64
	st                     filter.Stats
	missed, unknownRevoked int
	unknown, clean         int
}

// buildBudget adds n revocations (keys regenerated from the seed, not
// kept) to a filter with the default budget at now, then checks every
// revoked key (none may read NotRevoked) and clean keys (how many read
// Unknown).
func (s *scenarioRun) buildBudget(ctx context.Context, n int, now time.Time, rev func(string, int, time.Time) jwtrevoke.Revocation) (budgetBuild, error) {
	seed1, seed2 := s.seedFor("budget")
	before := heapAfterGC()
	f, err := filter.New(filter.WithMaxTokenLifetime(lifetime), filter.WithMemoryBudget(defaultBudget))
	if err != nil {
		return budgetBuild{}, err
	}
	f.Expect(int64(n))
	g := newKeyGen(seed1, seed2)
	for i := range n {
		if err := f.AddAt(rev(g.next(), i, now), now); err != nil {
			return budgetBuild{}, err
		}
		if i%1_000_000 == 999_999 {
			if err := ctx.Err(); err != nil {
				return budgetBuild{}, err
			}
		}
	}
	after := heapAfterGC()
	b := budgetBuild{heap: float64(after - before), st: f.Stats()}
	g = newKeyGen(seed1, seed2)
	for range n {
		switch f.CheckKeyAt(jwtrevoke.KindToken, g.next(), time.Time{}, now) {
		case filter.NotRevoked:
			b.missed++
		case filter.Unknown:
			b.unknownRevoked++
		}
	}
	b.clean = min(n/10, 1_000_000)
	cg := newKeyGen(s.seedFor("budget-clean"))
	for range b.clean {
		if f.CheckKeyAt(jwtrevoke.KindToken, cg.next(), time.Time{}, now) == filter.Unknown {
			b.unknown++
		}
	}
	runtime.KeepAlive(f)
	return b, nil
}

func (b budgetBuild) String() string {
	return fmt.Sprintf("heap %.1f MiB (Bloom %.1f MiB, %d over-budget segments), %d exact entries, %d evictions, false negatives %d, unknown %d of %d clean",
		b.heap/(1<<20), float64(b.st.BloomBytes)/(1<<20), b.st.OverBudget, b.st.ExactEntries, b.st.Evictions, b.missed, b.unknown, b.clean)
}

// memoryBudget holds n live revocations in the default 64 MiB budget, at
// windowPhases phases of the generation window, and reports the worst
// heap, false negatives (must be 0) and Unknown rate for clean tokens.
func (s *scenarioRun) memoryBudget(ctx context.Context, n int) error {
	var builds []budgetBuild
	for p := range windowPhases {
		now := memoryClock.Add(time.Duration(p) * lifetime / 2 / windowPhases)
		t0 := time.Now()
		b, err := s.buildBudget(ctx, n, now, steadyRevocation)
		if err != nil {
			return err
		}
		s.log.printf("filter, %s in %d MiB, window phase %d/%d: %v (%.1fs)", countText(n), defaultBudget>>20, p+1, windowPhases, b, time.Since(t0).Seconds())
		builds = append(builds, b)
	}
	worst, missed, worstUnknown := builds[0], 0, 0.0
	detail := map[string]float64{}
	for p, b := range builds {
		if b.heap > worst.heap {
			worst = b
		}
		missed += b.missed
		worstUnknown = max(worstUnknown, float64(b.unknown)/float64(b.clean))
		detail[fmt.Sprintf("phase%d_heap_bytes", p+1)] = b.heap
		detail[fmt.Sprintf("phase%d_unknown_rate", p+1)] = float64(b.unknown) / float64(b.clean)
		detail[fmt.Sprintf("phase%d_exact_entries", p+1)] = float64(b.st.ExactEntries)
	}
	heap := worst.heap
	fig := fmt.Sprintf("%s live revocations in the default %d MiB budget", countText(n), defaultBudget>>20)
	row := Row{
		Figure:     fig + fmt.Sprintf(": heap, worst of %d window phases", windowPhases),
		Ours:       Value{Value: heap / (1 << 20), Unit: "MiB", Text: fmt.Sprintf("%s MiB (%s exact, %s evicted)", num(heap/(1<<20)), group(int64(worst.st.ExactEntries)), group(int64(worst.st.Evictions))), Detail: detail},
		Comparison: &Value{Label: "budget", Value: defaultBudget >> 20, Unit: "MiB", Text: fmt.Sprintf("%d MiB", defaultBudget>>20)},
	}
	row.ratio(heap/defaultBudget, num(heap/defaultBudget)+"× the budget")
	row.judge(fmt.Sprintf("≤ %d MiB", defaultBudget>>20), heap <= defaultBudget)
	s.add(row)

	row = Row{
		Figure:     fig + ": false negatives, all phases",
		Ours:       Value{Value: float64(missed), Unit: "keys", Text: fmt.Sprintf("%d (revoked keys answered Unknown: %s)", missed, group(int64(worst.unknownRevoked)))},
		Comparison: &Value{Label: "revoked keys checked", Value: float64(n * windowPhases), Unit: "keys", Text: group(int64(n * windowPhases))},
		RatioText:  "—",
	}
	row.judge("0", missed == 0)
	s.add(row)

	row = Row{
		Figure:     fig + ": Unknown rate for clean tokens, worst phase",
		Ours:       Value{Value: worstUnknown, Unit: "fraction", Text: fmt.Sprintf("%s (of %s per phase)", num(worstUnknown), group(int64(worst.clean)))},
		Comparison: &Value{Label: "false-positive target", Value: 1e-6, Unit: "fraction", Text: "1e-06"},
		RatioText:  "—",
	}
	s.add(row)

	// Diagnostic: the same count with expiries bunched into 5–60 minutes
	// ahead instead of spread over the whole lifetime (a burst of
	// revocations looks like this): how the sizing copes when the live
	// set is not the steady state it predicts.
	b, err := s.buildBudget(ctx, n, memoryClock, tokenRevocation)
	if err != nil {
		return err
	}
	s.log.printf("filter, %s in %d MiB, expiries 5–60 min ahead: %v", countText(n), defaultBudget>>20, b)
	if b.missed != 0 {
		return fmt.Errorf("%d false negatives with expiries 5–60 min ahead", b.missed)
	}
	row = Row{
		Figure: fig + ", diagnostic: expiries bunched 5–60 min ahead instead of spread over the lifetime",
		Ours: Value{Value: b.heap / (1 << 20), Unit: "MiB", Text: fmt.Sprintf("%s MiB, %s exact, Unknown rate %s", num(b.heap/(1<<20)), group(int64(b.st.ExactEntries)), num(float64(b.unknown)/float64(b.clean))), Detail: map[string]float64{
			"heap_bytes": b.heap, "bloom_bytes": float64(b.st.BloomBytes), "over_budget_segments": float64(b.st.OverBudget), "exact_entries": float64(b.st.ExactEntries), "unknown_rate": float64(b.unknown) / float64(b.clean), "false_negatives": float64(b.missed),
		}},
		Comparison: &Value{Label: "steady state (above), worst phase", Value: heap / (1 << 20), Unit: "MiB", Text: fmt.Sprintf("%s MiB, Unknown rate %s", num(heap/(1<<20)), num(worstUnknown))},
	}
	row.ratio(b.heap/heap, num(b.heap/heap)+"× the heap")
	s.add(row)

	if s.redis != nil {
		seed1, seed2 := s.seedFor("budget")
		perKey, total, err := s.redisPerKey(ctx, n, func(yield func(int, string) bool) {
			g := newKeyGen(seed1, seed2)
			for i := range n {
				if !yield(i, g.next()) {
					return
				}
			}
		}, memoryClock)
		if err != nil {
			return err
		}
		row = Row{
			Figure:     fig + ": heap beside Redis holding the same keys",
			Ours:       Value{Value: heap / (1 << 20), Unit: "MiB", Text: num(heap/(1<<20)) + " MiB"},
			Comparison: &Value{Label: "Redis SET … EX", Value: float64(total) / (1 << 20), Unit: "MiB", Text: fmt.Sprintf("%s MiB (%s B per key)", num(float64(total)/(1<<20)), num(perKey))},
		}
		row.ratio(heap/float64(total), num(heap/float64(total))+"× Redis")
		s.add(row)
	}
	return nil
}

// steadyRevocation is the i-th live revocation of the memory scenario: a
// token revocation whose expiry is spread evenly over the whole token
// lifetime, as a steady stream of logouts leaves the live set (the
// distribution the filter's sizing assumes). The memory scenario's filter
// runs on a fixed clock, so none of these expires while it is measured.
func steadyRevocation(key string, i int, now time.Time) jwtrevoke.Revocation {
	r := tokenRevocation(key, i, now)
	r.Expires = now.Add(time.Second + time.Duration(i%3599)*time.Second)
	return r
}
