package keyset_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// TestThumbprintRFC7638 checks the thumbprint against the example of RFC
// 7638 §3.1.
func TestThumbprintRFC7638(t *testing.T) {
	n, err := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	key := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	got, err := keyset.Thumbprint(key)
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; err != nil || got != want {
		t.Errorf("Thumbprint(RFC 7638 example) = %q, %v; want %q", got, err, want)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, k := range []any{&ec.PublicKey, ed, []byte("secret")} {
		a, err1 := keyset.Thumbprint(k)
		b, err2 := keyset.Thumbprint(k)
		if err1 != nil || err2 != nil || a != b || len(a) != 43 {
			t.Errorf("Thumbprint(%T) = %q, %v then %q, %v; want one 43-character value", k, a, err1, b, err2)
		}
	}
	if _, err := keyset.Thumbprint("not a key"); err == nil {
		t.Error("Thumbprint(string) error = nil, want an error")
	}
}

func signRS256(t *testing.T, key *rsa.PrivateKey, header map[string]any, claims jwt.MapClaims) string {
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

// TestVerifierKeyIdentity: the key ID a token is checked under is the name
// of the key that verified it. A header kid that names no key, or names
// another key than the one that verifies, is refused; a token without kid
// is known by the key that verifies it.
func TestVerifierKeyIdentity(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	anon, _ := rsa.GenerateKey(rand.Reader, 2048)
	anonID, _ := keyset.Thumbprint(&anon.PublicKey)
	ks, err := keyset.NewStatic(keyset.Key{ID: "k1", Key: &k1.PublicKey}, keyset.Key{ID: "k2", Key: &k2.PublicKey}, keyset.Key{Key: &anon.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	if ids := ks.IDs(); len(ids) != 3 || ids[2] != anonID {
		t.Errorf("IDs() = %v, want k1, k2 and the thumbprint %s", ids, anonID)
	}
	v, err := verify.New(ks, []string{"RS256"})
	if err != nil {
		t.Fatal(err)
	}
	claims := func() jwt.MapClaims { return jwt.MapClaims{"jti": "j", "exp": time.Now().Add(time.Hour).Unix()} }
	for i, tt := range []struct {
		key     *rsa.PrivateKey
		header  map[string]any
		wantKID string // "" = refused
	}{
		{k1, map[string]any{"kid": "k1"}, "k1"},
		{k1, nil, "k1"},
		{k2, nil, "k2"},
		{anon, nil, anonID},
		{anon, map[string]any{"kid": anonID}, anonID},
		{k1, map[string]any{"kid": "k2"}, ""},        // another key's name
		{k1, map[string]any{"kid": "other-kid"}, ""}, // no key's name
		{k1, map[string]any{"kid": ""}, ""},
		{k1, map[string]any{"kid": 1}, ""},
		{k1, map[string]any{"kid": []any{"k1"}}, ""},
	} {
		_, tok, aerr := v.Verify(signRS256(t, tt.key, tt.header, claims()))
		switch {
		case tt.wantKID == "" && aerr == nil:
			t.Errorf("step %d: Verify(header %v) = kid %q, want refused", i, tt.header, tok.KeyID)
		case tt.wantKID != "" && aerr != nil:
			t.Errorf("step %d: Verify(header %v) error = %v, want kid %q", i, tt.header, aerr, tt.wantKID)
		case tok.KeyID != tt.wantKID:
			t.Errorf("step %d: Verify(header %v) kid = %q, want %q", i, tt.header, tok.KeyID, tt.wantKID)
		}
	}
	if _, err := keyset.NewStatic(keyset.Key{ID: "a", Key: &k1.PublicKey}, keyset.Key{ID: "a", Key: &k2.PublicKey}); err == nil {
		t.Error("NewStatic(two keys named a) error = nil, want an error")
	}
	if _, err := keyset.NewStatic(keyset.Key{ID: "a", Key: "pem text"}); err == nil {
		t.Error("NewStatic(a string key) error = nil, want an error")
	}
}

// TestKeyfuncIdentityIsTheHeader documents what a plain keyfunc can and
// cannot protect: the identity is the header's kid.
func TestKeyfuncIdentityIsTheHeader(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	strict := func(tok *jwt.Token) (any, error) {
		if tok.Header["kid"] != "k1" {
			return nil, errors.New("unknown kid")
		}
		return &k1.PublicKey, nil
	}
	v, err := verify.New(keyset.Keyfunc(strict), []string{"RS256"})
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"jti": "j", "exp": time.Now().Add(time.Hour).Unix()}
	if _, tok, aerr := v.Verify(signRS256(t, k1, map[string]any{"kid": "k1"}, claims)); aerr != nil || tok.KeyID != "k1" {
		t.Errorf("strict keyfunc, kid k1: %+v, %v; want kid k1", tok, aerr)
	}
	if _, _, aerr := v.Verify(signRS256(t, k1, nil, claims)); aerr == nil {
		t.Error("strict keyfunc, no kid: verified, want refused")
	}
}

// TestVerifierCrit applies RFC 7515 §4.1.11.
func TestVerifierCrit(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	ks, err := keyset.NewStatic(keyset.Key{ID: "k", Key: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := verify.New(ks, []string{"RS256"})
	if err != nil {
		t.Fatal(err)
	}
	knowsExt, err := verify.New(ks, []string{"RS256"}, verify.WithCriticalHeaders("x-ext"))
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"jti": "j", "exp": time.Now().Add(time.Hour).Unix()}
	for i, tt := range []struct {
		header         map[string]any
		plain, knowsOK bool
	}{
		{map[string]any{}, true, true},
		{map[string]any{"crit": []any{"x-ext"}, "x-ext": 1}, false, true},
		{map[string]any{"crit": []any{"x-ext"}}, false, false}, // listed but absent
		{map[string]any{"crit": []any{}}, false, false},
		{map[string]any{"crit": "x-ext", "x-ext": 1}, false, false},
		{map[string]any{"crit": []any{"kid"}, "kid": "k"}, false, false}, // registered by JWS
		{map[string]any{"crit": []any{"alg"}}, false, false},
		{map[string]any{"crit": []any{"b64"}, "b64": false}, false, false},
		{map[string]any{"crit": []any{"x-ext", "x-other"}, "x-ext": 1, "x-other": 2}, false, false},
		{map[string]any{"crit": []any{1}}, false, false},
		{map[string]any{"crit": nil}, false, false},
	} {
		raw := signRS256(t, key, tt.header, claims)
		if _, _, aerr := plain.Verify(raw); (aerr == nil) != tt.plain {
			t.Errorf("step %d: Verify(header %v) error = %v, want ok %v", i, tt.header, aerr, tt.plain)
		} else if aerr != nil && verify.AsError(aerr).Reason != jwtrevoke.ReasonInvalid && verify.AsError(aerr).Reason != jwtrevoke.ReasonMalformed {
			t.Errorf("step %d: Verify(header %v) reason %s, want invalid", i, tt.header, verify.AsError(aerr).Reason)
		}
		if _, _, aerr := knowsExt.Verify(raw); (aerr == nil) != tt.knowsOK {
			t.Errorf("step %d: Verify(header %v) understanding x-ext: error = %v, want ok %v", i, tt.header, aerr, tt.knowsOK)
		}
	}
	for _, name := range []string{"", "kid", "crit", "x5t#S256"} {
		if _, err := verify.New(ks, []string{"RS256"}, verify.WithCriticalHeaders(name)); err == nil {
			t.Errorf("WithCriticalHeaders(%q) error = nil, want an error", name)
		}
	}
}

// TestVerifierClaimTypes: a jti, sub or sid that is present but not a
// non-empty string is malformed, never read as absent.
func TestVerifierClaimTypes(t *testing.T) {
	ks, err := keyset.NewStatic(keyset.Key{ID: "k", Key: testkit.HMACKey})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(ks, []string{"HS256"})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	for i, c := range []jwt.MapClaims{
		{"jti": "j", "sub": 4242, "exp": exp},
		{"jti": "j", "sub": "", "exp": exp},
		{"jti": "j", "sid": 7, "exp": exp},
		{"jti": "j", "sid": []any{"s"}, "exp": exp},
		{"jti": 9, "exp": exp},
		{"jti": "j", "sub": nil, "exp": exp},
	} {
		_, _, aerr := v.Verify(testkit.SignHS256(t, testkit.HMACKey, c, ""))
		if aerr == nil || verify.AsError(aerr).Reason != jwtrevoke.ReasonMalformed || !strings.Contains(aerr.Error(), "malformed claims") {
			t.Errorf("step %d: Verify(%v) = %v, want malformed claims", i, c, aerr)
		}
	}
}

// TestJWKSKeyIdentity: through a JWKS, the identity is the kid of the
// published key that verified, for tokens with and without a kid header.
func TestJWKSKeyIdentity(t *testing.T) {
	is := newIssuer(t)
	is.publish("a", "b")
	j := newJWKS(t, []string{is.srv.URL})
	v := verifier(t, j)
	is.mu.Lock()
	ka := is.keys["a"]
	is.mu.Unlock()
	sign := func(header map[string]any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"jti": "j", "exp": time.Now().Add(time.Hour).Unix()})
		for k, val := range header {
			tok.Header[k] = val
		}
		s, err := tok.SignedString(ka)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for i, tt := range []struct {
		header  map[string]any
		wantKID string
	}{
		{map[string]any{"kid": "a"}, "a"},
		{nil, "a"},
		{map[string]any{"kid": "b"}, ""},
		{map[string]any{"kid": "not-published"}, ""},
	} {
		_, tok, aerr := v.Verify(sign(tt.header))
		switch {
		case tt.wantKID == "" && aerr == nil:
			t.Errorf("step %d: Verify(header %v) = kid %q, want refused", i, tt.header, tok.KeyID)
		case tt.wantKID != "" && (aerr != nil || tok.KeyID != tt.wantKID):
			t.Errorf("step %d: Verify(header %v) = kid %q, %v; want kid %q", i, tt.header, tok.KeyID, aerr, tt.wantKID)
		}
	}
}
