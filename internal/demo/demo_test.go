package demo

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/internal/demo/demotest"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// demoTestTimeout bounds a demo test from start to end. It only turns a
// hang into a failure: every wait in between ends at its event.
const demoTestTimeout = 3 * time.Minute

// TestDemoInProcess drives the same story against a demo started in this
// process, so that the race detector sees the issuer, replicas and
// handlers, and checks that Close leaves no goroutine behind.
func TestDemoInProcess(t *testing.T) {
	const replicas = 3
	before := testkit.Goroutines()
	var dc *demotest.Client
	defer func() {
		if t.Failed() {
			return
		}
		// Every goroutine the demo (and this test's HTTP client) started
		// has returned, its embedded NATS server's included.
		if dc != nil {
			dc.CloseIdleConnections()
		}
		testkit.NoNewGoroutines(t, before, testkit.Patience)
	}()
	port := demotest.PortBlock(t, replicas)
	g := &clitool.Globals{Stream: "JWTREVOKE", MaxLifetime: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), demoTestTimeout)
	defer cancel()
	cfg := config{
		listen:     fmt.Sprintf("127.0.0.1:%d", port),
		replicas:   replicas,
		natsListen: fmt.Sprintf("127.0.0.1:%d", demotest.Port(t)),
		data:       t.TempDir(),
	}
	d, err := start(ctx, g, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	var banner bytes.Buffer
	d.printBanner(&banner)
	for _, want := range []string{d.issuerURL + "/", d.clientSecret, "watch", "TOKEN=$(curl -s -X POST " + d.issuerURL + "/login"} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner.String())
		}
	}
	dc = demotest.NewClient(t, port, replicas, d.clientSecret)
	dc.WaitReady(ctx)
	dc.Story(ctx)
}

// TestDemoStartErrors checks that bad flags and a busy port fail fast and
// clearly.
func TestDemoStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	g := &clitool.Globals{Stream: "JWTREVOKE", MaxLifetime: time.Hour}
	for _, tc := range []struct {
		cfg  config
		want string
	}{
		{config{listen: "127.0.0.1:0", replicas: 3}, "fixed port"},
		{config{listen: "nohost", replicas: 3}, "--listen"},
		{config{listen: "127.0.0.1:8080", replicas: 0}, "--replicas"},
		{config{listen: "127.0.0.1:65535", replicas: 3}, "no room"},
		{config{listen: busy.Addr().String(), replicas: 1, natsListen: "127.0.0.1:-1"}, "issuer"},
		{config{listen: fmt.Sprintf("127.0.0.1:%d", demotest.PortBlock(t, 1)), replicas: 1, natsListen: busy.Addr().String(), data: t.TempDir()}, "--nats-listen"},
	} {
		_, err := start(context.Background(), g, tc.cfg, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("start(%+v) = %v, want an error about %q", tc.cfg, err, tc.want)
		}
	}
	short := &clitool.Globals{Stream: "JWTREVOKE", MaxLifetime: time.Minute}
	if _, err := start(context.Background(), short, config{listen: "127.0.0.1:8080", replicas: 1}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--max-lifetime") {
		t.Errorf("start with --max-lifetime 1m = %v, want an error about --max-lifetime", err)
	}
}

func TestCeilSecond(t *testing.T) {
	base := time.Unix(1767225612, 0)
	for i, tc := range []struct {
		in, want time.Time
	}{
		{base, base},
		{base.Add(time.Nanosecond), base.Add(time.Second)},
		{base.Add(731 * time.Millisecond), base.Add(time.Second)},
		{base.Add(999999999), base.Add(time.Second)},
	} {
		if got := ceilSecond(tc.in); !got.Equal(tc.want) {
			t.Errorf("step %d: ceilSecond(%v) = %v, want %v", i, tc.in, got, tc.want)
		}
	}
}

// TestIssuerNotBefore checks which cut-offs make the issuer wait: its own
// and observed subject cut-offs for that subject, and all cut-offs for
// everyone.
func TestIssuerNotBefore(t *testing.T) {
	is, err := newIssuer(nil, "http://issuer.test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1767225612, 400_000_000)
	is.noteCutoff("alice", t0)
	is.observe(jwtrevoke.Revocation{Kind: jwtrevoke.KindSubject, Key: "bob", Before: t0.Add(2 * time.Second)}, 1)
	is.observe(jwtrevoke.Revocation{Kind: jwtrevoke.KindSession, Key: "carol", Before: t0.Add(9 * time.Second)}, 2)
	is.noteCutoff("alice", t0.Add(-time.Second)) // an earlier one changes nothing
	for i, tc := range []struct {
		sub  string
		want time.Time
	}{
		{"alice", time.Unix(1767225613, 0)},
		{"bob", time.Unix(1767225615, 0)},
		{"carol", time.Time{}}, // a session cut-off: a new login is a new session
	} {
		if got := is.notBefore(tc.sub); !got.Equal(tc.want) {
			t.Errorf("step %d: notBefore(%q) = %v, want %v", i, tc.sub, got, tc.want)
		}
	}
	is.observe(jwtrevoke.Revocation{Kind: jwtrevoke.KindAll, Before: t0.Add(3 * time.Second)}, 3)
	if got, want := is.notBefore("carol"), time.Unix(1767225616, 0); !got.Equal(want) {
		t.Errorf("after an all cut-off: notBefore(carol) = %v, want %v", got, want)
	}
}

// steppingClock is a fake clock for the issuer: the first read after set
// returns first, every later read returns then. mint reads the clock once
// to decide whether to wait and again once it has waited, so the test
// decides exactly when the issuer starts and when its wait ends, whatever
// the machine's speed.
type steppingClock struct {
	mu          sync.Mutex
	first, then time.Time
	read        bool
}

func (c *steppingClock) set(first, then time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.first, c.then, c.read = first, then, false
}

func (c *steppingClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read {
		c.read = true
		return c.first
	}
	return c.then
}

// TestIssuerMintWaitsOutCutoffSecond: a token minted in the second of its
// subject's cut-off waits (on a real timer) until that second ends, says
// how long it waited, and gets the next second as its iat; one minted after
// that second does not wait.
func TestIssuerMintWaitsOutCutoffSecond(t *testing.T) {
	is, err := newIssuer(nil, "http://issuer.test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	clock := &steppingClock{}
	is.now = clock.now
	sec := time.Unix(1767225612, 0)
	clock.set(sec, sec)
	sid, _ := is.newSession("alice")
	is.noteCutoff("alice", sec.Add(400*time.Millisecond))

	// 950 ms into the cut-off's second: 50 ms to wait.
	clock.set(sec.Add(950*time.Millisecond), sec.Add(time.Second))
	start := time.Now()
	_, claims, waited, err := is.mint(context.Background(), "alice", sid)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
		t.Errorf("mint in the cut-off's second returned after %v, before the 50 ms left in that second", elapsed)
	}
	if waited != 50*time.Millisecond || claims["iat"] != sec.Unix()+1 {
		t.Errorf("mint in the cut-off's second: waited %v, iat %v; want 50ms and %d", waited, claims["iat"], sec.Unix()+1)
	}

	// After the cut-off's second: no wait.
	clock.set(sec.Add(1200*time.Millisecond), sec.Add(1200*time.Millisecond))
	_, claims, waited, err = is.mint(context.Background(), "alice", sid)
	if err != nil || waited != 0 || claims["iat"] != sec.Unix()+1 {
		t.Errorf("mint after the cut-off's second: waited %v, iat %v, %v; want no wait and iat %d", waited, claims["iat"], err, sec.Unix()+1)
	}
	// Another subject is not held up by alice's cut-off.
	bobSID, _ := is.newSession("bob")
	clock.set(sec.Add(500*time.Millisecond), sec.Add(500*time.Millisecond))
	if _, claims, waited, err = is.mint(context.Background(), "bob", bobSID); err != nil || waited != 0 || claims["iat"] != sec.Unix() {
		t.Errorf("mint for bob in alice's cut-off second: waited %v, iat %v, %v; want no wait and iat %d", waited, claims["iat"], err, sec.Unix())
	}

	// A request that ends while it waits gets no token.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	clock.set(sec.Add(100*time.Millisecond), sec.Add(100*time.Millisecond))
	if raw, _, _, err := is.mint(ctx, "alice", sid); err == nil || raw != "" {
		t.Errorf("mint with its request gone while waiting = %q, %v; want no token and an error", raw, err)
	}
}

// TestIssuerLogsOnlyRealWaits: a login that did not wait for a cut-off's
// second logs no wait; one that waited less than a millisecond logs (and
// reports in its header) 1ms, never 0s.
func TestIssuerLogsOnlyRealWaits(t *testing.T) {
	var logs syncBuffer
	is, err := newIssuer(nil, "http://issuer.test", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	clock := &steppingClock{}
	is.now = clock.now
	sec := time.Unix(1767225612, 0)
	clock.set(sec, sec)
	is.noteCutoff("alice", sec.Add(400*time.Millisecond))
	// login logs sub in with the issuer's clock reading first, then then.
	login := func(sub string, first, then time.Time) string {
		t.Helper()
		sid, refresh := is.newSession(sub)
		clock.set(first, then)
		w := httptest.NewRecorder()
		is.issue(w, httptest.NewRequest(http.MethodPost, "/login", nil), sub, sid, refresh, "login")
		if w.Code != http.StatusOK {
			t.Fatalf("login as %s: %d %s", sub, w.Code, w.Body)
		}
		return w.Header().Get(issueDelayHeader)
	}

	if delay := login("bob", sec.Add(500*time.Millisecond), sec.Add(500*time.Millisecond)); delay != "0" || strings.Contains(logs.String(), "waited") {
		t.Errorf("login of a user without a cut-off: delay header %q, log:\n%s\nwant 0 and no wait logged", delay, logs.String())
	}
	// 0.4 ms before the end of alice's cut-off second (a real 0.4 ms timer).
	if delay := login("alice", sec.Add(999_600*time.Microsecond), sec.Add(time.Second)); delay != "1" || !strings.Contains(logs.String(), "waited=1ms") || strings.Contains(logs.String(), "waited=0s") {
		t.Errorf("login 0.4 ms before the end of a cut-off's second: delay header %q, log:\n%s\nwant 1 and waited=1ms", delay, logs.String())
	}
}

func TestDemoCORS(t *testing.T) {
	for i, tc := range []struct {
		listen, origin string
		want           bool
	}{
		{"127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"127.0.0.1:8080", "http://localhost:8080", true},
		{"127.0.0.1:8080", "http://[::1]:8080", true},
		{"127.0.0.1:8080", "http://127.0.0.1:8081", false},
		{"127.0.0.1:8080", "https://127.0.0.1:8080", false},
		{"127.0.0.1:8080", "http://evil.example:8080", false},
		{"10.0.0.5:8080", "http://10.0.0.5:8080", true},
		{"10.0.0.5:8080", "http://localhost:8080", false},
		{"0.0.0.0:8080", "http://demo.lan:8080", true},
		{"0.0.0.0:8080", "http://demo.lan:9090", false},
	} {
		c, err := newCORSPolicy(tc.listen)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.allowed(tc.origin); got != tc.want {
			t.Errorf("step %d: listen %s: allowed(%q) = %v, want %v", i, tc.listen, tc.origin, got, tc.want)
		}
	}
}

// TestDemoIgnoresNATSURL: a NATS_URL in the environment does not turn the
// demo away from its embedded server (here it names no server at all); the
// demo says once that it ignores it.
func TestDemoIgnoresNATSURL(t *testing.T) {
	t.Setenv("NATS_URL", "nats://127.0.0.1:1")
	ctx, cancel := context.WithTimeout(context.Background(), demoTestTimeout)
	defer cancel()
	port := demotest.PortBlock(t, 1)
	var logs syncBuffer
	cfg := config{
		listen:     fmt.Sprintf("127.0.0.1:%d", port),
		replicas:   1,
		natsListen: fmt.Sprintf("127.0.0.1:%d", demotest.Port(t)),
		data:       t.TempDir(),
	}
	d, err := start(ctx, &clitool.Globals{Stream: "JWTREVOKE"}, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("start with NATS_URL set = %v, want the embedded server", err)
	}
	defer d.Close()
	if d.ns == nil || d.natsURL != d.ns.ClientURL() {
		t.Errorf("demo with NATS_URL set uses %q, want its embedded server", d.natsURL)
	}
	if n := strings.Count(logs.String(), "NATS_URL is set"); n != 1 {
		t.Errorf("demo logged %d lines about NATS_URL, want 1:\n%s", n, logs.String())
	}
}

// syncBuffer collects log lines written from the demo's goroutines.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
