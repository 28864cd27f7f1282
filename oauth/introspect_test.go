package oauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/oauth"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

type introEnv struct {
	pub *publisher.Publisher
	a   *agent.Agent
	h   *oauth.IntrospectionHandler
	url string
}

func newIntroEnv(t *testing.T, agentOpts []agent.Option, opts ...oauth.Option) *introEnv {
	t.Helper()
	s := testkit.NATS(t, "")
	e := &introEnv{pub: testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))}
	e.a = testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), append([]agent.Option{testkit.StillClock()}, agentOpts...)...)
	v, err := verify.New(testkit.HMACKeys(), []string{"HS256"}, verify.WithIssuer("https://id.example"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := oauth.NewIntrospectionHandler(e.a, v, opts...)
	if err != nil {
		t.Fatalf("NewIntrospectionHandler() error = %v", err)
	}
	e.h = h
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.url = srv.URL + "/introspect"
	return e
}

type introReq struct {
	method string
	ct     string
	body   string
	basic  []string
	header map[string]string
}

func introspect(t testing.TB, target string, rq introReq) (int, http.Header, string) {
	t.Helper()
	if rq.method == "" {
		rq.method = http.MethodPost
	}
	if rq.ct == "" {
		rq.ct = "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequest(rq.method, target, strings.NewReader(rq.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", rq.ct)
	if rq.basic != nil {
		cred := url.QueryEscape(rq.basic[0]) + ":" + url.QueryEscape(rq.basic[1])
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, strings.TrimSpace(string(b))
}

func tokenForm(tok string) string { return url.Values{"token": {tok}}.Encode() }

func TestIntrospectionAnswers(t *testing.T) {
	e := newIntroEnv(t, nil, oauth.WithClientCredentials("rs", "rs-secret"))
	auth := []string{"rs", "rs-secret"}
	now := time.Now()
	full := jwt.MapClaims{
		"jti": "full-1", "sub": "alice", "sid": "sess-1", "iss": "https://id.example", "aud": "api",
		"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"scope": "read write", "client_id": "web", "preferred_username": "Alice",
	}
	scp := jwt.MapClaims{"jti": "scp-1", "sub": "bob", "iss": "https://id.example", "aud": []string{"api", "admin"},
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "scp": []string{"a", "b"}, "azp": "cli"}
	noIss := jwt.MapClaims{"jti": "x-1", "sub": "alice", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	expired := jwt.MapClaims{"jti": "old-1", "sub": "alice", "iss": "https://id.example", "iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-10 * time.Minute).Unix()}
	noJTI := jwt.MapClaims{"sub": "alice", "iss": "https://id.example", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	inactive := `{"active":false}`
	otherSigned, err := jwt.NewWithClaims(jwt.SigningMethodHS256, full).SignedString([]byte("another-key-0123456789abcdef-0123"))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		rq         introReq
		wantStatus int
		want       any // *oauth.Introspection, or a string: the exact body, or "error:<code>"
	}{
		{"active with every claim", introReq{body: tokenForm(testkit.SignHS256(t, testkit.HMACKey, full, "")), basic: auth}, 200, &oauth.Introspection{
			Active: true, Scope: "read write", ClientID: "web", Username: "Alice", TokenType: "Bearer",
			Exp: now.Add(5 * time.Minute).Unix(), Iat: now.Add(-time.Minute).Unix(), Nbf: now.Add(-time.Minute).Unix(),
			Sub: "alice", Aud: "api", Iss: "https://id.example", Jti: "full-1", Sid: "sess-1"}},
		{"scp list and azp", introReq{body: tokenForm(testkit.SignHS256(t, testkit.HMACKey, scp, "")), basic: auth}, 200, &oauth.Introspection{
			Active: true, Scope: "a b", ClientID: "cli", TokenType: "Bearer", Exp: now.Add(5 * time.Minute).Unix(), Iat: now.Unix(),
			Sub: "bob", Aud: []any{"api", "admin"}, Iss: "https://id.example", Jti: "scp-1"}},
		{"credentials in the body", introReq{body: tokenForm(testkit.SignHS256(t, testkit.HMACKey, full, "")) + "&client_id=rs&client_secret=rs-secret"}, 200, "active"},
		{"hint ignored", introReq{body: tokenForm(testkit.SignHS256(t, testkit.HMACKey, full, "")) + "&token_type_hint=refresh_token", basic: auth}, 200, "active"},
		{"wrong issuer", introReq{body: tokenForm(testkit.SignHS256(t, testkit.HMACKey, noIss, "")), basic: auth}, 200, inactive},
		{"expired", introReq{body: tokenForm(testkit.SignHS256(t, testkit.HMACKey, expired, "")), basic: auth}, 200, inactive},
		{"malformed", introReq{body: tokenForm("not-a-jwt"), basic: auth}, 200, inactive},
		{"bad signature", introReq{body: tokenForm(otherSigned), basic: auth}, 200, inactive},
		{"no jti", introReq{body: tokenForm(testkit.SignHS256(t, testkit.HMACKey, noJTI, "")), basic: auth}, 200, inactive},
		{"bad client secret", introReq{body: tokenForm(testkit.SignHS256(t, testkit.HMACKey, full, "")), basic: []string{"rs", "nope"}}, 401, "error:invalid_client"},
		{"no client authentication", introReq{body: tokenForm(testkit.SignHS256(t, testkit.HMACKey, full, ""))}, 401, "error:invalid_client"},
		{"two authentication methods", introReq{body: tokenForm("x") + "&client_id=rs&client_secret=rs-secret", basic: auth}, 400, "error:invalid_request"},
		{"missing token", introReq{body: "token_type_hint=access_token", basic: auth}, 400, "error:invalid_request"},
		{"token twice", introReq{body: "token=a&token=b", basic: auth}, 400, "error:invalid_request"},
		{"GET", introReq{method: http.MethodGet, basic: auth}, 405, "error:invalid_request"},
		{"JSON body", introReq{ct: "application/json", body: `{"token":"x"}`, basic: auth}, 415, "error:invalid_request"},
		{"oversized body", introReq{body: "token=" + strings.Repeat("a", oauth.MaxRequestSize), basic: auth}, 413, "error:invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := introspect(t, e.url, tt.rq)
			if status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", status, tt.wantStatus, body)
			}
			if cc := hdr.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if status == 401 && hdr.Get("WWW-Authenticate") != `Basic realm="jwtrevoke"` {
				t.Errorf("WWW-Authenticate = %q, want Basic realm", hdr.Get("WWW-Authenticate"))
			}
			switch want := tt.want.(type) {
			case *oauth.Introspection:
				var got oauth.Introspection
				if err := json.Unmarshal([]byte(body), &got); err != nil {
					t.Fatalf("body %s: %v", body, err)
				}
				if !reflect.DeepEqual(&got, want) {
					t.Errorf("body = %+v, want %+v", got, *want)
				}
			case string:
				switch {
				case want == "active":
					if !strings.HasPrefix(body, `{"active":true`) {
						t.Errorf("body = %s, want active", body)
					}
				case strings.HasPrefix(want, "error:"):
					var got map[string]any
					_ = json.Unmarshal([]byte(body), &got)
					if got["error"] != strings.TrimPrefix(want, "error:") {
						t.Errorf("body = %s, want error %s", body, want)
					}
				case body != want:
					t.Errorf("body = %s, want %s", body, want)
				}
			}
		})
	}
}

func TestIntrospectionAfterRevocation(t *testing.T) {
	e := newIntroEnv(t, nil, oauth.WithClientCredentials("rs", "rs-secret"))
	auth := []string{"rs", "rs-secret"}
	now := time.Now()
	mk := func(jti, sub string) string {
		return testkit.SignHS256(t, testkit.HMACKey, jwt.MapClaims{"jti": jti, "sub": sub, "iss": "https://id.example", "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix()}, "")
	}
	tok, sibling, bobs := mk("r-1", "alice"), mk("r-2", "alice"), mk("r-3", "bob")
	active := func(raw string) bool {
		status, _, body := introspect(t, e.url, introReq{body: tokenForm(raw), basic: auth})
		if status != 200 {
			t.Fatalf("status = %d, want 200 (body %s)", status, body)
		}
		return strings.HasPrefix(body, `{"active":true`)
	}
	for i, raw := range []string{tok, sibling, bobs} {
		if !active(raw) {
			t.Fatalf("token %d inactive before any revocation", i)
		}
	}
	ctx := context.Background()
	// Wait for the agent to apply each event, not for an inactive answer:
	// a stale agent answers inactive too.
	rc, err := e.pub.RevokeJTI(ctx, "r-1", now.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitApplied(t, e.a, rc.Seq)
	if active(tok) {
		t.Errorf("r-1 active after its revocation was applied")
	}
	if !active(sibling) {
		t.Errorf("r-2 inactive after revoking only r-1")
	}
	if rc, err = e.pub.RevokeSubject(ctx, "alice", time.Time{}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitApplied(t, e.a, rc.Seq)
	if active(sibling) {
		t.Errorf("alice's r-2 active after her subject was revoked")
	}
	if !active(bobs) {
		t.Errorf("bob's token inactive after revoking alice")
	}
}

// TestIntrospectionStale: a server that goes away. After the staleness
// bound the agent can no longer vouch for any token: under FailClosed it
// says inactive; under FailOpen it still says active, and says that the
// answer came from a stale agent (the "stale" member and the
// Jwtrevoke-Stale header, as Result.Stale does in Go). A fresh answer
// carries neither. The agent's clock moves only when the test moves it,
// so it is fresh until then however slowly its probes are answered, and
// stale after, since a server that is down answers none.
func TestIntrospectionStale(t *testing.T) {
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
			h, err := oauth.NewIntrospectionHandler(a, v, oauth.WithPublicClient())
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			raw := testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("stale-1", "alice", "s", time.Now()), "")
			if _, hdr, body := introspect(t, srv.URL, introReq{body: tokenForm(raw)}); !strings.HasPrefix(body, `{"active":true`) || strings.Contains(body, `"stale"`) || hdr.Get(oauth.StaleHeader) != "" {
				t.Fatalf("fresh agent: body %s, %s %q; want active, not marked stale", body, oauth.StaleHeader, hdr.Get(oauth.StaleHeader))
			}
			s.Shutdown()
			s.WaitForShutdown()
			clk.Advance(bound + time.Nanosecond)
			open := policy == agent.FailOpen
			if r := a.Check(&jwtrevoke.Token{JTI: "stale-1"}); !r.Stale || r.Allowed != open {
				t.Fatalf("Check() past the bound with the server down = %+v, want stale, allowed %v", r, open)
			}
			_, hdr, body := introspect(t, srv.URL, introReq{body: tokenForm(raw)})
			switch {
			case !open && body != `{"active":false}`:
				t.Errorf("stale agent failing closed: body = %s, want {\"active\":false}", body)
			case open && (!strings.HasPrefix(body, `{"active":true`) || !strings.Contains(body, `"stale":true`) || hdr.Get(oauth.StaleHeader) != "stale"):
				t.Errorf("stale agent failing open: body %s, %s %q; want active with \"stale\":true and the header \"stale\"", body, oauth.StaleHeader, hdr.Get(oauth.StaleHeader))
			}
		})
	}
}

func TestIntrospectionCORS(t *testing.T) {
	const origin = "https://app.example.com"
	e := newIntroEnv(t, nil, oauth.WithPublicClient(origin))
	raw := testkit.SignHS256(t, testkit.HMACKey, jwt.MapClaims{"jti": "c-1", "iss": "https://id.example", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()}, "")
	for _, tt := range []struct {
		name       string
		rq         introReq
		wantStatus int
		wantACAO   string
	}{
		{"preflight", introReq{method: http.MethodOptions, header: map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST"}}, 204, origin},
		{"preflight, other origin", introReq{method: http.MethodOptions, header: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}}, 403, ""},
		{"POST from the app", introReq{body: tokenForm(raw), header: map[string]string{"Origin": origin}}, 200, origin},
		{"POST without origin", introReq{body: tokenForm(raw)}, 200, ""},
		{"credentials on a public-only endpoint", introReq{body: tokenForm(raw), basic: []string{"rs", "x"}}, 401, ""},
	} {
		status, hdr, body := introspect(t, e.url, tt.rq)
		if status != tt.wantStatus || hdr.Get("Access-Control-Allow-Origin") != tt.wantACAO {
			t.Errorf("%s: status %d, Access-Control-Allow-Origin %q; want %d, %q (body %s)",
				tt.name, status, hdr.Get("Access-Control-Allow-Origin"), tt.wantStatus, tt.wantACAO, body)
		}
	}
}

func TestNewIntrospectionHandlerRefusesBadOptions(t *testing.T) {
	s := testkit.NATS(t, "")
	testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))
	a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()))
	v, err := verify.New(testkit.HMACKeys(), []string{"HS256"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		a    *agent.Agent
		v    *verify.Verifier
		opts []oauth.Option
		want error
	}{
		{"no agent", nil, v, []oauth.Option{oauth.WithPublicClient()}, oauth.ErrBadOption},
		{"no verifier", a, nil, []oauth.Option{oauth.WithPublicClient()}, oauth.ErrBadOption},
		{"nobody may call it", a, v, nil, oauth.ErrNoClientAuth},
		{"empty secret", a, v, []oauth.Option{oauth.WithClientCredentials("rs", "")}, oauth.ErrBadOption},
		{"client twice", a, v, []oauth.Option{oauth.WithClientCredentials("rs", "a"), oauth.WithClientCredentials("rs", "b")}, oauth.ErrBadOption},
		{"bad origin", a, v, []oauth.Option{oauth.WithPublicClient("https://app.example/path")}, oauth.ErrBadOption},
	} {
		if _, err := oauth.NewIntrospectionHandler(tt.a, tt.v, tt.opts...); !errors.Is(err, tt.want) {
			t.Errorf("%s: NewIntrospectionHandler() error = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestIntrospectionCollector: the handler counts its requests by outcome
// in a collector of its own; the checks it makes count in the agent's.
func TestIntrospectionCollector(t *testing.T) {
	e := newIntroEnv(t, nil, oauth.WithClientCredentials("rs", "rs-secret"))
	c := e.h.Collector()
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("CollectAndLint() = %v, %v; want no problems", problems, err)
	}
	good := testkit.SignHS256(t, testkit.HMACKey, jwt.MapClaims{"iss": "https://id.example", "jti": "c-1", "exp": time.Now().Add(time.Minute).Unix()}, "")
	introspect(t, e.url, introReq{body: tokenForm(good), basic: []string{"rs", "rs-secret"}})
	introspect(t, e.url, introReq{body: tokenForm("junk"), basic: []string{"rs", "rs-secret"}})
	introspect(t, e.url, introReq{body: tokenForm("junk")})
	mfs := testkit.Gather(t, c)
	for _, tt := range []struct {
		outcome string
		want    float64
	}{{"active", 1}, {"inactive", 1}, {"invalid_client", 1}, {"invalid_request", 0}} {
		if got, ok := testkit.MetricValue(mfs, "jwtrevoke_introspection_requests_total", "outcome", tt.outcome); !ok || got != tt.want {
			t.Errorf("introspection_requests_total{outcome=%q} = %v (found %v), want %v", tt.outcome, got, ok, tt.want)
		}
	}
	if got, _ := testkit.MetricValue(testkit.Gather(t, e.a.Collector()), "jwtrevoke_checks_total", "outcome", "allowed"); got != 1 {
		t.Errorf("agent's checks_total{outcome=allowed} = %v, want 1 (the active answer)", got)
	}
}

// TestIntrospectionSeq: a request carrying Jwtrevoke-Seq (an API passing
// on its client's, from that client's logout) is answered only once the
// agent has applied that sequence; one the agent has not reached within
// the wait is inactive, as is a bad value.
func TestIntrospectionSeq(t *testing.T) {
	e := newIntroEnv(t, nil, oauth.WithClientCredentials("rs", "rs-secret"))
	now := time.Now()
	raw := testkit.SignHS256(t, testkit.HMACKey, jwt.MapClaims{"jti": "q-1", "sub": "alice", "iss": "https://id.example", "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix()}, "")
	active := func(seq string) bool {
		status, _, body := introspect(t, e.url, introReq{body: tokenForm(raw), basic: []string{"rs", "rs-secret"}, header: map[string]string{jwtrevoke.SeqHeader: seq}})
		if status != 200 {
			t.Fatalf("status = %d (body %s)", status, body)
		}
		return strings.HasPrefix(body, `{"active":true`)
	}
	rc, err := e.pub.RevokeJTI(context.Background(), "other", now.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitApplied(t, e.a, rc.Seq)
	if !active(strconv.FormatUint(rc.Seq, 10)) {
		t.Error("a sequence already applied: inactive, want active")
	}
	for _, seq := range []string{strconv.FormatUint(rc.Seq+1000, 10), "abc", "0"} {
		if active(seq) {
			t.Errorf("Jwtrevoke-Seq %s: active, want inactive", seq)
		}
	}
}
