package clitool

// The keys that verify JWTs, for serve (an HMAC secret, PEM public keys or
// JWKS URLs) and for check and revoke token (an HMAC secret or PEM keys).
// Each verb reads its own flags with its own rules (internal/serve,
// internal/cli); what they share is the ring the keys end up in and the
// reading of PEM files and secret files.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke/keyset"
)

// Keyring holds the keys that verify tokens, each known by its name, and
// the algorithms they are accepted with. It is the verifier's keyset.Set:
// a key revocation is checked against the name of the key that verified a
// token, so a header kid cannot steer a token around one. It is safe for
// use by multiple goroutines once built.
type Keyring struct {
	named *keyset.Static // the HMAC secret or the PEM keys; nil with only a JWKS
	jwks  *keyset.JWKS   // nil without --jwks-url
	algs  []string
}

// NewKeyring returns the ring of the fixed keys named (nil for none, with
// only a JWKS) and jwks (nil for none), accepted with algs.
func NewKeyring(named *keyset.Static, jwks *keyset.JWKS, algs []string) *Keyring {
	return &Keyring{named: named, jwks: jwks, algs: algs}
}

// StaticKeys is keyset.NewStatic for the fixed keys of a ring: nil for
// none.
func StaticKeys(keys []keyset.Key) (*keyset.Static, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	return keyset.NewStatic(keys...)
}

// Algs returns the algorithms the keys are accepted with.
func (k *Keyring) Algs() []string { return k.algs }

// Names lists the names of the fixed keys, and "jwks" for a JWKS, as
// serve logs them at start.
func (k *Keyring) Names() []string {
	var names []string
	if k.named != nil {
		names = k.named.IDs()
	}
	if k.jwks != nil {
		names = append(names, "jwks")
	}
	return names
}

// VerificationKeys makes the ring a keyset.Set: for a token with a kid,
// the named key of that kid, else the JWKS key of that kid (fetched again
// for an unknown kid, rate limited); for a token without one, every key.
// A kid that names no key is refused, so a token cannot borrow another
// key's name.
func (k *Keyring) VerificationKeys(t *jwt.Token) ([]keyset.Key, error) {
	switch {
	case k.jwks == nil:
		return k.named.VerificationKeys(t)
	case k.named == nil:
		return k.jwks.VerificationKeys(t)
	}
	named, nerr := k.named.VerificationKeys(t)
	if _, hasKID := t.Header["kid"]; hasKID && nerr == nil {
		return named, nil
	}
	fromJWKS, jerr := k.jwks.VerificationKeys(t)
	if _, hasKID := t.Header["kid"]; hasKID {
		return fromJWKS, jerr
	}
	return append(slices.Clip(named), fromJWKS...), nil
}

// ReadSecretFile reads a secret from the file path given with flag. One
// trailing newline (\n or \r\n), as editors write it, is not part of it.
func ReadSecretFile(flag, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
}

// PEMSpec reads a --pem value, "path" or "kid=path". The key ID defaults
// to the file's base name without its extension (keys/2026-01.pem →
// "2026-01"); named says whether the value gave one.
func PEMSpec(spec string) (kid, path string, named bool, err error) {
	kid, path, named = strings.Cut(spec, "=")
	if !named {
		path, kid = spec, strings.TrimSuffix(filepath.Base(spec), filepath.Ext(spec))
	}
	if kid == "" || path == "" {
		return "", "", false, fmt.Errorf("--pem %q: want path or kid=path", spec)
	}
	return kid, path, named, nil
}

// PEMPublicKey returns the public key of one PEM block: a PUBLIC KEY
// (PKIX), an RSA PUBLIC KEY (PKCS #1), a CERTIFICATE, or the public half of
// a PRIVATE KEY (PKCS #8), RSA PRIVATE KEY (PKCS #1) or EC PRIVATE KEY
// (SEC 1). It returns nil for a block that holds no key (such as EC
// PARAMETERS).
func PEMPublicKey(b *pem.Block) (crypto.PublicKey, error) {
	switch b.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(b.Bytes)
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		return s.Public(), nil
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		return &k.PublicKey, nil
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		return &k.PublicKey, nil
	}
	return nil, nil
}

// KeyAlgs lists the JWT algorithms a public key can verify, its type's
// default first (RS256 for RSA); nil for a type JWTs are not signed with.
func KeyAlgs(k crypto.PublicKey) []string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}
		case elliptic.P384():
			return []string{"ES384"}
		case elliptic.P521():
			return []string{"ES512"}
		}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	}
	return nil
}
