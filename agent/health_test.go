package agent_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/nats-io/nats.go/jetstream"
)

// TestWaitApplied: WaitApplied returns once the sequence a publish was
// acknowledged at is applied, so the revocation is then refused; it
// answers at once for a sequence already applied, ends with ctx, and
// ends with ErrClosed when the agent is closed under it.
func TestWaitApplied(t *testing.T) {
	s := testkit.NATS(t, "")
	pub := testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))
	a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), testkit.StillClock())
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()

	// A waiter that may register before the event exists is woken by it.
	done := make(chan error, 1)
	go func() { done <- a.WaitApplied(ctx, 1) }()
	rc, err := pub.RevokeJTI(ctx, "wait-1", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Seq != 1 {
		t.Fatalf("first receipt Seq = %d, want 1", rc.Seq)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitApplied(1) = %v", err)
	}
	tok := jtiToken("wait-1")
	if r := a.Check(&tok); r.Verdict != filter.Revoked {
		t.Fatalf("Check after WaitApplied = %+v, want Revoked", r)
	}
	if err := a.WaitApplied(ctx, rc.Seq); err != nil {
		t.Fatalf("WaitApplied(applied) = %v, want nil at once", err)
	}

	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if err := a.WaitApplied(short, rc.Seq+100); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitApplied(future, canceled ctx) = %v, want context.Canceled", err)
	}

	// Registered or not when Close runs, the waiter ends with ErrClosed.
	go func() { done <- a.WaitApplied(ctx, rc.Seq+100) }()
	a.Close()
	if err := <-done; !errors.Is(err, agent.ErrClosed) {
		t.Fatalf("WaitApplied across Close = %v, want ErrClosed", err)
	}
	if err := a.WaitApplied(ctx, rc.Seq+100); !errors.Is(err, agent.ErrClosed) {
		t.Fatalf("WaitApplied after Close = %v, want ErrClosed", err)
	}
}

// TestHealth: not OK before the replay ends is covered by readiness
// tests; here a ready agent on a clock that stands still is OK, and the
// same agent after its clock moves past the staleness bound (with the
// server stopped, so no probe can freshen it) is stale.
func TestHealth(t *testing.T) {
	s := testkit.NATS(t, "")
	testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))
	clock := testkit.NewManualClock()
	a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), agent.WithClock(clock.Now), agent.WithStaleness(time.Second))
	testkit.Eventually(t, "fresh", func() bool { return a.Health().OK() })
	h := a.Health()
	if !h.Ready || h.Stale || h.LastApplied != a.LastApplied() {
		t.Fatalf("Health() = %+v, want ready, fresh, LastApplied %d", h, a.LastApplied())
	}
	s.Shutdown()
	s.WaitForShutdown()
	clock.Advance(2 * time.Second)
	if h := a.Health(); h.OK() || !h.Stale || h.Staleness < 2*time.Second {
		t.Fatalf("Health() after the bound passed = %+v, want stale", h)
	}
}

// TestNewWithoutStreamSaysWhoCreatesIt: on a fresh NATS server, New fails
// with an error that still matches jetstream.ErrStreamNotFound and says
// that the publisher side creates the stream.
func TestNewWithoutStreamSaysWhoCreatesIt(t *testing.T) {
	s := testkit.NATS(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	_, err := agent.New(ctx, testkit.Connect(t, s.ClientURL()))
	if !errors.Is(err, jetstream.ErrStreamNotFound) || !strings.Contains(err.Error(), "publisher creates it") {
		t.Fatalf("agent.New() on a fresh server = %v, want ErrStreamNotFound saying who creates the stream", err)
	}
}
