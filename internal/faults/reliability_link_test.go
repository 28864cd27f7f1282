package faults

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
)

// TestLinkCut is fault 3: one agent's link to the server is blackholed for
// 30 s (3 s quick) in the middle of a burst. While cut it must refuse
// (fail closed) every token once past its staleness bound, so a token
// revoked during the cut is exposed there for at most about that bound;
// after the heal it converges to the acked set.
func TestLinkCut(t *testing.T) {
	parallel(t)
	cutFor := pick(3*time.Second, 30*time.Second)
	r := report(t, "F03", "link cut mid-burst", fmt.Sprintf("toxiproxy blackholes one agent's link both ways for %v while revocations flow", cutFor))

	srv := server(t, natsproc.Options{})
	pub := newPub(t, dial(t, srv.URL()))
	tr := &tracker{}
	direct := tr.mustStart(t, "direct", dial(t, srv.URL()))
	l := newLink(t, "cut", srv.URL())
	cutAgent := tr.mustStart(t, "cut", dial(t, l.url))
	// The same cut seen by an agent that fails open: it keeps answering
	// from memory and says so (Stale), by its operator's choice.
	l2 := newLink(t, "cut-open", srv.URL())
	openAgent := tr.mustStart(t, "cut-fail-open", dial(t, l2.url), agent.WithPolicy(agent.FailOpen))

	pctx, stopPoll := context.WithCancel(context.Background())
	defer stopPoll()
	go tr.poll(pctx)

	ctx, cancel := context.WithTimeout(context.Background(), cutFor+2*time.Minute)
	defer cancel()
	log := &ackLog{}
	stop := tr.load(ctx, pub, "cut", log, 100, pick(50*time.Millisecond, 20*time.Millisecond), 1, 10*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	clean := jtiToken("never-revoked")
	cutAt := time.Now()
	l.cut(t)
	l2.cut(t)
	// Watch the clean token on the cut agents: how soon they go stale, and
	// that the fail-closed one refuses from then on.
	staleAfter := time.Duration(-1)
	var openStale, openAllowedStale int
	allowedAfterStale := 0
	for time.Since(cutAt) < cutFor {
		res := cutAgent.a.Check(&clean)
		if res.Stale && staleAfter < 0 {
			staleAfter = time.Since(cutAt)
		}
		if staleAfter >= 0 && res.Allowed {
			allowedAfterStale++
		}
		if o := openAgent.a.Check(&clean); o.Stale {
			openStale++
			if o.Allowed {
				openAllowedStale++
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	healAt := time.Now()
	l.heal(t)
	l2.heal(t)
	time.Sleep(time.Second)
	stop()
	if len(log.failed) > 0 {
		t.Errorf("publishes failed: %s", errsSummary(log.failed))
	}

	agents := []*node{direct, cutAgent, openAgent}
	lost, _ := settle(agents, log, pick(60*time.Second, 3*time.Minute))
	// Converged: the cut agent holds every acked revocation and is fresh.
	mustWait(t, 30*time.Second, "cut agent fresh again", func() bool { res := cutAgent.a.Check(&clean); return res.Allowed && !res.Stale })
	converged := time.Since(healAt)
	stopPoll()

	acked, _ := log.snapshot()
	r.acked, r.lost = len(acked), sum(lost)
	// Exposure of the fail-closed agents only: the fail-open agent serves
	// stale answers by design, reported below.
	r.exposure = tr.exposures([]*node{direct, cutAgent})
	r.setRecovery(converged)
	cutExp := tr.exposures([]*node{cutAgent})
	p := percentiles(cutExp, 0.5, 0.99, 1)
	r.note("cut agent stale %v after the cut (bound %v) and refused every token from then until the heal (%d allowed); its own exposure p50/p99/max %s / %s / %s",
		staleAfter.Round(time.Millisecond), staleness, allowedAfterStale, ms(p[0]), ms(p[1]), ms(p[2]))
	r.note("converged and fresh %v after the heal; %s", converged.Round(time.Millisecond), statsLine(cutAgent))
	openExp := percentiles(tr.exposures([]*node{openAgent}), 1)
	r.note("a fail-open agent on a cut link answered %d of %d checks stale-but-allowed, and kept allowing tokens revoked during the cut for up to %s: its policy, not a loss; it converged like the others",
		openAllowedStale, openStale, ms(openExp[0]))
	if staleAfter < 0 || staleAfter > staleness+time.Second {
		t.Errorf("cut agent stale after %v, want within the bound %v (+1s)", staleAfter, staleness)
	}
	if allowedAfterStale > 0 {
		t.Errorf("fail-closed agent allowed %d checks while stale", allowedAfterStale)
	}
	if p[2] > staleness+time.Second {
		t.Errorf("cut agent allowed a revoked token %v after its ack, want at most the staleness bound %v (+1s)", p[2], staleness)
	}
	for i, n := range agents {
		if lost[i] > 0 {
			t.Errorf("%s: %d acked revocations not refused as revoked after the heal", n.name, lost[i])
		}
	}
}

// TestSlowAgent is fault 4: one agent's link has latency and a bandwidth
// limit during a burst. It must apply everything (no silent drops); the
// figure is its maximum lag.
func TestSlowAgent(t *testing.T) {
	parallel(t)
	n := pick(2000, 30_000)
	latency, kbps := pick(20, 50), 256
	r := report(t, "F04", "slow agent", fmt.Sprintf("%d revocations; one agent's link: %d ms latency each way, %d KB/s server → agent", n, latency, kbps))

	srv := server(t, natsproc.Options{})
	pub := newPub(t, dial(t, srv.URL()))
	tr := &tracker{}
	direct := tr.mustStart(t, "direct", dial(t, srv.URL()))
	l := newLink(t, "slow", srv.URL())
	slow := tr.mustStart(t, "slow", dial(t, l.url))
	l.slow(t, latency, kbps)

	pctx, stopPoll := context.WithCancel(context.Background())
	defer stopPoll()
	go tr.poll(pctx)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := &ackLog{}
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer done.Store(true)
		batch(ctx, pub, revs("slow-burst", n), 500, log)
	}()
	go func() {
		defer wg.Done()
		tr.probeLoop(ctx, pub, "slow-probe", 20*time.Millisecond, log, while(50, func() bool { return !done.Load() }))
	}()
	wg.Wait()
	lastAck := time.Now()
	if len(log.failed) > 0 {
		t.Errorf("publishes failed: %s", errsSummary(log.failed))
	}
	lost, _ := settle([]*node{direct, slow}, log, pick(2*time.Minute, 10*time.Minute))
	caughtUp := time.Since(lastAck)
	stopPoll()
	acked, maxSeq := log.snapshot()
	r.acked, r.lost = len(acked), sum(lost)
	r.exposure = tr.exposures([]*node{slow})
	r.setRecovery(caughtUp)
	st := slow.a.Stats()
	lag := percentiles(tr.applyLags(slow), 0.5, 0.99, 1)
	r.note("slow agent's lag (probe ack → applied there) p50/p99/max %s / %s / %s, and it caught up %v after the last ack; exposure stays within the staleness bound because, lagging, it is stale and refuses (fail closed: %d stale checks); applied %d of %d, last seq %d of %d; consumer errors %d",
		ms(lag[0]), ms(lag[1]), ms(lag[2]), caughtUp.Round(time.Millisecond), st.ChecksStale, st.EventsApplied, len(acked), st.LastApplied, maxSeq, st.ConsumerErrors)
	if st.EventsApplied != uint64(len(acked)) {
		t.Errorf("slow agent applied %d events, want %d: a silent drop", st.EventsApplied, len(acked))
	}
	for i, a := range []*node{direct, slow} {
		if lost[i] > 0 {
			t.Errorf("%s: %d acked revocations not refused as revoked", a.name, lost[i])
		}
	}
}

// defaultPingConn dials like a service that kept nats.go's defaults
// (a ping every 2 minutes).
func defaultPingConn(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("nats.Connect(%s) error = %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}
