package agent_test

import (
	"context"
	"fmt"
	"sync"
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
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	p, err := publisher.New(ctx, nc, append([]publisher.Option{publisher.WithMaxTokenLifetime(time.Hour)}, opts...)...)
	if err != nil {
		t.Fatalf("publisher.New() error = %v", err)
	}
	return p
}

func newAgent(t testing.TB, nc *nats.Conn, opts ...agent.Option) *agent.Agent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
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

// patience bounds every wait for something a test caused: an event
// reaching an agent, a settle, a consumer made again, a server restarted,
// a probe answered. On an idle machine these take milliseconds, a
// consumer's recovery a few seconds (its heartbeats); patience is over ten
// times the slowest, so that a machine loaded by -race and by the other
// test binaries go test runs beside this one is never taken for a broken
// build. A wait ends as soon as its event happens: patience is only how
// long a broken build takes to say so.
const patience = time.Minute

// eventually polls cond every millisecond until it holds, and fails the
// test if it does not within patience. It returns how long it waited.
func eventually(t testing.TB, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > patience {
			t.Fatalf("%s: not true after %v", what, patience)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// manualClock is a clock that moves only when the test moves it. Given to
// an agent (agent.WithClock), it makes staleness depend on what the agent
// heard from the server, never on how fast the machine runs: every time
// the agent records is a reading of this clock, so a test knows exactly
// how stale the agent is.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

// newManualClock returns a clock that stands at the present.
func newManualClock() *manualClock { return &manualClock{now: time.Now()} }

// Now is the agent.WithClock function.
func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// stillClock is an agent.WithClock option whose time stands still, for
// tests about verdicts rather than freshness: the agent's answers never go
// stale because the machine was slow between two steps of the test, while
// its probes still run and it still waits to be ready. Staleness itself is
// tested on a manualClock that the test moves (TestStalenessFollowsPolicy).
func stillClock() agent.Option { return agent.WithClock(newManualClock().Now) }

func TestRevokeReachesThreeAgents(t *testing.T) {
	s := natsserver.Run(t, "")
	pub := newPublisher(t, connect(t, s.ClientURL()))
	var agents []*agent.Agent
	for range 3 {
		agents = append(agents, newAgent(t, connect(t, s.ClientURL()), stillClock()))
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
		took := eventually(t, fmt.Sprintf("agent %d rejects", i), func() bool {
			r := a.Check(&tok)
			return r.Verdict == filter.Revoked && !r.Allowed
		})
		t.Logf("agent %d rejected after %v", i, took)
	}
}
