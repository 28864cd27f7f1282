package oauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/oauth"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

var (
	rfcKey   = []byte("rfc7009-test-key-0123456789abcdef")
	otherKey = []byte("some-other-issuer-key-0123456789a")
)

// liveClaims are the claims of a token issued a minute ago, valid for ten
// more minutes.
func liveClaims(jti, sub string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"jti": jti, "sub": sub, "sid": "sess-" + jti, "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix()}
}

// rfcVerifier verifies tokens signed with rfcKey.
func rfcVerifier(t testing.TB) *verify.Verifier {
	t.Helper()
	v, err := verify.New(keyset.Keyfunc(func(*jwt.Token) (any, error) { return rfcKey, nil }), []string{"HS256"})
	if err != nil {
		t.Fatalf("verify.New() error = %v", err)
	}
	return v
}

type rfcEnv struct {
	h   *oauth.RevocationHandler
	nc  *nats.Conn
	pub *publisher.Publisher
	a   *agent.Agent
	srv *httptest.Server
	url string
}

func newRFCEnv(t *testing.T, opts ...oauth.Option) *rfcEnv {
	t.Helper()
	s := testkit.NATS(t, "")
	e := &rfcEnv{nc: testkit.Connect(t, s.ClientURL())}
	e.pub = testkit.NewPublisher(t, e.nc)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	a, err := agent.New(ctx, testkit.Connect(t, s.ClientURL()), agent.WithMaxTokenLifetime(testkit.TokenLifetime), testkit.StillClock())
	if err != nil {
		t.Fatalf("agent.New() error = %v", err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	e.a = a
	h, err := oauth.NewRevocationHandler(e.pub, rfcVerifier(t), opts...)
	if err != nil {
		t.Fatalf("NewRevocationHandler() error = %v", err)
	}
	e.h = h
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	e.url = e.srv.URL + "/revoke"
	return e
}

// request is one call of the endpoint.
type request struct {
	method      string // default POST
	contentType string // default form
	body        string // raw body; default form.Encode()
	form        url.Values
	basic       []string // client id and secret, form-urlencoded into Basic
	header      map[string]string
}

type response struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

func do(t testing.TB, target string, rq request) response {
	t.Helper()
	method := rq.method
	if method == "" {
		method = http.MethodPost
	}
	body := rq.body
	if body == "" && rq.form != nil {
		body = rq.form.Encode()
	}
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ct := rq.contentType
	if ct == "" {
		ct = "application/x-www-form-urlencoded"
	}
	req.Header.Set("Content-Type", ct)
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
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if len(b) > 0 {
		_ = json.Unmarshal(b, &r.json)
	}
	return r
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// streamMsgs returns how many events the revocation stream holds.
func (e *rfcEnv) streamMsgs(t testing.TB) uint64 {
	t.Helper()
	info, err := testkit.JetStream(t, e.nc).Stream(context.Background(), jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	return info.CachedInfo().State.Msgs
}

func TestRevocationEndpointAnswers(t *testing.T) {
	const id, secret = "my app", "s3cr:t/+=&%"
	e := newRFCEnv(t, oauth.WithClientCredentials(id, secret), oauth.WithClientCredentials("other", "other-secret"))
	good := []string{id, secret}
	now := time.Now()
	expired := jwt.MapClaims{"jti": "expired-1", "sub": "alice", "iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-10 * time.Minute).Unix()}

	tests := []struct {
		name       string
		rq         request
		wantStatus int
		wantError  string // RFC 6749 error code; "" for an empty 200
		revokes    string // jti that must be revoked afterwards
	}{
		{"good token", request{form: form("token", testkit.SignHS256(t, rfcKey, liveClaims("good-1", "alice"), "")), basic: good}, 200, "", "good-1"},
		{"good token, access hint", request{form: form("token", testkit.SignHS256(t, rfcKey, liveClaims("good-2", "alice"), ""), "token_type_hint", "access_token"), basic: good}, 200, "", "good-2"},
		{"good token, refresh hint", request{form: form("token", testkit.SignHS256(t, rfcKey, liveClaims("good-3", "alice"), ""), "token_type_hint", "refresh_token"), basic: good}, 200, "", "good-3"},
		{"credentials in the body", request{form: form("token", testkit.SignHS256(t, rfcKey, liveClaims("good-4", "bob"), ""), "client_id", "other", "client_secret", "other-secret")}, 200, "", "good-4"},
		{"malformed token", request{form: form("token", "not-a-jwt"), basic: good}, 200, "", ""},
		{"three parts, not a JWT", request{form: form("token", "a.b.c"), basic: good}, 200, "", ""},
		{"signed by an unknown key", request{form: form("token", testkit.SignHS256(t, otherKey, liveClaims("unknown-1", "alice"), "")), basic: good}, 200, "", ""},
		{"expired token", request{form: form("token", testkit.SignHS256(t, rfcKey, expired, "")), basic: good}, 200, "", ""},
		{"bad client secret", request{form: form("token", testkit.SignHS256(t, rfcKey, liveClaims("bad-1", "alice"), "")), basic: []string{id, "wrong"}}, 401, "invalid_client", ""},
		{"unknown client", request{form: form("token", "x"), basic: []string{"nobody", secret}}, 401, "invalid_client", ""},
		{"no client authentication", request{form: form("token", testkit.SignHS256(t, rfcKey, liveClaims("bad-2", "alice"), ""))}, 401, "invalid_client", ""},
		{"bearer is not client authentication", request{form: form("token", "x"), header: map[string]string{"Authorization": "Bearer x"}}, 401, "invalid_client", ""},
		{"bad body secret", request{form: form("token", "x", "client_id", "other", "client_secret", "nope")}, 401, "invalid_client", ""},
		{"two authentication methods", request{form: form("token", "x", "client_id", "other", "client_secret", "other-secret"), basic: good}, 400, "invalid_request", ""},
		{"missing token", request{form: form("token_type_hint", "access_token"), basic: good}, 400, "invalid_request", ""},
		{"empty token", request{form: form("token", ""), basic: good}, 400, "invalid_request", ""},
		{"token given twice", request{form: form("token", "a", "token", "b"), basic: good}, 400, "invalid_request", ""},
		{"unknown hint, ignored", request{form: form("token", testkit.SignHS256(t, rfcKey, liveClaims("good-5", "alice"), ""), "token_type_hint", "id_token"), basic: good}, 200, "", "good-5"},
		{"unknown hint, not a token", request{form: form("token", "x", "token_type_hint", "no-such-type"), basic: good}, 200, "", ""},
		{"GET", request{method: http.MethodGet, basic: good}, 405, "invalid_request", ""},
		{"OPTIONS without CORS", request{method: http.MethodOptions, basic: good}, 405, "invalid_request", ""},
		{"JSON body", request{contentType: "application/json", body: `{"token":"x"}`, basic: good}, 415, "invalid_request", ""},
		{"oversized body", request{body: "token=" + strings.Repeat("a", oauth.MaxRequestSize), basic: good}, 413, "invalid_request", ""},
		{"bad form encoding", request{body: "token=%zz", basic: good}, 400, "invalid_request", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.streamMsgs(t)
			got := do(t, e.url, tt.rq)
			if got.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", got.status, tt.wantStatus, got.body)
			}
			if cc := got.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if tt.wantError == "" {
				if got.body != "" {
					t.Errorf("body = %q, want empty", got.body)
				}
			} else {
				if got.json["error"] != tt.wantError {
					t.Errorf("error = %v, want %q (body %q)", got.json["error"], tt.wantError, got.body)
				}
				if ct := got.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
			}
			if tt.wantStatus == 401 {
				if wa := got.header.Get("WWW-Authenticate"); wa != `Basic realm="jwtrevoke"` {
					t.Errorf("WWW-Authenticate = %q, want Basic realm", wa)
				}
			}
			if tt.wantStatus == 405 {
				if allow := got.header.Get("Allow"); allow != "POST" {
					t.Errorf("Allow = %q, want POST", allow)
				}
			}
			after := e.streamMsgs(t)
			if tt.revokes == "" {
				if after != before {
					t.Errorf("stream holds %d events after, %d before: want nothing revoked", after, before)
				}
				return
			}
			tok := jwtrevoke.Token{JTI: tt.revokes, IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(10 * time.Minute)}
			testkit.Eventually(t, "agent refuses "+tt.revokes, func() bool { return e.a.Check(&tok).Verdict == filter.Revoked })
			// Only the token: its session and subject are untouched.
			sibling := jwtrevoke.Token{JTI: tt.revokes + "-sibling", Subject: "alice", Session: "sess-" + tt.revokes, IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(10 * time.Minute)}
			if r := e.a.Check(&sibling); !r.Allowed {
				t.Errorf("Check(token of the same session) = %+v, want allowed", r)
			}
		})
	}
}

func TestRevocationEndpointRecordsActor(t *testing.T) {
	s := testkit.NATS(t, "")
	nc := testkit.Connect(t, s.ClientURL())
	p := testkit.NewPublisher(t, nc)
	h, err := oauth.NewRevocationHandler(p, rfcVerifier(t), oauth.WithClientCredentials("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	got := do(t, srv.URL, request{form: form("token", testkit.SignHS256(t, rfcKey, liveClaims("actor-1", "alice"), "")), basic: []string{"app", "app-secret"}})
	if got.status != 200 {
		t.Fatalf("status = %d, want 200 (body %q)", got.status, got.body)
	}
	st, err := testkit.JetStream(t, nc).Stream(context.Background(), jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(context.Background(), jwtrevoke.Subject("", jwtrevoke.KindToken, "actor-1"))
	if err != nil {
		t.Fatalf("GetLastMsgForSubject() error = %v", err)
	}
	r, err := (&jwtrevoke.Decoder{MaxLifetime: 2 * testkit.TokenLifetime}).Decode(m.Data, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r.Reason != "rfc7009" || r.Actor != "client:app" {
		t.Errorf("event reason, actor = %q, %q, want rfc7009, client:app", r.Reason, r.Actor)
	}
}

func TestRevocationEndpointCORS(t *testing.T) {
	const origin = "https://app.example.com"
	e := newRFCEnv(t, oauth.WithPublicClient(origin), oauth.WithClientCredentials("backend", "backend-secret"))
	tests := []struct {
		name       string
		rq         request
		wantStatus int
		wantACAO   string
	}{
		{"preflight, allowed origin", request{method: http.MethodOptions, header: map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST"}}, 204, origin},
		{"preflight, other origin", request{method: http.MethodOptions, header: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}}, 403, ""},
		{"preflight, other method", request{method: http.MethodOptions, header: map[string]string{"Origin": origin, "Access-Control-Request-Method": "DELETE"}}, 403, origin},
		{"public POST from the app", request{form: form("token", testkit.SignHS256(t, rfcKey, liveClaims("cors-1", "alice"), ""), "client_id", "spa"), header: map[string]string{"Origin": origin}}, 200, origin},
		{"public POST from another origin", request{form: form("token", "x"), header: map[string]string{"Origin": "https://evil.example"}}, 200, ""},
		{"public client with a bad secret", request{form: form("token", "x"), basic: []string{"backend", "wrong"}, header: map[string]string{"Origin": origin}}, 401, origin},
		{"confidential client", request{form: form("token", "x"), basic: []string{"backend", "backend-secret"}}, 200, ""},
		{"GET", request{method: http.MethodGet, header: map[string]string{"Origin": origin}}, 405, origin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, e.url, tt.rq)
			if got.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", got.status, tt.wantStatus, got.body)
			}
			if acao := got.header.Get("Access-Control-Allow-Origin"); acao != tt.wantACAO {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", acao, tt.wantACAO)
			}
			if vary := got.header.Values("Vary"); len(vary) == 0 || vary[0] != "Origin" {
				t.Errorf("Vary = %q, want Origin", vary)
			}
			if tt.wantStatus == 204 {
				if m := got.header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
					t.Errorf("Access-Control-Allow-Methods = %q, want POST", m)
				}
			}
			if tt.wantStatus == 405 {
				if allow := got.header.Get("Allow"); allow != "POST, OPTIONS" {
					t.Errorf("Allow = %q, want POST, OPTIONS", allow)
				}
			}
		})
	}
	tok := jwtrevoke.Token{JTI: "cors-1", ExpiresAt: time.Now().Add(10 * time.Minute)}
	testkit.Eventually(t, "agent refuses cors-1", func() bool { return e.a.Check(&tok).Verdict == filter.Revoked })
}

// refreshStore is an issuer's refresh token store.
type refreshStore struct {
	mu      sync.Mutex
	live    map[string]bool
	revoked []string
	err     error
}

func (s *refreshStore) revoke(_ context.Context, tok string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false, s.err
	}
	if !s.live[tok] {
		return false, nil
	}
	delete(s.live, tok)
	s.revoked = append(s.revoked, tok)
	return true, nil
}

func TestRevocationEndpointRefreshTokens(t *testing.T) {
	store := &refreshStore{live: map[string]bool{"rt-1": true, "rt-2": true}}
	e := newRFCEnv(t, oauth.WithClientCredentials("app", "pw"), oauth.WithRefreshTokens(store.revoke))
	auth := []string{"app", "pw"}
	for step, tt := range []struct {
		form        url.Values
		wantStatus  int
		wantRevoked int
	}{
		{form("token", "rt-1", "token_type_hint", "refresh_token"), 200, 1},
		{form("token", "rt-2"), 200, 2}, // no hint: not a JWT, so tried as a refresh token
		{form("token", "rt-2"), 200, 2}, // already revoked: still 200
		{form("token", "rt-unknown", "token_type_hint", "refresh_token"), 200, 2},
		{form("token", testkit.SignHS256(t, rfcKey, liveClaims("at-1", "alice"), ""), "token_type_hint", "refresh_token"), 200, 2}, // a wrong hint is only a hint
	} {
		got := do(t, e.url, request{form: tt.form, basic: auth})
		store.mu.Lock()
		n := len(store.revoked)
		store.mu.Unlock()
		if got.status != tt.wantStatus || n != tt.wantRevoked {
			t.Errorf("step %d: status, refresh tokens revoked = %d, %d, want %d, %d (body %q)", step, got.status, n, tt.wantStatus, tt.wantRevoked, got.body)
		}
	}
	tok := jwtrevoke.Token{JTI: "at-1", ExpiresAt: time.Now().Add(10 * time.Minute)}
	testkit.Eventually(t, "agent refuses at-1", func() bool { return e.a.Check(&tok).Verdict == filter.Revoked })

	store.mu.Lock()
	store.err = errors.New("database down")
	store.mu.Unlock()
	got := do(t, e.url, request{form: form("token", "rt-3", "token_type_hint", "refresh_token"), basic: auth})
	if got.status != 503 || got.header.Get("Retry-After") == "" {
		t.Errorf("store error: status %d, Retry-After %q, want 503 and a Retry-After", got.status, got.header.Get("Retry-After"))
	}
}

// TestRevocationEndpointUnavailable: with the server down, a good token is
// answered 503 once the publisher gives up or the request timeout ends,
// whichever comes first. Each case makes the other bound far longer than
// the client waits (testkit.Patience, in do), so the answer can only come from the
// bound under test, which is at most a second, a sixtieth of testkit.Patience. No
// duration is asserted.
func TestRevocationEndpointUnavailable(t *testing.T) {
	s := testkit.NATS(t, "")
	nc := testkit.Connect(t, s.ClientURL())
	cases := []struct {
		name    string
		retry   publisher.Option
		timeout time.Duration
	}{
		// 2 attempts of 100 ms: the publisher gives up after about 200 ms.
		{"publisher gives up", publisher.WithRetry(2, 100*time.Millisecond), time.Hour},
		// Retries for 1000 s, the request timeout ends them after 1 s.
		{"request timeout", publisher.WithRetry(10000, 100*time.Millisecond), time.Second},
	}
	var handlers []http.Handler
	for _, c := range cases {
		h, err := oauth.NewRevocationHandler(testkit.NewPublisher(t, nc, c.retry), rfcVerifier(t),
			oauth.WithClientCredentials("app", "pw"), oauth.WithRequestTimeout(c.timeout))
		if err != nil {
			t.Fatal(err)
		}
		handlers = append(handlers, h)
	}
	s.Shutdown()
	s.WaitForShutdown()

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(handlers[i])
			defer srv.Close()
			start := time.Now()
			good := do(t, srv.URL, request{form: form("token", testkit.SignHS256(t, rfcKey, liveClaims("down-"+fmt.Sprint(i), "alice"), "")), basic: []string{"app", "pw"}})
			t.Logf("answered in %v", time.Since(start))
			if good.status != 503 || good.json["error"] != "temporarily_unavailable" || good.header.Get("Retry-After") == "" {
				t.Errorf("publish failure: status %d, body %q, Retry-After %q; want 503 temporarily_unavailable with Retry-After", good.status, good.body, good.header.Get("Retry-After"))
			}
			// Nothing to store for an invalid token: still 200.
			if bad := do(t, srv.URL, request{form: form("token", "garbage"), basic: []string{"app", "pw"}}); bad.status != 200 {
				t.Errorf("invalid token with the server down: status %d, want 200", bad.status)
			}
		})
	}
}

func TestNewRevocationHandlerRefusesBadOptions(t *testing.T) {
	p := testkit.NewPublisher(t, testkit.Connect(t, testkit.NATS(t, "").ClientURL()))
	verify := rfcVerifier(t)
	tests := []struct {
		name string
		p    *publisher.Publisher
		v    oauth.Verifier
		opts []oauth.Option
		want error
	}{
		{"no publisher", nil, verify, []oauth.Option{oauth.WithPublicClient()}, oauth.ErrBadOption},
		{"no verify", p, nil, []oauth.Option{oauth.WithPublicClient()}, oauth.ErrBadOption},
		{"nobody may call it", p, verify, nil, oauth.ErrNoClientAuth},
		{"empty secret", p, verify, []oauth.Option{oauth.WithClientCredentials("app", "")}, oauth.ErrBadOption},
		{"empty id", p, verify, []oauth.Option{oauth.WithClientCredentials("", "pw")}, oauth.ErrBadOption},
		{"client twice", p, verify, []oauth.Option{oauth.WithClientCredentials("app", "a"), oauth.WithClientCredentials("app", "b")}, oauth.ErrBadOption},
		{"origin with a path", p, verify, []oauth.Option{oauth.WithPublicClient("https://app.example/login")}, oauth.ErrBadOption},
		{"origin without scheme", p, verify, []oauth.Option{oauth.WithPublicClient("app.example")}, oauth.ErrBadOption},
		{"nil refresh revoker", p, verify, []oauth.Option{oauth.WithPublicClient(), oauth.WithRefreshTokens(nil)}, oauth.ErrBadOption},
		{"zero timeout", p, verify, []oauth.Option{oauth.WithPublicClient(), oauth.WithRequestTimeout(0)}, oauth.ErrBadOption},
	}
	for _, tt := range tests {
		if _, err := oauth.NewRevocationHandler(tt.p, tt.v, tt.opts...); !errors.Is(err, tt.want) {
			t.Errorf("%s: NewRevocationHandler() error = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestRevocationCollector: the handler counts its requests by outcome in
// a collector of its own, beside the publisher's.
func TestRevocationCollector(t *testing.T) {
	e := newRFCEnv(t, oauth.WithClientCredentials("app", "pw"))
	c := e.h.Collector()
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("CollectAndLint() = %v, %v; want no problems", problems, err)
	}
	do(t, e.url, request{form: form("token", testkit.SignHS256(t, rfcKey, liveClaims("m-1", "alice"), "")), basic: []string{"app", "pw"}})
	do(t, e.url, request{form: form("token", "x"), basic: []string{"app", "no"}})
	do(t, e.url, request{form: form("token", "not-a-jwt"), basic: []string{"app", "pw"}})

	mfs := testkit.Gather(t, c)
	for _, tt := range []struct {
		outcome string
		want    float64
	}{{"revoked", 1}, {"invalid_client", 1}, {"not_revoked", 1}, {"unavailable", 0}, {"refresh_revoked", 0}, {"invalid_request", 0}} {
		if got, ok := testkit.MetricValue(mfs, "jwtrevoke_revocation_requests_total", "outcome", tt.outcome); !ok || got != tt.want {
			t.Errorf("revocation_requests_total{outcome=%q} = %v (found %v), want %v", tt.outcome, got, ok, tt.want)
		}
	}
	if n := testutil.CollectAndCount(c); n != 6 {
		t.Errorf("CollectAndCount() = %d, want 6 outcomes", n)
	}
	if got, ok := testkit.MetricValue(testkit.Gather(t, e.pub.Collector()), "jwtrevoke_revocations_published_total", "kind", "jti"); !ok || got != 1 {
		t.Errorf("publisher's revocations_published_total{kind=jti} = %v (found %v), want 1", got, ok)
	}
}
