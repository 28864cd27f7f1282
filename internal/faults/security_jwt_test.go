package faults

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// discardWriter is a ResponseWriter that keeps only the status and the
// body's size, reusable across attempts.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}
func (w *discardWriter) WriteHeader(s int) { w.status = s }
func (w *discardWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestJWTAttacks is hostile input 8: tokens built to get past a verifier —
// alg=none, HS256 signed with the RSA public key (key confusion), no exp, no
// jti, expired, not yet valid, odd kids, a million dots, a 64 KiB header, a
// header just under the size limit, deep nesting — sent through
// verify.Middleware configured for RS256. Every one must be refused with a
// 401 and a reason, with allocations per attempt bounded whatever the
// token's size.
func TestJWTAttacks(t *testing.T) {
	// AllocsPerRun refuses parallel tests; this case is short.
	r := report(t, "H08", "JWT attacks through the middleware", "alg=none, HS256 with the RSA public key (PEM and DER), no exp, no jti, expired, future nbf, odd kids, 1M dots, 64 KiB header, 8 KiB header, deep nesting")
	srv := server(t, natsproc.Options{})
	pub := testkit.NewPublisher(t, dial(t, srv.URL()))
	tr := &tracker{}
	// The controls expect a valid token to pass (200) and the revoked one
	// to be refused as revoked; neither is about freshness. With the
	// suite's 1 s staleness bound, a loaded machine on which a few 200 ms
	// probes time out makes this fail-closed agent stale, and the valid
	// control would get 401 "stale". A bound of ten minutes, far beyond this
	// case's few seconds, keeps staleness out of it (F03, F04, F10 test it).
	a := tr.mustStart(t, "agent", dial(t, srv.URL()), agent.WithStaleness(10*time.Minute))

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	keys := map[string]*rsa.PublicKey{"rsa-1": &rsaKey.PublicKey}
	// A keyfunc that looks the key up by kid, as most do.
	keyfunc := func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, errors.New("unknown kid")
	}
	mw, err := verify.Middleware(a.a, keyset.Keyfunc(keyfunc), []string{"RS256"})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))

	now := time.Now()
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"jti": "j-" + fmt.Sprint(len(extra)), "sub": "mallory", "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims, kid any) string {
		tok := jwt.NewWithClaims(m, c)
		if kid != nil {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rs := func(c jwt.MapClaims) string { return sign(jwt.SigningMethodRS256, rsaKey, c, "rsa-1") }
	fakeSig := base64.RawURLEncoding.EncodeToString(make([]byte, 256))
	bigHeader := b64(map[string]any{"alg": "RS256", "kid": "rsa-1", "pad": strings.Repeat("A", 64<<10)})
	nearLimit := b64(map[string]any{"alg": "RS256", "kid": "rsa-1", "pad": strings.Repeat("A", 5600)})
	nested := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"rsa-1","x":` + strings.Repeat("[", 2500) + strings.Repeat("]", 2500) + `}`))
	payload := b64(claims(nil))

	valid := rs(claims(jwt.MapClaims{"jti": "valid"}))
	revoked := rs(claims(jwt.MapClaims{"jti": "revoked-one"}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc, err := pub.RevokeJTI(ctx, "revoked-one", now.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, 30*time.Second, "agent applied the revocation", a.a, rc.Seq)

	attacks := []struct {
		name, tok string
		reason    jwtrevoke.Reason
	}{
		{"control: valid RS256", valid, ""},
		{"control: revoked", revoked, jwtrevoke.ReasonRevoked},
		{"alg=none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil), "rsa-1"), jwtrevoke.ReasonInvalid},
		{"alg=none, empty signature, kid rsa-1", b64(map[string]any{"alg": "none", "kid": "rsa-1"}) + "." + payload + ".", jwtrevoke.ReasonInvalid},
		{"HS256 signed with the RSA public key (PEM)", sign(jwt.SigningMethodHS256, pemKey, claims(nil), "rsa-1"), jwtrevoke.ReasonInvalid},
		{"HS256 signed with the RSA public key (DER)", sign(jwt.SigningMethodHS256, der, claims(nil), "rsa-1"), jwtrevoke.ReasonInvalid},
		{"no exp", rs(claims(jwt.MapClaims{"exp": nil})), jwtrevoke.ReasonInvalid},
		{"no jti", rs(claims(jwt.MapClaims{"jti": nil})), jwtrevoke.ReasonNoJTI},
		{"expired", rs(claims(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()})), jwtrevoke.ReasonExpired},
		{"future nbf", rs(claims(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})), jwtrevoke.ReasonExpired},
		{"issued in the future", rs(claims(jwt.MapClaims{"iat": now.Add(time.Hour).Unix()})), jwtrevoke.ReasonExpired},
		{"kid path traversal", sign(jwt.SigningMethodRS256, rsaKey, claims(nil), "../../../../etc/passwd\x00"), jwtrevoke.ReasonInvalid},
		{"kid a number", sign(jwt.SigningMethodRS256, rsaKey, claims(nil), 1), jwtrevoke.ReasonMalformed}, // a kid must be a non-empty string
		{"kid an object", sign(jwt.SigningMethodRS256, rsaKey, claims(nil), map[string]any{"$ne": ""}), jwtrevoke.ReasonMalformed},
		{"kid 4 KiB", sign(jwt.SigningMethodRS256, rsaKey, claims(nil), strings.Repeat("k", 4096)), jwtrevoke.ReasonInvalid},
		{"a million dots", strings.Repeat(".", 1_000_000), jwtrevoke.ReasonMalformed},
		{"64 KiB header", bigHeader + "." + payload + "." + fakeSig, jwtrevoke.ReasonMalformed},
		{"header just under the 8 KiB limit", nearLimit + "." + payload + "." + fakeSig, jwtrevoke.ReasonInvalid},
		{"2500-deep nested header", nested + "." + payload + "." + fakeSig, jwtrevoke.ReasonInvalid},
		{"four parts", valid + ".x", jwtrevoke.ReasonMalformed},
		{"not base64", "!!!.???.***", jwtrevoke.ReasonMalformed},
	}
	var lines []string
	accepted := 0
	w := &discardWriter{h: http.Header{}}
	for _, c := range attacks {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+c.tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body struct{ Reason string }
		json.NewDecoder(rec.Body).Decode(&body)
		want := 401
		if c.reason == "" {
			want = 200
		}
		if rec.Code != want || body.Reason != string(c.reason) || (want == 401 && rec.Header().Get("WWW-Authenticate") == "") {
			t.Errorf("%s: %d reason %q, want %d reason %q with a WWW-Authenticate header", c.name, rec.Code, body.Reason, want, c.reason)
		}
		if want == 401 && rec.Code == 200 {
			accepted++
		}
		allocs := testing.AllocsPerRun(50, func() { w.reset(); h.ServeHTTP(w, req) })
		bytes := bytesPerRun(50, func() { w.reset(); h.ServeHTTP(w, req) })
		lines = append(lines, fmt.Sprintf("%s (%d B): %d %s, %.0f allocs / %.1f KiB", c.name, len(c.tok), rec.Code, body.Reason, allocs, bytes/1024))
		// Bounded: nothing proportional to what the attacker sends past
		// the 8 KiB limit; under it, the JSON of a header can cost up to
		// about one allocation per byte (nested arrays) — bounded by the
		// limit, not by the attacker.
		if allocs > 8192 || bytes > 256<<10 || (len(c.tok) > 8<<10 && bytes > 8<<10) {
			t.Errorf("%s: %.0f allocs, %.0f bytes per attempt; want bounded by the 8 KiB token limit (≤ 8192 allocs, ≤ 256 KiB; ≤ 8 KiB for a token refused by size)", c.name, allocs, bytes)
		}
	}
	r.acked, r.lost = 1, accepted
	r.note("%s", strings.Join(lines, "; "))
}
