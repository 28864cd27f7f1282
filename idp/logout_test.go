package idp_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/idp"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

const (
	issuer   = "https://id.example"
	clientID = "orders-app"
)

// provider is a test OpenID Provider's signing key.
type provider struct {
	key  *rsa.PrivateKey
	keys keyset.Set
}

func newProvider(t *testing.T) *provider {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keyset.NewStatic(keyset.Key{ID: "op-1", Key: &k.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return &provider{key: k, keys: ks}
}

// logoutClaims are a valid logout token's claims, issued at iat.
func logoutClaims(jti, sub, sid string, iat time.Time) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": issuer, "aud": clientID, "iat": iat.Unix(), "exp": iat.Add(2 * time.Minute).Unix(), "jti": jti,
		"events": map[string]any{idp.BackchannelLogoutEvent: map[string]any{}},
	}
	if sub != "" {
		c["sub"] = sub
	}
	if sid != "" {
		c["sid"] = sid
	}
	return c
}

func (p *provider) sign(t *testing.T, c jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = "op-1"
	tok.Header["typ"] = "logout+jwt"
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type logoutEnv struct {
	ns   *server.Server
	pub  *publisher.Publisher
	a    *agent.Agent
	h    *idp.BackchannelLogout
	url  string
	op   *provider
	seqs func() uint64
}

func newLogoutEnv(t *testing.T, opts ...idp.LogoutOption) *logoutEnv {
	t.Helper()
	e := &logoutEnv{ns: testkit.NATS(t, "")}
	e.pub = testkit.NewPublisher(t, testkit.Connect(t, e.ns.ClientURL()))
	e.a = testkit.NewAgent(t, testkit.Connect(t, e.ns.ClientURL()))
	e.op = newProvider(t)
	var err error
	if e.h, err = idp.NewBackchannelLogout(e.pub, e.op.keys, issuer, []string{clientID}, opts...); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	e.url = srv.URL + "/backchannel-logout"
	js := testkit.JetStream(t, testkit.Connect(t, e.ns.ClientURL()))
	e.seqs = func() uint64 {
		st, err := js.Stream(context.Background(), jwtrevoke.DefaultStream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.State.LastSeq
	}
	return e
}

// post sends a form body to the endpoint and returns the status and body.
func post(t *testing.T, u, contentType, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *logoutEnv) logout(t *testing.T, tok string) (int, string) {
	t.Helper()
	return post(t, e.url, "application/x-www-form-urlencoded", url.Values{"logout_token": {tok}}.Encode())
}

// accessToken is a token of sub (and sid) issued at iat, as the agents see it.
func accessToken(jti, sub, sid string, iat time.Time) *jwtrevoke.Token {
	return &jwtrevoke.Token{JTI: jti, Subject: sub, Session: sid, IssuedAt: iat, ExpiresAt: iat.Add(time.Hour)}
}

// TestBackchannelLogoutSession: a logout token with sid revokes that
// session: its tokens are refused, another session's pass.
func TestBackchannelLogoutSession(t *testing.T) {
	e := newLogoutEnv(t)
	now := time.Now()
	old := accessToken("at-1", "alice", "sess-1", now.Add(-time.Minute))
	other := accessToken("at-2", "alice", "sess-2", now.Add(-time.Minute))
	if st, body := e.logout(t, e.op.sign(t, logoutClaims("lt-1", "alice", "sess-1", now), nil)); st != 200 {
		t.Fatalf("logout: %d %s", st, body)
	}
	testkit.WaitApplied(t, e.a, e.seqs())
	if e.a.Check(old).Allowed {
		t.Error("a token of the logged-out session is allowed")
	}
	if !e.a.Check(other).Allowed {
		t.Error("a token of another session is refused: a session logout cut the subject off")
	}
	if got, _ := testkit.MetricValue(testkit.Gather(t, e.h.Collector()), "jwtrevoke_backchannel_logout_total", "outcome", "session"); got != 1 {
		t.Errorf("session outcomes counted %v, want 1", got)
	}
}

// TestBackchannelLogoutSubjectCutoff: a logout token with sub and no sid
// cuts the subject off at its iat + 1 s, so no earlier token passes even
// from a provider whose clock is ahead of this one, and a token issued
// after that passes even from a provider whose clock is behind.
func TestBackchannelLogoutSubjectCutoff(t *testing.T) {
	for _, skew := range []time.Duration{0, 10 * time.Second, -20 * time.Second} {
		t.Run("provider clock "+skew.String(), func(t *testing.T) {
			clk := testkit.NewManualClock()
			e := newLogoutEnv(t, idp.WithLogoutClock(clk.Now))
			opNow := clk.Now().Add(skew) // the provider's clock
			iat := opNow.Truncate(time.Second)
			if st, body := e.logout(t, e.op.sign(t, logoutClaims("lt-"+skew.String(), "bob", "", iat), nil)); st != 200 {
				t.Fatalf("logout: %d %s", st, body)
			}
			testkit.WaitApplied(t, e.a, e.seqs())
			// Every token the provider issued before the logout has iat <= the
			// logout's iat, on the provider's clock.
			for _, before := range []time.Duration{-time.Hour, -time.Second, 0} {
				if e.a.CheckAt(accessToken("at", "bob", "", iat.Add(before)), clk.Now()).Allowed {
					t.Errorf("a token issued %v from the logout passed", before)
				}
			}
			after := iat.Add(time.Second)
			if !e.a.CheckAt(accessToken("at-new", "bob", "", after), clk.Now()).Allowed {
				t.Errorf("a token issued at %v, after the cut-off, is refused", after)
			}
			if !e.a.CheckAt(accessToken("at-carol", "carol", "", iat.Add(-time.Minute)), clk.Now()).Allowed {
				t.Error("another subject's token is refused")
			}
		})
	}
}

// TestBackchannelLogoutRefuses: every invalid request is a 400
// invalid_request (405 for another method), counted, and revokes nothing.
func TestBackchannelLogoutRefuses(t *testing.T) {
	e := newLogoutEnv(t, idp.WithIssuedAtWindow(2*time.Minute))
	now := time.Now()
	other := newProvider(t)
	valid := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := logoutClaims("lt-x", "alice", "sess-1", now)
		mod(c)
		return c
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, valid(func(jwt.MapClaims) {}))
	hsTok, _ := hs.SignedString([]byte("a client secret of thirty-two bytes!"))
	good := e.op.sign(t, logoutClaims("lt-good", "alice", "sess-9", now), nil)
	for _, tc := range []struct {
		name, ct, body, outcome string
	}{
		{"not a form", "application/json", `{"logout_token":"x"}`, "malformed"},
		{"no logout_token", "application/x-www-form-urlencoded", "token=x", "malformed"},
		{"two logout_tokens", "application/x-www-form-urlencoded", url.Values{"logout_token": {good, good}}.Encode(), "malformed"},
		{"not a JWT", "", "abc", "invalid_signature"},
		{"encrypted (JWE)", "", "a.b.c.d.e", "invalid_signature"},
		{"alg none", "", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkLmV4YW1wbGUifQ.", "invalid_signature"},
		{"HS256 with a client secret", "", hsTok, "invalid_signature"},
		{"another provider's key", "", other.sign(t, valid(func(jwt.MapClaims) {}), nil), "invalid_signature"},
		{"tampered", "", good[:len(good)-4] + "AAAA", "invalid_signature"},
		{"wrong iss", "", e.op.sign(t, valid(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), nil), "invalid_claims"},
		{"wrong aud", "", e.op.sign(t, valid(func(c jwt.MapClaims) { c["aud"] = []string{"another-app"} }), nil), "invalid_claims"},
		{"no iat", "", e.op.sign(t, valid(func(c jwt.MapClaims) { delete(c, "iat") }), nil), "invalid_claims"},
		{"iat a string", "", e.op.sign(t, valid(func(c jwt.MapClaims) { c["iat"] = "yesterday" }), nil), "invalid_claims"},
		{"iat too old", "", e.op.sign(t, valid(func(c jwt.MapClaims) { c["iat"] = now.Add(-10 * time.Minute).Unix() }), nil), "invalid_claims"},
		{"iat in the future", "", e.op.sign(t, valid(func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Minute).Unix() }), nil), "invalid_claims"},
		{"expired", "", e.op.sign(t, valid(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }), nil), "invalid_claims"},
		{"a nonce (an ID token)", "", e.op.sign(t, valid(func(c jwt.MapClaims) { c["nonce"] = "n" }), nil), "invalid_claims"},
		{"no events", "", e.op.sign(t, valid(func(c jwt.MapClaims) { delete(c, "events") }), nil), "invalid_claims"},
		{"another event", "", e.op.sign(t, valid(func(c jwt.MapClaims) {
			c["events"] = map[string]any{"https://schemas.openid.net/secevent/caep/event-type/session-revoked": map[string]any{}}
		}), nil), "invalid_claims"},
		{"event not an object", "", e.op.sign(t, valid(func(c jwt.MapClaims) { c["events"] = map[string]any{idp.BackchannelLogoutEvent: "yes"} }), nil), "invalid_claims"},
		{"no jti", "", e.op.sign(t, valid(func(c jwt.MapClaims) { delete(c, "jti") }), nil), "invalid_claims"},
		{"neither sub nor sid", "", e.op.sign(t, valid(func(c jwt.MapClaims) { delete(c, "sub"); delete(c, "sid") }), nil), "invalid_claims"},
		{"sid a number", "", e.op.sign(t, valid(func(c jwt.MapClaims) { c["sid"] = 42 }), nil), "invalid_claims"},
		{"sub an array", "", e.op.sign(t, valid(func(c jwt.MapClaims) { c["sub"] = []string{"alice", "bob"} }), nil), "invalid_claims"},
		{"typ of an access token", "", e.op.sign(t, valid(func(jwt.MapClaims) {}), map[string]any{"typ": "at+jwt"}), "invalid_claims"},
		{"huge", "", strings.Repeat("a", 20<<10) + ".b.c", "invalid_signature"},
	} {
		ct, body := tc.ct, tc.body
		if ct == "" {
			ct, body = "application/x-www-form-urlencoded", url.Values{"logout_token": {tc.body}}.Encode()
		}
		st, resp := post(t, e.url, ct, body)
		if st != 400 || !strings.Contains(resp, `"invalid_request"`) {
			t.Errorf("%s: %d %s, want 400 invalid_request", tc.name, st, resp)
		}
	}
	if st, _ := func() (int, string) {
		resp, err := http.Get(e.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, ""
	}(); st != 405 {
		t.Errorf("GET: %d, want 405", st)
	}
	if seq := e.seqs(); seq != 0 {
		t.Fatalf("invalid logouts wrote %d revocations", seq)
	}
	if n := idp.ReplayCacheLen(e.h); n != 0 {
		t.Errorf("invalid logout tokens left %d jtis in the replay cache, want 0", n)
	}
	// The token without a typ header, and with typ JWT, is still taken.
	if st, body := e.logout(t, e.op.sign(t, logoutClaims("lt-notyp", "alice", "sess-3", now), map[string]any{"typ": nil})); st != 200 {
		t.Errorf("no typ header: %d %s", st, body)
	}
	if st, body := e.logout(t, good); st != 200 {
		t.Fatalf("a valid logout: %d %s", st, body)
	}
	if st, body := e.logout(t, good); st != 400 || !strings.Contains(body, "already received") {
		t.Errorf("the same logout token again: %d %s, want 400 (a replay)", st, body)
	}
	mfs := testkit.Gather(t, e.h.Collector())
	for outcome, want := range map[string]float64{"malformed": 7, "invalid_signature": 4, "invalid_claims": 16, "replayed": 1, "session": 2} {
		if got, _ := testkit.MetricValue(mfs, "jwtrevoke_backchannel_logout_total", "outcome", outcome); got != want {
			t.Errorf("jwtrevoke_backchannel_logout_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// TestBackchannelLogoutReplayCacheBounded: the replay cache holds at most
// its size, however many valid logouts arrive; bogus ones never enter it.
func TestBackchannelLogoutReplayCacheBounded(t *testing.T) {
	e := newLogoutEnv(t, idp.WithReplayCacheSize(3))
	now := time.Now()
	for i := range 8 {
		tok := e.op.sign(t, logoutClaims("lt-"+string(rune('a'+i)), "u", "s-"+string(rune('a'+i)), now), nil)
		if st, body := e.logout(t, tok); st != 200 {
			t.Fatalf("logout %d: %d %s", i, st, body)
		}
	}
	if n := idp.ReplayCacheLen(e.h); n > 3 {
		t.Errorf("replay cache holds %d ids, want at most 3", n)
	}
	// The newest are remembered.
	if st, _ := e.logout(t, e.op.sign(t, logoutClaims("lt-h", "u", "s-h", now), nil)); st != 400 {
		t.Errorf("the newest token again: %d, want 400", st)
	}
}

// TestBackchannelLogoutUnavailable: a logout the stream cannot take is a
// 503, and the provider's retry is not taken for a replay.
func TestBackchannelLogoutUnavailable(t *testing.T) {
	dir := t.TempDir()
	ns := testkit.NATS(t, dir)
	nc := testkit.Connect(t, ns.ClientURL())
	pub := testkit.NewPublisher(t, nc, publisher.WithRetry(1, 200*time.Millisecond))
	op := newProvider(t)
	h, err := idp.NewBackchannelLogout(pub, op.keys, issuer, []string{clientID})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	tok := op.sign(t, logoutClaims("lt-retry", "alice", "sess-1", time.Now()), nil)
	ns.Shutdown()
	ns.WaitForShutdown()
	body := url.Values{"logout_token": {tok}}.Encode()
	if st, resp := post(t, srv.URL, "application/x-www-form-urlencoded", body); st != 503 {
		t.Fatalf("with the stream down: %d %s, want 503", st, resp)
	}
	testkit.Restart(t, ns, dir)
	testkit.Eventually(t, "the retried logout taken", func() bool {
		st, _ := post(t, srv.URL, "application/x-www-form-urlencoded", body)
		if st == 400 {
			t.Fatal("the retry was refused as a replay")
		}
		return st == 200
	})
}

// TestBackchannelLogoutReplayElsewhere: a logout token replayed to a
// second receiver, which has not seen its jti, minutes later, writes the
// same cut-off again: the login that followed the logout still works.
func TestBackchannelLogoutReplayElsewhere(t *testing.T) {
	clk := testkit.NewManualClock()
	e := newLogoutEnv(t, idp.WithLogoutClock(clk.Now))
	second, err := idp.NewBackchannelLogout(e.pub, e.op.keys, issuer, []string{clientID}, idp.WithLogoutClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(second)
	defer srv.Close()
	iat := clk.Now().Truncate(time.Second)
	tok := e.op.sign(t, logoutClaims("lt-replayed", "dana", "", iat), nil)
	if st, body := e.logout(t, tok); st != 200 {
		t.Fatalf("logout: %d %s", st, body)
	}
	relogin := accessToken("at-relogin", "dana", "", iat.Add(2*time.Second))
	clk.Advance(90 * time.Second) // the user logged in again; then the replay, before the token expires
	if st, body := post(t, srv.URL, "application/x-www-form-urlencoded", url.Values{"logout_token": {tok}}.Encode()); st != 200 {
		t.Fatalf("the replay at another receiver: %d %s", st, body)
	}
	testkit.WaitApplied(t, e.a, e.seqs())
	// The agent's own clock: the receivers' clock only moved on for them.
	if res := e.a.Check(relogin); !res.Allowed {
		t.Errorf("a replayed logout token refused the login that followed the logout: %s", res.Reason())
	}
	if e.a.Check(accessToken("at-old", "dana", "", iat)).Allowed {
		t.Error("the logged-out token passes")
	}
	if n := idp.ReplayCacheLen(e.h); n != 1 {
		t.Errorf("the first receiver remembers %d jtis, want 1", n)
	}
}
