// Package demotest drives a running jwtrevoke demo over HTTP, as its web
// page and a user's curl do, for the tests of internal/demo (a demo in the
// test's process) and of the jwtrevoke binary (the demo verb in a child
// process): a Client that logs in, calls every replica, logs out and
// revokes, and checks each answer against the demo's contract, step by
// step in Story. It knows the demo only from outside: its routes, JSON
// fields, headers and client ID. A Client is for one test's goroutine.
package demotest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/freeport"
)

// PortBlock returns a port p such that p..p+n on 127.0.0.1 are
// reserved for this test (internal/freeport): the demo puts its issuer on p
// and replica i on p+i.
func PortBlock(t *testing.T, n int) int {
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

// Port returns a TCP port on 127.0.0.1 reserved for this test
// (internal/freeport), for the demo's NATS server to listen on.
func Port(t *testing.T) int {
	t.Helper()
	ports, err := freeport.Take(1)
	if err != nil {
		t.Fatalf("reserving a port: %v", err)
	}
	t.Cleanup(func() { freeport.Release(ports...) })
	return ports[0]
}

// ClientID is the demo's RFC 7009 / RFC 7662 confidential client; its
// secret is random per run, and printed in the demo's banner.
const ClientID = "demo-client"

// IssueDelayHeader is the header of a login's or refresh's answer that says
// how long the issuer waited for a cut-off's second to end, in
// milliseconds rounded up.
const IssueDelayHeader = "X-Issue-Delay-Ms"

// Client drives a running demo over HTTP, failing its test on any answer
// the demo's contract does not allow.
type Client struct {
	t        *testing.T
	Issuer   string   // the issuer's base URL
	Replicas []string // replica i+1's base URL at i
	Secret   string   // the OAuth client's secret
	hc       *http.Client
}

// NewClient returns a client of the demo whose issuer listens on
// 127.0.0.1:port and replica i on port+i, with the OAuth client's secret.
func NewClient(t *testing.T, port, replicas int, secret string) *Client {
	dc := &Client{
		t:      t,
		Issuer: fmt.Sprintf("http://127.0.0.1:%d", port),
		Secret: secret,
		// Its own transport, so that a leak check can close its idle
		// connections. The timeout only turns a hung request into a
		// failure: a request takes milliseconds (a login at most a second
		// more, waiting out a cut-off's second).
		hc: &http.Client{Transport: &http.Transport{}, Timeout: time.Minute},
	}
	for i := 1; i <= replicas; i++ {
		dc.Replicas = append(dc.Replicas, fmt.Sprintf("http://127.0.0.1:%d", port+i))
	}
	return dc
}

// CloseIdleConnections closes the client's idle connections, so that a
// leak check sees none of its goroutines.
func (dc *Client) CloseIdleConnections() { dc.hc.CloseIdleConnections() }

// do sends a request and returns the status, body and headers.
func (dc *Client) do(req *http.Request) (int, []byte, http.Header) {
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

// PostJSON posts body as JSON to the issuer's path, with a bearer token
// unless bearer is empty, and returns the status, the decoded answer and
// its headers.
func (dc *Client) PostJSON(path string, body any, bearer string) (int, map[string]any, http.Header) {
	dc.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, dc.Issuer+path, bytes.NewReader(b))
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

// PostForm posts an OAuth form to the issuer's path, with HTTP Basic
// client credentials unless user is empty, and returns the status and the
// decoded answer.
func (dc *Client) PostForm(path string, form url.Values, user, pass string) (int, map[string]any) {
	dc.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, dc.Issuer+path, strings.NewReader(form.Encode()))
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

// WaitReady waits until the issuer and every replica answer /readyz with
// 200.
func (dc *Client) WaitReady(ctx context.Context) {
	dc.t.Helper()
	for _, base := range append([]string{dc.Issuer}, dc.Replicas...) {
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

// Pair is a login's or refresh's answer: the access token (a JWT, whose
// claims it keeps) and the refresh token.
type Pair struct {
	Access, Refresh string
	claims          map[string]any
	issueDelay      time.Duration
}

func (p Pair) sid() string { s, _ := p.claims["sid"].(string); return s }

func (p Pair) jti() string { s, _ := p.claims["jti"].(string); return s }

func (p Pair) iat() time.Time {
	f, _ := p.claims["iat"].(float64)
	return time.Unix(int64(f), 0)
}

func (dc *Client) pair(what string, status int, body map[string]any, h http.Header) Pair {
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
	ms, _ := strconv.Atoi(h.Get(IssueDelayHeader))
	return Pair{Access: access, Refresh: refresh, claims: claims, issueDelay: time.Duration(ms) * time.Millisecond}
}

// Login logs user in with the demo password (the user name) and checks
// the pair it gets.
func (dc *Client) Login(user string) Pair {
	dc.t.Helper()
	status, body, h := dc.PostJSON("/login", map[string]string{"username": user, "password": user}, "")
	return dc.pair("login "+user, status, body, h)
}

// whoami calls one replica and returns the status and the decoded body.
func (dc *Client) whoami(i int, token string) (int, map[string]any, http.Header) {
	dc.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, dc.Replicas[i]+"/api/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Origin", dc.Issuer)
	status, raw, h := dc.do(req)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return status, m, h
}

// accepted asserts that every replica accepts the token now.
func (dc *Client) accepted(what string, p Pair) {
	dc.t.Helper()
	for i := range dc.Replicas {
		status, body, h := dc.whoami(i, p.Access)
		if status != http.StatusOK {
			dc.t.Fatalf("%s: replica %d whoami = %d %v, want 200", what, i+1, status, body)
		}
		claims, _ := body["claims"].(map[string]any)
		if body["replica"] != float64(i+1) || claims["jti"] != p.jti() || claims["sub"] != p.claims["sub"] {
			dc.t.Fatalf("%s: replica %d whoami = %v, want replica %d and the token's claims", what, i+1, body, i+1)
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != dc.Issuer {
			dc.t.Fatalf("%s: replica %d Access-Control-Allow-Origin = %q, want %q", what, i+1, got, dc.Issuer)
		}
	}
}

// Refused waits until every replica refuses the token as revoked, the
// way the middleware does it. The revocation reaches the replicas within
// milliseconds; how long it takes is not what this asserts (the wait ends
// with the test's context).
func (dc *Client) Refused(ctx context.Context, what string, p Pair) {
	dc.t.Helper()
	for i := range dc.Replicas {
		for {
			status, body, h := dc.whoami(i, p.Access)
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
func (dc *Client) inactive(ctx context.Context, what string, p Pair) {
	dc.t.Helper()
	for {
		status, body := dc.PostForm("/introspect", url.Values{"token": {p.Access}}, ClientID, dc.Secret)
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

func (dc *Client) refreshRefused(what, refresh string) {
	dc.t.Helper()
	status, body, _ := dc.PostJSON("/refresh", map[string]string{"refresh_token": refresh}, "")
	if status != http.StatusUnauthorized || body["error"] != "invalid_grant" {
		dc.t.Fatalf("%s: refresh = %d %v, want 401 invalid_grant", what, status, body)
	}
}

// Story is the whole demo contract, step by step: login, refresh, reuse
// of a refresh token, logout, logout everywhere and logging straight back
// in, RFC 7009 and RFC 7662, the page and its status feed.
func (dc *Client) Story(ctx context.Context) {
	t := dc.t
	t.Helper()

	// Sign in and call every replica.
	if status, body, _ := dc.PostJSON("/login", map[string]string{"username": "alice", "password": "bob"}, ""); status != http.StatusUnauthorized || body["error"] != "invalid_grant" {
		t.Fatalf("login with a wrong password = %d %v, want 401 invalid_grant", status, body)
	}
	p1 := dc.Login("alice")
	dc.accepted("after login", p1)

	// CORS for the page: a preflight from the issuer's origin is answered.
	req, _ := http.NewRequest(http.MethodOptions, dc.Replicas[0]+"/api/whoami", nil)
	req.Header.Set("Origin", dc.Issuer)
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	if status, _, h := dc.do(req); status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != dc.Issuer ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight = %d %v, want 204 allowing %s and Authorization", status, h, dc.Issuer)
	}

	// Refresh rotates the refresh token within the session.
	status, body, h := dc.PostJSON("/refresh", map[string]string{"refresh_token": p1.Refresh}, "")
	p2 := dc.pair("refresh", status, body, h)
	if p2.Refresh == p1.Refresh || p2.sid() != p1.sid() || p2.jti() == p1.jti() {
		t.Fatalf("refresh: got sid %s jti %s, want the same sid %s, a new jti and a new refresh token", p2.sid(), p2.jti(), p1.sid())
	}
	dc.accepted("after refresh", p2)

	// Reusing the spent refresh token revokes the whole session.
	dc.refreshRefused("reuse of a spent refresh token", p1.Refresh)
	dc.Refused(ctx, "after refresh token reuse (first token)", p1)
	dc.Refused(ctx, "after refresh token reuse (refreshed token)", p2)
	dc.refreshRefused("the current refresh token after reuse", p2.Refresh)

	// Logout revokes the token and its session; a new login works at once.
	p3 := dc.Login("alice")
	dc.accepted("new login after reuse", p3)
	if status, body, _ := dc.PostJSON("/logout", nil, p3.Access); status != http.StatusOK || body["sid"] != p3.sid() || body["jti"] != p3.jti() {
		t.Fatalf("logout = %d %v, want 200 naming the token and session", status, body)
	}
	dc.Refused(ctx, "after logout", p3)
	dc.refreshRefused("refresh after logout", p3.Refresh)
	p3b := dc.Login("alice")
	dc.accepted("login straight after logout", p3b)
	if status, body, _ := dc.PostJSON("/logout", nil, ""); status != http.StatusUnauthorized || body["reason"] != "missing" {
		t.Fatalf("logout without a token = %d %v, want 401 missing", status, body)
	}

	// Log out everywhere, then log straight back in.
	bob := dc.Login("bob")
	p4 := dc.Login("alice")
	if frac := time.Duration(time.Now().Nanosecond()); frac > 600*time.Millisecond {
		// Start early in a second, so that the new login is likely to fall
		// in the cut-off's second and the issuer has to wait it out. No
		// assertion depends on where it falls: on a slow machine it may be
		// the next second, and the checks below hold either way.
		// TestIssuerMintWaitsOutCutoffSecond covers the wait with a clock
		// of its own.
		time.Sleep(time.Second - frac + 20*time.Millisecond)
	}
	status, body, _ = dc.PostJSON("/logout-all", nil, p4.Access)
	if status != http.StatusOK || body["sub"] != "alice" {
		t.Fatalf("logout-all = %d %v, want 200 for alice", status, body)
	}
	cutoff, err := time.Parse(time.RFC3339Nano, body["cutoff"].(string))
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	p5 := dc.Login("alice")
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
	if !sent.Before(ceilSecond(cutoff)) && p5.issueDelay > 0 {
		t.Errorf("login sent at %s, after the cut-off's second (cut-off %s), reported an issue delay of %v",
			sent.Format("15:04:05.000"), cutoff.Format("15:04:05.000"), p5.issueDelay)
	}
	t.Logf("logout-all cut-off %s; re-login sent %s; issuer waited %v", cutoff.Format("15:04:05.000"), sent.Format("15:04:05.000"), p5.issueDelay)
	dc.accepted("login straight after logout-all", p5)
	for _, p := range []Pair{p4, p3b} {
		dc.Refused(ctx, "earlier token after logout-all", p)
	}
	dc.refreshRefused("earlier refresh token after logout-all", p4.Refresh)
	dc.accepted("the new token, once the cut-off is applied everywhere", p5)
	dc.accepted("another user is untouched by alice's logout-all", bob)
	// The issuer asks its own agent, which may apply the cut-off after the
	// replicas did: wait for it, then a revoked token cannot log out
	// everywhere.
	dc.inactive(ctx, "earlier token after logout-all, at the issuer", p4)
	if status, body, _ := dc.PostJSON("/logout-all", nil, p4.Access); status != http.StatusUnauthorized || body["reason"] != "revoked" {
		t.Fatalf("logout-all with a revoked token = %d %v, want 401 revoked", status, body)
	}

	// RFC 7009.
	p6 := dc.Login("carol")
	dc.accepted("carol", p6)
	if status, body := dc.PostForm("/revoke", url.Values{"token": {p6.Access}}, ClientID, dc.Secret); status != http.StatusOK {
		t.Fatalf("/revoke a good token = %d %v, want 200", status, body)
	}
	dc.Refused(ctx, "after /revoke", p6)
	for _, tok := range []string{"not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ4In0.c2lnbmF0dXJl", "unknown-refresh-token"} {
		if status, body := dc.PostForm("/revoke", url.Values{"token": {tok}}, ClientID, dc.Secret); status != http.StatusOK {
			t.Fatalf("/revoke %q = %d %v, want 200", tok, status, body)
		}
	}
	if status, body := dc.PostForm("/revoke", url.Values{"token": {p5.Access}}, ClientID, "wrong"); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("/revoke with a bad client secret = %d %v, want 401 invalid_client", status, body)
	}
	dc.accepted("a token whose revocation was refused", p5)
	// A refresh token revoked through RFC 7009 ends its session.
	p7 := dc.Login("carol")
	if status, body := dc.PostForm("/revoke", url.Values{"token": {p7.Refresh}, "token_type_hint": {"refresh_token"}}, ClientID, dc.Secret); status != http.StatusOK {
		t.Fatalf("/revoke a refresh token = %d %v, want 200", status, body)
	}
	dc.refreshRefused("a refresh token revoked through /revoke", p7.Refresh)
	dc.Refused(ctx, "the session of a refresh token revoked through /revoke", p7)

	// RFC 7662.
	if status, body := dc.PostForm("/introspect", url.Values{"token": {p5.Access}}, ClientID, dc.Secret); status != http.StatusOK || body["active"] != true || body["sub"] != "alice" || body["jti"] != p5.jti() {
		t.Fatalf("/introspect a good token = %d %v, want active true for alice", status, body)
	}
	for _, tok := range []string{p4.Access, "not-a-jwt"} {
		if status, body := dc.PostForm("/introspect", url.Values{"token": {tok}}, ClientID, dc.Secret); status != http.StatusOK || body["active"] != false || len(body) != 1 {
			t.Fatalf("/introspect a revoked or bad token = %d %v, want {\"active\":false}", status, body)
		}
	}

	// The page and its feed.
	req, _ = http.NewRequest(http.MethodGet, dc.Issuer+"/", nil)
	if status, page, h := dc.do(req); status != http.StatusOK || !bytes.Contains(page, []byte(`id="login"`)) || h.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET / = %d, want the page with a CSP", status)
	}
	req, _ = http.NewRequest(http.MethodGet, dc.Issuer+"/api/status", nil)
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
	if st.Stream != "JWTREVOKE" || st.LastSeq == 0 || len(st.Replicas) != len(dc.Replicas) {
		t.Fatalf("/api/status = %s, want the stream, its last seq and every replica", raw)
	}
	for i, r := range st.Replicas {
		if r.Replica != i+1 || r.URL != dc.Replicas[i] || !r.Ready || r.Stale || r.LastApplied != st.LastSeq || r.EventsApplied == 0 || r.LagP99 < r.LagP50 {
			t.Fatalf("/api/status replica %d = %+v, want ready, fresh, caught up to %d, with lag figures", i+1, r, st.LastSeq)
		}
	}
}

// ceilSecond is the first whole second at or after t: the earliest time
// whose whole-second iat is not before t.
func ceilSecond(t time.Time) time.Time {
	s := t.Truncate(time.Second)
	if s.Equal(t) {
		return s
	}
	return s.Add(time.Second)
}
