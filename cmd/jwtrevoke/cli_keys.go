package main

// Keys the shell verbs read from files: the keys that verify JWTs (revoke
// token, check) and the ed25519 keys that sign or verify revocation events
// (revoke --sign-key, watch and check --trust-key).

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/pflag"

	"github.com/jwtrevoke/jwtrevoke"
)

// cliTokenFlags are the flags that say how a JWT given on the command line is
// verified: an HMAC secret or PEM public keys, the algorithms allowed, or
// --unverified to only decode it.
type cliTokenFlags struct {
	hmacSecret     string
	hmacSecretFile string
	pemFiles       []string
	algs           []string
	unverified     bool
}

func (f *cliTokenFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.hmacSecret, "hmac-secret", "", "HMAC secret the token is signed with (visible in ps and shell history: prefer --hmac-secret-file)")
	fs.StringVar(&f.hmacSecretFile, "hmac-secret-file", "", "file holding the HMAC secret (one trailing newline is ignored)")
	fs.StringArrayVar(&f.pemFiles, "pem", nil, "PEM file with the issuer's public key, certificate or private key (RSA, ECDSA or Ed25519); repeat for several keys")
	fs.StringSliceVar(&f.algs, "alg", nil, "signing algorithms to accept, comma separated (default: HS256,HS384,HS512 with an HMAC secret, else those of the PEM keys' type)")
	fs.BoolVar(&f.unverified, "unverified", false, "only decode the token, without checking its signature: its claims are taken on trust")
}

// keyfunc returns the jwt.Keyfunc and the algorithms of the configured
// verification keys.
func (f *cliTokenFlags) keyfunc() (jwt.Keyfunc, []string, error) {
	hmac := f.hmacSecret != "" || f.hmacSecretFile != ""
	switch {
	case f.unverified && (hmac || len(f.pemFiles) > 0):
		return nil, nil, errors.New("--unverified and a verification key (--hmac-secret, --hmac-secret-file, --pem) exclude each other")
	case f.unverified:
		return nil, nil, nil
	case f.hmacSecret != "" && f.hmacSecretFile != "":
		return nil, nil, errors.New("give the HMAC secret once: --hmac-secret or --hmac-secret-file")
	case hmac && len(f.pemFiles) > 0:
		return nil, nil, errors.New("an HMAC secret and PEM keys exclude each other (a verifier that accepts both can be fooled into HMAC with a public key)")
	case !hmac && len(f.pemFiles) == 0:
		return nil, nil, errors.New("no key to verify the token: pass --hmac-secret-file, --hmac-secret or --pem (or --unverified to only decode it)")
	}
	if hmac {
		secret := []byte(f.hmacSecret)
		if f.hmacSecretFile != "" {
			b, err := os.ReadFile(f.hmacSecretFile)
			if err != nil {
				return nil, nil, fmt.Errorf("--hmac-secret-file: %w", err)
			}
			secret = []byte(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"))
		}
		if len(secret) == 0 {
			return nil, nil, errors.New("the HMAC secret is empty")
		}
		algs := f.algs
		if len(algs) == 0 {
			algs = []string{"HS256", "HS384", "HS512"}
		}
		return func(*jwt.Token) (any, error) { return secret, nil }, algs, nil
	}
	var (
		keys []jwt.VerificationKey
		algs []string
	)
	for _, path := range f.pemFiles {
		pubs, err := cliReadPEMKeys(path)
		if err != nil {
			return nil, nil, err
		}
		for _, k := range pubs {
			keys = append(keys, k)
			for _, a := range cliAlgsForKey(k) {
				if !slices.Contains(algs, a) {
					algs = append(algs, a)
				}
			}
		}
	}
	if len(f.algs) > 0 {
		algs = f.algs
	}
	if len(keys) == 1 {
		return func(*jwt.Token) (any, error) { return keys[0], nil }, algs, nil
	}
	set := jwt.VerificationKeySet{Keys: keys}
	return func(*jwt.Token) (any, error) { return set, nil }, algs, nil
}

// cliReadPEMKeys returns the public keys of every key or certificate in
// a PEM file. Private keys are accepted (their public half is used), so the
// issuer's key file works as is.
func cliReadPEMKeys(path string) ([]crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--pem: %w", err)
	}
	var keys []crypto.PublicKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		k, err := cliPEMPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("--pem %s: %s block: %w", path, b.Type, err)
		}
		if k != nil {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("--pem %s: no public key, certificate or private key found", path)
	}
	return keys, nil
}

// cliPEMPublicKey returns the public key of one PEM block, or nil for a block
// that holds none (such as EC PARAMETERS).
func cliPEMPublicKey(b *pem.Block) (crypto.PublicKey, error) {
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

// cliAlgsForKey lists the JWT algorithms a public key can verify.
func cliAlgsForKey(k crypto.PublicKey) []string {
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

// cliParseUnverified decodes a JWT's header and claims without checking
// its signature or times.
func cliParseUnverified(raw string) (jwtrevoke.Token, error) {
	if strings.Count(raw, ".") != 2 {
		return jwtrevoke.Token{}, errors.New("not a JWT: a JWT has three dot-separated parts")
	}
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		return jwtrevoke.Token{}, fmt.Errorf("not a JWT: %w", err)
	}
	return jwtrevoke.FromJWT(tok), nil
}

// cliUnverifiedWarning is printed to stderr whenever --unverified is used.
const cliUnverifiedWarning = `WARNING: --unverified: the token's signature was NOT verified.
WARNING: its claims (jti, sub, sid, kid, iat, exp) are taken on trust; anyone can forge them.`

// cliReadSigningKey reads an ed25519 private key: PEM (PKCS#8 "PRIVATE KEY",
// as `openssl genpkey -algorithm ed25519` writes), or a 32-byte seed or
// 64-byte private key as hex, base64 or raw bytes.
func cliReadSigningKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("%s: PEM block %q: want an ed25519 PKCS#8 PRIVATE KEY", path, b.Type)
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: a %T, not an ed25519 key", path, k)
		}
		return priv, nil
	}
	raw, err := cliKeyBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !priv.Equal(ed25519.PrivateKey(raw)) {
			return nil, fmt.Errorf("%s: the 64-byte key's public half does not match its seed", path)
		}
		return priv, nil
	}
	return nil, fmt.Errorf("%s: %d bytes: want a 32-byte ed25519 seed or a 64-byte private key", path, len(raw))
}

// cliReadTrustKey reads an ed25519 public key: PEM (PKIX "PUBLIC KEY", or a
// private key, whose public half is used), or 32 bytes as hex, base64 or
// raw bytes.
func cliReadTrustKey(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(data); b != nil {
		if b.Type == "PRIVATE KEY" {
			priv, err := cliReadSigningKey(path)
			if err != nil {
				return nil, err
			}
			return priv.Public().(ed25519.PublicKey), nil
		}
		k, err := cliPEMPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%s: PEM block %q is not an ed25519 public key", path, b.Type)
		}
		return pub, nil
	}
	raw, err := cliKeyBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%s: %d bytes: want a 32-byte ed25519 public key", path, len(raw))
	}
	return ed25519.PublicKey(raw), nil
}

// cliKeyBytes decodes key material written as hex or base64 (standard or URL
// alphabet, padded or not), or taken as raw bytes when it is exactly 32 or
// 64 bytes long.
func cliKeyBytes(data []byte) ([]byte, error) {
	text := strings.TrimSpace(string(data))
	if b, err := hex.DecodeString(text); err == nil && len(b) > 0 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(text); err == nil && len(b) > 0 {
			return b, nil
		}
	}
	if n := len(data); n == 32 || n == 64 {
		return data, nil
	}
	return nil, errors.New("not a key: want PEM, hex, base64 or raw bytes")
}

// cliParseTrustKeys turns --trust-key kid=file flags into a KeySet.
func cliParseTrustKeys(specs []string) (jwtrevoke.KeySet, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	ks := jwtrevoke.KeySet{}
	for _, s := range specs {
		kid, path, ok := strings.Cut(s, "=")
		if !ok || kid == "" || path == "" {
			return nil, fmt.Errorf("--trust-key %q: want key-id=file", s)
		}
		if len(kid) > jwtrevoke.MaxKeyIDLen {
			return nil, fmt.Errorf("--trust-key %q: key ID longer than %d bytes", s, jwtrevoke.MaxKeyIDLen)
		}
		if _, dup := ks[kid]; dup {
			return nil, fmt.Errorf("--trust-key: key ID %q given twice", kid)
		}
		pub, err := cliReadTrustKey(path)
		if err != nil {
			return nil, fmt.Errorf("--trust-key %s: %w", kid, err)
		}
		ks[kid] = pub
	}
	return ks, nil
}

// cliRevokeParser checks a token's signature and algorithm, not its
// times: revoking a token that has expired, or is not valid yet, is fine.
func cliRevokeParser(algs []string) *jwt.Parser {
	return jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithoutClaimsValidation())
}
