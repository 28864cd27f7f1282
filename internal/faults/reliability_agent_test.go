package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// TestAgentRestarts is fault 8: agents are closed and started again (cold,
// empty filter) at random points of a burst. Each new agent must hold every
// revocation acked before it started by the time it says ready, and all of
// them converge to the acked set.
func TestAgentRestarts(t *testing.T) {
	parallel(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 8))
	restarts := pick(4, 20)
	r := report(t, "F08", "agents restarted at random", fmt.Sprintf("%d cold restarts of 3 agents at random points of a burst (seed %d)", restarts, seed))

	srv := server(t, natsproc.Options{})
	pub := testkit.NewPublisher(t, dial(t, srv.URL()))
	tr := &tracker{}
	agents := make([]*node, 3)
	for i := range agents {
		agents[i] = tr.mustStart(t, fmt.Sprintf("agent-%d", i+1), dial(t, srv.URL()))
	}
	pctx, stopPoll := context.WithCancel(context.Background())
	defer stopPoll()
	go tr.poll(pctx)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := &ackLog{}
	stop := tr.load(ctx, pub, "restart", log, 200, pick(50*time.Millisecond, 20*time.Millisecond), 1, 5*time.Millisecond)

	var replays []time.Duration
	missing := 0
	for k := range restarts {
		time.Sleep(time.Duration(100+rng.IntN(pick(600, 1500))) * time.Millisecond)
		i := rng.IntN(len(agents))
		tr.drop(agents[i])
		before, _ := log.snapshot()
		start := time.Now()
		n, err := tr.start(t, fmt.Sprintf("agent-%d.%d", i+1, k+1), dial(t, srv.URL()), true)
		if err != nil {
			t.Fatalf("restart %d: %v", k, err)
		}
		replays = append(replays, time.Since(start))
		agents[i] = n
		// Ready means caught up with what the stream held at start: every
		// revocation acked before it is refused now, without waiting.
		for _, a := range before {
			if res := n.a.Check(&a.tok); res.Verdict != filter.Revoked || res.Allowed {
				missing++
			}
		}
	}
	stop()
	if len(log.failed) > 0 {
		t.Errorf("publishes failed: %s", errsSummary(log.failed))
	}
	lost, took := settle(agents, log, time.Minute)
	stopPoll()
	acked, _ := log.snapshot()
	r.acked, r.lost = len(acked), sum(lost)+missing
	r.exposure = tr.exposures(tr.live())
	p := percentiles(replays, 0.5, 1)
	r.setRecovery(p[1])
	r.note("recovery column = slowest cold replay (New → ready) %v, median %v, over %d restarts; %d revocations acked before a restart were missing when it said ready; final agents settled %v after the burst",
		p[1].Round(time.Millisecond), p[0].Round(time.Millisecond), restarts, missing, took.Round(time.Millisecond))
	if missing > 0 {
		t.Errorf("%d revocations acked before an agent started were not refused when it said ready", missing)
	}
	for i, a := range agents {
		if lost[i] > 0 {
			t.Errorf("%s: %d acked revocations lost", a.name, lost[i])
		}
	}
}

// TestConsumerDeletedMidBurst is fault 9: the agents' consumers are deleted
// on the server, repeatedly, while revocations flow. Each agent resumes from
// its last sequence (existing tests cover one delete between two batches).
func TestConsumerDeletedMidBurst(t *testing.T) {
	parallel(t)
	deletes := pick(3, 10)
	r := report(t, "F09", "consumers deleted mid-burst", fmt.Sprintf("every agent's consumer deleted on the server %d times while revocations flow", deletes))

	srv := server(t, natsproc.Options{})
	admin := dial(t, srv.URL())
	pub := testkit.NewPublisher(t, admin)
	tr := &tracker{}
	var agents []*node
	for i := range 3 {
		agents = append(agents, tr.mustStart(t, fmt.Sprintf("agent-%d", i+1), dial(t, srv.URL())))
	}
	pctx, stopPoll := context.WithCancel(context.Background())
	defer stopPoll()
	go tr.poll(pctx)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, err := testkit.JetStream(t, admin).Stream(ctx, jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	log := &ackLog{}
	stop := tr.load(ctx, pub, "cdel", log, 200, pick(50*time.Millisecond, 20*time.Millisecond), 1, 5*time.Millisecond)
	var resumes []time.Duration
	var deletedPerRound []int
	for range deletes {
		time.Sleep(pick(500*time.Millisecond, 2*time.Second))
		n := deleteConsumers(t, st)
		deletedPerRound = append(deletedPerRound, n)
		if n == 0 {
			t.Errorf("round %d deleted no consumer: it did not test a delete", len(deletedPerRound))
		}
		deleted := time.Now()
		// Resumed: every agent applies a revocation acked after the delete.
		var seq uint64
		mustWait(t, time.Minute, "an ack after the delete", func() bool {
			revs, _ := log.snapshot()
			for _, a := range revs {
				if a.at.After(deleted) {
					seq = a.seq
					return true
				}
			}
			return false
		})
		mustWait(t, time.Minute, "agents resume after their consumers were deleted", func() bool {
			for _, a := range agents {
				if a.a.LastApplied() < seq {
					return false
				}
			}
			return true
		})
		resumes = append(resumes, time.Since(deleted))
	}
	stop()
	if len(log.failed) > 0 {
		t.Errorf("publishes failed: %s", errsSummary(log.failed))
	}
	lost, _ := settle(agents, log, time.Minute)
	stopPoll()
	acked, _ := log.snapshot()
	r.acked, r.lost = len(acked), sum(lost)
	r.exposure = tr.exposures(agents)
	p := percentiles(resumes, 0.5, 1)
	r.setRecovery(p[1])
	r.note("recovery column = slowest resume (delete → every agent applied a revocation acked after it) %v, median %v; consumers deleted per round %v",
		p[1].Round(time.Millisecond), p[0].Round(time.Millisecond), deletedPerRound)
	for i, a := range agents {
		r.note("%s", statsLine(a))
		if lost[i] > 0 {
			t.Errorf("%s: %d acked revocations lost", a.name, lost[i])
		}
		if got := a.a.Stats().EventsApplied; got != uint64(len(acked)) {
			t.Errorf("%s: EventsApplied = %d, want %d: resumed at the wrong sequence", a.name, got, len(acked))
		}
	}
}

// deleteConsumers deletes every consumer of st and returns how many it
// deleted. Each request has its own 10 s bound and is retried for up to a
// minute: a request whose reply is lost (a reconnect on a loaded machine)
// would otherwise wait for the case's 10-minute context, and an unchecked
// listing error would delete nothing and prove nothing.
func deleteConsumers(t *testing.T, st jetstream.Stream) int {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var names []string
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		l := st.ConsumerNames(ctx)
		names = names[:0]
		for name := range l.Name() {
			names = append(names, name)
		}
		err := l.Err()
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listing consumers: %v (%d attempts)", err, attempt)
		}
	}
	deleted := 0
	for _, name := range names {
		for attempt := 1; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := st.DeleteConsumer(ctx, name)
			cancel()
			if err == nil || (attempt > 1 && errors.Is(err, jetstream.ErrConsumerNotFound)) {
				// Deleted (on a retry, not found: the earlier attempt
				// deleted it and its reply was lost).
				deleted++
				break
			}
			if errors.Is(err, jetstream.ErrConsumerNotFound) || time.Now().After(deadline) {
				// Gone before we asked (an agent replaced its ordered
				// consumer), or the server never answered.
				t.Logf("DeleteConsumer(%s): %v", name, err)
				break
			}
		}
	}
	return deleted
}
