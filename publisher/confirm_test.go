package publisher_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// TestConfirm: a revocation with Confirm(n) returns once n agents have
// reported applying it, and every one of them refuses the token then; one
// asking for more agents than there are says how many it got.
func TestConfirm(t *testing.T) {
	s := testkit.NATS(t, "")
	pub := testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))
	var agents []*agent.Agent
	for range 3 {
		agents = append(agents, testkit.NewAgent(t, testkit.Connect(t, s.ClientURL())))
	}
	quiet := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), agent.WithStatus(0)) // reports nothing
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	rc, err := pub.RevokeJTI(ctx, "jti-confirm-1", exp, publisher.Confirm(3, testkit.Patience))
	if err != nil {
		t.Fatalf("RevokeJTI with Confirm(3): %v", err)
	}
	if rc.Confirmed < 3 {
		t.Errorf("Confirmed %d, want 3", rc.Confirmed)
	}
	tok := &jwtrevoke.Token{JTI: "jti-confirm-1", IssuedAt: time.Now(), ExpiresAt: exp}
	for i, a := range agents {
		if a.LastApplied() < rc.Seq || a.Check(tok).Allowed {
			t.Errorf("agent %d had not applied the confirmed revocation (applied %d of %d)", i, a.LastApplied(), rc.Seq)
		}
	}
	_ = quiet

	start := time.Now()
	rc, err = pub.RevokeJTI(ctx, "jti-confirm-2", exp, publisher.Confirm(5, 300*time.Millisecond))
	var ce *publisher.ConfirmError
	if !errors.As(err, &ce) || !errors.Is(err, publisher.ErrNotConfirmed) {
		t.Fatalf("Confirm(5) of 3 reporting agents: %v, want a *ConfirmError", err)
	}
	if ce.Want != 5 || ce.Got != 3 || ce.Seq != rc.Seq || rc.Seq == 0 || rc.Confirmed != 3 {
		t.Errorf("ConfirmError %+v, receipt %+v: want 3 of 5 at the event's sequence", ce, rc)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Error("Confirm gave up before its time")
	}
	testkit.WaitApplied(t, quiet, rc.Seq) // on the stream all the same
}

// TestReportsOnlyWhenAsked: an agent reports at once when it has caught
// up, and then only after an event a publisher waits to see confirmed
// (jwtrevoke.ConfirmHeader): an event nobody waits for costs no report
// until the next regular one, here an hour away.
func TestReportsOnlyWhenAsked(t *testing.T) {
	s := testkit.NATS(t, "")
	nc := testkit.Connect(t, s.ClientURL())
	pub := testkit.NewPublisher(t, nc)
	var mu sync.Mutex
	var applied []uint64
	sub, err := nc.Subscribe(jwtrevoke.StatusSubjects(jwtrevoke.DefaultStream), func(m *nats.Msg) {
		st, err := jwtrevoke.DecodeStatus(m.Subject, m.Data)
		if err != nil {
			t.Errorf("report: %v", err)
			return
		}
		mu.Lock()
		applied = append(applied, st.Applied)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	reports := func() []uint64 { mu.Lock(); defer mu.Unlock(); return slices.Clone(applied) }
	a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), agent.WithStatus(time.Hour))
	testkit.Eventually(t, "the agent's report on catching up", func() bool { return len(reports()) == 1 })

	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	quiet, err := pub.RevokeJTI(ctx, "unconfirmed", exp)
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitApplied(t, a, quiet.Seq)
	// An agent coalesces reports less than 5 ms apart: give a (wrong)
	// report of the first event the time to go out on its own. Nothing
	// here passes by the pause; it only lets the test see such a report.
	time.Sleep(50 * time.Millisecond)
	asked, err := pub.RevokeJTI(ctx, "confirmed", exp, publisher.Confirm(1, testkit.Patience))
	if err != nil {
		t.Fatalf("a confirmed revocation with the agent's regular reports an hour apart: %v", err)
	}
	// Reports from one connection reach a subscription in order: had the
	// first event been reported, its report came before the second's.
	testkit.Eventually(t, "this subscription's copy of the confirming report", func() bool {
		r := reports()
		return r[len(r)-1] >= asked.Seq
	})
	for _, seq := range reports() {
		if seq == quiet.Seq {
			t.Errorf("reports %v: the event nobody waited for was reported", reports())
		}
	}
}

// TestConfirmBatch: a batch with Confirm returns once the agents have
// applied its last event, so every event of it is enforced everywhere.
func TestConfirmBatch(t *testing.T) {
	s := testkit.NATS(t, "")
	pub := testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))
	var agents []*agent.Agent
	for range 2 {
		agents = append(agents, testkit.NewAgent(t, testkit.Connect(t, s.ClientURL())))
	}
	now := time.Now()
	var revs []jwtrevoke.Revocation
	for i := range 300 {
		revs = append(revs, jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: "batch-" + string(rune('a'+i%26)) + time.Duration(i).String(),
			Before: now, Expires: now.Add(time.Hour)})
	}
	rcs, err := pub.RevokeBatch(context.Background(), revs, publisher.Confirm(2, testkit.Patience))
	if err != nil {
		t.Fatalf("RevokeBatch with Confirm(2): %v", err)
	}
	for i, a := range agents {
		for j, r := range revs {
			if a.Check(&jwtrevoke.Token{JTI: r.Key, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}).Allowed {
				t.Fatalf("agent %d allows event %d of the confirmed batch", i, j)
			}
		}
	}
	if rcs[0].Confirmed != 2 {
		t.Errorf("Confirmed %d, want 2", rcs[0].Confirmed)
	}
}

// TestWatchAgentsRefusesForgeries: reports that are not what they claim
// (malformed, or for another agent than their subject names) are counted
// and never counted towards a confirmation.
func TestWatchAgentsRefusesForgeries(t *testing.T) {
	s := testkit.NATS(t, "")
	nc := testkit.Connect(t, s.ClientURL())
	w, err := publisher.WatchAgents(nc, jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	other := testkit.Connect(t, s.ClientURL())
	for _, m := range []struct{ subj, data string }{
		{jwtrevoke.StatusSubject(jwtrevoke.DefaultStream, "x1"), "not json"},
		{jwtrevoke.StatusSubject(jwtrevoke.DefaultStream, "x2"), `{"agent":"x3","stream":"JWTREVOKE","applied":99,"interval_ms":1000}`},
		{jwtrevoke.StatusSubject(jwtrevoke.DefaultStream, "x4"), `{"agent":"x4","stream":"JWTREVOKE","applied":99}`},
	} {
		if err := other.Publish(m.subj, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.Publish(jwtrevoke.StatusSubject(jwtrevoke.DefaultStream, "x5"), []byte(`{"agent":"x5","stream":"JWTREVOKE","applied":99,"ready":true,"interval_ms":1000}`)); err != nil {
		t.Fatal(err)
	}
	other.Flush()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	if got, err := w.WaitApplied(ctx, 99, 1); err != nil || got != 1 {
		t.Fatalf("the good report: %d, %v", got, err)
	}
	testkit.Eventually(t, "the three bad reports refused", func() bool { return w.Refused() == 3 })
	if n := len(w.Agents()); n != 1 {
		t.Errorf("%d agents listed, want only the well-formed one", n)
	}
}
