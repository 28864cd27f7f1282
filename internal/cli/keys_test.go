package cli

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
)

// TestCLIKeyFiles reads ed25519 keys in every accepted form.
func TestCLIKeyFiles(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	seed := priv.Seed()
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pkix, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})

	for i, data := range [][]byte{
		privPEM,
		[]byte(hex.EncodeToString(seed) + "\n"),
		[]byte(hex.EncodeToString(priv)),
		[]byte(base64.StdEncoding.EncodeToString(seed)),
		[]byte(base64.RawURLEncoding.EncodeToString(priv)),
		seed,
	} {
		got, err := readSigningKey(clitest.WriteFile(t, "sign", data))
		if err != nil || !got.Equal(priv) {
			t.Errorf("step %d: readSigningKey = %v; want the key", i, err)
		}
	}
	for i, data := range [][]byte{pubPEM, privPEM, []byte(hex.EncodeToString(pub)), []byte(base64.StdEncoding.EncodeToString(pub)), pub} {
		got, err := readTrustKey(clitest.WriteFile(t, "trust", data))
		if err != nil || !got.Equal(pub) {
			t.Errorf("step %d: readTrustKey = %v; want the public key", i, err)
		}
	}

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaPKCS8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	bad := [][]byte{
		[]byte("not a key at all"),
		[]byte(hex.EncodeToString(seed[:16])),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaPKCS8}),
		append(append([]byte{}, seed...), make([]byte, 32)...), // 64 bytes whose public half is wrong
	}
	for i, data := range bad {
		if _, err := readSigningKey(clitest.WriteFile(t, "bad", data)); err == nil {
			t.Errorf("step %d: readSigningKey(%q) = nil error, want refused", i, data)
		}
	}
	if _, err := readTrustKey(clitest.WriteFile(t, "bad", []byte(hex.EncodeToString(priv)))); err == nil {
		t.Error("readTrustKey(64 bytes) = nil error, want refused: a public key is 32 bytes")
	}

	keyFile := clitest.WriteFile(t, "ops.pub", pubPEM)
	ks, err := parseTrustKeys([]string{"ops-1=" + keyFile, "ops-2=" + keyFile})
	if err != nil || len(ks) != 2 || !ks["ops-1"].Equal(pub) {
		t.Errorf("parseTrustKeys = %v, %v", ks, err)
	}
	for _, specs := range [][]string{{"ops-1"}, {"=" + keyFile}, {"ops-1=" + keyFile, "ops-1=" + keyFile}, {strings.Repeat("k", 65) + "=" + keyFile}} {
		if _, err := parseTrustKeys(specs); err == nil {
			t.Errorf("parseTrustKeys(%q) = nil error, want refused", specs)
		}
	}
}

// TestCLITokenFlags verifies tokens with each kind of key the flags take,
// and the algorithms each key allows by default.
func TestCLITokenFlags(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pemOf := func(typ string) func([]byte, error) []byte {
		return func(der []byte, err error) []byte {
			if err != nil {
				t.Fatal(err)
			}
			return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
		}
	}
	rsaPub := clitest.WriteFile(t, "rsa.pem", pemOf("PUBLIC KEY")(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)))
	rsaPriv := clitest.WriteFile(t, "rsa-priv.pem", pemOf("RSA PRIVATE KEY")(x509.MarshalPKCS1PrivateKey(rsaKey), nil))
	ecPub := clitest.WriteFile(t, "ec.pem", pemOf("PUBLIC KEY")(x509.MarshalPKIXPublicKey(&ecKey.PublicKey)))
	edPubFile := clitest.WriteFile(t, "ed.pem", pemOf("PUBLIC KEY")(x509.MarshalPKIXPublicKey(edPub)))
	both := clitest.WriteFile(t, "both.pem", append(append([]byte{}, pemOf("PUBLIC KEY")(x509.MarshalPKIXPublicKey(&ecKey.PublicKey))...),
		pemOf("PUBLIC KEY")(x509.MarshalPKIXPublicKey(edPub))...))

	sign := func(m jwt.SigningMethod, key any) string {
		t.Helper()
		s, err := jwt.NewWithClaims(m, jwt.MapClaims{"jti": "j", "sub": "s", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rs256 := sign(jwt.SigningMethodRS256, rsaKey)
	ps384 := sign(jwt.SigningMethodPS384, rsaKey)
	es384 := sign(jwt.SigningMethodES384, ecKey)
	eddsa := sign(jwt.SigningMethodEdDSA, edKey)
	hs512 := sign(jwt.SigningMethodHS512, []byte("secret"))

	tests := []struct {
		name   string
		flags  keyFlags
		token  string
		algs   []string
		verify bool
	}{
		{"rsa public key", keyFlags{pemFiles: []string{rsaPub}}, rs256, []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, true},
		{"rsa private key file", keyFlags{pemFiles: []string{rsaPriv}}, ps384, nil, true},
		{"rsa, only RS256 allowed", keyFlags{pemFiles: []string{rsaPub}, algs: []string{"RS256"}}, ps384, []string{"RS256"}, false},
		{"ecdsa P-384", keyFlags{pemFiles: []string{ecPub}}, es384, []string{"ES384"}, true},
		{"ed25519", keyFlags{pemFiles: []string{edPubFile}}, eddsa, []string{"EdDSA"}, true},
		{"two keys in one file", keyFlags{pemFiles: []string{both}}, eddsa, []string{"ES384", "EdDSA"}, true},
		{"two files", keyFlags{pemFiles: []string{ecPub, edPubFile}}, es384, nil, true},
		{"wrong public key", keyFlags{pemFiles: []string{ecPub}}, rs256, nil, false},
		{"hmac", keyFlags{hmacSecret: "secret"}, hs512, []string{"HS256", "HS384", "HS512"}, true},
		{"hmac, wrong secret", keyFlags{hmacSecret: "other"}, hs512, nil, false},
		{"hmac secret for an RSA token", keyFlags{hmacSecret: "secret"}, rs256, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := tc.flags.keyring()
			if err != nil {
				t.Fatalf("cliKeyring() = %v", err)
			}
			if tc.algs != nil && !slices.Equal(k.Algs(), tc.algs) {
				t.Errorf("algorithms = %v, want %v", k.Algs(), tc.algs)
			}
			tok, err := revokeTokenClaims(&tc.flags, tc.token)
			if (err == nil) != tc.verify || (err == nil && tok.JTI != "j") {
				t.Errorf("revokeTokenClaims = %+v, %v; want verified %v", tok, err, tc.verify)
			}
		})
	}
}
