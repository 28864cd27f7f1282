package main

// Crafted tokens against a built serve: each way around a revocation found
// from outside, through /introspect and /admin/revoke only.

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signRSA signs claims with key, with the header members given (a nil
// value removes one).
func signRSA(t *testing.T, key *rsa.PrivateKey, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writePublicPEM writes pub to dir/name as a PUBLIC KEY block and returns
// the path.
func writePublicPEM(t *testing.T, dir, name string, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeKeyRevocationWhateverTheHeader: after a key revocation of k1,
// every token k1's private key signs is refused, whatever its header says —
// kid k1, no kid, another configured key's kid, a kid nobody configured —
// and the other key's tokens stay valid. Before the revocation, a header
// that names another key than the one that verifies, or no key at all, is
// already refused.
func TestServeKeyRevocationWhateverTheHeader(t *testing.T) {
	dir := t.TempDir()
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	p1 := writePublicPEM(t, dir, "one.pem", &k1.PublicKey)
	p2 := writePublicPEM(t, dir, "two.pem", &k2.PublicKey)
	p := startServe(t, "--pem", "k1="+p1, "--pem", "k2="+p2, "--alg", "RS256")

	claims := func(jti string) jwt.MapClaims {
		return jwt.MapClaims{"jti": jti, "sub": "alice", "iat": time.Now().Unix(), "exp": time.Now().Add(10 * time.Minute).Unix()}
	}
	byKID := signRSA(t, k1, map[string]any{"kid": "k1"}, claims("a"))
	noKID := signRSA(t, k1, nil, claims("b"))
	asK2 := signRSA(t, k1, map[string]any{"kid": "k2"}, claims("c"))
	asOther := signRSA(t, k1, map[string]any{"kid": "other-kid"}, claims("d"))
	k2Token := signRSA(t, k2, map[string]any{"kid": "k2"}, claims("e"))
	k2NoKID := signRSA(t, k2, nil, claims("f"))

	for _, tt := range []struct {
		what   string
		raw    string
		active bool
	}{
		{"k1 token with kid k1", byKID, true},
		{"k1 token without kid", noKID, true},
		{"k1 token claiming kid k2", asK2, false},
		{"k1 token claiming an unconfigured kid", asOther, false},
		{"k2 token", k2Token, true},
		{"k2 token without kid", k2NoKID, true},
	} {
		if got := p.active(t, tt.raw); got != tt.active {
			t.Errorf("before revoking k1: %s: active %v, want %v", tt.what, got, tt.active)
		}
	}

	if status, body := p.admin(t, `{"kind":"kid","key":"k1","reason":"leaked"}`); status != http.StatusOK {
		t.Fatalf("POST /admin/revoke kid k1: %d %s", status, body)
	}
	p.eventuallyInactive(t, "k1 token with kid k1", byKID)
	for _, tt := range []struct {
		what   string
		raw    string
		active bool
	}{
		{"k1 token without kid", noKID, false},
		{"k1 token claiming kid k2", asK2, false},
		{"k1 token claiming an unconfigured kid", asOther, false},
		{"k2 token", k2Token, true},
		{"k2 token without kid", k2NoKID, true},
	} {
		if got := p.active(t, tt.raw); got != tt.active {
			t.Errorf("after revoking k1: %s: active %v, want %v", tt.what, got, tt.active)
		}
	}
}

// TestServeClaimsOfTheWrongType: a sub, sid or jti that is present but not
// a non-empty string makes the token inactive, so a JSON number cannot
// switch a subject revocation off; and a crit header this server does not
// understand is refused (RFC 7515 §4.1.11).
func TestServeClaimsOfTheWrongType(t *testing.T) {
	p := startServe(t)
	secret := []byte(serveTestSecret)
	sign := func(header map[string]any, c jwt.MapClaims) string {
		t.Helper()
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		for k, v := range header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	iat, exp := time.Now().Add(-time.Minute).Unix(), time.Now().Add(10*time.Minute).Unix()
	asString := sign(nil, jwt.MapClaims{"jti": "s1", "sub": "4242", "iat": iat, "exp": exp})
	if !p.active(t, asString) {
		t.Fatal("a well-formed token is inactive before any revocation")
	}
	if status, body := p.admin(t, `{"kind":"sub","key":"4242"}`); status != http.StatusOK {
		t.Fatalf("POST /admin/revoke sub 4242: %d %s", status, body)
	}
	p.eventuallyInactive(t, `token with "sub":"4242"`, asString)
	for _, tt := range []struct {
		what string
		raw  string
	}{
		{`"sub": 4242`, sign(nil, jwt.MapClaims{"jti": "n1", "sub": 4242, "iat": iat, "exp": exp})},
		{`"sub": 4242.0`, sign(nil, jwt.MapClaims{"jti": "n2", "sub": 4242.0, "iat": iat, "exp": exp})},
		{`"sub": ["4242"]`, sign(nil, jwt.MapClaims{"jti": "n3", "sub": []string{"4242"}, "iat": iat, "exp": exp})},
		{`"sub": null`, sign(nil, jwt.MapClaims{"jti": "n4", "sub": nil, "iat": iat, "exp": exp})},
		{`"sub": ""`, sign(nil, jwt.MapClaims{"jti": "n5", "sub": "", "iat": iat, "exp": exp})},
		{`"sid": 17`, sign(nil, jwt.MapClaims{"jti": "n6", "sub": "bob", "sid": 17, "iat": iat, "exp": exp})},
		{`"jti": 99`, sign(nil, jwt.MapClaims{"jti": 99, "sub": "bob", "iat": iat, "exp": exp})},
		{`"kid": 5`, sign(map[string]any{"kid": 5}, jwt.MapClaims{"jti": "n7", "sub": "bob", "iat": iat, "exp": exp})},
		{`"crit": ["x-ext"]`, sign(map[string]any{"crit": []string{"x-ext"}, "x-ext": true}, jwt.MapClaims{"jti": "n8", "sub": "bob", "iat": iat, "exp": exp})},
		{`"crit": []`, sign(map[string]any{"crit": []string{}}, jwt.MapClaims{"jti": "n9", "sub": "bob", "iat": iat, "exp": exp})},
	} {
		if p.active(t, tt.raw) {
			t.Errorf("token with %s: active, want inactive", tt.what)
		}
	}
}
