package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/gateway"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/oauth"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

type env struct {
	pub *publisher.Publisher
	a   *agent.Agent
	v   *verify.Verifier
	h   *gateway.ForwardAuth
	url string
}

func newEnv(t *testing.T, opts ...gateway.Option) *env {
	t.Helper()
	s := testkit.NATS(t, "")
	e := &env{pub: testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))}
	e.a = testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()))
	v, err := verify.New(testkit.HMACKeys(), []string{"HS256"})
	if err != nil {
		t.Fatal(err)
	}
	e.v = v
	e.h, err = gateway.NewForwardAuth(e.a, v, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	e.url = srv.URL + "/forward-auth"
	return e
}

func (e *env) ask(t *testing.T, method string, header http.Header, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// TestForwardAuthStory: a valid token passes with identity headers, on
// any method, and once its session is revoked it is refused with the RFC
// 6750 challenge, while a token of a new session still passes.
func TestForwardAuthStory(t *testing.T) {
	e := newEnv(t, gateway.WithRealm("api"))
	iat := time.Now().Add(-time.Minute)
	old := testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("jti-1", "alice", "sess-1", iat), "")
	for _, m := range []string{"GET", "POST", "DELETE", "PATCH"} {
		resp := e.ask(t, m, bearer(old), "a body the handler must not need")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d, want 200 (reason %q)", m, resp.StatusCode, resp.Header.Get("X-Auth-Reason"))
		}
		for h, want := range map[string]string{gateway.HeaderSubject: "alice", gateway.HeaderSession: "sess-1", gateway.HeaderTokenID: "jti-1"} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", m, h, got, want)
			}
		}
	}
	rc, err := e.pub.RevokeSession(context.Background(), "sess-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitApplied(t, e.a, rc.Seq)
	resp := e.ask(t, "GET", bearer(old), "")
	if resp.StatusCode != 401 || resp.Header.Get("X-Auth-Reason") != "revoked" {
		t.Fatalf("after logout: status %d reason %q, want 401 revoked", resp.StatusCode, resp.Header.Get("X-Auth-Reason"))
	}
	if got, want := resp.Header.Get("WWW-Authenticate"), `Bearer realm="api", error="invalid_token", error_description="the token has been revoked"`; got != want {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want)
	}
	if resp.Header.Get(gateway.HeaderSubject) != "" {
		t.Error("a refused answer carries identity headers")
	}
	fresh := testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("jti-2", "alice", "sess-2", time.Now()), "")
	if resp := e.ask(t, "GET", bearer(fresh), ""); resp.StatusCode != 200 {
		t.Fatalf("new session's token: status %d, want 200", resp.StatusCode)
	}
	mfs := testkit.Gather(t, e.h.Collector())
	for outcome, want := range map[string]float64{"allowed": 5, "revoked": 1} {
		if got, _ := testkit.MetricValue(mfs, "jwtrevoke_forward_auth_requests_total", "outcome", outcome); got != want {
			t.Errorf("jwtrevoke_forward_auth_requests_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// TestForwardAuthRefuses: every kind of bad request is a 401 with its
// reason, counted, and never a 200.
func TestForwardAuthRefuses(t *testing.T) {
	e := newEnv(t, gateway.WithCookie("at"))
	now := time.Now()
	good := testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("j", "s", "d", now), "")
	noJTI := testkit.Claims("", "s", "d", now)
	delete(noJTI, "jti")
	wrongType := testkit.Claims("j", "s", "d", now)
	wrongType["sid"] = 42
	expired := testkit.Claims("j2", "s", "d", now.Add(-time.Hour))
	expired["exp"] = now.Add(-time.Minute).Unix()
	for _, tc := range []struct {
		name   string
		header http.Header
		reason string
	}{
		{"no token", nil, "missing"},
		{"basic scheme", http.Header{"Authorization": {"Basic dXNlcjpwdw=="}}, "malformed"},
		{"empty bearer", http.Header{"Authorization": {"Bearer "}}, "malformed"},
		{"two authorization headers", http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}}, "malformed"},
		{"not a JWT", bearer("abc"), "malformed"},
		{"bad signature", bearer(good[:len(good)-2] + "xx"), "invalid"},
		{"alg none", bearer("eyJhbGciOiJub25lIn0.eyJqdGkiOiJ4In0."), "invalid"},
		{"no jti", bearer(testkit.SignHS256(t, testkit.HMACKey, noJTI, "")), "no_jti"},
		{"sid of the wrong type", bearer(testkit.SignHS256(t, testkit.HMACKey, wrongType, "")), "malformed"},
		{"expired", bearer(testkit.SignHS256(t, testkit.HMACKey, expired, "")), "expired"},
		{"header beats cookie", http.Header{"Authorization": {"Bearer abc"}, "Cookie": {"at=" + good}}, "malformed"},
		{"huge token", bearer(strings.Repeat("a", 1<<16) + ".b.c"), "malformed"},
		{"two cookies of the name", http.Header{"Cookie": {"at=" + good + "; at=" + good}}, "malformed"},
		{"the name in two Cookie headers", http.Header{"Cookie": {"a=1; at=" + good, "at=" + good}}, "malformed"},
		{"two bearer tokens joined by a proxy", http.Header{"Authorization": {"Bearer " + good + ",Bearer " + good}}, "malformed"},
		{"a space inside the token", http.Header{"Authorization": {"Bearer " + good + " " + good}}, "malformed"},
	} {
		resp := e.ask(t, "GET", tc.header, "")
		if resp.StatusCode != 401 || resp.Header.Get("X-Auth-Reason") != tc.reason {
			t.Errorf("%s: status %d reason %q, want 401 %q", tc.name, resp.StatusCode, resp.Header.Get("X-Auth-Reason"), tc.reason)
		}
		wa := resp.Header.Get("WWW-Authenticate")
		if tc.reason == "missing" && wa != "Bearer" || tc.reason != "missing" && !strings.Contains(wa, `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate = %q", tc.name, wa)
		}
	}
	for _, cookie := range []string{
		"at=" + good,
		`at="` + good + `"`,
		"théme=sombre; x=\"odd; at=" + good + "; other=1", // other cookies that break RFC 6265 do not matter
	} {
		if resp := e.ask(t, "GET", http.Header{"Cookie": {cookie}}, ""); resp.StatusCode != 200 {
			t.Errorf("token in the cookie %q: status %d (%s), want 200", cookie, resp.StatusCode, resp.Header.Get("X-Auth-Reason"))
		}
	}
}

// TestForwardAuthHeaderValues: configured identity headers carry the
// named fields, and a claim with a line break cannot split a header.
func TestForwardAuthHeaderValues(t *testing.T) {
	e := newEnv(t, gateway.WithIdentityHeaders(map[string]string{"X-User": "sub", "x-key": "kid"}))
	c := testkit.Claims("j", "bob\r\nX-Admin: yes", "d", time.Now())
	resp := e.ask(t, "GET", bearer(testkit.SignHS256(t, testkit.HMACKey, c, "k1")), "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("X-User"); got != "bobX-Admin: yes" {
		t.Errorf("X-User = %q, want the claim without its line break", got)
	}
	if resp.Header.Get("X-Admin") != "" || resp.Header.Get(gateway.HeaderSubject) != "" {
		t.Error("a header the configuration does not name was set")
	}
	if got := resp.Header.Get("X-Key"); got != "k1" {
		t.Errorf("X-Key = %q, want k1", got)
	}
	for _, bad := range []gateway.Option{
		gateway.WithIdentityHeaders(map[string]string{"X User": "sub"}),
		gateway.WithIdentityHeaders(map[string]string{"X-User": "email"}),
		gateway.WithCookie("a;b"),
		gateway.WithRealm(`a"b`),
	} {
		if _, err := gateway.NewForwardAuth(e.a, e.v, bad); err == nil {
			t.Error("NewForwardAuth accepted a bad option")
		}
	}
}

// TestForwardAuthStale: an agent past its staleness bound refuses under
// FailClosed (401, reason stale) and passes under FailOpen with the reason
// in Jwtrevoke-Stale; a fresh answer's Jwtrevoke-Stale is empty.
func TestForwardAuthStale(t *testing.T) {
	const bound = 100 * time.Millisecond
	for _, policy := range []agent.Policy{agent.FailClosed, agent.FailOpen} {
		t.Run(policy.String(), func(t *testing.T) {
			s := testkit.NATS(t, "")
			testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL())) // creates the stream
			clk := testkit.NewManualClock()
			a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), agent.WithStaleness(bound), agent.WithClock(clk.Now), agent.WithPolicy(policy))
			v, err := verify.New(testkit.HMACKeys(), []string{"HS256"})
			if err != nil {
				t.Fatal(err)
			}
			h, err := gateway.NewForwardAuth(a, v)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			e := &env{url: srv.URL}
			tok := bearer(testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("stale-1", "alice", "s", time.Now()), ""))
			if resp := e.ask(t, "GET", tok, ""); resp.StatusCode != 200 || resp.Header.Get(oauth.StaleHeader) != "" {
				t.Fatalf("fresh agent: status %d, %s %q; want 200 and no doubt", resp.StatusCode, oauth.StaleHeader, resp.Header.Get(oauth.StaleHeader))
			}
			s.Shutdown()
			s.WaitForShutdown()
			clk.Advance(bound + time.Nanosecond)
			resp := e.ask(t, "GET", tok, "")
			switch {
			case policy == agent.FailClosed && (resp.StatusCode != 401 || resp.Header.Get("X-Auth-Reason") != "stale"):
				t.Errorf("stale, failing closed: status %d reason %q, want 401 stale", resp.StatusCode, resp.Header.Get("X-Auth-Reason"))
			case policy == agent.FailOpen && (resp.StatusCode != 200 || resp.Header.Get(oauth.StaleHeader) != "stale"):
				t.Errorf("stale, failing open: status %d, %s %q; want 200 and \"stale\"", resp.StatusCode, oauth.StaleHeader, resp.Header.Get(oauth.StaleHeader))
			}
		})
	}
}

// TestForwardAuthSeq: a request that carries Jwtrevoke-Seq is answered
// only once the agent has applied that sequence: the client's own logout
// is refused, never passed; one the agent cannot reach in time is stale,
// a bad value malformed.
func TestForwardAuthSeq(t *testing.T) {
	e := newEnv(t, gateway.WithSeqWait(20*time.Millisecond))
	tok := testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("seq-1", "alice", "s-1", time.Now().Add(-time.Minute)), "")
	with := func(seq string) http.Header {
		h := bearer(tok)
		h.Set("Jwtrevoke-Seq", seq)
		return h
	}
	if resp := e.ask(t, "GET", with(strconv.FormatUint(max(e.a.LastApplied(), 1), 10)), ""); e.a.LastApplied() > 0 && resp.StatusCode != 200 {
		t.Errorf("a sequence already applied: %d, want 200", resp.StatusCode)
	}
	rc, err := e.pub.RevokeJTI(context.Background(), "seq-1", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if resp := e.ask(t, "GET", with(strconv.FormatUint(rc.Seq, 10)), ""); resp.StatusCode != 401 || resp.Header.Get("X-Auth-Reason") != "revoked" {
		t.Errorf("with the logout's sequence: %d %q, want 401 revoked", resp.StatusCode, resp.Header.Get("X-Auth-Reason"))
	}
	other := bearer(testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("seq-2", "bob", "s-2", time.Now()), ""))
	for seq, reason := range map[string]string{strconv.FormatUint(rc.Seq+1000, 10): "stale", "abc": "malformed", "0": "malformed"} {
		h := other.Clone()
		h.Set("Jwtrevoke-Seq", seq)
		if resp := e.ask(t, "GET", h, ""); resp.StatusCode != 401 || resp.Header.Get("X-Auth-Reason") != reason {
			t.Errorf("Jwtrevoke-Seq %s: %d %q, want 401 %s", seq, resp.StatusCode, resp.Header.Get("X-Auth-Reason"), reason)
		}
	}
	if resp := e.ask(t, "GET", other, ""); resp.StatusCode != 200 {
		t.Errorf("without the header: %d, want 200", resp.StatusCode)
	}
}
