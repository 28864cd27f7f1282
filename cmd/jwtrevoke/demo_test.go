package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/internal/freeport"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// freePortBlock returns a port p such that p..p+n on 127.0.0.1 are
// reserved for this test (internal/freeport): the demo puts its issuer on p
// and replica i on p+i.
func freePortBlock(t *testing.T, n int) int {
	t.Helper()
	p, err := freeport.Block(n + 1)
	if err != nil {
		t.Fatalf("reserving %d consecutive ports: %v", n+1, err)
	}
	t.Cleanup(func() {
		for i := 0; i <= n; i++ {
			freeport.Release(p + i)
		}
	})
	return p
}

// TestDemoProcess runs the built binary's demo verb and drives the whole
// story over HTTP, then stops it with SIGTERM.
func TestDemoProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the jwtrevoke binary")
	}
	bin := buildBinary(t)
	const replicas = 3
	port := freePortBlock(t, replicas)
	natsPort := freePort(t)
	// The whole run, from start to exit, bounded generously: each step waits
	// for an event (the banner, /readyz, a refusal), and the story takes
	// about a second on an idle machine.
	ctx, cancel := context.WithTimeout(context.Background(), demoTestTimeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, bin, "demo",
		"--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--replicas", strconv.Itoa(replicas),
		"--nats-listen", fmt.Sprintf("127.0.0.1:%d", natsPort),
		"--data", t.TempDir())
	cmd.Env = append(os.Environ(), "NATS_URL=") // always the embedded server
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("demo stdout:\n%s\ndemo stderr:\n%s", out.String(), errOut.String())
		}
	}()

	// The banner ends with "Ready."; it names the client secret.
	secretRE := regexp.MustCompile(`secret (\S+)`)
	secret := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(&out, line)
			if m := secretRE.FindStringSubmatch(line); m != nil && !found {
				found = true
				secret <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	var clientSecret string
	select {
	case clientSecret = <-secret:
	case err := <-exited:
		stopped = true
		t.Fatalf("demo exited before it was ready: %v", err)
	case <-ctx.Done():
		t.Fatal("demo did not print its banner in time")
	}

	dc := newDemoClient(t, port, replicas, clientSecret)
	dc.waitReady(ctx)
	jr := fmt.Sprintf("jwtrevoke --server nats://127.0.0.1:%d", natsPort)
	for _, want := range []string{jr + " watch", jr + " status", "TOKEN=$(curl"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	// The agents replay, then are ready, in that order, and no login that
	// did not wait says how long it waited.
	logs := errOut.String()
	if r, a := strings.Index(logs, `msg="agents replaying revocations"`), strings.Index(logs, `msg="agents ready"`); r < 0 || a < r || strings.Contains(logs, `msg="agent ready"`) {
		t.Errorf("demo log: want agents replaying, then agents ready, and no agent's own ready line:\n%s", logs)
	}
	dc.story(ctx)
	if strings.Contains(errOut.String(), "waited=0s") {
		t.Errorf("demo log has a wait of 0s:\n%s", errOut.String())
	}
	demoBannerShell(t, ctx, out.String(), bin, dc)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("demo after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(demoExitTimeout):
		t.Fatalf("demo did not exit within %v of SIGTERM", demoExitTimeout)
	}
}

const (
	// demoTestTimeout bounds a demo test from start to end, and
	// demoExitTimeout the wait for a demo to exit after SIGTERM (it takes
	// tens of milliseconds). Both only turn a hang into a failure: every
	// wait in between ends at its event.
	demoTestTimeout = 3 * time.Minute
	demoExitTimeout = time.Minute
)

// TestDemoInProcess drives the same story against a demo started in this
// process, so that the race detector sees the issuer, replicas and
// handlers, and checks that Close leaves no goroutine behind.
func TestDemoInProcess(t *testing.T) {
	const replicas = 3
	waitBackgroundBuilds()
	before := testkit.Goroutines()
	var dc *demoClient
	defer func() {
		if t.Failed() {
			return
		}
		// Every goroutine the demo (and this test's HTTP client) started
		// has returned, its embedded NATS server's included.
		if dc != nil {
			dc.hc.CloseIdleConnections()
		}
		testkit.NoNewGoroutines(t, before, testkit.Patience)
	}()
	port := freePortBlock(t, replicas)
	g := &clitool.Globals{Stream: "JWTREVOKE", MaxLifetime: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), demoTestTimeout)
	defer cancel()
	cfg := demoConfig{
		listen:     fmt.Sprintf("127.0.0.1:%d", port),
		replicas:   replicas,
		natsListen: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		data:       t.TempDir(),
	}
	d, err := startDemo(ctx, g, cfg, slog.New(slog.DiscardHandler))
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
	dc = newDemoClient(t, port, replicas, d.clientSecret)
	dc.waitReady(ctx)
	dc.story(ctx)
}

// demoBannerShell runs the banner's shell example as a user would paste
// it: the TOKEN line logs alice in, the replica answers her token, the
// jwtrevoke line revokes her, and then every replica refuses that token.
func demoBannerShell(t *testing.T, ctx context.Context, banner, bin string, dc *demoClient) {
	t.Helper()
	for _, tool := range []string{"sh", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Logf("not running the banner's shell example: no %s", tool)
			return
		}
	}
	var lines []string
	for _, line := range strings.Split(banner, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "TOKEN=") || strings.HasPrefix(line, "curl -s -H") || strings.HasPrefix(line, "jwtrevoke ") && strings.Contains(line, " revoke ") {
			lines = append(lines, line)
		}
	}
	if len(lines) != 4 {
		t.Fatalf("banner: want a TOKEN line, a call, a revoke and a call; got %q", lines)
	}
	// The last call races the revocation's arrival: the refusal is waited
	// for below instead.
	script := "set -e\n" + strings.Join(lines[:3], "\n") + "\necho\necho \"TOKEN=$TOKEN\"\n"
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(os.Environ(), "NATS_URL=", "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`(?m)^TOKEN=(\S+)$`).FindStringSubmatch(string(out))
	if err != nil || m == nil || !strings.Contains(string(out), `"sub":"alice"`) || !strings.Contains(string(out), `Revoked subject "alice"`) {
		t.Fatalf("the banner's shell example: %v\n%s\nwant alice's token accepted, then her subject revoked", err, out)
	}
	dc.refused(ctx, "the banner's token after the banner's revoke", demoPair{access: m[1]})
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
		cfg  demoConfig
		want string
	}{
		{demoConfig{listen: "127.0.0.1:0", replicas: 3}, "fixed port"},
		{demoConfig{listen: "nohost", replicas: 3}, "--listen"},
		{demoConfig{listen: "127.0.0.1:8080", replicas: 0}, "--replicas"},
		{demoConfig{listen: "127.0.0.1:65535", replicas: 3}, "no room"},
		{demoConfig{listen: busy.Addr().String(), replicas: 1, natsListen: "127.0.0.1:-1"}, "issuer"},
		{demoConfig{listen: fmt.Sprintf("127.0.0.1:%d", freePortBlock(t, 1)), replicas: 1, natsListen: busy.Addr().String(), data: t.TempDir()}, "--nats-listen"},
	} {
		_, err := startDemo(context.Background(), g, tc.cfg, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("startDemo(%+v) = %v, want an error about %q", tc.cfg, err, tc.want)
		}
	}
	short := &clitool.Globals{Stream: "JWTREVOKE", MaxLifetime: time.Minute}
	if _, err := startDemo(context.Background(), short, demoConfig{listen: "127.0.0.1:8080", replicas: 1}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--max-lifetime") {
		t.Errorf("startDemo with --max-lifetime 1m = %v, want an error about --max-lifetime", err)
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
		if got := demoCeilSecond(tc.in); !got.Equal(tc.want) {
			t.Errorf("step %d: demoCeilSecond(%v) = %v, want %v", i, tc.in, got, tc.want)
		}
	}
}

// TestIssuerNotBefore checks which cut-offs make the issuer wait: its own
// and observed subject cut-offs for that subject, and all cut-offs for
// everyone.
func TestIssuerNotBefore(t *testing.T) {
	is, err := newDemoIssuer(nil, "http://issuer.test", slog.New(slog.DiscardHandler))
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
	is, err := newDemoIssuer(nil, "http://issuer.test", slog.New(slog.DiscardHandler))
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
	is, err := newDemoIssuer(nil, "http://issuer.test", slog.New(slog.NewTextHandler(&logs, nil)))
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
		return w.Header().Get(demoIssueDelayHeader)
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
		c, err := newDemoCORS(tc.listen)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.allowed(tc.origin); got != tc.want {
			t.Errorf("step %d: listen %s: allowed(%q) = %v, want %v", i, tc.listen, tc.origin, got, tc.want)
		}
	}
}

// demoClient drives a running demo over HTTP.
type demoClient struct {
	t        *testing.T
	issuer   string
	replicas []string
	secret   string
	hc       *http.Client
}

func newDemoClient(t *testing.T, port, replicas int, secret string) *demoClient {
	dc := &demoClient{
		t:      t,
		issuer: fmt.Sprintf("http://127.0.0.1:%d", port),
		secret: secret,
		// Its own transport, so that a leak check can close its idle
		// connections. The timeout only turns a hung request into a
		// failure: a request takes milliseconds (a login at most a second
		// more, waiting out a cut-off's second).
		hc: &http.Client{Transport: &http.Transport{}, Timeout: time.Minute},
	}
	for i := 1; i <= replicas; i++ {
		dc.replicas = append(dc.replicas, fmt.Sprintf("http://127.0.0.1:%d", port+i))
	}
	return dc
}

// do sends a request and returns the status, body and headers.
func (dc *demoClient) do(req *http.Request) (int, []byte, http.Header) {
	dc.t.Helper()
	res, err := dc.hc.Do(req)
	if err != nil {
		dc.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		dc.t.Fatalf("%s %s: reading: %v", req.Method, req.URL, err)
	}
	return res.StatusCode, b, res.Header
}

func (dc *demoClient) postJSON(path string, body any, bearer string) (int, map[string]any, http.Header) {
	dc.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, dc.issuer+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	status, raw, h := dc.do(req)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			dc.t.Fatalf("POST %s = %d %q: not JSON", path, status, raw)
		}
	}
	return status, m, h
}

func (dc *demoClient) postForm(path string, form url.Values, user, pass string) (int, map[string]any) {
	dc.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, dc.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	status, raw, _ := dc.do(req)
	var m map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			dc.t.Fatalf("POST %s = %d %q: not JSON", path, status, raw)
		}
	}
	return status, m
}

// waitReady waits until every replica answers /readyz with 200.
func (dc *demoClient) waitReady(ctx context.Context) {
	dc.t.Helper()
	for _, base := range append([]string{dc.issuer}, dc.replicas...) {
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
			res, err := dc.hc.Do(req)
			if err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-ctx.Done():
				dc.t.Fatalf("%s/readyz: not ready in time (last error %v)", base, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

type demoPair struct {
	access, refresh string
	claims          map[string]any
	issueDelay      time.Duration
}

func (p demoPair) sid() string { s, _ := p.claims["sid"].(string); return s }
func (p demoPair) jti() string { s, _ := p.claims["jti"].(string); return s }
func (p demoPair) iat() time.Time {
	f, _ := p.claims["iat"].(float64)
	return time.Unix(int64(f), 0)
}

func (dc *demoClient) pair(what string, status int, body map[string]any, h http.Header) demoPair {
	dc.t.Helper()
	if status != http.StatusOK {
		dc.t.Fatalf("%s = %d %v, want 200", what, status, body)
	}
	access, _ := body["access_token"].(string)
	refresh, _ := body["refresh_token"].(string)
	if access == "" || refresh == "" || body["token_type"] != "Bearer" || body["expires_in"] != float64(300) {
		dc.t.Fatalf("%s = %v, want access_token, refresh_token, token_type Bearer, expires_in 300", what, body)
	}
	parts := strings.Split(access, ".")
	if len(parts) != 3 {
		dc.t.Fatalf("%s: access token is not a JWT", what)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		dc.t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		dc.t.Fatal(err)
	}
	for _, c := range []string{"jti", "sub", "sid", "iat", "exp"} {
		if _, ok := claims[c]; !ok {
			dc.t.Fatalf("%s: claims %v lack %s", what, claims, c)
		}
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if !strings.Contains(string(hdr), `"kid":"demo-`) || !strings.Contains(string(hdr), `"alg":"HS256"`) {
		dc.t.Fatalf("%s: header %s, want HS256 with kid demo-…", what, hdr)
	}
	if iat, exp := claims["iat"].(float64), claims["exp"].(float64); exp-iat != 300 || iat != float64(int64(iat)) {
		dc.t.Fatalf("%s: iat %v exp %v, want whole seconds 300 apart", what, iat, exp)
	}
	ms, _ := strconv.Atoi(h.Get(demoIssueDelayHeader))
	return demoPair{access: access, refresh: refresh, claims: claims, issueDelay: time.Duration(ms) * time.Millisecond}
}

func (dc *demoClient) login(user string) demoPair {
	dc.t.Helper()
	status, body, h := dc.postJSON("/login", map[string]string{"username": user, "password": user}, "")
	return dc.pair("login "+user, status, body, h)
}

// whoami calls one replica and returns the status and the decoded body.
func (dc *demoClient) whoami(i int, token string) (int, map[string]any, http.Header) {
	dc.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, dc.replicas[i]+"/api/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Origin", dc.issuer)
	status, raw, h := dc.do(req)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return status, m, h
}

// accepted asserts that every replica accepts the token now.
func (dc *demoClient) accepted(what string, p demoPair) {
	dc.t.Helper()
	for i := range dc.replicas {
		status, body, h := dc.whoami(i, p.access)
		if status != http.StatusOK {
			dc.t.Fatalf("%s: replica %d whoami = %d %v, want 200", what, i+1, status, body)
		}
		claims, _ := body["claims"].(map[string]any)
		if body["replica"] != float64(i+1) || claims["jti"] != p.jti() || claims["sub"] != p.claims["sub"] {
			dc.t.Fatalf("%s: replica %d whoami = %v, want replica %d and the token's claims", what, i+1, body, i+1)
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != dc.issuer {
			dc.t.Fatalf("%s: replica %d Access-Control-Allow-Origin = %q, want %q", what, i+1, got, dc.issuer)
		}
	}
}

// refused waits until every replica refuses the token as revoked, the
// way the middleware does it. The revocation reaches the replicas within
// milliseconds; how long it takes is not what this asserts (the wait ends
// with the test's context).
func (dc *demoClient) refused(ctx context.Context, what string, p demoPair) {
	dc.t.Helper()
	for i := range dc.replicas {
		for {
			status, body, h := dc.whoami(i, p.access)
			if status == http.StatusUnauthorized && body["reason"] == "revoked" && body["error"] == "invalid_token" &&
				strings.HasPrefix(h.Get("WWW-Authenticate"), `Bearer error="invalid_token"`) {
				break
			}
			select {
			case <-ctx.Done():
				dc.t.Fatalf("%s: replica %d whoami = %d %v, want 401 revoked", what, i+1, status, body)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// inactive waits until the issuer's /introspect says the token is not
// active. Introspection asks the issuer's own agent, which the issuer also
// consults before a logout everywhere: once this returns, that agent has
// applied the token's revocation.
func (dc *demoClient) inactive(ctx context.Context, what string, p demoPair) {
	dc.t.Helper()
	for {
		status, body := dc.postForm("/introspect", url.Values{"token": {p.access}}, demoClientID, dc.secret)
		if status == http.StatusOK && body["active"] == false && len(body) == 1 {
			return
		}
		if status != http.StatusOK || body["active"] != true {
			dc.t.Fatalf("%s: /introspect = %d %v, want 200 and active true until the revocation applies, then {\"active\":false}", what, status, body)
		}
		select {
		case <-ctx.Done():
			dc.t.Fatalf("%s: /introspect = %d %v, want {\"active\":false}", what, status, body)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (dc *demoClient) refreshRefused(what, refresh string) {
	dc.t.Helper()
	status, body, _ := dc.postJSON("/refresh", map[string]string{"refresh_token": refresh}, "")
	if status != http.StatusUnauthorized || body["error"] != "invalid_grant" {
		dc.t.Fatalf("%s: refresh = %d %v, want 401 invalid_grant", what, status, body)
	}
}

// story is the whole demo contract, step by step.
func (dc *demoClient) story(ctx context.Context) {
	t := dc.t
	t.Helper()

	// Sign in and call every replica.
	if status, body, _ := dc.postJSON("/login", map[string]string{"username": "alice", "password": "bob"}, ""); status != http.StatusUnauthorized || body["error"] != "invalid_grant" {
		t.Fatalf("login with a wrong password = %d %v, want 401 invalid_grant", status, body)
	}
	p1 := dc.login("alice")
	dc.accepted("after login", p1)

	// CORS for the page: a preflight from the issuer's origin is answered.
	req, _ := http.NewRequest(http.MethodOptions, dc.replicas[0]+"/api/whoami", nil)
	req.Header.Set("Origin", dc.issuer)
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	if status, _, h := dc.do(req); status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != dc.issuer ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight = %d %v, want 204 allowing %s and Authorization", status, h, dc.issuer)
	}

	// Refresh rotates the refresh token within the session.
	status, body, h := dc.postJSON("/refresh", map[string]string{"refresh_token": p1.refresh}, "")
	p2 := dc.pair("refresh", status, body, h)
	if p2.refresh == p1.refresh || p2.sid() != p1.sid() || p2.jti() == p1.jti() {
		t.Fatalf("refresh: got sid %s jti %s, want the same sid %s, a new jti and a new refresh token", p2.sid(), p2.jti(), p1.sid())
	}
	dc.accepted("after refresh", p2)

	// Reusing the spent refresh token revokes the whole session.
	dc.refreshRefused("reuse of a spent refresh token", p1.refresh)
	dc.refused(ctx, "after refresh token reuse (first token)", p1)
	dc.refused(ctx, "after refresh token reuse (refreshed token)", p2)
	dc.refreshRefused("the current refresh token after reuse", p2.refresh)

	// Logout revokes the token and its session; a new login works at once.
	p3 := dc.login("alice")
	dc.accepted("new login after reuse", p3)
	if status, body, _ := dc.postJSON("/logout", nil, p3.access); status != http.StatusOK || body["sid"] != p3.sid() || body["jti"] != p3.jti() {
		t.Fatalf("logout = %d %v, want 200 naming the token and session", status, body)
	}
	dc.refused(ctx, "after logout", p3)
	dc.refreshRefused("refresh after logout", p3.refresh)
	p3b := dc.login("alice")
	dc.accepted("login straight after logout", p3b)
	if status, body, _ := dc.postJSON("/logout", nil, ""); status != http.StatusUnauthorized || body["reason"] != "missing" {
		t.Fatalf("logout without a token = %d %v, want 401 missing", status, body)
	}

	// Log out everywhere, then log straight back in.
	bob := dc.login("bob")
	p4 := dc.login("alice")
	if frac := time.Duration(time.Now().Nanosecond()); frac > 600*time.Millisecond {
		// Start early in a second, so that the new login is likely to fall
		// in the cut-off's second and the issuer has to wait it out. No
		// assertion depends on where it falls: on a slow machine it may be
		// the next second, and the checks below hold either way.
		// TestIssuerMintWaitsOutCutoffSecond covers the wait with a clock
		// of its own.
		time.Sleep(time.Second - frac + 20*time.Millisecond)
	}
	status, body, _ = dc.postJSON("/logout-all", nil, p4.access)
	if status != http.StatusOK || body["sub"] != "alice" {
		t.Fatalf("logout-all = %d %v, want 200 for alice", status, body)
	}
	cutoff, err := time.Parse(time.RFC3339Nano, body["cutoff"].(string))
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	p5 := dc.login("alice")
	received := time.Now()
	// Its whole-second iat is not before the cut-off (so every replica
	// accepts it, below), and not after the answer arrived (the issuer
	// waited rather than dating the token ahead).
	if p5.iat().Before(cutoff) || p5.iat().After(received) {
		t.Fatalf("login after logout-all: iat %v, want from the cut-off %v until the answer at %v", p5.iat(), cutoff, received)
	}
	// The issuer reads its clock after the login was sent: if that was
	// after the cut-off's second, it had nothing to wait for. (Sent within
	// that second, the test cannot tell whether the issuer read its clock
	// before the second ended, so it asserts nothing about that delay.)
	if !sent.Before(demoCeilSecond(cutoff)) && p5.issueDelay > 0 {
		t.Errorf("login sent at %s, after the cut-off's second (cut-off %s), reported an issue delay of %v",
			sent.Format("15:04:05.000"), cutoff.Format("15:04:05.000"), p5.issueDelay)
	}
	t.Logf("logout-all cut-off %s; re-login sent %s; issuer waited %v", cutoff.Format("15:04:05.000"), sent.Format("15:04:05.000"), p5.issueDelay)
	dc.accepted("login straight after logout-all", p5)
	for _, p := range []demoPair{p4, p3b} {
		dc.refused(ctx, "earlier token after logout-all", p)
	}
	dc.refreshRefused("earlier refresh token after logout-all", p4.refresh)
	dc.accepted("the new token, once the cut-off is applied everywhere", p5)
	dc.accepted("another user is untouched by alice's logout-all", bob)
	// The issuer asks its own agent, which may apply the cut-off after the
	// replicas did: wait for it, then a revoked token cannot log out
	// everywhere.
	dc.inactive(ctx, "earlier token after logout-all, at the issuer", p4)
	if status, body, _ := dc.postJSON("/logout-all", nil, p4.access); status != http.StatusUnauthorized || body["reason"] != "revoked" {
		t.Fatalf("logout-all with a revoked token = %d %v, want 401 revoked", status, body)
	}

	// RFC 7009.
	p6 := dc.login("carol")
	dc.accepted("carol", p6)
	if status, body := dc.postForm("/revoke", url.Values{"token": {p6.access}}, demoClientID, dc.secret); status != http.StatusOK {
		t.Fatalf("/revoke a good token = %d %v, want 200", status, body)
	}
	dc.refused(ctx, "after /revoke", p6)
	for _, tok := range []string{"not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ4In0.c2lnbmF0dXJl", "unknown-refresh-token"} {
		if status, body := dc.postForm("/revoke", url.Values{"token": {tok}}, demoClientID, dc.secret); status != http.StatusOK {
			t.Fatalf("/revoke %q = %d %v, want 200", tok, status, body)
		}
	}
	if status, body := dc.postForm("/revoke", url.Values{"token": {p5.access}}, demoClientID, "wrong"); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("/revoke with a bad client secret = %d %v, want 401 invalid_client", status, body)
	}
	dc.accepted("a token whose revocation was refused", p5)
	// A refresh token revoked through RFC 7009 ends its session.
	p7 := dc.login("carol")
	if status, body := dc.postForm("/revoke", url.Values{"token": {p7.refresh}, "token_type_hint": {"refresh_token"}}, demoClientID, dc.secret); status != http.StatusOK {
		t.Fatalf("/revoke a refresh token = %d %v, want 200", status, body)
	}
	dc.refreshRefused("a refresh token revoked through /revoke", p7.refresh)
	dc.refused(ctx, "the session of a refresh token revoked through /revoke", p7)

	// RFC 7662.
	if status, body := dc.postForm("/introspect", url.Values{"token": {p5.access}}, demoClientID, dc.secret); status != http.StatusOK || body["active"] != true || body["sub"] != "alice" || body["jti"] != p5.jti() {
		t.Fatalf("/introspect a good token = %d %v, want active true for alice", status, body)
	}
	for _, tok := range []string{p4.access, "not-a-jwt"} {
		if status, body := dc.postForm("/introspect", url.Values{"token": {tok}}, demoClientID, dc.secret); status != http.StatusOK || body["active"] != false || len(body) != 1 {
			t.Fatalf("/introspect a revoked or bad token = %d %v, want {\"active\":false}", status, body)
		}
	}

	// The page and its feed.
	req, _ = http.NewRequest(http.MethodGet, dc.issuer+"/", nil)
	if status, page, h := dc.do(req); status != http.StatusOK || !bytes.Contains(page, []byte(`id="login"`)) || h.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET / = %d, want the page with a CSP", status)
	}
	req, _ = http.NewRequest(http.MethodGet, dc.issuer+"/api/status", nil)
	status, raw, _ := dc.do(req)
	var st struct {
		Stream   string `json:"stream"`
		LastSeq  uint64 `json:"last_seq"`
		Replicas []struct {
			Replica       int     `json:"replica"`
			URL           string  `json:"url"`
			Ready         bool    `json:"ready"`
			Stale         bool    `json:"stale"`
			LastApplied   uint64  `json:"last_applied"`
			EventsApplied uint64  `json:"events_applied"`
			LagP50        float64 `json:"lag_p50_ms"`
			LagP99        float64 `json:"lag_p99_ms"`
		} `json:"replicas"`
	}
	if err := json.Unmarshal(raw, &st); status != http.StatusOK || err != nil {
		t.Fatalf("GET /api/status = %d %s (%v)", status, raw, err)
	}
	if st.Stream != "JWTREVOKE" || st.LastSeq == 0 || len(st.Replicas) != len(dc.replicas) {
		t.Fatalf("/api/status = %s, want the stream, its last seq and every replica", raw)
	}
	for i, r := range st.Replicas {
		if r.Replica != i+1 || r.URL != dc.replicas[i] || !r.Ready || r.Stale || r.LastApplied != st.LastSeq || r.EventsApplied == 0 || r.LagP99 < r.LagP50 {
			t.Fatalf("/api/status replica %d = %+v, want ready, fresh, caught up to %d, with lag figures", i+1, r, st.LastSeq)
		}
	}
}
