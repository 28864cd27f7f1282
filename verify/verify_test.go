package verify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

type mwEnv struct {
	pub *publisher.Publisher
	a   *agent.Agent
	srv *httptest.Server
}

func newMWEnv(t *testing.T, opts ...verify.Option) *mwEnv {
	t.Helper()
	s := testkit.NATS(t, "")
	e := &mwEnv{pub: testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))}
	e.a = testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), testkit.StillClock())
	mw, err := verify.Middleware(e.a, testkit.HMACKeys(), []string{"HS256"}, opts...)
	if err != nil {
		t.Fatalf("Middleware() error = %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		c, ok := verify.ClaimsFromContext[jwt.MapClaims](r.Context())
		if !ok {
			http.Error(w, "no claims", 500)
			return
		}
		json.NewEncoder(w).Encode(c)
	})
	e.srv = httptest.NewServer(mw(mux))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *mwEnv) get(t testing.TB, tok string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/whoami", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header, body
}

func TestMiddlewareAllKinds(t *testing.T) {
	e := newMWEnv(t)
	ctx := context.Background()
	past := time.Now().Add(-10 * time.Second)
	tests := []struct {
		name   string
		tok    string
		revoke func() (publisher.Receipt, error)
	}{
		{"jti", testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("j-1", "u1", "s1", past), ""), func() (publisher.Receipt, error) {
			return e.pub.RevokeJTI(ctx, "j-1", time.Now().Add(5*time.Minute))
		}},
		{"subject", testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("j-2", "u2", "s2", past), ""), func() (publisher.Receipt, error) {
			return e.pub.RevokeSubject(ctx, "u2", time.Time{})
		}},
		{"session", testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("j-3", "u3", "s3", past), ""), func() (publisher.Receipt, error) {
			return e.pub.RevokeSession(ctx, "s3", time.Time{})
		}},
		{"key", testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("j-4", "u4", "s4", past), "old-key"), func() (publisher.Receipt, error) {
			return e.pub.RevokeKey(ctx, "old-key")
		}},
	}
	for _, tt := range tests {
		if code, _, body := e.get(t, tt.tok); code != 200 {
			t.Fatalf("%s: GET before revoke = %d %v, want 200", tt.name, code, body)
		}
		rc, err := tt.revoke()
		if err != nil {
			t.Fatalf("%s: revoke error = %v", tt.name, err)
		}
		// Wait for the agent to apply the event, not for a 401: a stale
		// agent refuses too, for another reason.
		testkit.WaitApplied(t, e.a, rc.Seq)
		code, h, body := e.get(t, tt.tok)
		if code != 401 || body["reason"] != "revoked" || body["error"] != "invalid_token" {
			t.Errorf("%s: GET after revoke = %d %v, want 401 reason revoked", tt.name, code, body)
		}
		if got := h.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer error="invalid_token", error_description=`) {
			t.Errorf("%s: WWW-Authenticate = %q, want RFC 6750 invalid_token", tt.name, got)
		}
	}
	// A token of the same subject issued after the cut-off still works.
	later := testkit.SignHS256(t, testkit.HMACKey, jwt.MapClaims{"jti": "j-5", "sub": "u2", "iat": float64(time.Now().Add(2*time.Second).UnixMilli()) / 1000, "exp": time.Now().Add(5 * time.Minute).Unix()}, "")
	// iat is slightly in the future: within the parser's leeway.
	if code, _, body := e.get(t, later); code != 200 {
		t.Errorf("GET with a token issued after the subject cut-off = %d %v, want 200", code, body)
	}
	// Everything issued before now.
	other := testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("j-6", "u6", "s6", past), "")
	rc, err := e.pub.RevokeAll(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitApplied(t, e.a, rc.Seq)
	if code, _, body := e.get(t, other); code != 401 || body["reason"] != "revoked" {
		t.Errorf("GET after revoking all = %d %v, want 401 reason revoked", code, body)
	}
}

func TestMiddlewareRefusesBadTokens(t *testing.T) {
	e := newMWEnv(t)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	confused := jwt.NewWithClaims(jwt.SigningMethodHS256, testkit.Claims("j-c", "u", "s", time.Now()))
	confusedStr, _ := confused.SignedString(pubPEM)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, testkit.Claims("j-n", "u", "s", time.Now()))
	noneStr, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	es, _ := jwt.NewWithClaims(jwt.SigningMethodES256, testkit.Claims("j-e", "u", "s", time.Now())).SignedString(ecKey)
	tests := []struct {
		name, tok, reason string
	}{
		{"missing", "", "missing"},
		{"garbage", "not-a-jwt", "malformed"},
		{"million dots", strings.Repeat(".", 1_000_000), "malformed"},
		{"64 KiB header", strings.Repeat("a", 64<<10) + ".b.c", "malformed"},
		{"alg none", noneStr, "invalid"},
		{"HS256 with the RSA public key", confusedStr, "invalid"},
		{"ES256 not allowed", es, "invalid"},
		{"no exp", testkit.SignHS256(t, testkit.HMACKey, jwt.MapClaims{"jti": "x", "sub": "u", "iat": time.Now().Unix()}, ""), "invalid"},
		{"expired", testkit.SignHS256(t, testkit.HMACKey, jwt.MapClaims{"jti": "x", "exp": time.Now().Add(-time.Hour).Unix()}, ""), "expired"},
		{"future nbf", testkit.SignHS256(t, testkit.HMACKey, jwt.MapClaims{"jti": "x", "exp": time.Now().Add(time.Hour).Unix(), "nbf": time.Now().Add(time.Hour).Unix()}, ""), "expired"},
		{"no jti", testkit.SignHS256(t, testkit.HMACKey, jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix()}, ""), "no_jti"},
		{"jti too long to revoke", testkit.SignHS256(t, testkit.HMACKey, jwt.MapClaims{"jti": strings.Repeat("j", 257), "exp": time.Now().Add(time.Hour).Unix()}, ""), "malformed"},
		{"sub too long to revoke", testkit.SignHS256(t, testkit.HMACKey, jwt.MapClaims{"jti": "x", "sub": strings.Repeat("s", 300), "exp": time.Now().Add(time.Hour).Unix()}, ""), "malformed"},
		{"odd kid", testkit.SignHS256(t, testkit.HMACKey, jwt.MapClaims{"jti": "x", "exp": time.Now().Add(time.Hour).Unix()}, "../../etc/passwd\x00"), ""},
	}
	for i, tt := range tests {
		code, h, body := e.get(t, tt.tok)
		if tt.reason == "" {
			// An odd kid is just a string; the HMAC keyfunc ignores it.
			if code != 200 {
				t.Errorf("step %d (%s): status %d %v, want 200", i, tt.name, code, body)
			}
			continue
		}
		if code != 401 || body["reason"] != tt.reason {
			t.Errorf("step %d (%s): GET = %d %v, want 401 reason %s", i, tt.name, code, body, tt.reason)
		}
		if h.Get("WWW-Authenticate") == "" {
			t.Errorf("step %d (%s): no WWW-Authenticate header", i, tt.name)
		}
	}
}

// TestNewRefusesNilKeySets: a key set that is nil inside its interface (a
// nil *keyset.JWKS or *keyset.Static, keyset.Keyfunc(nil)) is refused when
// the verifier is built, not met as a panic on the first token.
func TestNewRefusesNilKeySets(t *testing.T) {
	for name, keys := range map[string]keyset.Set{
		"nil":                nil,
		"nil *keyset.JWKS":   (*keyset.JWKS)(nil),
		"nil *keyset.Static": (*keyset.Static)(nil),
		"Keyfunc(nil)":       keyset.Keyfunc(nil),
	} {
		if _, err := verify.New(keys, []string{"HS256"}); !errors.Is(err, verify.ErrBadOption) {
			t.Errorf("New(%s) = %v, want ErrBadOption", name, err)
		}
	}
}

func TestMiddlewareOptions(t *testing.T) {
	if _, err := verify.Middleware(nil, testkit.HMACKeys(), []string{"HS256"}); err == nil {
		t.Error("Middleware(nil agent) = nil error, want error")
	}
	s := testkit.NATS(t, "")
	testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))
	a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), testkit.StillClock())
	for _, algs := range [][]string{nil, {"none"}, {"HS256", "RS256"}, {"XX999"}} {
		if _, err := verify.Middleware(a, testkit.HMACKeys(), algs); err == nil {
			t.Errorf("Middleware(algs %v) = nil error, want error", algs)
		}
	}
	var got *verify.Error
	mw, err := verify.Middleware(a, testkit.HMACKeys(), []string{"HS256"},
		verify.WithExtractor(verify.CookieToken("access")),
		verify.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err *verify.Error) {
			got = err
			w.WriteHeader(http.StatusTeapot)
		}))
	if err != nil {
		t.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := verify.FromContext(r.Context())
		if !ok || v.Token.JTI != "cookie-jti" {
			t.Errorf("FromContext() = %+v, %v, want jti cookie-jti", v, ok)
		}
		w.WriteHeader(204)
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: "access", Value: testkit.SignHS256(t, testkit.HMACKey, testkit.Claims("cookie-jti", "u", "s", time.Now()), "")})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 204 {
		t.Errorf("cookie token: status %d, want 204", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusTeapot || got == nil || got.Reason != jwtrevoke.ReasonMissing {
		t.Errorf("no cookie: status %d, error %v, want 418 from the custom handler with reason missing", rec.Code, got)
	}
}
