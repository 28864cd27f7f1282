package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

func TestCloseLeavesNoGoroutines(t *testing.T) {
	s := testkit.NATS(t, "")
	nc := testkit.Connect(t, s.ClientURL())
	// The publisher's requests start the connection's own goroutines (the
	// response mux), which live as long as the connection.
	pub := testkit.NewPublisher(t, nc)
	last := revokeBatch(t, pub, jtiRevocations("leak", 2000))
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()

	t.Run("ready, used, closed", func(t *testing.T) {
		baseline := testkit.Goroutines()
		for range 3 {
			a, err := agent.New(ctx, nc, agent.WithMaxTokenLifetime(time.Hour), agent.WithMemoryBudget(1<<20))
			if err != nil {
				t.Fatal(err)
			}
			if err := a.WaitReady(ctx); err != nil {
				t.Fatal(err)
			}
			testkit.WaitApplied(t, a, last)
			tok := jtiToken("leak-7")
			if r := a.Check(&tok); r.Verdict != filter.Revoked {
				t.Fatalf("Check(leak-7) = %+v, want Revoked", r)
			}
			rc, err := pub.RevokeJTI(ctx, "leak-extra", time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			testkit.WaitApplied(t, a, rc.Seq)
			last = rc.Seq
			if err := a.Close(); err != nil {
				t.Fatalf("Close() error = %v", err)
			}
			if err := a.Close(); err != nil {
				t.Fatalf("second Close() error = %v, want nil", err)
			}
			// Checks after Close answer from memory, as stale.
			if r := a.Check(&tok); r.Verdict != filter.Revoked || !r.Stale || r.Allowed {
				t.Fatalf("Check() after Close = %+v, want Revoked, stale", r)
			}
		}
		testkit.NoNewGoroutines(t, baseline, testkit.Patience, "nats-io/nats-server/")
	})

	t.Run("closed while replaying", func(t *testing.T) {
		baseline := testkit.Goroutines()
		for range 3 {
			a, err := agent.New(ctx, nc, agent.WithMaxTokenLifetime(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Close(); err != nil {
				t.Fatalf("Close() error = %v", err)
			}
		}
		testkit.NoNewGoroutines(t, baseline, testkit.Patience, "nats-io/nats-server/")
	})

	t.Run("closed after its consumer was deleted", func(t *testing.T) {
		baseline := testkit.Goroutines()
		a, err := agent.New(ctx, nc, agent.WithMaxTokenLifetime(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := testkit.JetStream(t, nc).Stream(ctx, "JWTREVOKE")
		if err != nil {
			t.Fatal(err)
		}
		for name := range st.ConsumerNames(ctx).Name() {
			if err := st.DeleteConsumer(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		rc, err := pub.RevokeJTI(ctx, "leak-after-delete", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		testkit.WaitApplied(t, a, rc.Seq)
		if err := a.Close(); err != nil {
			t.Fatalf("Close() error = %v", err)
		}
		testkit.NoNewGoroutines(t, baseline, testkit.Patience, "nats-io/nats-server/")
	})
}
