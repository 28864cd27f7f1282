package main

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
	"github.com/spf13/cobra"
)

func TestCLIParseCutoff(t *testing.T) {
	now := time.Date(2026, 1, 15, 10, 0, 0, 500, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{"", now, ""},
		{"now", now, ""},
		{"2026-01-15T09:59:58.123456789Z", time.Date(2026, 1, 15, 9, 59, 58, 123456789, time.UTC), ""},
		{"2026-01-15T11:00:30+01:00", time.Date(2026, 1, 15, 10, 0, 30, 0, time.UTC), ""}, // within the minute of tolerance
		{"2026-01-15T10:05:00Z", time.Time{}, "in the future"},
		{"2026-01-14T09:00:00Z", time.Time{}, "expired already"},
		{"2026-01-15 10:00:00", time.Time{}, "RFC 3339"},
		{"-5m", time.Time{}, "RFC 3339"},
	}
	for i, tc := range tests {
		got, err := cliParseCutoff(tc.in, now, 24*time.Hour)
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) || !got.Equal(tc.want) {
			t.Errorf("step %d: cliParseCutoff(%q) = %v, %v; want %v, error ~%q", i, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestCLIParseExpiry(t *testing.T) {
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"15m", now.Add(15 * time.Minute), true},
		{"-1h", now.Add(-time.Hour), true}, // already expired: the publisher says so
		{"2026-01-15T10:15:00Z", now.Add(15 * time.Minute), true},
		{"1768472100", time.Unix(1768472100, 0), true},
		{"soon", time.Time{}, false},
		{"0", now, true}, // a zero duration: expired now, nothing to revoke
		{"-17", time.Time{}, false},
	}
	for i, tc := range tests {
		got, err := cliParseExpiry(tc.in, now)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("step %d: cliParseExpiry(%q) = %v, %v; want %v, ok %v", i, tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestCLIParseSince(t *testing.T) {
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want watchStart
		ok   bool
	}{
		{"42", watchStart{seq: 42}, true},
		{"10m", watchStart{time: now.Add(-10 * time.Minute)}, true},
		{"2026-01-15T09:00:00Z", watchStart{time: now.Add(-time.Hour)}, true},
		{"0", watchStart{}, false},
		{"-10m", watchStart{}, false},
		{"yesterday", watchStart{}, false},
	}
	for i, tc := range tests {
		got, err := cliParseSince(tc.in, now)
		if (err == nil) != tc.ok || got.seq != tc.want.seq || !got.time.Equal(tc.want.time) {
			t.Errorf("step %d: cliParseSince(%q) = %+v, %v; want %+v, ok %v", i, tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestCLIReadToken(t *testing.T) {
	tests := []struct {
		arg, stdin, want string
	}{
		{"a.b.c", "", "a.b.c"},
		{"  Bearer a.b.c \n", "", "a.b.c"},
		{"-", "a.b.c\n", "a.b.c"},
		{"-", "bearer a.b.c", "a.b.c"},
		{"-", "", ""},
	}
	for i, tc := range tests {
		cmd := &cobra.Command{}
		cmd.SetIn(strings.NewReader(tc.stdin))
		got, err := cliReadToken(cmd, tc.arg)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("step %d: cliReadToken(%q, stdin %q) = %q, %v; want %q", i, tc.arg, tc.stdin, got, err, tc.want)
		}
	}
}

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
		got, err := cliReadSigningKey(cliWriteFile(t, "sign", data))
		if err != nil || !got.Equal(priv) {
			t.Errorf("step %d: cliReadSigningKey = %v; want the key", i, err)
		}
	}
	for i, data := range [][]byte{pubPEM, privPEM, []byte(hex.EncodeToString(pub)), []byte(base64.StdEncoding.EncodeToString(pub)), pub} {
		got, err := cliReadTrustKey(cliWriteFile(t, "trust", data))
		if err != nil || !got.Equal(pub) {
			t.Errorf("step %d: cliReadTrustKey = %v; want the public key", i, err)
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
		if _, err := cliReadSigningKey(cliWriteFile(t, "bad", data)); err == nil {
			t.Errorf("step %d: cliReadSigningKey(%q) = nil error, want refused", i, data)
		}
	}
	if _, err := cliReadTrustKey(cliWriteFile(t, "bad", []byte(hex.EncodeToString(priv)))); err == nil {
		t.Error("cliReadTrustKey(64 bytes) = nil error, want refused: a public key is 32 bytes")
	}

	keyFile := cliWriteFile(t, "ops.pub", pubPEM)
	ks, err := cliParseTrustKeys([]string{"ops-1=" + keyFile, "ops-2=" + keyFile})
	if err != nil || len(ks) != 2 || !ks["ops-1"].Equal(pub) {
		t.Errorf("cliParseTrustKeys = %v, %v", ks, err)
	}
	for _, specs := range [][]string{{"ops-1"}, {"=" + keyFile}, {"ops-1=" + keyFile, "ops-1=" + keyFile}, {strings.Repeat("k", 65) + "=" + keyFile}} {
		if _, err := cliParseTrustKeys(specs); err == nil {
			t.Errorf("cliParseTrustKeys(%q) = nil error, want refused", specs)
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
	rsaPub := cliWriteFile(t, "rsa.pem", pemOf("PUBLIC KEY")(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)))
	rsaPriv := cliWriteFile(t, "rsa-priv.pem", pemOf("RSA PRIVATE KEY")(x509.MarshalPKCS1PrivateKey(rsaKey), nil))
	ecPub := cliWriteFile(t, "ec.pem", pemOf("PUBLIC KEY")(x509.MarshalPKIXPublicKey(&ecKey.PublicKey)))
	edPubFile := cliWriteFile(t, "ed.pem", pemOf("PUBLIC KEY")(x509.MarshalPKIXPublicKey(edPub)))
	both := cliWriteFile(t, "both.pem", append(append([]byte{}, pemOf("PUBLIC KEY")(x509.MarshalPKIXPublicKey(&ecKey.PublicKey))...),
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
			k, err := tc.flags.cliKeyring()
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

// TestCLIHelp: every verb has help with examples, and --json where a
// script wants it.
func TestCLIHelp(t *testing.T) {
	ctx := cliContext(t, 30*time.Second)
	for _, verb := range [][]string{
		{"revoke"}, {"revoke", "token"}, {"revoke", "jti"}, {"revoke", "subject"}, {"revoke", "session"},
		{"revoke", "key"}, {"revoke", "all"}, {"check"}, {"watch"}, {"status"},
	} {
		stdout, _, err := cliRun(ctx, nil, append(verb, "--help")...)
		for _, want := range []string{"Usage:", "Examples:", "--json", "--server"} {
			if err != nil || !strings.Contains(stdout, want) {
				t.Errorf("jwtrevoke %s --help = %v; lacks %q:\n%s", strings.Join(verb, " "), err, want, stdout)
				break
			}
		}
	}
}
