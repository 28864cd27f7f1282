package faults

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// TestKill9MidBurst is fault 5: the server is killed with SIGKILL while
// revocations flow and restarted on the same store. Publisher retries keep
// their message IDs, so nothing is stored twice; nothing acked is lost.
func TestKill9MidBurst(t *testing.T) {
	parallel(t)
	down := pick(500*time.Millisecond, 2*time.Second)
	r := report(t, "F05", "kill -9 mid-burst", fmt.Sprintf("SIGKILL of the server while revocations flow; restart on the same store after %v", down))

	srv := server(t, natsproc.Options{})
	pub := testkit.NewPublisher(t, dial(t, srv.URL())) // default retries: 8 attempts of 2 s
	tr := &tracker{}
	var agents []*node
	for i := range 3 {
		agents = append(agents, tr.mustStart(t, fmt.Sprintf("agent-%d", i+1), dial(t, srv.URL())))
	}
	pctx, stopPoll := context.WithCancel(context.Background())
	defer stopPoll()
	go tr.poll(pctx)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	log := &ackLog{}
	stop := tr.load(ctx, pub, "kill", log, pick(100, 500), pick(50*time.Millisecond, 20*time.Millisecond), 4, 5*time.Millisecond)
	time.Sleep(pick(time.Second, 5*time.Second))
	before := log.len()
	killAt := time.Now()
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(down)
	rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
	defer rcancel()
	if err := srv.Restart(rctx); err != nil {
		t.Fatal(err)
	}
	readyAt := time.Now()
	// Recovered: every agent has applied the first revocation acked after
	// the kill.
	var firstAfter time.Time
	var firstSeq uint64
	mustWait(t, time.Minute, "an ack after the restart", func() bool {
		revs, _ := log.snapshot()
		for _, r := range revs {
			if r.at.After(killAt) && (firstAfter.IsZero() || r.at.Before(firstAfter)) {
				firstAfter, firstSeq = r.at, r.seq
			}
		}
		return !firstAfter.IsZero()
	})
	mustWait(t, time.Minute, "agents apply the first ack after the restart", func() bool {
		for _, a := range agents {
			if a.a.LastApplied() < firstSeq {
				return false
			}
		}
		return true
	})
	recovered := time.Since(killAt)
	time.Sleep(pick(time.Second, 5*time.Second))
	stop()
	if len(log.failed) > 0 {
		t.Errorf("publishes failed: %s", errsSummary(log.failed))
	}
	lost, _ := settle(agents, log, time.Minute)
	stopPoll()

	acked, _ := log.snapshot()
	st := streamState(t, dial(t, srv.URL()))
	dups := duplicates(st)
	r.acked, r.lost = len(acked), sum(lost)
	r.exposure = tr.exposures(agents)
	r.setRecovery(recovered)
	gap, _ := log.maxGap()
	r.note("%d acked before the kill; server ready %v after the kill; publish outage (kill → first ack) %v, longest gap between acks %v; recovery column = kill → every agent applied the first post-restart ack (%v)",
		before, readyAt.Sub(killAt).Round(time.Millisecond), firstAfter.Sub(killAt).Round(time.Millisecond), gap.Round(time.Millisecond), recovered.Round(time.Millisecond))
	r.note("stream: %d messages, seq %d…%d, duplicates stored %d; receipts marked Duplicate (a retry the server had already stored) %d", st.Msgs, st.FirstSeq, st.LastSeq, dups, log.dups)
	if dups != 0 || st.Msgs != uint64(len(acked)) {
		t.Errorf("stream holds %d messages with %d replaced copies, want exactly the %d acked, none stored twice", st.Msgs, dups, len(acked))
	}
	for i, a := range agents {
		if lost[i] > 0 {
			t.Errorf("%s: %d acked revocations lost", a.name, lost[i])
		}
		if got := a.a.Stats().EventsApplied; got != uint64(len(acked)) {
			t.Errorf("%s: EventsApplied = %d, want %d (each acked event once)", a.name, got, len(acked))
		}
	}
}

// TestKillLoop is fault 6: the server is killed and restarted every few
// seconds for a bounded run. The figure is the longest publish outage.
func TestKillLoop(t *testing.T) {
	parallel(t)
	cycles, up, down := pick(3, 15), pick(time.Second, 3*time.Second), pick(300*time.Millisecond, time.Second)
	r := report(t, "F06", "kill/restart loop", fmt.Sprintf("%d × (SIGKILL, %v down, restart, %v up) while revocations flow", cycles, down, up))

	srv := server(t, natsproc.Options{})
	pub := testkit.NewPublisher(t, dial(t, srv.URL()))
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
	log := &ackLog{}
	stop := tr.load(ctx, pub, "loop", log, pick(50, 200), 50*time.Millisecond, 2, 10*time.Millisecond)
	var restarts []time.Duration
	for range cycles {
		time.Sleep(up)
		if err := srv.Kill(); err != nil {
			t.Fatal(err)
		}
		killAt := time.Now()
		time.Sleep(down)
		rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
		err := srv.Restart(rctx)
		rcancel()
		if err != nil {
			t.Fatal(err)
		}
		restarts = append(restarts, time.Since(killAt))
	}
	time.Sleep(up)
	stop()
	if len(log.failed) > 0 {
		t.Errorf("publishes failed: %s", errsSummary(log.failed))
	}
	lastRestart := time.Now()
	lost, _ := settle(agents, log, time.Minute)
	stopPoll()
	acked, _ := log.snapshot()
	gap, _ := log.maxGap()
	st := streamState(t, dial(t, srv.URL()))
	r.acked, r.lost = len(acked), sum(lost)
	r.exposure = tr.exposures(agents)
	r.setRecovery(gap)
	p := percentiles(restarts, 1)
	r.note("recovery column = longest publish outage (gap between consecutive acks) %v; kill → ready at most %v; agents settled %v after the run; stream duplicates %d, receipts marked Duplicate %d",
		gap.Round(time.Millisecond), p[0].Round(time.Millisecond), time.Since(lastRestart).Round(time.Millisecond), duplicates(st), log.dups)
	if d := duplicates(st); d != 0 || st.Msgs != uint64(len(acked)) {
		t.Errorf("stream holds %d messages with %d replaced copies, want exactly the %d acked", st.Msgs, d, len(acked))
	}
	for i, a := range agents {
		if lost[i] > 0 {
			t.Errorf("%s: %d acked revocations lost", a.name, lost[i])
		}
	}
}

// TestClusterLeaderKill is fault 7: on a 3-node cluster (sync_interval:
// always) with an R3 stream, the stream leader is killed with SIGKILL
// mid-burst. The figures are the election gap and the publish outage;
// once the node is back, the three replicas must hold the same stream.
func TestClusterLeaderKill(t *testing.T) {
	parallel(t)
	r := report(t, "F07", "stream leader killed (R3)", "3-node cluster, R3 stream, sync_interval: always; SIGKILL of the stream leader mid-burst, restarted later")

	nodes := natsproc.RunCluster(t, 3, nil)
	urls := natsproc.URLs(nodes)
	admin := dial(t, urls)
	pub := testkit.NewPublisher(t, dial(t, urls), publisher.WithReplicas(3))
	js := testkit.JetStream(t, admin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	stream, err := js.Stream(ctx, jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	leader := func() string {
		ictx, icancel := context.WithTimeout(ctx, time.Second)
		defer icancel()
		info, err := stream.Info(ictx)
		if err != nil || info.Cluster == nil {
			return ""
		}
		return info.Cluster.Leader
	}
	mustWait(t, 30*time.Second, "stream has a leader", func() bool { return leader() != "" })

	tr := &tracker{}
	var agents []*node
	var logs []logRecorder
	for i := range 3 {
		// Each agent prefers a different node, as replicas spread over a
		// cluster would.
		var order []*natsproc.Server
		for j := range nodes {
			order = append(order, nodes[(i+j)%len(nodes)])
		}
		logs = append(logs, newLogRecorder())
		agents = append(agents, tr.mustStart(t, fmt.Sprintf("agent-%d", i+1), dial(t, natsproc.URLs(order), nats.DontRandomize()),
			agent.WithLogger(slog.New(logs[i]))))
	}
	pctx, stopPoll := context.WithCancel(context.Background())
	defer stopPoll()
	go tr.poll(pctx)

	log := &ackLog{}
	stop := tr.load(ctx, pub, "leader", log, pick(100, 500), pick(50*time.Millisecond, 20*time.Millisecond), 4, 5*time.Millisecond)
	time.Sleep(pick(time.Second, 5*time.Second))
	// One StreamInfo may time out (1 s) on a loaded machine in the middle
	// of the burst; ask again rather than take "" for the leader.
	var old string
	mustWait(t, 30*time.Second, "the stream leader before the kill", func() bool { old = leader(); return old != "" })
	var victim *natsproc.Server
	for _, n := range nodes {
		if n.Name() == old {
			victim = n
		}
	}
	if victim == nil {
		t.Fatalf("stream leader %q is not one of the nodes", old)
	}
	killAt := time.Now()
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	var newLeader string
	gap := mustWait(t, time.Minute, "a new stream leader", func() bool {
		newLeader = leader()
		return newLeader != "" && newLeader != old
	})
	var firstAfter time.Time
	mustWait(t, time.Minute, "an ack after the kill", func() bool {
		var ok bool
		firstAfter, ok = log.firstAckAfter(killAt)
		return ok
	})
	time.Sleep(pick(time.Second, 5*time.Second))
	stop()
	lost, _ := settle(agents, log, 2*time.Minute)
	stopPoll()

	// Bring the victim back and let it catch up: every replica must hold
	// the same stream.
	restartAt := time.Now()
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer rcancel()
	if err := victim.Restart(rctx); err != nil {
		t.Fatal(err)
	}
	var states []natsproc.StreamState
	agree := func() bool {
		states = states[:0]
		for _, n := range nodes {
			st, err := n.StreamState(ctx, "$G", jwtrevoke.DefaultStream)
			if err != nil {
				return false
			}
			states = append(states, st)
		}
		for _, st := range states[1:] {
			if st.Messages != states[0].Messages || st.LastSeq != states[0].LastSeq || st.FirstSeq != states[0].FirstSeq {
				return false
			}
		}
		return true
	}
	catchUp, ok := waitFor(time.Minute, agree)
	if !ok {
		t.Errorf("replicas disagree a minute after the restart: %+v", states)
	}

	acked, _ := log.snapshot()
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.acked, r.lost = len(acked), sum(lost)
	r.exposure = tr.exposures(agents)
	r.setRecovery(gap)
	pgap, _ := log.maxGap()
	r.note("recovery column = election gap (kill of %s → StreamInfo names a new leader, %s) %v; publish outage (kill → first ack) %v, longest gap between acks %v",
		old, newLeader, gap.Round(time.Millisecond), firstAfter.Sub(killAt).Round(time.Millisecond), pgap.Round(time.Millisecond))
	r.note("restarted node caught up in %v (%v after its restart began); replicas agree: %v; stream %d messages, last seq %d, duplicates %d",
		catchUp.Round(time.Millisecond), time.Since(restartAt).Round(time.Millisecond), states, info.State.Msgs, info.State.LastSeq, duplicates(info.State))
	// A publish that failed may still have been stored (its ack was lost).
	if info.State.Msgs < uint64(len(acked)) || info.State.Msgs > uint64(len(acked)+log.unacked) || duplicates(info.State) != 0 {
		t.Errorf("stream holds %d messages (%d duplicates), want the %d acked (+ up to %d whose publish failed)", info.State.Msgs, duplicates(info.State), len(acked), log.unacked)
	}
	r.note("publish failures (not acked, so not counted): %s", errsSummary(log.failed))
	var noResponse []error
	for _, err := range log.failed {
		if errors.Is(err, jetstream.ErrNoStreamResponse) {
			noResponse = append(noResponse, err)
		}
	}
	if len(noResponse) > 0 {
		t.Errorf("regression of a fixed bug: publisher: %d Revoke calls failed during the leader election with the default retries (8 attempts): %s. "+
			"publisher/retry.go counts attempts, and JetStream answers \"no responders\" at once while the stream has no leader, so the 8 attempts "+
			"(20 ms … 1 s back-off, 2.3 s in all) end long before an election (5–9 s here) does; the retry budget should be time-based (at least the per-attempt timeout × attempts)",
			len(noResponse), errsSummary(noResponse))
	}
	if log.hung > 0 {
		t.Errorf("regression of a fixed bug: publisher: %d RevokeBatch calls never returned until the test's %v deadline cut them off: publisher/batch.go waits on each PubAckFuture with no timeout "+
			"(select on Ok, Err, ctx.Done), and when the stream leader dies holding in-flight publishes their acks never come and nats.go never fails the futures "+
			"(jetstream.New without WithPublishAsyncTimeout); with a context without deadline RevokeBatch hangs for ever. Each wait should be bounded by the "+
			"per-attempt timeout, falling back to the slow path (Revoke retries, deduplicated by message ID)", log.hung, batchTimeout)
	}
	var falseRewinds []string
	for i, a := range agents {
		if n := a.a.Stats().Rewinds; n > 0 {
			said := ""
			for _, m := range logs[i].messages() {
				if strings.Contains(m, "rewound") {
					said = m
					break
				}
			}
			falseRewinds = append(falseRewinds, fmt.Sprintf("%s (%d; it logged %q)", a.name, n, said))
		}
	}
	if len(falseRewinds) > 0 {
		t.Errorf("regression of a fixed bug: agent: a false rewind alarm around the leader election: %s — it replayed the whole stream, though the stream lost nothing (the replicas "+
			"agree and hold every acked event). agent.probe (agent/agent.go) takes a single StreamInfo answer (LastSeq below what the agent applied, "+
			"or a different Created) as proof of a rewind; one answered during an election is not. It should confirm the condition (a second probe, "+
			"or a settled cluster leader) before it alarms and replays",
			strings.Join(falseRewinds, ", "))
	}
	var stuck []string
	for i, a := range agents {
		r.note("%s", statsLine(a))
		if lost[i] > 0 {
			said := logs[i].messages()
			if len(said) > 6 {
				said = append(said[:3], said[len(said)-3:]...)
			}
			stuck = append(stuck, fmt.Sprintf("%s (%d acked revocations not applied, LastApplied %d; it logged %q)", a.name, lost[i], a.a.LastApplied(), said))
		}
	}
	if len(stuck) > 0 {
		t.Errorf("regression of a fixed bug: agent: after the stream leader was killed, %s stopped applying events for good and stayed stale (refusing every token, fail closed) while the stream moved on. "+
			"The ordered consumer was recreated on the dead node (R1 consumer placed there by the meta leader before it noticed) and never pulled again; "+
			"the stream's consumers: %s. agent.probe (agent/agent.go) sees that LastSeq is past LastApplied but only leaves the agent stale: it should restart "+
			"the consumer from LastApplied+1 when it has made no progress while behind for a staleness bound",
			strings.Join(stuck, ", "), consumers(ctx, stream))
	}
	r.done(t)
}

// consumers describes the stream's consumers, for a failure message.
func consumers(ctx context.Context, st jetstream.Stream) string {
	var out []string
	l := st.ListConsumers(ctx)
	for ci := range l.Info() {
		leader := ""
		if ci.Cluster != nil {
			leader = ci.Cluster.Leader
		}
		out = append(out, fmt.Sprintf("%s on %s: delivered stream seq %d, pending %d, waiting pulls %d, created %s",
			ci.Name, leader, ci.Delivered.Stream, ci.NumPending, ci.NumWaiting, ci.Created.Format("15:04:05.000")))
	}
	if err := l.Err(); err != nil {
		out = append(out, "list: "+err.Error())
	}
	return strings.Join(out, "; ")
}
