package serve

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// writePEM writes a PEM block to dir/name and returns the path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pkix(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func signToken(t *testing.T, m jwt.SigningMethod, key any, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, jwt.MapClaims{"jti": "j-" + kid, "sub": "alice", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestServeKeyringPEM(t *testing.T) {
	dir := t.TempDir()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaPath := writePEM(t, dir, "rsa-2026.pem", "PUBLIC KEY", pkix(t, &rsaKey.PublicKey))
	pkcs1Path := writePEM(t, dir, "pkcs1.pem", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey))
	ecPath := writePEM(t, dir, "ec.pem", "PUBLIC KEY", pkix(t, &ecKey.PublicKey))
	edPath := writePEM(t, dir, "ed.key", "PUBLIC KEY", pkix(t, edPub))
	privDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	privPath := writePEM(t, dir, "private.pem", "PRIVATE KEY", privDER)
	log := slog.New(slog.DiscardHandler)

	for _, tt := range []struct {
		name     string
		flags    keyFlags
		wantAlgs []string
		wantErr  string
	}{
		{"rsa", keyFlags{pemFiles: []string{rsaPath}}, []string{"RS256"}, ""},
		{"pkcs1 with a kid", keyFlags{pemFiles: []string{"main=" + pkcs1Path}}, []string{"RS256"}, ""},
		{"three types", keyFlags{pemFiles: []string{rsaPath, ecPath, edPath}}, []string{"ES384", "EdDSA", "RS256"}, ""},
		{"explicit algs", keyFlags{pemFiles: []string{rsaPath}, algs: []string{"RS256", "PS256"}}, []string{"RS256", "PS256"}, ""},
		{"private key", keyFlags{pemFiles: []string{privPath}}, nil, "private key"},
		{"same kid twice", keyFlags{pemFiles: []string{rsaPath, "rsa-2026=" + ecPath}}, nil, "given twice"},
		{"HMAC alg with PEM keys", keyFlags{pemFiles: []string{rsaPath}, algs: []string{"HS256"}}, nil, "needs an HMAC secret"},
		{"not PEM", keyFlags{pemFiles: []string{filepath.Join(dir, "missing.pem")}}, nil, "--pem"},
	} {
		k, err := tt.flags.keyring(context.Background(), log)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: keyring() error = %v, want one mentioning %q", tt.name, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%s: keyring() error = %v", tt.name, err)
		case !slices.Equal(k.Algs(), tt.wantAlgs):
			t.Errorf("%s: algs = %v, want %v", tt.name, k.Algs(), tt.wantAlgs)
		}
	}

	// Verification: by kid, by trying every key, and refusing others. The
	// key ID a token is checked under is the name of the key that verified
	// it, whatever the header says; a header kid that names no key, or
	// another key, is refused.
	k, err := (&keyFlags{pemFiles: []string{rsaPath, ecPath, "ed=" + edPath}}).keyring(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(k, k.Algs())
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tt := range []struct {
		name    string
		raw     string
		wantKID string // "" = refused
	}{
		{"RSA by kid", signToken(t, jwt.SigningMethodRS256, rsaKey, "rsa-2026"), "rsa-2026"},
		{"RSA without kid", signToken(t, jwt.SigningMethodRS256, rsaKey, ""), "rsa-2026"},
		{"EC without kid", signToken(t, jwt.SigningMethodES384, ecKey, ""), "ec"},
		{"EC with an unknown kid", signToken(t, jwt.SigningMethodES384, ecKey, "somewhere-else"), ""},
		{"EC under the RSA key's kid", signToken(t, jwt.SigningMethodES384, ecKey, "rsa-2026"), ""},
		{"Ed25519 by explicit kid", signToken(t, jwt.SigningMethodEdDSA, edPriv, "ed"), "ed"},
		{"Ed25519 under the EC key's kid", signToken(t, jwt.SigningMethodEdDSA, edPriv, "ec"), ""},
		{"an untrusted RSA key", signToken(t, jwt.SigningMethodRS256, otherRSA, "rsa-2026"), ""},
		{"an untrusted key, no kid", signToken(t, jwt.SigningMethodRS256, otherRSA, ""), ""},
		{"HMAC with the public key as secret", signToken(t, jwt.SigningMethodHS256, pkix(t, &rsaKey.PublicKey), "rsa-2026"), ""},
	} {
		_, tok, aerr := v.Verify(tt.raw)
		switch {
		case tt.wantKID == "" && aerr == nil:
			t.Errorf("%s: Verify() = kid %q, want refused", tt.name, tok.KeyID)
		case tt.wantKID != "" && aerr != nil:
			t.Errorf("%s: Verify() error = %v, want verified as %q", tt.name, aerr, tt.wantKID)
		case tt.wantKID != "" && tok.KeyID != tt.wantKID:
			t.Errorf("%s: Verify() key ID = %q, want %q (the key that verified)", tt.name, tok.KeyID, tt.wantKID)
		}
	}
}

func TestServeKeyringHMAC(t *testing.T) {
	dir := t.TempDir()
	secret := strings.Repeat("s", minHMACBytes)
	file := filepath.Join(dir, "hmac.key")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	k, err := (&keyFlags{hmacSecretFile: file}).keyring(context.Background(), log)
	if err != nil {
		t.Fatalf("keyring(--hmac-secret-file) error = %v", err)
	}
	wantID, _ := keyset.Thumbprint([]byte(secret))
	if ids := k.Names(); !slices.Equal(ids, []string{wantID}) || !slices.Equal(k.Algs(), []string{"HS256"}) {
		t.Errorf("keyring(--hmac-secret-file) = keys %v, algs %v; want the secret without its newline, known by its thumbprint %s, and HS256", ids, k.Algs(), wantID)
	}
	for _, f := range []keyFlags{
		{hmacSecret: secret, hmacSecretFile: file},
		{hmacSecret: secret[:31]},
		{hmacSecret: secret, jwksURLs: []string{"https://id.example/jwks"}},
		{},
	} {
		if _, err := f.keyring(context.Background(), log); err == nil {
			t.Errorf("keyring(%+v) error = nil, want an error", f)
		}
	}
}

// jwksJSON is a JWK set of Ed25519 public keys by kid.
func jwksJSON(keys map[string]ed25519.PublicKey) string {
	var parts []string
	for kid, k := range keys {
		parts = append(parts, fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","use":"sig","alg":"EdDSA","kid":%q,"x":%q}`, kid, base64.RawURLEncoding.EncodeToString(k)))
	}
	slices.Sort(parts)
	return `{"keys":[` + strings.Join(parts, ",") + `]}`
}

func TestServeKeyringJWKSRotation(t *testing.T) {
	pub1, priv1, _ := ed25519.GenerateKey(rand.Reader)
	pub2, priv2, _ := ed25519.GenerateKey(rand.Reader)
	var body atomic.Value
	body.Store(jwksJSON(map[string]ed25519.PublicKey{"k1": pub1}))
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body.Load().(string))
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops the refresh goroutine
	k, err := (&keyFlags{jwksURLs: []string{srv.URL}, jwksRefresh: time.Hour}).keyring(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("keyring(--jwks-url) error = %v", err)
	}
	if !slices.Equal(k.Algs(), []string{"ES256", "EdDSA", "RS256"}) {
		t.Errorf("JWKS default algs = %v", k.Algs())
	}
	v, err := verify.New(k, k.Algs())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, aerr := v.Verify(signToken(t, jwt.SigningMethodEdDSA, priv1, "k1")); aerr != nil {
		t.Fatalf("Verify(token of k1) error = %v", aerr)
	}
	// The issuer rotates to k2: a token with the new kid triggers a refetch.
	body.Store(jwksJSON(map[string]ed25519.PublicKey{"k1": pub1, "k2": pub2}))
	before := fetches.Load()
	if _, _, aerr := v.Verify(signToken(t, jwt.SigningMethodEdDSA, priv2, "k2")); aerr != nil {
		t.Fatalf("Verify(token of the new k2) error = %v", aerr)
	}
	if fetches.Load() == before {
		t.Errorf("no JWKS fetch for the unknown kid k2")
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if _, _, aerr := v.Verify(signToken(t, jwt.SigningMethodEdDSA, other, "k2")); aerr == nil {
		t.Errorf("Verify(token signed by an untrusted key claiming k2) succeeded")
	}
	if _, err := (&keyFlags{jwksURLs: []string{"ftp://x"}}).keyring(ctx, slog.New(slog.DiscardHandler)); err == nil {
		t.Errorf("keyring(--jwks-url ftp://x) error = nil")
	}
}
