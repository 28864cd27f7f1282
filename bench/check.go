package main

// Scenario 1: the cost of one revocation check on the request path.

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
)

// benchFigure is one benchmark's median over the rounds.
type benchFigure struct {
	ns, allocs float64
	all        []float64 // ns/op of every round
}

// variant is one loop body, run serially or on GOMAXPROCS goroutines. A
// body returns false when it got a wrong answer; wrong answers are counted
// per variant and fail the scenario.
type variant struct {
	name     string
	parallel bool
	body     func(i int) bool
	wrong    atomic.Int64
}

// measure runs v for about d and returns ns/op and allocs/op. It
// calibrates the op count the way testing.Benchmark does (grow until one
// run lasts d, at most 100× per step) and, like b.RunParallel, hands ops
// out to GOMAXPROCS goroutines in grains. Unlike testing.Benchmark it
// forces one GC before the variant instead of one before every
// calibration step: with a million live revocations and a map of the same
// keys in the heap, each forced GC costs about half a second here, and
// testing.Benchmark's took most of the scenario's time.
func measure(v *variant, d time.Duration) (ns, allocs float64) {
	runtime.GC()
	n := 1
	for {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		el := runOps(v, n)
		runtime.ReadMemStats(&m1)
		if el >= d || n >= 1<<31 {
			return float64(el.Nanoseconds()) / float64(n), float64(m1.Mallocs-m0.Mallocs) / float64(n)
		}
		next := int(1.2 * float64(n) * float64(d) / float64(max(el, time.Microsecond)))
		n = min(max(next, n+1), 100*n)
	}
}

// runOps runs ops 0..n-1 of v and returns the wall time.
func runOps(v *variant, n int) time.Duration {
	t0 := time.Now()
	if !v.parallel {
		for i := range n {
			if !v.body(i) {
				v.wrong.Add(1)
			}
		}
		return time.Since(t0)
	}
	procs := runtime.GOMAXPROCS(0)
	grain := int64(min(max(n/(procs*64), 1), 4096))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var wrong int64
			for {
				start := next.Add(grain) - grain
				if start >= int64(n) {
					break
				}
				for i := int(start); i < int(min(start+grain, int64(n))); i++ {
					if !v.body(i) {
						wrong++
					}
				}
			}
			v.wrong.Add(wrong)
		}()
	}
	wg.Wait()
	return time.Since(t0)
}

// runRounds runs every variant once per round, interleaved, so machine
// noise hits them alike, and keeps each one's median.
func (s *scenarioRun) runRounds(ctx context.Context, vs []*variant) (map[string]benchFigure, error) {
	type acc struct{ ns, allocs []float64 }
	res := map[string]*acc{}
	for r := range s.plan.rounds {
		for _, v := range vs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			ns, allocs := measure(v, s.plan.benchtime)
			a := res[v.name]
			if a == nil {
				a = &acc{}
				res[v.name] = a
			}
			a.ns = append(a.ns, ns)
			a.allocs = append(a.allocs, allocs)
		}
		s.log.printf("round %d of %d done", r+1, s.plan.rounds)
	}
	out := map[string]benchFigure{}
	for k, a := range res {
		out[k] = benchFigure{ns: median(a.ns), allocs: median(a.allocs), all: a.ns}
	}
	return out, nil
}

// rwMap is the structure a team would write instead: the same keys in a
// map behind a sync.RWMutex.
type rwMap struct {
	mu sync.RWMutex // guards m
	m  map[string]struct{}
}

func (m *rwMap) has(k string) bool {
	m.mu.RLock()
	_, ok := m.m[k]
	m.mu.RUnlock()
	return ok
}

// exactBudget is a memory budget that keeps n entries exact (no
// evictions): the default 64 MiB, or more for large sets.
func exactBudget(n int) int64 {
	need := int64(n) * 160
	return max(64<<20, need)
}

func runCheck(ctx context.Context, s *scenarioRun) error {
	n := s.plan.checkLive
	ns, err := s.startNATS()
	if err != nil {
		return err
	}
	pub, err := newPublisher(ctx, ns)
	if err != nil {
		return err
	}
	g := newKeyGen(s.seedFor("keys"))
	revoked := g.keys(n)
	now := time.Now()
	if _, err := s.fill(ctx, pub, revoked, 0, now); err != nil {
		return err
	}
	budget := exactBudget(n)
	a, _, err := newAgent(ctx, ns, agent.WithMemoryBudget(budget))
	if err != nil {
		return err
	}
	s.defer_(func() { a.Close() })
	st := a.Stats()
	s.log.printf("agent ready: %d events applied, %d exact entries, %d evictions", st.EventsApplied, st.Filter.ExactEntries, st.Filter.Evictions)
	if st.Filter.Evictions != 0 {
		return fmt.Errorf("agent evicted %d exact entries with a %d MiB budget; the check scenario needs them all exact", st.Filter.Evictions, budget>>20)
	}
	s.note("%s live token revocations (36-byte jtis) in the stream and in every structure; agent memory budget %d MiB, 0 evictions; tokens cycle over sets of %d clean and %d revoked jtis",
		countText(n), budget>>20, 1<<16, posSetSize(n))
	// A second agent on the same stream with a coarse clock (read from an
	// atomic a ticker updates every millisecond), through the existing
	// agent.WithClock option: what agent.Check costs without its time.Now.
	cc := newCoarseClock(time.Millisecond)
	s.defer_(cc.stop)
	ac, _, err := newAgent(ctx, ns, agent.WithMemoryBudget(budget), agent.WithClock(cc.now))
	if err != nil {
		return err
	}
	s.defer_(func() { ac.Close() })

	// Tokens: clean ones (jti, sub, sid, kid and iat all set, as the
	// middleware builds them) and revoked ones. Each holds its own copy of
	// the key, so no lookup wins by pointer equality with a stored key.
	const cleanSize = 1 << 16
	clean := make([]jwtrevoke.Token, cleanSize)
	for i := range clean {
		jti := g.next()
		clean[i] = jwtrevoke.Token{JTI: jti, Subject: "user-" + jti[:8], Session: jti[9:23], KeyID: "key-2026-01", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(30 * time.Minute)}
	}
	posSize := posSetSize(n)
	pos := make([]jwtrevoke.Token, posSize)
	for i := range pos {
		jti := strings.Clone(revoked[(i*7919)%n])
		pos[i] = jwtrevoke.Token{JTI: jti, Subject: "user-" + jti[:8], Session: jti[9:23], KeyID: "key-2026-01", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(30 * time.Minute)}
	}
	cmask, pmask := cleanSize-1, posSize-1
	for i := range clean {
		if r := a.Check(&clean[i]); !r.Allowed || r.Verdict != filter.NotRevoked {
			return fmt.Errorf("clean token %d: Check = %+v, want allowed", i, r)
		}
	}
	for i := range pos {
		if r := a.Check(&pos[i]); r.Allowed || r.Verdict != filter.Revoked {
			return fmt.Errorf("revoked token %d: Check = %+v, want revoked", i, r)
		}
	}

	m := &rwMap{m: make(map[string]struct{}, n)}
	for _, k := range revoked {
		m.m[k] = struct{}{}
	}
	var rc *redis.Client
	var cleanKeys, posKeys []string
	if s.redis != nil {
		rc = s.redis.client
		if err := rc.FlushAll(ctx).Err(); err != nil {
			return err
		}
		if err := redisLoad(ctx, rc, revoked, now); err != nil {
			return err
		}
		for _, t := range clean {
			cleanKeys = append(cleanKeys, "revoked:"+t.JTI)
		}
		for _, t := range pos {
			posKeys = append(posKeys, "revoked:"+t.JTI)
		}
		if v, err := rc.Exists(ctx, posKeys[0]).Result(); err != nil || v != 1 {
			return fmt.Errorf("redis EXISTS of a revoked key = %d, %v; want 1", v, err)
		}
		s.log.printf("redis holds the same %s keys", countText(n))
	}

	f := a.Filter()
	rctx := context.Background()
	// Bodies judge the verdict only: an agent that could not reach the
	// server in time on a loaded machine answers stale (counted in a note),
	// which does not change what the check costs.
	var vs []*variant
	for _, par := range []bool{false, true} {
		mode := "serial"
		if par {
			mode = "parallel"
		}
		vs = append(vs,
			&variant{name: "noop/" + mode, parallel: par, body: func(i int) bool {
				return clean[i&cmask].JTI != ""
			}},
			&variant{name: "clock/" + mode, parallel: par, body: func(i int) bool {
				return !time.Now().Before(now)
			}},
			&variant{name: "agent-neg/" + mode, parallel: par, body: func(i int) bool {
				return a.Check(&clean[i&cmask]).Verdict == filter.NotRevoked
			}},
			&variant{name: "coarse-neg/" + mode, parallel: par, body: func(i int) bool {
				return ac.Check(&clean[i&cmask]).Verdict == filter.NotRevoked
			}},
			&variant{name: "agent-pos/" + mode, parallel: par, body: func(i int) bool {
				return a.Check(&pos[i&pmask]).Verdict == filter.Revoked
			}},
			&variant{name: "agentat-neg/" + mode, parallel: par, body: func(i int) bool {
				return a.CheckAt(&clean[i&cmask], now).Verdict == filter.NotRevoked
			}},
			&variant{name: "agentat-pos/" + mode, parallel: par, body: func(i int) bool {
				return a.CheckAt(&pos[i&pmask], now).Verdict == filter.Revoked
			}},
			&variant{name: "filter-neg/" + mode, parallel: par, body: func(i int) bool {
				v, _ := f.CheckAt(&clean[i&cmask], now)
				return v == filter.NotRevoked
			}},
			&variant{name: "filter-pos/" + mode, parallel: par, body: func(i int) bool {
				v, _ := f.CheckAt(&pos[i&pmask], now)
				return v == filter.Revoked
			}},
			&variant{name: "map-neg/" + mode, parallel: par, body: func(i int) bool {
				return !m.has(clean[i&cmask].JTI)
			}},
			&variant{name: "map-pos/" + mode, parallel: par, body: func(i int) bool {
				return m.has(pos[i&pmask].JTI)
			}},
		)
		if rc != nil {
			vs = append(vs,
				&variant{name: "redis-neg/" + mode, parallel: par, body: func(i int) bool {
					v, err := rc.Exists(rctx, cleanKeys[i&cmask]).Result()
					return err == nil && v == 0
				}},
				&variant{name: "redis-pos/" + mode, parallel: par, body: func(i int) bool {
					v, err := rc.Exists(rctx, posKeys[i&pmask]).Result()
					return err == nil && v == 1
				}},
			)
		}
	}
	s.log.printf("benchmarking %d variants × %d rounds, about %v each", len(vs), s.plan.rounds, s.plan.benchtime)
	res, err := s.runRounds(ctx, vs)
	if err != nil {
		return err
	}
	var wrong []string
	for _, v := range vs {
		if w := v.wrong.Load(); w != 0 {
			wrong = append(wrong, fmt.Sprintf("%s: %d", v.name, w))
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("wrong answers during the benchmarks (%s)", strings.Join(wrong, ", "))
	}
	if st := a.Stats(); st.Filter.Evictions != 0 || st.ChecksUnknown != 0 || st.ChecksStale != 0 {
		s.note("during the benchmarks the agent saw %d evictions, %d unknown and %d stale checks (stale: its freshness probe did not get an answer in time; the check's cost is the same)", st.Filter.Evictions, st.ChecksUnknown, st.ChecksStale)
	}

	procs := runtime.GOMAXPROCS(0)
	modeText := map[string]string{"serial": "1 goroutine", "parallel": fmt.Sprintf("%d goroutines", procs)}
	kindText := map[string]string{"neg": "not revoked", "pos": "revoked"}
	// agent.Check beside Redis and the map.
	for _, mode := range []string{"serial", "parallel"} {
		for _, kind := range []string{"neg", "pos"} {
			ours := res["agent-"+kind+"/"+mode]
			fig := fmt.Sprintf("agent.Check, %s, %s", kindText[kind], modeText[mode])
			s.addRedisRow(fig, ours, res, "redis-"+kind+"/"+mode)
			s.addMapRow(fig, ours, res["map-"+kind+"/"+mode], mapLimit("agent", kind))
		}
	}
	// agent.CheckAt: the check at a time the caller already read (the
	// middleware's), so no clock inside.
	for _, mode := range []string{"serial", "parallel"} {
		for _, kind := range []string{"neg", "pos"} {
			ours := res["agentat-"+kind+"/"+mode]
			fig := fmt.Sprintf("agent.CheckAt (time passed in), %s, %s", kindText[kind], modeText[mode])
			s.addRedisRow(fig, ours, res, "redis-"+kind+"/"+mode)
			s.addMapRow(fig, ours, res["map-"+kind+"/"+mode], mapLimit("agent", kind))
		}
	}
	for _, mode := range []string{"serial", "parallel"} {
		for _, kind := range []string{"neg", "pos"} {
			ours := res["filter-"+kind+"/"+mode]
			fig := fmt.Sprintf("filter.CheckAt (explicit time), %s, %s", kindText[kind], modeText[mode])
			s.addMapRow(fig, ours, res["map-"+kind+"/"+mode], mapLimit("filter", kind))
		}
	}
	// Allocations per check, as a Go test counts them (testing.AllocsPerRun:
	// mallocs over many runs, integer average, so a background goroutine's
	// occasional allocation does not show as a fraction per check).
	allocs := func(name string, runs int) float64 {
		for _, v := range vs {
			if v.name == name {
				i := 0
				return testing.AllocsPerRun(runs, func() { v.body(i); i++ })
			}
		}
		return -1
	}
	for _, who := range []string{"agent", "filter"} {
		neg, pos := allocs(who+"-neg/serial", 10_000), allocs(who+"-pos/serial", 10_000)
		worst := max(neg, pos)
		name := map[string]string{"agent": "agent.Check", "filter": "filter.CheckAt"}[who]
		row := Row{Figure: name + " allocations per check (testing.AllocsPerRun, not revoked / revoked)", Ours: Value{Value: worst, Unit: "allocs/op", Text: fmt.Sprintf("%s / %s allocs/op", num(neg), num(pos)), Detail: map[string]float64{
			"not_revoked": neg, "revoked": pos, "bench_not_revoked_serial": res[who+"-neg/serial"].allocs, "bench_revoked_serial": res[who+"-pos/serial"].allocs,
		}}}
		if rc != nil {
			ra := allocs("redis-neg/serial", 500)
			row.Comparison = &Value{Label: "Redis EXISTS", Value: ra, Unit: "allocs/op", Text: num(ra) + " allocs/op"}
		} else {
			ma := allocs("map-neg/serial", 10_000)
			row.Comparison = &Value{Label: "map+RWMutex", Value: ma, Unit: "allocs/op", Text: num(ma) + " allocs/op"}
		}
		row.RatioText = "—"
		row.judge("0 allocs", worst == 0)
		s.add(row)
	}
	for _, mode := range []string{"serial", "parallel"} {
		ours, loop := res["agent-neg/"+mode], res["noop/"+mode]
		row := Row{
			Figure:     fmt.Sprintf("agent.Check, not revoked, %s, over an empty loop", modeText[mode]),
			Ours:       Value{Value: ours.ns, Unit: "ns/op", Text: nsText(ours.ns)},
			Comparison: &Value{Label: "no check (the loop alone)", Value: loop.ns, Unit: "ns/op", Text: nsText(loop.ns)},
		}
		row.ratio(ours.ns-loop.ns, "+"+nsText(ours.ns-loop.ns)+" per check")
		s.add(row)
	}
	// agent.Check reads the clock once (its WithClock, time.Now by
	// default); filter.CheckAt takes the time from its caller.
	clk, fneg := res["clock/serial"], res["filter-neg/serial"]
	row := Row{
		Figure:     "the clock read inside agent.Check: time.Now() alone, 1 goroutine",
		Ours:       Value{Value: clk.ns, Unit: "ns/op", Text: nsText(clk.ns)},
		Comparison: &Value{Label: "filter.CheckAt, not revoked (no clock read)", Value: fneg.ns, Unit: "ns/op", Text: nsText(fneg.ns)},
	}
	row.ratio(clk.ns/fneg.ns, num(clk.ns/fneg.ns)+"× the filter's check")
	s.add(row)
	// Diagnostic, no target: the same check with a coarse clock.
	for _, mode := range []string{"serial", "parallel"} {
		c := res["coarse-neg/"+mode]
		row := Row{
			Figure: fmt.Sprintf("diagnostic: agent.Check with a coarse clock (WithClock, 1 ms ticker), not revoked, %s", modeText[mode]),
			Ours:   Value{Value: c.ns, Unit: "ns/op", Text: nsText(c.ns)},
		}
		x := c.ns / res["map-neg/"+mode].ns
		if r, ok := res["redis-neg/"+mode]; ok {
			row.Comparison = &Value{Label: "Redis EXISTS", Value: r.ns, Unit: "ns/op", Text: nsText(r.ns)}
			row.ratio(r.ns/c.ns, fmt.Sprintf("%s× faster than Redis; %s× the map", num(r.ns/c.ns), num(x)))
		} else {
			row.Comparison = &Value{Label: "map+RWMutex", Value: res["map-neg/"+mode].ns, Unit: "ns/op", Text: nsText(res["map-neg/"+mode].ns)}
			row.ratio(x, num(x)+"× the map")
		}
		s.add(row)
	}
	return nil
}

// coarseClock is a clock read from an atomic that a ticker goroutine
// updates: a few nanoseconds a read instead of time.Now's, at the cost of
// its resolution.
type coarseClock struct {
	ns   atomic.Int64
	done chan struct{}
	wg   sync.WaitGroup
}

func newCoarseClock(res time.Duration) *coarseClock {
	c := &coarseClock{done: make(chan struct{})}
	c.ns.Store(time.Now().UnixNano())
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(res)
		defer t.Stop()
		for {
			select {
			case <-c.done:
				return
			case now := <-t.C:
				c.ns.Store(now.UnixNano())
			}
		}
	}()
	return c
}

func (c *coarseClock) now() time.Time { return time.Unix(0, c.ns.Load()) }

func (c *coarseClock) stop() {
	close(c.done)
	c.wg.Wait()
}

// addRedisRow adds "ours beside Redis EXISTS", target ≥ 1000× faster.
func (s *scenarioRun) addRedisRow(fig string, ours benchFigure, res map[string]benchFigure, key string) {
	const target = "≥ 1000× faster than Redis"
	row := Row{Figure: fig, Ours: Value{Value: ours.ns, Unit: "ns/op", Text: nsText(ours.ns)}}
	r, ok := res[key]
	if !ok {
		row.Comparison = &Value{Label: "Redis EXISTS", Text: "skipped (no redis-server)"}
		row.skip(target)
		s.add(row)
		return
	}
	row.Comparison = &Value{Label: "Redis EXISTS (go-redis, loopback)", Value: r.ns, Unit: "ns/op", Text: nsText(r.ns)}
	x := r.ns / ours.ns
	row.ratio(x, num(x)+"× faster")
	row.judge(target, x >= 1000)
	s.add(row)
}

// addMapRow adds "ours beside the map under RWMutex", target ≤ 1.5×.
// mapLimit is the target, as a multiple of the map, of a check of the
// given kind (issue 13): the filter's negative check at most the map's,
// the agent's at most 1.2×, a revoked token's at most 1.5×.
func mapLimit(who, kind string) float64 {
	switch {
	case kind == "pos":
		return 1.5
	case who == "filter":
		return 1.0
	}
	return 1.2
}

func (s *scenarioRun) addMapRow(fig string, ours, m benchFigure, limit float64) {
	row := Row{
		Figure:     fig,
		Ours:       Value{Value: ours.ns, Unit: "ns/op", Text: nsText(ours.ns), Detail: rounds(ours.all)},
		Comparison: &Value{Label: "map+RWMutex", Value: m.ns, Unit: "ns/op", Text: nsText(m.ns), Detail: rounds(m.all)},
	}
	x := ours.ns / m.ns
	row.ratio(x, num(x)+"× the map")
	row.judge("≤ "+num(limit)+"× the map", x <= limit)
	s.add(row)
}

func rounds(ns []float64) map[string]float64 {
	d := map[string]float64{}
	for i, v := range ns {
		d[fmt.Sprintf("round%d_ns", i+1)] = v
	}
	return d
}

func posSetSize(n int) int {
	p := 1
	for p*2 <= min(n, 1<<16) {
		p *= 2
	}
	return p
}

// redisLoad stores the keys as a Redis denylist would, pipelined:
// SET revoked:<jti> 1 EX <seconds until the revocation expires>.
func redisLoad(ctx context.Context, rc *redis.Client, keys []string, now time.Time) error {
	const batch = 10_000
	for start := 0; start < len(keys); start += batch {
		pipe := rc.Pipeline()
		for i := start; i < min(start+batch, len(keys)); i++ {
			r := tokenRevocation(keys[i], i, now)
			pipe.Set(ctx, "revoked:"+keys[i], "1", r.Expires.Sub(now).Round(time.Second))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("redis pipeline: %w", err)
		}
	}
	return nil
}
