package agent_test

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
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/natsserver"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

type introEnv struct {
	pub *publisher.Publisher
	a   *agent.Agent
	url string
}

func newIntroEnv(t *testing.T, agentOpts []agent.Option, opts ...agent.IntrospectOption) *introEnv {
	t.Helper()
	s := natsserver.Run(t, "")
	e := &introEnv{pub: newPublisher(t, connect(t, s.ClientURL()))}
	e.a = newAgent(t, connect(t, s.ClientURL()), append([]agent.Option{stillClock()}, agentOpts...)...)
	v, err := agent.NewVerifier(agent.Keyfunc(hmacKeyfunc), []string{"HS256"}, agent.WithIssuer("https://id.example"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := agent.NewIntrospectionHandler(e.a, v, opts...)
	if err != nil {
		t.Fatalf("NewIntrospectionHandler() error = %v", err)
	}
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
	ctx, cancel := context.WithTimeout(context.Background(), patience)
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
	e := newIntroEnv(t, nil, agent.WithClientCredentials("rs", "rs-secret"))
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
		want       any // *agent.Introspection, or a string: the exact body, or "error:<code>"
	}{
		{"active with every claim", introReq{body: tokenForm(hs256(t, full, "")), basic: auth}, 200, &agent.Introspection{
			Active: true, Scope: "read write", ClientID: "web", Username: "Alice", TokenType: "Bearer",
			Exp: now.Add(5 * time.Minute).Unix(), Iat: now.Add(-time.Minute).Unix(), Nbf: now.Add(-time.Minute).Unix(),
			Sub: "alice", Aud: "api", Iss: "https://id.example", Jti: "full-1", Sid: "sess-1"}},
		{"scp list and azp", introReq{body: tokenForm(hs256(t, scp, "")), basic: auth}, 200, &agent.Introspection{
			Active: true, Scope: "a b", ClientID: "cli", TokenType: "Bearer", Exp: now.Add(5 * time.Minute).Unix(), Iat: now.Unix(),
			Sub: "bob", Aud: []any{"api", "admin"}, Iss: "https://id.example", Jti: "scp-1"}},
		{"credentials in the body", introReq{body: tokenForm(hs256(t, full, "")) + "&client_id=rs&client_secret=rs-secret"}, 200, "active"},
		{"hint ignored", introReq{body: tokenForm(hs256(t, full, "")) + "&token_type_hint=refresh_token", basic: auth}, 200, "active"},
		{"wrong issuer", introReq{body: tokenForm(hs256(t, noIss, "")), basic: auth}, 200, inactive},
		{"expired", introReq{body: tokenForm(hs256(t, expired, "")), basic: auth}, 200, inactive},
		{"malformed", introReq{body: tokenForm("not-a-jwt"), basic: auth}, 200, inactive},
		{"bad signature", introReq{body: tokenForm(otherSigned), basic: auth}, 200, inactive},
		{"no jti", introReq{body: tokenForm(hs256(t, noJTI, "")), basic: auth}, 200, inactive},
		{"bad client secret", introReq{body: tokenForm(hs256(t, full, "")), basic: []string{"rs", "nope"}}, 401, "error:invalid_client"},
		{"no client authentication", introReq{body: tokenForm(hs256(t, full, ""))}, 401, "error:invalid_client"},
		{"two authentication methods", introReq{body: tokenForm("x") + "&client_id=rs&client_secret=rs-secret", basic: auth}, 400, "error:invalid_request"},
		{"missing token", introReq{body: "token_type_hint=access_token", basic: auth}, 400, "error:invalid_request"},
		{"token twice", introReq{body: "token=a&token=b", basic: auth}, 400, "error:invalid_request"},
		{"GET", introReq{method: http.MethodGet, basic: auth}, 405, "error:invalid_request"},
		{"JSON body", introReq{ct: "application/json", body: `{"token":"x"}`, basic: auth}, 415, "error:invalid_request"},
		{"oversized body", introReq{body: "token=" + strings.Repeat("a", agent.MaxIntrospectionRequestSize), basic: auth}, 413, "error:invalid_request"},
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
			case *agent.Introspection:
				var got agent.Introspection
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
	e := newIntroEnv(t, nil, agent.WithClientCredentials("rs", "rs-secret"))
	auth := []string{"rs", "rs-secret"}
	now := time.Now()
	mk := func(jti, sub string) string {
		return hs256(t, jwt.MapClaims{"jti": jti, "sub": sub, "iss": "https://id.example", "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix()}, "")
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
	waitApplied(t, e.a, rc.Seq)
	if active(tok) {
		t.Errorf("r-1 active after its revocation was applied")
	}
	if !active(sibling) {
		t.Errorf("r-2 inactive after revoking only r-1")
	}
	if rc, err = e.pub.RevokeSubject(ctx, "alice", time.Time{}); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, e.a, rc.Seq)
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
			s := natsserver.Run(t, "")
			newPublisher(t, connect(t, s.ClientURL())) // creates the stream
			clk := newManualClock()
			a := newAgent(t, connect(t, s.ClientURL()), agent.WithStaleness(bound), agent.WithClock(clk.Now), agent.WithPolicy(policy))
			v, err := agent.NewVerifier(agent.Keyfunc(hmacKeyfunc), []string{"HS256"})
			if err != nil {
				t.Fatal(err)
			}
			h, err := agent.NewIntrospectionHandler(a, v, agent.WithPublicClient())
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			raw := hs256(t, claims("stale-1", "alice", "s", time.Now()), "")
			if _, hdr, body := introspect(t, srv.URL, introReq{body: tokenForm(raw)}); !strings.HasPrefix(body, `{"active":true`) || strings.Contains(body, `"stale"`) || hdr.Get(agent.StaleHeader) != "" {
				t.Fatalf("fresh agent: body %s, %s %q; want active, not marked stale", body, agent.StaleHeader, hdr.Get(agent.StaleHeader))
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
			case open && (!strings.HasPrefix(body, `{"active":true`) || !strings.Contains(body, `"stale":true`) || hdr.Get(agent.StaleHeader) != "stale"):
				t.Errorf("stale agent failing open: body %s, %s %q; want active with \"stale\":true and the header \"stale\"", body, agent.StaleHeader, hdr.Get(agent.StaleHeader))
			}
		})
	}
}

func TestIntrospectionCORS(t *testing.T) {
	const origin = "https://app.example.com"
	e := newIntroEnv(t, nil, agent.WithPublicClient(origin))
	raw := hs256(t, jwt.MapClaims{"jti": "c-1", "iss": "https://id.example", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()}, "")
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
	s := natsserver.Run(t, "")
	newPublisher(t, connect(t, s.ClientURL()))
	a := newAgent(t, connect(t, s.ClientURL()))
	v, err := agent.NewVerifier(agent.Keyfunc(hmacKeyfunc), []string{"HS256"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		a    *agent.Agent
		v    *agent.Verifier
		opts []agent.IntrospectOption
		want error
	}{
		{"no agent", nil, v, []agent.IntrospectOption{agent.WithPublicClient()}, agent.ErrBadOption},
		{"no verifier", a, nil, []agent.IntrospectOption{agent.WithPublicClient()}, agent.ErrBadOption},
		{"nobody may call it", a, v, nil, agent.ErrNoClientAuth},
		{"empty secret", a, v, []agent.IntrospectOption{agent.WithClientCredentials("rs", "")}, agent.ErrBadOption},
		{"client twice", a, v, []agent.IntrospectOption{agent.WithClientCredentials("rs", "a"), agent.WithClientCredentials("rs", "b")}, agent.ErrBadOption},
		{"bad origin", a, v, []agent.IntrospectOption{agent.WithPublicClient("https://app.example/path")}, agent.ErrBadOption},
	} {
		if _, err := agent.NewIntrospectionHandler(tt.a, tt.v, tt.opts...); !errors.Is(err, tt.want) {
			t.Errorf("%s: NewIntrospectionHandler() error = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// gathered registers c in a fresh registry and gathers it.
func gathered(t testing.TB, c prometheus.Collector) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("Register() error = %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather() error = %v", err)
	}
	return mfs
}

// value returns the value of one metric: a counter's or gauge's value, a
// histogram's sample count.
func value(mfs []*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				ok := false
				for _, lp := range m.GetLabel() {
					ok = ok || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !ok {
					continue metrics
				}
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

func TestAgentCollector(t *testing.T) {
	e := newIntroEnv(t, nil, agent.WithClientCredentials("rs", "rs-secret"))
	c := e.a.Collector()
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("CollectAndLint() = %v, %v; want no problems", problems, err)
	}
	ctx := context.Background()
	now := time.Now()
	if _, err := e.pub.RevokeJTI(ctx, "m-1", now.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	rc, err := e.pub.RevokeSubject(ctx, "alice", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, e.a, rc.Seq) // and the one before
	revoked := jwtrevoke.Token{JTI: "m-1", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(5 * time.Minute)}
	allowed := jwtrevoke.Token{JTI: "m-2", Subject: "bob", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(5 * time.Minute)}
	if r := e.a.Check(&revoked); r.Verdict != filter.Revoked {
		t.Fatalf("Check(m-1) = %+v, want revoked", r)
	}
	for range 3 {
		e.a.Check(&allowed)
	}
	introspect(t, e.url, introReq{body: tokenForm("junk"), basic: []string{"rs", "rs-secret"}})
	introspect(t, e.url, introReq{body: tokenForm("junk")})

	mfs := gathered(t, c)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"jwtrevoke_checks_total", []string{"outcome", "revoked"}, 1},
		{"jwtrevoke_checks_total", []string{"outcome", "allowed"}, 3},
		{"jwtrevoke_checks_total", []string{"outcome", "stale"}, 0},
		{"jwtrevoke_events_applied_total", nil, 2},
		{"jwtrevoke_events_rejected_total", []string{"reason", "bad_signature"}, 0},
		{"jwtrevoke_live_entries", []string{"kind", "jti"}, 1},
		{"jwtrevoke_live_entries", []string{"kind", "sub"}, 1},
		{"jwtrevoke_live_entries", []string{"kind", "all"}, 0},
		{"jwtrevoke_ready", nil, 1},
		{"jwtrevoke_last_applied_sequence", nil, float64(rc.Seq)},
		{"jwtrevoke_propagation_lag_seconds", nil, 2},
		{"jwtrevoke_evictions_total", nil, 0},
		{"jwtrevoke_introspection_requests_total", []string{"outcome", "inactive"}, 1},
		{"jwtrevoke_introspection_requests_total", []string{"outcome", "invalid_client"}, 1},
	} {
		if got, ok := value(mfs, tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	for _, name := range []string{"jwtrevoke_filter_bytes", "jwtrevoke_filter_budget_bytes", "jwtrevoke_bloom_false_positive_estimate",
		"jwtrevoke_unknown_settlements_total", "jwtrevoke_settle_errors_total", "jwtrevoke_stale_seconds",
		"jwtrevoke_rewinds_total", "jwtrevoke_probe_errors_total", "jwtrevoke_exact_entries", "jwtrevoke_consumer_errors_total"} {
		if n := testutil.CollectAndCount(c, name); n == 0 {
			t.Errorf("CollectAndCount(%s) = 0, want at least 1", name)
		}
	}
	if b, _ := value(mfs, "jwtrevoke_filter_budget_bytes"); b <= 0 {
		t.Errorf("jwtrevoke_filter_budget_bytes = %v, want > 0", b)
	}
	// Two agents in one registry, told apart by a label.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(prometheus.WrapCollectorWith(prometheus.Labels{"replica": "0"}, e.a.Collector()),
		prometheus.WrapCollectorWith(prometheus.Labels{"replica": "1"}, e.a.Collector()))
	if _, err := reg.Gather(); err != nil {
		t.Errorf("Gather() of two wrapped collectors: %v", err)
	}
}
