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
// the demo's contract does not allow. It is for the test's own goroutine.
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

// ceilSecond is the first whole second at or after t: the earliest time
// whose whole-second iat is not before t.
func ceilSecond(t time.Time) time.Time {
	s := t.Truncate(time.Second)
	if s.Equal(t) {
		return s
	}
	return s.Add(time.Second)
}
