package faults

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// TestBurst covers faults 1, 2 and 13 on one burst: five agents take a
// burst of revocations (1), an agent started after it catches up before it
// says ready (2), and an agent whose memory budget holds a fraction of the
// burst still refuses every revoked token (13).
func TestBurst(t *testing.T) {
	parallel(t)
	n := pick(10_000, 100_000)
	r1 := report(t, "F01", "burst to 5 agents", fmt.Sprintf("%d revocations in RevokeBatch chunks + single-revocation probes during the burst", n))
	r2 := report(t, "F02", "agent started after the burst", "a new agent replays the whole stream")

	srv := server(t, natsproc.Options{})
	pub := testkit.NewPublisher(t, dial(t, srv.URL()))
	tr := &tracker{}
	var agents []*node
	for i := range 5 {
		agents = append(agents, tr.mustStart(t, fmt.Sprintf("agent-%d", i+1), dial(t, srv.URL())))
	}
	small := tr.mustStart(t, "small-budget", dial(t, srv.URL()), agent.WithMemoryBudget(1<<20))

	pctx, stopPoll := context.WithCancel(context.Background())
	defer stopPoll()
	go tr.poll(pctx)

	ctx, cancel := context.WithTimeout(context.Background(), pick(2*time.Minute, 10*time.Minute))
	defer cancel()
	log := &ackLog{}
	var burstDone atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer burstDone.Store(true)
		batch(ctx, pub, revs("burst", n), pick(1000, 5000), log)
	}()
	var probes int
	go func() {
		defer wg.Done()
		probes = tr.probeLoop(ctx, pub, "probe", pick(2*time.Millisecond, time.Millisecond), log, while(pick(100, 500), func() bool { return !burstDone.Load() }))
	}()
	wg.Wait()
	published := time.Since(start)
	lastAck := time.Now()
	if len(log.failed) > 0 {
		t.Errorf("publishes failed: %s", errsSummary(log.failed))
	}
	acked, maxSeq := log.snapshot()

	lost, _ := settle(agents, log, pick(60*time.Second, 5*time.Minute))
	converged := time.Since(lastAck)
	stopPoll()
	r1.acked, r1.lost = len(acked), sum(lost)
	r1.exposure = tr.exposures(agents)
	r1.setRecovery(converged)
	r1.note("%d burst + %d probes acked in %v (%.0f/s); all 5 agents hold every acked revocation %v after the last ack",
		n, probes, published.Round(time.Millisecond), float64(len(acked))/published.Seconds(), converged.Round(time.Millisecond))
	for i, a := range agents {
		if lost[i] > 0 {
			t.Errorf("%s: %d acked revocations not refused as revoked", a.name, lost[i])
		}
		st := a.a.Stats()
		// Every acked revocation is its own key and its own message, so
		// each agent applied exactly the acked set, once.
		if st.EventsApplied != uint64(len(acked)) || st.LastApplied != maxSeq || st.Rewinds != 0 {
			t.Errorf("%s: Stats() EventsApplied = %d, LastApplied = %d, Rewinds = %d; want %d, %d, 0 (the same set as every agent)",
				a.name, st.EventsApplied, st.LastApplied, st.Rewinds, len(acked), maxSeq)
		}
		if a.applied.Load() != uint64(len(acked)) {
			t.Errorf("%s: OnApply called %d times, want %d", a.name, a.applied.Load(), len(acked))
		}
	}
	r1.note("every agent applied exactly %d events up to seq %d (equal sets); agents' own lag histogram (issued → applied, all events) p99 ≤ %v",
		len(acked), maxSeq, lagQuantile(agents, 0.99))

	// Fault 2: a late agent. Until it has replayed what the stream held
	// when it started it is not ready, and failing closed it refuses.
	lateStart := time.Now()
	late, err := tr.start(t, "late", dial(t, srv.URL()), false)
	if err != nil {
		t.Fatal(err)
	}
	sawNotReady, allowedEarly := 0, 0
	for i := 0; !late.a.Ready() && i < len(acked); i += 7 {
		res := late.a.Check(&acked[i].tok)
		if res.NotReady {
			sawNotReady++
			if res.Allowed {
				allowedEarly++
			}
		}
	}
	wctx, wcancel := context.WithTimeout(context.Background(), pick(60*time.Second, 5*time.Minute))
	defer wcancel()
	if err := late.a.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	catchUp := time.Since(lateStart)
	lateLost := 0
	for _, r := range acked {
		if res := late.a.Check(&r.tok); res.Verdict != filter.Revoked || res.Allowed {
			lateLost++
		}
	}
	r2.acked, r2.lost = len(acked), lateLost+allowedEarly
	r2.setRecovery(catchUp)
	r2.note("ready %v after New, having replayed %d events (%.0f events/s); %d checks answered while not ready, %d of them allowed; every acked token refused at the moment WaitReady returned",
		catchUp.Round(time.Millisecond), late.a.LastApplied(), float64(late.a.LastApplied())/catchUp.Seconds(), sawNotReady, allowedEarly)
	if lateLost > 0 || allowedEarly > 0 {
		t.Errorf("late agent: %d acked tokens not refused right after WaitReady, %d allowed while not ready", lateLost, allowedEarly)
	}
	if late.a.LastApplied() < maxSeq {
		t.Errorf("late agent ready at LastApplied %d, want ≥ %d", late.a.LastApplied(), maxSeq)
	}

	// Fault 13: the small agent holds a fraction of the exact entries;
	// every revoked token must still be refused (Revoked after a settle
	// from the stream, or Unknown and refused), never allowed.
	t.Run("F13", func(t *testing.T) {
		r13 := report(t, "F13", "live set over the memory budget", fmt.Sprintf("%d live revocations into an agent with a 1 MiB budget", n))
		// The small agent was not in the settle above: wait until it has
		// applied the whole burst, or a fresh agent that is merely behind
		// (allowed, within the propagation bound) would count as accepting
		// a revoked token. Normally done by now; the bound is generous.
		mustApply(t, pick(60*time.Second, 5*time.Minute), "the small-budget agent applies the burst", small.a, maxSeq)
		checkStart := time.Now()
		accepted, unsettled := refusedAll(small, acked, 8, pick(60*time.Second, 5*time.Minute))
		sst := small.a.Stats()
		r13.acked, r13.lost = len(acked), accepted
		r13.exposure = tr.exposures([]*node{small})
		r13.note("checked all %d in %v with 8 goroutines; exact capacity %d of %d live entries, %d evictions; %d settles by direct get (%d errors); %d tokens still Unknown (refused) at the deadline; filter bytes %d, budget %d (Bloom %d, %d segments made smaller than their target)",
			len(acked), time.Since(checkStart).Round(time.Millisecond), sst.Filter.ExactCapacity, len(acked), sst.Filter.Evictions, sst.Settles, sst.SettleErrors, unsettled,
			sst.Filter.Bytes, sst.Filter.Budget, sst.Filter.BloomBytes, sst.Filter.OverBudget)
		if accepted > 0 {
			t.Errorf("small-budget agent accepted %d revoked tokens", accepted)
		}
		if sst.Filter.Evictions == 0 {
			t.Errorf("small-budget agent: no evictions with %d entries in 1 MiB: the case did not test the budget", len(acked))
		}
		// The same filter alone, grown twice as far (no NATS needed): a
		// deterministic look at the budget.
		fst := growFilter(t, 1<<20, 200_000)
		r13.note("a filter alone with a 1 MiB budget and 200000 live entries: %d bytes (Bloom %d, %d exact entries)", fst.Bytes, fst.BloomBytes, fst.ExactEntries)
		over, live := sst.Filter, len(acked)
		if over.Bytes <= over.Budget {
			over, live = fst, 200_000
		}
		if over.Bytes > over.Budget {
			t.Errorf("regression of a fixed bug: filter: the memory budget is exceeded once the Bloom filters fill it: Stats().Filter.Bytes = %d > budget %d with %d live entries "+
				"(Bloom %d bytes, exact entries at their floor of 1024). filter.newSegmentLocked (filter/filter.go) gives every new segment at least "+
				"64 KiB (room = max(budget − bloomBytes − minExact×exactEntryBytes, 64<<10)) and exactCapacity never goes below minExact, so each segment "+
				"added after the budget is spent adds 64 KiB beyond it, without limit as the live set grows (DESIGN invariant 3). Either the floor must be "+
				"taken from the budget, or the budget documented as Bloom-bounded",
				over.Bytes, over.Budget, live, over.BloomBytes)
		}
		r13.done(t)
	})
}

// refusedAll checks every acked token at n with workers goroutines,
// retrying Unknown answers (each retry may settle from the stream) until
// d has passed. It returns how many revoked tokens were ever allowed, and
// how many were still Unknown (refused) at the end.
func refusedAll(n *node, acked []acked, workers int, d time.Duration) (accepted, unknown int) {
	var acc, unk atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(acked); i += workers {
				for {
					res := n.a.Check(&acked[i].tok)
					if res.Allowed {
						acc.Add(1)
						break
					}
					if res.Verdict == filter.Revoked {
						break
					}
					if time.Now().After(deadline) {
						unk.Add(1)
						break
					}
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	return int(acc.Load()), int(unk.Load())
}

// growFilter adds n live token revocations to a filter with the given
// budget and returns its stats.
func growFilter(t *testing.T, budget int64, n int) filter.Stats {
	t.Helper()
	f, err := filter.New(filter.WithMemoryBudget(budget), filter.WithMaxTokenLifetime(lifetime))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range n {
		if err := f.AddAt(jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("grow-%d", i), Before: now, Expires: tokenExp}, now); err != nil {
			t.Fatal(err)
		}
	}
	return f.Stats()
}
