// Package testkit holds the helpers the project's tests share: an
// embedded NATS server per test, connections, publishers and agents that
// clean up after themselves, waits on events, a clock a test moves, and
// metric lookups. Everything here fails the test on error and bounds every
// wait by Patience.
package testkit

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/freeport"
	"github.com/jwtrevoke/jwtrevoke/internal/natsserver"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// Patience bounds every wait for something a test caused: an event
// reaching an agent, a settle, a consumer made again, a server restarted,
// a probe answered. On an idle machine these take milliseconds, a
// consumer's recovery a few seconds (its heartbeats); Patience is over ten
// times the slowest, so that a machine loaded by -race and by the other
// test binaries go test runs beside this one is never taken for a broken
// build. A wait ends as soon as its event happens: Patience is only how
// long a broken build takes to say so.
const Patience = time.Minute

// TokenLifetime is the max token lifetime NewPublisher and NewAgent give
// unless told otherwise.
const TokenLifetime = time.Hour

// NATS starts an embedded server with JetStream for the test, on a
// loopback port reserved for this process (internal/freeport, so that
// Restart finds it free again), with its store in dir (t.TempDir() if dir
// is empty), and shuts it down when the test ends.
func NATS(t testing.TB, dir string) *server.Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ports, err := freeport.Take(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { freeport.Release(ports...) })
	s, err := natsserver.Start(natsserver.Config{StoreDir: dir, Port: ports[0]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// Restart shuts s down (unless it already is) and starts a new server on
// the same port and store, as a process restart would. The new server is
// shut down when the test ends.
func Restart(t testing.TB, s *server.Server, dir string) *server.Server {
	t.Helper()
	port := natsserver.Port(s)
	s.Shutdown()
	s.WaitForShutdown()
	var ns *server.Server
	var err error
	// The port may take a moment to be free again.
	for start := time.Now(); time.Since(start) < Patience; time.Sleep(100 * time.Millisecond) {
		if ns, err = natsserver.Start(natsserver.Config{StoreDir: dir, Port: port}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// Connect connects to url, reconnecting forever, and closes the
// connection when the test ends.
func Connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("nats.Connect(%s) error = %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream returns nc's JetStream context.
func JetStream(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// NewPublisher returns a publisher on nc (creating the stream) with a max
// token lifetime of TokenLifetime unless opts say otherwise.
func NewPublisher(t testing.TB, nc *nats.Conn, opts ...publisher.Option) *publisher.Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Patience)
	defer cancel()
	p, err := publisher.New(ctx, nc, append([]publisher.Option{publisher.WithMaxTokenLifetime(TokenLifetime)}, opts...)...)
	if err != nil {
		t.Fatalf("publisher.New() error = %v", err)
	}
	return p
}

// NewAgent returns a ready agent on nc, with a max token lifetime of
// TokenLifetime unless opts say otherwise, closed when the test ends.
func NewAgent(t testing.TB, nc *nats.Conn, opts ...agent.Option) *agent.Agent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Patience)
	defer cancel()
	a, err := agent.New(ctx, nc, append([]agent.Option{agent.WithMaxTokenLifetime(TokenLifetime)}, opts...)...)
	if err != nil {
		t.Fatalf("agent.New() error = %v", err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady() error = %v", err)
	}
	return a
}

// WaitApplied waits until a has applied the event at seq.
func WaitApplied(t testing.TB, a *agent.Agent, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Patience)
	defer cancel()
	if err := a.WaitApplied(ctx, seq); err != nil {
		t.Fatalf("WaitApplied(%d) error = %v", seq, err)
	}
}

// Eventually polls cond every millisecond until it holds, and fails the
// test if it does not within Patience. It returns how long it waited.
// Prefer a wait on the event itself (WaitApplied) where there is one.
func Eventually(t testing.TB, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > Patience {
			t.Fatalf("%s: not true after %v", what, Patience)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// ManualClock is a clock that moves only when the test moves it. Given to
// an agent (agent.WithClock), it makes staleness depend on what the agent
// heard from the server, never on how fast the machine runs: every time
// the agent records is a reading of this clock, so a test knows exactly
// how stale the agent is.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a clock that stands at the present.
func NewManualClock() *ManualClock { return &ManualClock{now: time.Now()} }

// Now is the agent.WithClock function.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// StillClock is an agent.WithClock option whose time stands still, for
// tests about verdicts rather than freshness: the agent's answers never go
// stale because the machine was slow between two steps of the test, while
// its probes still run and it still waits to be ready. Staleness itself is
// tested on a ManualClock that the test moves.
func StillClock() agent.Option { return agent.WithClock(NewManualClock().Now) }

// Gather collects c's metrics.
func Gather(t testing.TB, c prometheus.Collector) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather() error = %v", err)
	}
	return mfs
}

// MetricValue returns the value of the metric name with the given label
// pairs in the gathered families (a histogram's sample count), and
// whether it was found.
func MetricValue(mfs []*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == pairs[i] && lp.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// HMACKey is the HS256 secret of tokens the tests sign.
var HMACKey = []byte("0123456789abcdef0123456789abcdef")

// HMACKeys is the key set that verifies tokens signed with HMACKey: a
// plain keyfunc, so a key's identity is the token's kid header.
func HMACKeys() keyset.Set {
	return keyset.Keyfunc(func(*jwt.Token) (any, error) { return HMACKey, nil })
}

// SignHS256 signs claims with key, with a kid header unless kid is empty.
func SignHS256(t testing.TB, key []byte, claims jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Claims are the claims of a token with these jti, sub and sid, issued at
// iat and valid for five more minutes.
func Claims(jti, sub, sid string, iat time.Time) jwt.MapClaims {
	return jwt.MapClaims{"jti": jti, "sub": sub, "sid": sid, "iat": iat.Unix(), "exp": time.Now().Add(5 * time.Minute).Unix()}
}
