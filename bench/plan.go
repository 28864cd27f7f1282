package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// plan holds every count and time bound of one mode. Nothing in a scenario
// loops without one of these bounds.
type plan struct {
	name      string
	benchtime time.Duration // per check measurement, and per testing.Benchmark run (middleware)
	rounds    int           // interleaved repetitions of the check benchmarks (median kept)

	checkLive int // live revocations behind the checked agent (scenario 1)

	mwLive       int           // live revocations behind the middleware's agent (scenario 2)
	httpRequests int           // per HTTP phase, at most
	httpDuration time.Duration // per HTTP phase, at most
	httpWorkers  int           // concurrent keep-alive clients
	httpTokens   int           // distinct tokens the load generator cycles through
	httpRounds   int           // ABBA rounds (with, without, without, with)

	propAgents []int // agent counts (scenario 3)
	propCount  int   // revocations per agent count

	fanoutAgents int // agents on the 3-node cluster (scenario 10)
	fanoutCount  int // revocations timed

	regionAgents int             // agents at the hub and in each region (scenario 11)
	regionCount  int             // revocations timed
	regionCuts   []time.Duration // how long region-a's link is cut, one cut after the other

	catchup     []int // stream sizes (scenario 4)
	catchupReps int   // interleaved agent / bare-consumer repetitions (median kept)

	snapshot     []int // stream sizes (scenario 7)
	snapshotReps int   // interleaved snapshot / full-replay repetitions (median kept)

	compact []int // keys per structure (scenario 8)

	memory     []int // live revocations, all exact (scenario 5)
	memoryTenM int   // live revocations in the default 64 MiB budget; 0 skips

	pubSingle int // revocations published one at a time (scenario 6)
	pubBatch  int // revocations per batch
	pubReps   int // interleaved batch / raw repetitions (median of the per-repetition ratios kept)
}

func fullPlan() plan {
	return plan{
		name: "full", benchtime: 400 * time.Millisecond, rounds: 3,
		checkLive: 1_000_000,
		mwLive:    100_000, httpRequests: 30_000, httpDuration: 5 * time.Second, httpWorkers: 8, httpTokens: 1024, httpRounds: 3,
		propAgents: []int{1, 4, 16, 64}, propCount: 1000,
		fanoutAgents: 500, fanoutCount: 200,
		regionAgents: 8, regionCount: 500, regionCuts: []time.Duration{8 * time.Second, 30 * time.Second},
		catchup: []int{100_000, 1_000_000}, catchupReps: 3,
		snapshot: []int{1_000_000, 10_000_000}, snapshotReps: 3,
		compact: []int{1_000_000, 10_000_000},
		memory:  []int{100_000, 1_000_000}, memoryTenM: 10_000_000,
		pubSingle: 5000, pubBatch: 20_000, pubReps: 10,
	}
}

func quickPlan() plan {
	return plan{
		name: "quick", benchtime: 150 * time.Millisecond, rounds: 3,
		checkLive: 100_000,
		mwLive:    100_000, httpRequests: 10_000, httpDuration: 3 * time.Second, httpWorkers: 8, httpTokens: 512, httpRounds: 2,
		propAgents: []int{1, 4, 16}, propCount: 500,
		fanoutAgents: 100, fanoutCount: 100,
		regionAgents: 4, regionCount: 200, regionCuts: []time.Duration{8 * time.Second},
		catchup: []int{100_000}, catchupReps: 3,
		snapshot: []int{100_000, 1_000_000}, snapshotReps: 3,
		compact:   []int{1_000_000},
		memory:    []int{100_000, 1_000_000},
		pubSingle: 1000, pubBatch: 10_000, pubReps: 6,
	}
}

// smokePlan proves the harness works end to end in a few seconds; its
// figures are too small to mean anything and targets are not its point.
func smokePlan() plan {
	return plan{
		name: "smoke", benchtime: 5 * time.Millisecond, rounds: 1,
		checkLive: 2000,
		mwLive:    500, httpRequests: 200, httpDuration: time.Second, httpWorkers: 4, httpTokens: 16, httpRounds: 1,
		propAgents: []int{1, 4}, propCount: 20,
		fanoutAgents: 6, fanoutCount: 5,
		regionAgents: 2, regionCount: 5, regionCuts: []time.Duration{6 * time.Second},
		catchup: []int{2000}, catchupReps: 1,
		snapshot: []int{2000}, snapshotReps: 1,
		compact:   []int{2000},
		memory:    []int{5000},
		pubSingle: 50, pubBatch: 1000, pubReps: 1,
	}
}

type scenario struct {
	key, title string
	run        func(ctx context.Context, s *scenarioRun) error
}

var scenarios = []scenario{
	{"check", "1. check cost: agent and filter beside Redis EXISTS, a map under RWMutex, and no check", runCheck},
	{"middleware", "2. per-request cost through the middleware, and HTTP end to end", runMiddleware},
	{"propagation", "3. propagation: publish → applied at N agents, beside raw core NATS", runPropagation},
	{"catchup", "4. catch-up: a new agent's time to ready, beside a bare ordered consumer", runCatchup},
	{"memory", "5. memory per live revocation, beside Redis", runMemory},
	{"publish", "6. publish throughput, beside raw JetStream", runPublish},
	{"snapshot", "7. cold start from a snapshot, beside a full replay of the same stream", runSnapshot},
	{"compact", "8. compact filters: the filter's blocked Bloom beside binary fuse filters and a map", runCompact},
	{"gateway", "9. a non-Go API's per-request cost: forward auth and ext_authz on loopback, beside /introspect and Redis EXISTS", runGateway},
	{"fanout", "10. fan-out to hundreds of agents on a 3-node cluster, stream R3, and the servers' CPU", runFanout},
	{"regions", "11. regions: hub → agents reading a region's mirror beside agents at the hub, and a region cut off", runRegions},
}

func scenarioKeys() []string {
	var ks []string
	for _, s := range scenarios {
		ks = append(ks, s.key)
	}
	return ks
}

func chooseScenarios(only string) ([]scenario, error) {
	if only == "" {
		return scenarios, nil
	}
	want := strings.Split(only, ",")
	for _, w := range want {
		if !slices.Contains(scenarioKeys(), strings.TrimSpace(w)) {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", w, strings.Join(scenarioKeys(), ","))
		}
	}
	var out []scenario
	for _, s := range scenarios {
		for _, w := range want {
			if strings.TrimSpace(w) == s.key {
				out = append(out, s)
				break
			}
		}
	}
	return out, nil
}

// env is what every scenario shares: the plan, the seed, progress output
// and the Redis server, if any.
type env struct {
	plan     plan
	profiles string // --server-profiles: where scenarios write the servers' CPU profiles ("" none)
	seed     uint64
	log      *progress
	redis    *redisServer // nil when redis-server is not installed or disabled
}

func (e *env) cleanup() {
	if e.redis != nil {
		e.redis.stop()
		e.redis = nil
	}
}

// scenarioRun collects one scenario's rows and notes, and the cleanups of
// what it started (run in reverse order when it ends, even on failure).
type scenarioRun struct {
	*env
	key      string
	rows     []Row
	notes    []string
	cleanups []func()
}

func (s *scenarioRun) add(r Row) {
	r.Scenario = s.key
	s.rows = append(s.rows, r)
}

func (s *scenarioRun) note(format string, args ...any) {
	s.notes = append(s.notes, s.key+": "+fmt.Sprintf(format, args...))
}

func (s *scenarioRun) defer_(f func()) { s.cleanups = append(s.cleanups, f) }

func (s *scenarioRun) close() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}

// seedFor derives a scenario's seed from the run's, so scenarios run alone
// (--only) use the same keys as in a full run.
func (s *scenarioRun) seedFor(salt string) (uint64, uint64) {
	var h uint64 = 1469598103934665603
	for _, c := range s.key + "/" + salt {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return s.seed, h
}

// progress writes timestamped progress lines to stderr.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	t0    time.Time
	stage string
}

func newProgress(w io.Writer) *progress { return &progress{w: w, t0: time.Now()} }

func (p *progress) setStage(s string) {
	p.mu.Lock()
	p.stage = s
	p.mu.Unlock()
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	stage := p.stage
	if stage != "" {
		stage += " "
	}
	fmt.Fprintf(p.w, "[%6.1fs] %s%s\n", time.Since(p.t0).Seconds(), stage, fmt.Sprintf(format, args...))
}
