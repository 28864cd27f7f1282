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
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// TestOfflinePastStreamStart is fault 10: an agent is cut off while the
// stream moves on so far that its first sequence is past everything the
// agent applied, because the agent stays away longer than the stream's
// MaxAge (the stream keeps every event of a key until it ages out, so only
// age moves it). Once back it must replay what the stream holds, and no
// unexpired revoked token may be accepted meanwhile.
func TestOfflinePastStreamStart(t *testing.T) {
	parallel(t)
	// Token lifetime, the publisher's leeway (the verifiers' too, as the
	// publisher's docs ask), a stream created with MaxAge = lifetime +
	// leeway, and the agent away for longer. Full: 8 s + 30 s = 38 s, 45 s
	// away. Quick: 5 s + 5 s = 10 s (the shortest duplicate window the
	// publisher accepts), 12 s away.
	life, leeway := pick(5*time.Second, 8*time.Second), pick(5*time.Second, mwLeeway)
	away := pick(12*time.Second, 45*time.Second)
	injected := fmt.Sprintf("an agent's link cut for %v, longer than the stream's MaxAge of %v", away, life+leeway)
	r := report(t, "F10", "offline past the stream's first sequence", injected)

	srv := server(t, natsproc.Options{})
	admin := dial(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := publisher.StreamConfig(jwtrevoke.DefaultStream, jwtrevoke.DefaultSubjectPrefix, life, leeway, 1)
	cfg.MaxAge, cfg.Duplicates = life+leeway, life+leeway
	if _, err := testkit.JetStream(t, admin).CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	pub := testkit.NewPublisher(t, admin, publisher.WithMaxTokenLifetime(life), publisher.WithLeeway(leeway))
	tr := &tracker{}
	direct := tr.mustStart(t, "direct", dial(t, srv.URL()), agent.WithMaxTokenLifetime(life))
	l := newLink(t, "offline", srv.URL())
	logs := newLogRecorder()
	away1 := tr.mustStart(t, "away", dial(t, l.url), agent.WithMaxTokenLifetime(life), agent.WithLogger(slog.New(logs)))
	agents := []*node{direct, away1}
	pctx, stopPoll := context.WithCancel(context.Background())
	defer stopPoll()
	go tr.poll(pctx)

	log := &ackLog{}
	subjects := 20
	revokeSubjects := func(round int) {
		for j := range subjects {
			sub := fmt.Sprintf("user-%d", j)
			cut := time.Now()
			// A token of that user issued just before the cut-off.
			tok := jwtrevoke.Token{JTI: fmt.Sprintf("sub-tok-%d-%d", j, round), Subject: sub, IssuedAt: cut.Add(-time.Millisecond), ExpiresAt: cut.Add(life)}
			rc, err := pub.RevokeSubject(ctx, sub, cut)
			if err != nil {
				log.fail(err)
				continue
			}
			log.add(tok, rc, time.Now())
		}
	}
	revokeJTI := func(key string) {
		exp := time.Now().Add(life)
		p := tr.newProbeToken(jwtrevoke.Token{JTI: key, IssuedAt: time.Now(), ExpiresAt: exp})
		rc, err := pub.RevokeJTI(ctx, key, exp)
		if err != nil {
			log.fail(err)
			return
		}
		tr.acked(p, time.Now())
		log.add(p.tok, rc, time.Now())
	}

	revokeSubjects(0)
	_, maxSeq := log.snapshot()
	mustApply(t, 30*time.Second, "the agent applies the first events", away1.a, maxSeq)
	appliedBefore := away1.a.LastApplied()
	l.cut(t)
	cutAt := time.Now()
	// Keep revoking until the stream has moved past the agent and the away
	// time is over, however slow the machine: the stream's own first
	// sequence says when it has moved (MaxAge aging the round-0 messages
	// and the first round-1 one out), not the clock. Bounded in rounds and
	// in time: a stream that never moves fails the case below.
	movedBy := cutAt.Add(away + life + leeway + 2*time.Minute)
	var st jetstream.StreamState
	rounds := 0
	for round := 1; round <= 100_000; round++ {
		st = streamState(t, admin)
		moved := st.FirstSeq > appliedBefore+1
		if (moved && time.Since(cutAt) >= away) || time.Now().After(movedBy) {
			break
		}
		revokeSubjects(round)
		for k := range 5 {
			revokeJTI(fmt.Sprintf("offline-%d-%d", round, k))
		}
		rounds = round
		time.Sleep(200 * time.Millisecond)
	}
	if st.FirstSeq <= appliedBefore+1 {
		t.Fatalf("stream first seq %d after %d rounds, agent applied up to %d: the case did not move the stream past the agent", st.FirstSeq, rounds, appliedBefore)
	}
	// While away: stale, so everything is refused (fail closed). The agent
	// goes stale one staleness bound (1 s) after it last heard from the
	// server; wait for that (a loaded machine may not have got there yet
	// when the rounds end), with a bound many times the 1 s it needs. It
	// cannot turn fresh again while the link is cut: nothing reaches it.
	clean := jwtrevoke.Token{JTI: "never-revoked", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(life)}
	var awayRes agent.Result
	if _, ok := waitFor(30*time.Second, func() bool { awayRes = away1.a.Check(&clean); return awayRes.Stale }); !ok {
		t.Errorf("agent away %v: Check(clean) = %+v, want stale 30 s after the cut", time.Since(cutAt).Round(time.Millisecond), awayRes)
	}
	if awayRes.Allowed {
		t.Errorf("agent away: Check(clean) = %+v, want refused while stale (fail closed)", awayRes)
	}
	healAt := time.Now()
	l.heal(t)
	lost, _ := settleLive(agents, log, time.Minute, leeway)
	mustWait(t, 30*time.Second, "the agent is fresh again", func() bool { res := away1.a.Check(&clean); return res.Allowed && !res.Stale })
	converged := time.Since(healAt)
	stopPoll()

	acked, _ := log.snapshot()
	r.acked, r.lost = len(acked), sum(lost)
	r.exposure = tr.exposures(agents)
	r.setRecovery(converged)
	ast := away1.a.Stats()
	r.note("stream first seq %d was past the %d the agent had applied after %d rounds of re-revocation (%v cut); after the heal it replayed from there and was fresh in %v; %s",
		st.FirstSeq, appliedBefore, rounds, healAt.Sub(cutAt).Round(time.Millisecond), converged.Round(time.Millisecond), statsLine(away1))
	var said []string
	for _, m := range logs.messages() {
		if !strings.Contains(m, "revocation consumer") {
			said = append(said, m)
		}
	}
	r.note("not detected as such: the agent has no signal for \"the stream no longer holds events after the one I applied\" (rewinds %d; warnings other than consumer errors: %d). Nothing is lost because the stream keeps every event of a key until it ages out, and an event outlives its revocation (the publisher's leeway at least the verifiers'; see H05)",
		ast.Rewinds, len(said))
	for i, a := range agents {
		if lost[i] > 0 {
			t.Errorf("%s: %d unexpired acked revocations not refused as revoked", a.name, lost[i])
		}
	}
}

// settleLive is settle for revocations that may expire during the test: it
// counts as lost only a token that is still valid (exp plus the verifiers'
// leeway not passed) and not refused as revoked.
func settleLive(agents []*node, log *ackLog, d, leeway time.Duration) ([]int, time.Duration) {
	start := time.Now()
	revs, maxSeq := log.snapshot()
	lost := make([]int, len(agents))
	for i, n := range agents {
		waitApplied(d, n.a, maxSeq)
		for _, r := range revs {
			_, ok := waitFor(time.Until(start.Add(d)), func() bool {
				if time.Now().After(r.tok.ExpiresAt.Add(leeway)) {
					return true // expired: a verifier refuses it anyway
				}
				res := n.a.Check(&r.tok)
				return res.Verdict == filter.Revoked && !res.Allowed
			})
			if !ok {
				lost[i]++
			}
		}
	}
	return lost, time.Since(start)
}

// TestStreamRecreatedMidBurst is fault 11: the stream is deleted and
// recreated empty while agents tail it, and the new stream quickly holds
// more events than the old one did, so its sequences overtake what the
// agents applied (existing tests cover a recreated stream that stays
// shorter). Agents must keep every revocation they had, raise the alarm,
// and apply everything in the new stream.
func TestStreamRecreatedMidBurst(t *testing.T) {
	parallel(t)
	n1, n2 := pick(500, 5000), pick(2000, 20000)
	r := report(t, "F11", "stream recreated empty (rewound)", fmt.Sprintf("stream deleted after %d revocations and recreated; %d more published into it at once", n1, n2))

	srv := server(t, natsproc.Options{})
	admin := dial(t, srv.URL())
	pub := testkit.NewPublisher(t, admin)
	tr := &tracker{}
	var agents []*node
	for i := range 3 {
		agents = append(agents, tr.mustStart(t, fmt.Sprintf("agent-%d", i+1), dial(t, srv.URL())))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	log := &ackLog{}
	batch(ctx, pub, revs("before", n1), 1000, log)
	if lost, _ := settle(agents, log, time.Minute); sum(lost) > 0 {
		t.Fatalf("agents did not apply the first %d revocations", n1)
	}
	if err := testkit.JetStream(t, admin).DeleteStream(ctx, jwtrevoke.DefaultStream); err != nil {
		t.Fatalf("DeleteStream() error = %v", err)
	}
	deleted := time.Now()
	// Recreate at once (the server may still be removing the old store).
	var pub2 *publisher.Publisher
	mustWait(t, 30*time.Second, "stream recreated", func() bool {
		p, err := publisher.New(ctx, admin, publisher.WithMaxTokenLifetime(lifetime))
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			return false
		}
		pub2 = p
		return true
	})
	batch(ctx, pub2, revs("after", n2), 1000, log)
	if len(log.failed) > 0 {
		t.Errorf("publishes failed: %s", errsSummary(log.failed))
	}
	// Probes after the recreation, for exposure.
	pctx, stopPoll := context.WithCancel(context.Background())
	defer stopPoll()
	go tr.poll(pctx)
	tr.probeLoop(ctx, pub2, "rewound-probe", 5*time.Millisecond, log, count(pick(50, 200)))
	lost, took := settle(agents, log, time.Minute)
	stopPoll()
	acked, _ := log.snapshot()
	r.acked, r.lost = len(acked), sum(lost)
	r.exposure = tr.exposures(agents)
	r.setRecovery(time.Since(deleted))
	r.note("recovery column = delete → every agent holds the old and the new revocations (%v after the last ack)", took.Round(time.Millisecond))
	for i, a := range agents {
		st := a.a.Stats()
		r.note("%s", statsLine(a))
		if st.Rewinds == 0 {
			t.Errorf("%s: Rewinds = 0 after the stream was recreated, want the alarm raised", a.name)
		}
		if lost[i] > 0 {
			t.Errorf("%s: %d acked revocations (old or new stream) not refused", a.name, lost[i])
		}
	}
}

// TestPublisherDiesBeforeAck is fault 12: the server stores events but the
// publisher never hears the acks (the link back to it is blackholed) and
// dies; a new publisher retries the same revocations. At most one copy of
// each may be stored, and the retry must say it was a duplicate.
func TestPublisherDiesBeforeAck(t *testing.T) {
	parallel(t)
	n := pick(200, 2000)
	r := report(t, "F12", "publisher dies before the ack", fmt.Sprintf("a RevokeBatch of %d and one single event reach the server, their acks are blackholed, the publisher is closed; a new one retries the same revocations", n))

	srv := server(t, natsproc.Options{})
	admin := dial(t, srv.URL())
	testkit.NewPublisher(t, admin) // creates the stream
	tr := &tracker{}
	a := tr.mustStart(t, "agent", dial(t, srv.URL()))
	l := newLink(t, "pub", srv.URL())
	// nats.go's default pings (every 2 minutes): the dying publisher does
	// not notice the one-way blackhole before it has sent everything.
	dying := defaultPingConn(t, l.url)
	pub1 := testkit.NewPublisher(t, dying)

	now := time.Now()
	one := jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: "dies-before-ack", Before: now, Expires: tokenExp, Issued: now}
	many := revs("dies-batch", n)
	for i := range many {
		many[i].Issued = now // a durable job retries the same values
	}
	if err := l.add("no-acks", "timeout", "downstream", `{"timeout":0}`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bctx, bcancel := context.WithTimeout(ctx, 3*time.Second)
	rcs, errBatch := pub1.RevokeBatch(bctx, many)
	bcancel()
	ackedFirst := 0
	for _, rc := range rcs {
		if rc.Seq != 0 {
			ackedFirst++
		}
	}
	// A single Revoke waits for its ack, which cannot come back either; so
	// send the event exactly as the publisher would (docs/wire-format.md
	// §7, §10) and die before the ack, as a publisher in another language
	// might.
	data, err := jwtrevoke.Encode(one, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(jwtrevoke.Subject("", one.Kind, one.Key))
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, jwtrevoke.MsgID(data))
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	msg.Reply = nats.NewInbox()
	if err := dying.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	stored := uint64(0)
	waitFor(30*time.Second, func() bool { stored = streamState(t, admin).Msgs; return stored == uint64(n+1) })
	dying.Close() // the publisher dies
	l.heal(t)
	if ackedFirst == n {
		t.Fatalf("first attempt: RevokeBatch acked %d of %d; want the acks lost", ackedFirst, n)
	}

	// A new publisher retries the same revocations.
	pub2 := testkit.NewPublisher(t, dial(t, srv.URL()))
	log := &ackLog{}
	rc, err := pub2.Revoke(ctx, one)
	if err != nil {
		t.Fatalf("retry Revoke error = %v", err)
	}
	log.add(jtiToken(one.Key), rc, time.Now())
	dupOne := rc.Duplicate
	rcs, err = pub2.RevokeBatch(ctx, many)
	if err != nil {
		t.Fatalf("retry RevokeBatch error = %v", err)
	}
	dupMany := 0
	for i, rc := range rcs {
		log.add(jtiToken(many[i].Key), rc, time.Now())
		if rc.Duplicate {
			dupMany++
		}
	}
	after := streamState(t, admin)
	// An application that retries by calling RevokeJTI again builds a new
	// event (a new Issued time): stored again, replacing the first copy.
	again, err := pub2.RevokeJTI(ctx, one.Key, tokenExp.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	final := streamState(t, admin)
	lost, _ := settle([]*node{a}, log, time.Minute)
	acked, _ := log.snapshot()
	r.acked, r.lost = len(acked), sum(lost)
	r.note("first attempt: RevokeBatch acked %d of %d (%s) and the single event went unanswered; the server had stored %d of %d",
		ackedFirst, n, shortErr(errBatch), stored, n+1)
	r.note("retry by a new publisher: Revoke Duplicate = %v, RevokeBatch %d of %d Duplicate; stream then holds %d messages, last seq %d, duplicates %d",
		dupOne, dupMany, n, after.Msgs, after.LastSeq, duplicates(after))
	r.note("a retry that calls RevokeJTI again is a new event (Duplicate = %v), stored beside the first (the stream keeps every event of a key; agents merge them): %d messages, last seq %d",
		again.Duplicate, final.Msgs, final.LastSeq)
	if stored != uint64(n+1) {
		t.Errorf("the server stored %d of the %d events sent before the publisher died, want all", stored, n+1)
	}
	if after.Msgs != uint64(n+1) || after.LastSeq != uint64(n+1) {
		t.Errorf("after the retry the stream holds %d messages up to seq %d, want exactly %d, each stored once", after.Msgs, after.LastSeq, n+1)
	}
	if !dupOne || dupMany != n {
		t.Errorf("retry reported Duplicate %v and %d of %d, want every event known as a duplicate", dupOne, dupMany, n)
	}
	if final.Msgs != uint64(n+2) {
		t.Errorf("after a fresh RevokeJTI the stream holds %d messages, want %d (every event of a key kept)", final.Msgs, n+2)
	}
	if lost[0] > 0 {
		t.Errorf("agent: %d acked revocations lost", lost[0])
	}
}

func shortErr(err error) string {
	switch {
	case err == nil:
		return "no error"
	case errors.Is(err, context.DeadlineExceeded):
		return "context deadline exceeded"
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoStreamResponse):
		return err.Error()
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
