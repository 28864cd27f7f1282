package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/snapshot"
)

const (
	serveTestSecret = "serve-test-hmac-secret-0123456789abcdef"
	serveTestClient = "gateway"
	serveTestPass   = "gateway-secret-0123456789"
	serveTestAdmin  = "admin-token-0123456789abcdef"
)

// serveProc is a running `jwtrevoke serve`.
type serveProc struct {
	cmd     *exec.Cmd
	base    string
	natsURL string // the embedded NATS server's
	out     *clitest.SyncBuffer
	done    chan struct{} // closed when the process has exited
	err     error         // its exit error, once done is closed
}

// startServe starts `jwtrevoke serve` on free loopback ports with an
// embedded NATS server and waits until /readyz answers 200. Its tokens are
// verified with serveTestSecret unless extra gives --pem or --jwks-url.
func startServe(t *testing.T, extra ...string) *serveProc {
	t.Helper()
	bin := buildBinary(t)
	httpPort, natsPort := freePort(t), freePort(t)
	keys := []string{"--hmac-secret", serveTestSecret}
	if slices.Contains(extra, "--pem") || slices.Contains(extra, "--jwks-url") {
		keys = nil
	}
	args := append(append([]string{"serve",
		"--listen", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--nats-listen", "127.0.0.1:" + strconv.Itoa(natsPort),
		"--data", t.TempDir(),
	}, keys...), []string{
		"--client-id", serveTestClient, "--client-secret", serveTestPass,
		"--admin-token", serveTestAdmin,
		"--max-lifetime", "1h",
		"--verbose",
	}...)
	args = append(args, extra...)
	p := &serveProc{cmd: exec.Command(bin, args...), base: "http://127.0.0.1:" + strconv.Itoa(httpPort),
		natsURL: "nats://127.0.0.1:" + strconv.Itoa(natsPort), out: &clitest.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(p.cmd.Environ(), "NATS_URL=") // always the embedded server
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("jwtrevoke serve output:\n%s", p.out.String())
		}
	})
	// Ready when /readyz says so; the process exiting first fails at once.
	deadline := time.Now().Add(serveWait)
	for {
		if status, _ := p.get(t, "/readyz", ""); status == http.StatusOK {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("jwtrevoke serve not ready after %v:\n%s", serveWait, p.out.String())
		}
		select {
		case <-p.done:
			t.Fatalf("jwtrevoke serve exited before ready: %v\n%s", p.err, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// serveWait bounds each wait of these tests for the child to do something:
// be ready (an embedded NATS server, a stream and a replay: well under a
// second when idle), exit after SIGTERM (tens of milliseconds), apply a
// revocation (milliseconds). Every wait ends at its event; the bound only
// turns a hang into a failure, so it is generous for a loaded CI machine.
const serveWait = 2 * time.Minute

// terminate sends the process SIGTERM and returns its exit error once it
// has exited; it fails the test if that takes longer than serveWait.
func (p *serveProc) terminate(t *testing.T) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(serveWait):
		t.Fatalf("jwtrevoke serve still running %v after SIGTERM", serveWait)
		return nil
	}
}

// serveHTTP's timeout only turns a hung request into a failure; each
// request takes milliseconds.
var serveHTTP = &http.Client{Timeout: time.Minute}

func (p *serveProc) do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := serveHTTP.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b
}

func (p *serveProc) get(t *testing.T, path, bearer string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.base+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return p.do(t, req)
}

// form posts an OAuth form with Basic client credentials.
func (p *serveProc) form(t *testing.T, path, id, secret string, v url.Values) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.base+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return p.do(t, req)
}

func (p *serveProc) admin(t *testing.T, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.base+"/admin/revoke", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+serveTestAdmin)
	return p.do(t, req)
}

// active asks /introspect whether raw is active.
func (p *serveProc) active(t *testing.T, raw string) bool {
	t.Helper()
	status, body := p.form(t, "/introspect", serveTestClient, serveTestPass, url.Values{"token": {raw}})
	if status != http.StatusOK {
		t.Fatalf("POST /introspect: status %d, want 200 (body %s)", status, body)
	}
	var ans struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatalf("POST /introspect: body %s: %v", body, err)
	}
	return ans.Active
}

// eventuallyInactive waits until /introspect says raw is inactive: the
// service's agent has applied its revocation (how soon is not asserted).
func (p *serveProc) eventuallyInactive(t *testing.T, what, raw string) {
	t.Helper()
	testkit.Eventually(t, what+": inactive", func() bool { return !p.active(t, raw) })
}

func serveToken(t *testing.T, key, jti, sub string, iat time.Time) string {
	t.Helper()
	return testkit.SignHS256(t, []byte(key), jwt.MapClaims{
		"jti": jti, "sub": sub, "sid": "sess-" + jti, "iat": iat.Unix(), "exp": time.Now().Add(10 * time.Minute).Unix(),
	}, "")
}

func TestServeProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p := startServe(t)
	earlier := time.Now().Add(-time.Minute)
	good := serveToken(t, serveTestSecret, "tok-good", "alice", earlier)
	other := serveToken(t, serveTestSecret, "tok-other", "alice", earlier)
	bobs := serveToken(t, serveTestSecret, "tok-bob", "bob", earlier)
	carols := serveToken(t, serveTestSecret, "tok-carol", "carol", earlier)
	unknown := serveToken(t, "some-other-issuers-secret-0123456789", "tok-unknown", "alice", earlier)

	// Health.
	if status, body := p.get(t, "/livez", ""); status != http.StatusOK {
		t.Errorf("GET /livez: %d %s, want 200", status, body)
	}
	// /readyz answers from the agent's health, with the names serve first
	// gave two of its fields as well.
	status, body := p.get(t, "/readyz", "")
	var ready map[string]any
	if err := json.Unmarshal(body, &ready); status != http.StatusOK || err != nil {
		t.Fatalf("GET /readyz: %d %s (%v), want 200 and JSON", status, body, err)
	}
	for _, field := range []string{"ready", "stale", "staleness_ms", "last_applied", "stale_seconds", "last_applied_seq"} {
		if _, ok := ready[field]; !ok || ready["ready"] != true || ready["stale"] != false {
			t.Errorf("GET /readyz = %s, want ready, not stale, with %s", body, field)
		}
	}

	// Introspection before any revocation.
	for _, raw := range []string{good, other, bobs, carols} {
		if !p.active(t, raw) {
			t.Fatalf("a fresh token is inactive before any revocation")
		}
	}
	if p.active(t, unknown) || p.active(t, "not-a-jwt") {
		t.Errorf("a token signed by another key, or malformed, is active")
	}

	// RFC 7009 answers.
	for _, tt := range []struct {
		name       string
		token      string
		secret     string
		wantStatus int
		wantError  string
	}{
		{"good", good, serveTestPass, 200, ""},
		{"malformed", "not-a-jwt", serveTestPass, 200, ""},
		{"unknown issuer", unknown, serveTestPass, 200, ""},
		{"bad client secret", other, "not-the-secret-0123456789", 401, "invalid_client"},
	} {
		status, body := p.form(t, "/revoke", serveTestClient, tt.secret, url.Values{"token": {tt.token}})
		if status != tt.wantStatus {
			t.Errorf("POST /revoke (%s): status %d, want %d (body %s)", tt.name, status, tt.wantStatus, body)
			continue
		}
		if tt.wantError == "" && len(body) != 0 {
			t.Errorf("POST /revoke (%s): body %q, want empty", tt.name, body)
		}
		if tt.wantError != "" && !bytes.Contains(body, []byte(`"error":"`+tt.wantError+`"`)) {
			t.Errorf("POST /revoke (%s): body %s, want error %s", tt.name, body, tt.wantError)
		}
	}
	p.eventuallyInactive(t, "revoked token", good)
	if !p.active(t, other) {
		t.Errorf("a token of the same subject is inactive after revoking one token (or after a refused /revoke)")
	}
	if status, _ := p.form(t, "/introspect", serveTestClient, "wrong-secret-0123456789", url.Values{"token": {good}}); status != http.StatusUnauthorized {
		t.Errorf("POST /introspect with a bad client secret: status %d, want 401", status)
	}

	// The admin API: log alice out everywhere.
	// A missing token and a wrong one are told apart; the descriptions'
	// < and > are written as they are, not as \u003c and \u003e.
	if status, body := p.get(t, "/admin/live", ""); status != http.StatusUnauthorized || !strings.Contains(string(body), "missing admin token") || !strings.Contains(string(body), "Bearer <admin token>") {
		t.Errorf("GET /admin/live without the admin token: %d %s, want 401 saying the token is missing, with <admin token> unescaped", status, body)
	}
	if status, body := p.get(t, "/admin/live", "not-the-admin-token"); status != http.StatusUnauthorized || !strings.Contains(string(body), "wrong admin token") || strings.Contains(string(body), "missing") {
		t.Errorf("GET /admin/live with a wrong admin token: %d %s, want 401 saying the token is wrong", status, body)
	}
	status, body = p.admin(t, `{"kind":"sub","key":"alice","reason":"password change","actor":"test"}`)
	if status != http.StatusOK {
		t.Fatalf("POST /admin/revoke sub: %d %s, want 200", status, body)
	}
	var rc struct {
		Kind, Key, MsgID string
		Seq              uint64
		Before, Expires  time.Time
		Duplicate        bool
	}
	if err := json.Unmarshal(body, &rc); err != nil || rc.Kind != "sub" || rc.Key != "alice" || rc.Seq == 0 || rc.Before.IsZero() || !rc.Expires.After(rc.Before) {
		t.Errorf("POST /admin/revoke sub: receipt %s (%v), want kind sub, key alice, a sequence and times", body, err)
	}
	p.eventuallyInactive(t, "alice's other token after revoking sub alice", other)
	if !p.active(t, bobs) {
		t.Errorf("bob's token is inactive after revoking alice")
	}
	if status, body := p.admin(t, `{"kind":"sid","key":"sess-tok-carol"}`); status != http.StatusOK {
		t.Errorf("POST /admin/revoke sid: %d %s, want 200", status, body)
	}
	p.eventuallyInactive(t, "carol's token after revoking her session", carols)
	for _, tt := range []struct{ body, why string }{
		{`{"kind":"nope","key":"x"}`, "unknown kind"},
		{`{"kind":"sub"}`, "no key"},
		{`{"kind":"all","key":"x"}`, "a key on all"},
		{`{"kind":"kid","key":"k","before":"2026-01-01T00:00:00Z"}`, "before on kid"},
		{`{"kind":"sub","key":"a","before":"yesterday"}`, "bad time"},
		{`{"kind":"sub","key":"a","extra":1}`, "unknown field"},
		{`{"kind":"jti","key":"j","exp":"2099-01-01T00:00:00Z"}`, "exp beyond the max lifetime"},
	} {
		if status, body := p.admin(t, tt.body); status != http.StatusBadRequest {
			t.Errorf("POST /admin/revoke (%s): %d %s, want 400", tt.why, status, body)
		}
	}

	// What is live.
	status, body = p.get(t, "/admin/live", serveTestAdmin)
	var live struct {
		Live   map[string]int64
		Total  int64
		Stream struct{ Messages, LastSeq uint64 } `json:"stream"`
	}
	if err := json.Unmarshal(body, &live); status != http.StatusOK || err != nil {
		t.Fatalf("GET /admin/live: %d %s (%v)", status, body, err)
	}
	if live.Live["jti"] != 1 || live.Live["sub"] != 1 || live.Live["sid"] != 1 || live.Total != 3 || live.Stream.Messages != 3 {
		t.Errorf("GET /admin/live = %s, want one jti, one sub, one sid live and 3 messages", body)
	}
	status, body = p.get(t, "/admin/events?limit=2", serveTestAdmin)
	var events struct {
		Events []struct {
			Kind, Key, Reason, Actor string
			Live                     bool
		}
	}
	if err := json.Unmarshal(body, &events); status != http.StatusOK || err != nil || len(events.Events) != 2 {
		t.Fatalf("GET /admin/events?limit=2: %d %s (%v), want 2 events", status, body, err)
	}
	if e := events.Events[1]; e.Kind != "sub" || e.Key != "alice" || e.Reason != "password change" || e.Actor != "test" || !e.Live {
		t.Errorf("GET /admin/events: second newest = %+v, want the live sub alice revocation by test", e)
	}

	// Metrics.
	status, body = p.get(t, "/metrics", "")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", status)
	}
	for _, want := range []string{"jwtrevoke_checks_total{outcome=\"revoked\"}", "jwtrevoke_revocation_requests_total{outcome=\"revoked\"} 1",
		"jwtrevoke_revocations_published_total{kind=\"sub\"} 1", "jwtrevoke_live_entries{kind=\"sub\"} 1", "jwtrevoke_ready 1",
		"jwtrevoke_propagation_lag_seconds_bucket", "go_goroutines", "process_"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("GET /metrics lacks %s", want)
		}
	}
	if bytes.Contains(body, []byte(good)) || strings.Contains(p.out.String(), good) {
		t.Errorf("a raw token appears in the metrics or the log")
	}

	// SIGTERM: a clean exit, promptly.
	start := time.Now()
	if err := p.terminate(t); err != nil {
		t.Errorf("jwtrevoke serve exited with %v after SIGTERM, want 0", err)
	}
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{"shutting down", "embedded NATS server stopped"} {
		if !strings.Contains(p.out.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// A restarted service replays the stream: what was revoked stays revoked.
func TestServeRestartKeepsRevocations(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	p := startServe(t, "--data", dir)
	tok := serveToken(t, serveTestSecret, "tok-restart", "dave", time.Now().Add(-time.Minute))
	if status, body := p.form(t, "/revoke", serveTestClient, serveTestPass, url.Values{"token": {tok}}); status != http.StatusOK {
		t.Fatalf("POST /revoke: %d %s", status, body)
	}
	p.eventuallyInactive(t, "revoked token", tok)
	if err := p.terminate(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	q := startServe(t, "--data", dir) // later flags win
	if q.active(t, tok) {
		t.Errorf("a token revoked before the restart is active after it")
	}
}

// Bad configurations are refused at once, as usage errors (exit 2), with
// a message naming the flag; every problem is reported, not only the first.
func TestServeRefusesBadConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	port, natsPort := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no keys", []string{"--client", "a:0123456789abcdef"}, "no keys"},
		{"short HMAC secret", []string{"--hmac-secret", "short", "--client", "a:0123456789abcdef"}, "RFC 7518"},
		{"no clients", []string{"--hmac-secret", serveTestSecret}, "no OAuth clients"},
		{"short client secret", []string{"--hmac-secret", serveTestSecret, "--client", "a:short"}, "at least 16"},
		{"unpaired client id", []string{"--hmac-secret", serveTestSecret, "--client-id", "a"}, "in pairs"},
		{"short admin token", []string{"--hmac-secret", serveTestSecret, "--client", "a:0123456789abcdef", "--admin-token", "x"}, "admin token"},
		{"HMAC with a public alg", []string{"--hmac-secret", serveTestSecret, "--client", "a:0123456789abcdef", "--alg", "RS256"}, "--alg RS256"},
		{"HMAC and PEM", []string{"--hmac-secret", serveTestSecret, "--client", "a:0123456789abcdef", "--pem", "x.pem"}, "excludes"},
		{"missing PEM file", []string{"--client", "a:0123456789abcdef", "--pem", "/nonexistent/k.pem"}, "--pem"},
		{"bad CORS origin", []string{"--hmac-secret", serveTestSecret, "--cors-origin", "app.example.com"}, "origin"},
		{"check-only with a public client", []string{"--hmac-secret", serveTestSecret, "--check-only", "--public-client"}, "--check-only serves no /revoke"},
		{"check-only with a provider", []string{"--hmac-secret", serveTestSecret, "--check-only", "--oidc-issuer", "https://id.example", "--oidc-client-id", "app"}, "drop --oidc-issuer"},
		{"provider without client ID", []string{"--hmac-secret", serveTestSecret, "--client", "a:0123456789abcdef", "--oidc-issuer", "https://id.example"}, "--oidc-issuer needs --oidc-client-id"},
		{"client ID without provider", []string{"--hmac-secret", serveTestSecret, "--client", "a:0123456789abcdef", "--oidc-client-id", "app"}, "need --oidc-issuer"},
		{"SSF flags without a transmitter", []string{"--hmac-secret", serveTestSecret, "--client", "a:0123456789abcdef", "--ssf-audience", "x"}, "need --ssf-issuer"},
		{"transmitter without audience", []string{"--hmac-secret", serveTestSecret, "--client", "a:0123456789abcdef", "--ssf-issuer", "https://tx.example", "--ssf-push-token", "0123456789abcdef0123"}, "--ssf-issuer needs --ssf-audience"},
		{"transmitter without push or poll", []string{"--hmac-secret", serveTestSecret, "--client", "a:0123456789abcdef", "--ssf-issuer", "https://tx.example", "--ssf-audience", "x"}, "--ssf-push-token (to take pushed SETs) or --ssf-poll-url"},
		{"short push token", []string{"--hmac-secret", serveTestSecret, "--client", "a:0123456789abcdef", "--ssf-issuer", "https://tx.example", "--ssf-audience", "x", "--ssf-push-token", "short"}, "--ssf-push-token: at least"},
		{"bad subject claim", []string{"--hmac-secret", serveTestSecret, "--client", "a:0123456789abcdef", "--subject-claim", "email=name"}, "--subject-claim"},
		{"bad forward-auth cookie", []string{"--hmac-secret", serveTestSecret, "--client", "a:0123456789abcdef", "--forward-auth-cookie", "a;b"}, "--forward-auth-cookie"},
		{"no keys, no clients, short admin token", []string{"--admin-token", "x"}, "3 settings are missing or invalid:\n  - no OAuth clients"},
		{"no keys, no clients, short admin token", []string{"--admin-token", "x"}, "\n  - the admin token is 1 bytes"},
		{"no keys, no clients, short admin token", []string{"--admin-token", "x"}, "\n  - no keys to verify tokens"},
	} {
		// Refused before it starts anything: it exits at once. The bound
		// only stops a serve that starts after all.
		ctx, cancel := context.WithTimeout(context.Background(), serveWait)
		cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--listen", "127.0.0.1:" + port, "--nats-listen", "127.0.0.1:" + natsPort, "--data", t.TempDir()}, tt.args...)...)
		cmd.Env = append(cmd.Environ(), "NATS_URL=", "JWTREVOKE_HMAC_SECRET=", "JWTREVOKE_ADMIN_TOKEN=", "JWTREVOKE_CLIENTS=")
		out, err := cmd.CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != clitool.ExitUsage || !strings.Contains(string(out), tt.want) {
			t.Errorf("serve %s (%s): err %v, output %q; want exit %d mentioning %q", strings.Join(tt.args, " "), tt.name, err, out, clitool.ExitUsage, tt.want)
		}
	}
}

// TestServeGlobalTokenRevocation: /global-token-revocation takes the admin
// token only, and cuts the identified subject off on the service's agent;
// /backchannel-logout is off without a provider.
func TestServeGlobalTokenRevocation(t *testing.T) {
	p := startServe(t, "--subject-claim", "email=sub")
	old := serveToken(t, serveTestSecret, "jti-gtr-1", "alice@example.com", time.Now().Add(-time.Minute))
	if !p.active(t, old) {
		t.Fatal("a fresh token is not active")
	}
	send := func(auth, body string) int {
		req, _ := http.NewRequest(http.MethodPost, p.base+"/global-token-revocation", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		st, _ := p.do(t, req)
		return st
	}
	body := `{"sub_id":{"format":"email","email":"alice@example.com"}}`
	for _, auth := range []string{"", "not-the-admin-token-0123456789"} {
		if st := send(auth, body); st != http.StatusUnauthorized {
			t.Errorf("with admin token %q: %d, want 401", auth, st)
		}
	}
	if !p.active(t, old) {
		t.Fatal("an unauthenticated request revoked the token")
	}
	if st := send(serveTestAdmin, body); st != http.StatusNoContent {
		t.Fatalf("with the admin token: %d, want 204", st)
	}
	testkit.Eventually(t, "the subject cut off", func() bool { return !p.active(t, old) })
	st, b := p.form(t, "/backchannel-logout", "", "", url.Values{"logout_token": {"x"}})
	if st != http.StatusNotFound || !strings.Contains(string(b), "--oidc-issuer") {
		t.Errorf("/backchannel-logout without a provider: %d %s, want 404 naming --oidc-issuer", st, b)
	}
}

// TestServeWritesSnapshots: serve's snapshotter writes the live set to the
// stream's bucket once events arrive, and an agent then starts from it.
func TestServeWritesSnapshots(t *testing.T) {
	p := startServe(t, "--snapshot-every", "50ms")
	for _, sub := range []string{"alice", "bob"} {
		if status, body := p.admin(t, `{"kind":"sub","key":"`+sub+`"}`); status != http.StatusOK {
			t.Fatalf("admin revoke %s: %d %s", sub, status, body)
		}
	}
	nc := testkit.Connect(t, p.natsURL)
	js := testkit.JetStream(t, nc)
	ctx := clitest.Context(t, testkit.Patience)
	testkit.Eventually(t, "serve wrote a snapshot of both revocations", func() bool {
		store, err := snapshot.Open(ctx, js, snapshot.DefaultBucket)
		if err != nil {
			return false
		}
		entries, err := store.List(ctx)
		return err == nil && len(entries) > 0 && entries[0].Seq >= 2
	})
	a := testkit.NewAgent(t, nc)
	if st := a.Stats(); st.SnapshotSeq < 2 {
		t.Fatalf("agent beside serve started from snapshot %d (loads %v), want at least 2", st.SnapshotSeq, st.SnapshotLoads)
	}
}
