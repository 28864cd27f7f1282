package agent_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/natsserver"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("nats.Connect(%s) error = %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func newPublisher(t testing.TB, nc *nats.Conn, opts ...publisher.Option) *publisher.Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := publisher.New(ctx, nc, append([]publisher.Option{publisher.WithMaxTokenLifetime(time.Hour)}, opts...)...)
	if err != nil {
		t.Fatalf("publisher.New() error = %v", err)
	}
	return p
}

func newAgent(t testing.TB, nc *nats.Conn, opts ...agent.Option) *agent.Agent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := agent.New(ctx, nc, append([]agent.Option{agent.WithMaxTokenLifetime(time.Hour)}, opts...)...)
	if err != nil {
		t.Fatalf("agent.New() error = %v", err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady() error = %v", err)
	}
	return a
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not true after %v", what, d)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return time.Since(start)
}

func TestRevokeReachesThreeAgents(t *testing.T) {
	s := natsserver.Run(t, "")
	pub := newPublisher(t, connect(t, s.ClientURL()))
	var agents []*agent.Agent
	for range 3 {
		agents = append(agents, newAgent(t, connect(t, s.ClientURL())))
	}
	tok := jwtrevoke.Token{JTI: "tok-1", Subject: "alice", IssuedAt: time.Now().Add(-time.Minute), ExpiresAt: time.Now().Add(5 * time.Minute)}
	for i, a := range agents {
		if r := a.Check(&tok); !r.Allowed {
			t.Fatalf("agent %d: Check(before revoke) = %+v, want allowed", i, r)
		}
	}
	ctx := context.Background()
	if _, err := pub.RevokeToken(ctx, tok, publisher.Reason("logout")); err != nil {
		t.Fatalf("RevokeToken() error = %v", err)
	}
	for i, a := range agents {
		took := eventually(t, 5*time.Second, fmt.Sprintf("agent %d rejects", i), func() bool {
			r := a.Check(&tok)
			return r.Verdict == filter.Revoked && !r.Allowed
		})
		t.Logf("agent %d rejected after %v", i, took)
	}
}
