// Package testbed gives the examples' tests what a real deployment has: a
// nats-server with JetStream (embedded, on a free loopback port), a
// publisher, an agent that has replayed the stream, and HS256 tokens. It is
// internal to the examples module; the main module's internal packages
// cannot be imported from here, so it starts the server with
// github.com/nats-io/nats-server/v2/server directly.
package testbed

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// Secret is the HS256 key of the test tokens.
var Secret = []byte("examples-test-secret-0123456789abcdef")

// Issuer and Audience are the iss and aud of the test tokens.
const (
	Issuer   = "https://id.example.test/"
	Audience = "example-api"
)

// Patience bounds every wait for something a test caused: a server or an
// agent starting, a revocation reaching an agent, a request answered. On an
// idle machine these take milliseconds; Patience is thousands of times
// that, so that a machine loaded by -race and by the other test binaries
// go test runs beside this one is never taken for a broken build. A wait
// ends as soon as its event happens: Patience is only how long a broken
// build takes to say so.
const Patience = time.Minute

// Bed is a running revocation setup for one test.
type Bed struct {
	URL     string // NATS client URL
	Conn    *nats.Conn
	Pub     *publisher.Publisher
	Agent   *agent.Agent
	applied chan jwtrevoke.Revocation
}

// New starts a server, a publisher and a ready agent, all stopped when the
// test ends.
func New(t testing.TB) *Bed {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(Patience) {
		t.Fatalf("nats-server not ready after %v", Patience)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)

	ctx, cancel := context.WithTimeout(context.Background(), Patience)
	defer cancel()
	b := &Bed{URL: s.ClientURL(), Conn: nc, applied: make(chan jwtrevoke.Revocation, 64)}
	if b.Pub, err = publisher.New(ctx, nc, publisher.WithMaxTokenLifetime(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The agent's clock stands still: the tests ask it for verdicts, and it
	// must not go stale because the machine was slow between two steps.
	still := time.Now()
	b.Agent, err = agent.New(ctx, nc, agent.WithMaxTokenLifetime(time.Hour),
		agent.WithClock(func() time.Time { return still }),
		agent.WithOnApply(func(r jwtrevoke.Revocation, _ uint64) { b.applied <- r }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Agent.Close() })
	if err := b.Agent.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return b
}

// Keyfunc returns Secret.
func Keyfunc(*jwt.Token) (any, error) { return Secret, nil }

// Token mints an HS256 token for sub with the given jti, valid for 30
// minutes, with iss Issuer and aud Audience.
func Token(t testing.TB, jti, sub string) string {
	t.Helper()
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"jti": jti, "sub": sub, "iss": Issuer, "aud": []string{Audience},
		"iat": now.Unix(), "exp": now.Add(30 * time.Minute).Unix(),
	}).SignedString(Secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Revoke revokes the token (by its jti, until its exp) with the publisher,
// as a logout handler would, and waits until the agent has applied it.
func (b *Bed) Revoke(t testing.TB, raw string) {
	t.Helper()
	tok, err := jwt.Parse(raw, Keyfunc, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Patience)
	defer cancel()
	rc, err := b.Pub.RevokeJWT(ctx, tok, publisher.Reason("logout"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case r := <-b.applied:
			if r.Kind == rc.Revocation.Kind && r.Key == rc.Revocation.Key {
				return
			}
		case <-ctx.Done():
			t.Fatalf("the agent never applied the revocation of %q", rc.Revocation.Key)
		}
	}
}

// Get sends GET path to h with the token as a bearer token and returns the
// status code and body.
func Get(t testing.TB, h http.Handler, path, token string) (int, string) {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}
