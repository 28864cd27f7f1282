package main

// The keys jwtrevoke reads. Those that verify JWTs: serve's (an HMAC
// secret, PEM public keys or JWKS URLs, with MicahParks/keyfunc refreshing
// the JWKS and following kid rotation) and those of check and revoke token
// (an HMAC secret or PEM keys, or --unverified to only decode the token).
// And the ed25519 keys that sign or verify revocation events (revoke
// --sign-key, watch and check --trust-key).
//
// serve and the shell verbs read the same flags with different rules:
// serve verifies anyone's tokens for as long as it runs, so it takes public
// keys only, an HMAC secret of at least serveMinHMACBytes, and one default
// algorithm per key; the shell verbs check one token an operator holds, so
// they also take the issuer's private key file, any HMAC secret, and every
// algorithm the keys' types can verify.

import (
	"context"
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
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/pflag"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/keyset"
)

// serveMinHMACBytes is the shortest HMAC secret serve accepts: RFC 7518
// §3.2 requires a key at least as long as the hash output (HS256: 32 bytes).
const serveMinHMACBytes = 32

// keyFlags are the flags that say which keys verify JWTs.
type keyFlags struct {
	hmacSecret     string
	hmacSecretFile string
	hmacKeyID      string
	pemFiles       []string
	algs           []string
	jwksURLs       []string      // serve only
	jwksRefresh    time.Duration // serve only
	unverified     bool          // check and revoke token only: decode without verifying
}

// registerServe adds serve's key flags to fs.
func (f *keyFlags) registerServe(fs *pflag.FlagSet) {
	fs.StringVar(&f.hmacSecret, "hmac-secret", "", fmt.Sprintf("HMAC secret that verifies tokens, at least %d bytes (env JWTREVOKE_HMAC_SECRET)", serveMinHMACBytes))
	fs.StringVar(&f.hmacSecretFile, "hmac-secret-file", "", "file holding the HMAC secret (one trailing newline is ignored)")
	fs.StringVar(&f.hmacKeyID, "hmac-key-id", "", "the HMAC secret's name: the kid its tokens may carry and a key revocation names (default: its RFC 7638 thumbprint, logged at start)")
	fs.StringArrayVar(&f.pemFiles, "pem", nil, "PEM file with a public key or certificate (RSA, ECDSA, Ed25519) that verifies tokens, as path or kid=path (default kid: the file name without extension): the kid its tokens may carry and a key revocation names; repeatable")
	fs.StringArrayVar(&f.jwksURLs, "jwks-url", nil, "JWKS URL of the issuer's keys, refreshed periodically and on an unknown kid; repeatable")
	fs.DurationVar(&f.jwksRefresh, "jwks-refresh", time.Hour, "how often to refetch the JWKS")
	fs.StringSliceVar(&f.algs, "alg", nil, "signing algorithms to accept, comma separated or repeated (default: HS256 with an HMAC secret; RS256, ES256/384/512 or EdDSA per PEM key type; RS256,ES256,EdDSA with a JWKS)")
}

// registerCLI adds the key flags of check and revoke token to fs.
func (f *keyFlags) registerCLI(fs *pflag.FlagSet) {
	fs.StringVar(&f.hmacSecret, "hmac-secret", "", "HMAC secret the token is signed with (visible in ps and shell history: prefer --hmac-secret-file)")
	fs.StringVar(&f.hmacSecretFile, "hmac-secret-file", "", "file holding the HMAC secret (one trailing newline is ignored)")
	fs.StringVar(&f.hmacKeyID, "hmac-key-id", "", "the HMAC secret's name, as serve knows it: the kid its tokens may carry (default: its RFC 7638 thumbprint)")
	fs.StringArrayVar(&f.pemFiles, "pem", nil, "PEM file with the issuer's public key, certificate or private key (RSA, ECDSA or Ed25519), as path or kid=path (default kid: the file name without extension, as serve names it); repeat for several keys")
	fs.StringSliceVar(&f.algs, "alg", nil, "signing algorithms to accept, comma separated (default: HS256,HS384,HS512 with an HMAC secret, else those of the PEM keys' type)")
	fs.BoolVar(&f.unverified, "unverified", false, "only decode the token, without checking its signature: its claims are taken on trust")
}

// keyring holds the keys that verify tokens, each known by its name, and
// the algorithms they are accepted with. It is the verifier's KeySet: a key
// revocation is checked against the name of the key that verified a token,
// so a header kid cannot steer a token around one. It is safe for use by
// multiple goroutines once built.
type keyring struct {
	named *keyset.Static // the HMAC secret or the PEM keys; nil with only a JWKS
	jwks  *keyset.JWKS   // nil without --jwks-url
	algs  []string
}

// pemKey is one public key read from a PEM file.
type pemKey struct {
	kid  string // kid=path, or the file name without extension
	key  crypto.PublicKey
	file string
}

// serveKeyring reads serve's keys and starts the JWKS refresh, which runs
// until ctx ends. It returns an error naming the flag at fault.
func (f *keyFlags) serveKeyring(ctx context.Context, log *slog.Logger) (*keyring, error) {
	k := &keyring{}
	secret := f.hmacSecret
	if f.hmacSecretFile != "" {
		if secret != "" {
			return nil, errors.New("give the HMAC secret once: --hmac-secret (or JWTREVOKE_HMAC_SECRET) or --hmac-secret-file")
		}
		var err error
		if secret, err = readSecretFile("--hmac-secret-file", f.hmacSecretFile); err != nil {
			return nil, err
		}
	}
	switch {
	case secret != "" && (len(f.pemFiles) > 0 || len(f.jwksURLs) > 0):
		return nil, errors.New("an HMAC secret excludes --pem and --jwks-url: a verifier that accepts both can be tricked into HMAC with a public key")
	case secret == "" && len(f.pemFiles) == 0 && len(f.jwksURLs) == 0:
		return nil, errors.New("no keys to verify tokens: give --hmac-secret (or --hmac-secret-file), --pem or --jwks-url")
	case secret != "" && len(secret) < serveMinHMACBytes:
		return nil, fmt.Errorf("the HMAC secret is %d bytes; RFC 7518 requires at least %d for HS256", len(secret), serveMinHMACBytes)
	case secret == "" && f.hmacKeyID != "":
		return nil, errors.New("--hmac-key-id names an HMAC secret, but none is given")
	}
	var defaults []string
	var named []keyset.Key
	if secret != "" {
		named = append(named, keyset.Key{ID: f.hmacKeyID, Key: []byte(secret)})
		defaults = []string{"HS256"}
	}
	seen := map[string]bool{}
	for _, spec := range f.pemFiles {
		pk, err := serveReadPEM(spec)
		if err != nil {
			return nil, err
		}
		if seen[pk.kid] {
			return nil, fmt.Errorf("--pem %s: key ID %q given twice (name keys with kid=path)", spec, pk.kid)
		}
		seen[pk.kid] = true
		named = append(named, keyset.Key{ID: pk.kid, Key: pk.key})
		defaults = append(defaults, keyAlgs(pk.key)[0])
	}
	if err := k.setNamed(named); err != nil {
		return nil, err
	}
	if len(f.jwksURLs) > 0 {
		jwks, err := keyset.NewJWKS(ctx, f.jwksURLs,
			keyset.WithRefresh(f.jwksRefresh),
			keyset.WithUnknownKID(5*time.Minute, 2*time.Second), // an unknown kid never holds a request for long
			keyset.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("--jwks-url: %w", err)
		}
		context.AfterFunc(ctx, func() { jwks.Close() })
		k.jwks = jwks
		defaults = append(defaults, "RS256", "ES256", "EdDSA")
	}

	k.algs = f.algs
	if len(k.algs) == 0 {
		slices.Sort(defaults)
		k.algs = slices.Compact(defaults)
	}
	for _, alg := range k.algs {
		hs := strings.HasPrefix(alg, "HS")
		switch {
		case secret != "" && !hs:
			return nil, fmt.Errorf("--alg %s needs a public key, but the key is an HMAC secret", alg)
		case secret == "" && hs:
			return nil, fmt.Errorf("--alg %s needs an HMAC secret, but the keys are public keys", alg)
		}
	}
	return k, nil
}

// setNamed makes the fixed keys of the ring.
func (k *keyring) setNamed(named []keyset.Key) error {
	if len(named) == 0 {
		return nil
	}
	ks, err := keyset.NewStatic(named...)
	if err != nil {
		return err
	}
	k.named = ks
	return nil
}

// cliKeyring reads the keys of check and revoke token, or returns nil with
// --unverified.
func (f *keyFlags) cliKeyring() (*keyring, error) {
	hmac := f.hmacSecret != "" || f.hmacSecretFile != ""
	switch {
	case f.unverified && (hmac || len(f.pemFiles) > 0):
		return nil, errors.New("--unverified and a verification key (--hmac-secret, --hmac-secret-file, --pem) exclude each other")
	case f.unverified:
		return nil, nil
	case f.hmacSecret != "" && f.hmacSecretFile != "":
		return nil, errors.New("give the HMAC secret once: --hmac-secret or --hmac-secret-file")
	case hmac && len(f.pemFiles) > 0:
		return nil, errors.New("an HMAC secret and PEM keys exclude each other (a verifier that accepts both can be fooled into HMAC with a public key)")
	case !hmac && len(f.pemFiles) == 0:
		return nil, errors.New("no key to verify the token: pass --hmac-secret-file, --hmac-secret or --pem (or --unverified to only decode it)")
	case !hmac && f.hmacKeyID != "":
		return nil, errors.New("--hmac-key-id names an HMAC secret, but none is given")
	}
	k := &keyring{algs: f.algs}
	if hmac {
		secret := f.hmacSecret
		if f.hmacSecretFile != "" {
			var err error
			if secret, err = readSecretFile("--hmac-secret-file", f.hmacSecretFile); err != nil {
				return nil, err
			}
		}
		if secret == "" {
			return nil, errors.New("the HMAC secret is empty")
		}
		if len(k.algs) == 0 {
			k.algs = []string{"HS256", "HS384", "HS512"}
		}
		return k, k.setNamed([]keyset.Key{{ID: f.hmacKeyID, Key: []byte(secret)}})
	}
	var defaults []string
	var named []keyset.Key
	for _, spec := range f.pemFiles {
		kid, path, ok := strings.Cut(spec, "=")
		if !ok {
			path, kid = spec, strings.TrimSuffix(filepath.Base(spec), filepath.Ext(spec))
		}
		if kid == "" || path == "" {
			return nil, fmt.Errorf("--pem %q: want path or kid=path", spec)
		}
		keys, err := cliReadPEMKeys(path)
		if err != nil {
			return nil, err
		}
		if len(keys) > 1 && ok {
			return nil, fmt.Errorf("--pem %s holds %d keys; one name cannot name them all: give each key its own file, or no name (each is then known by its RFC 7638 thumbprint)", spec, len(keys))
		}
		for _, key := range keys {
			id := kid
			if len(keys) > 1 {
				id = "" // known by its thumbprint
			}
			named = append(named, keyset.Key{ID: id, Key: key})
			for _, a := range keyAlgs(key) {
				if !slices.Contains(defaults, a) {
					defaults = append(defaults, a)
				}
			}
		}
	}
	if len(k.algs) == 0 {
		k.algs = defaults
	}
	return k, k.setNamed(named)
}

// VerificationKeys makes the ring an keyset.Set: for a token with a kid,
// the named key of that kid, else the JWKS key of that kid (fetched again
// for an unknown kid, rate limited); for a token without one, every key.
// A kid that names no key is refused, so a token cannot borrow another
// key's name.
func (k *keyring) VerificationKeys(t *jwt.Token) ([]keyset.Key, error) {
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

// keyfunc is the ring as a jwt.Keyfunc, for revoke token: it revokes by
// jti, so only the signature matters, and a kid that names no key is
// looked past (every key is tried, as for a token without kid).
func (k *keyring) keyfunc(t *jwt.Token) (any, error) {
	keys, err := k.VerificationKeys(t)
	if errors.Is(err, keyset.ErrUnknownKey) {
		anon := *t
		anon.Header = maps.Clone(t.Header)
		delete(anon.Header, "kid")
		keys, err = k.VerificationKeys(&anon)
	}
	if err != nil {
		return nil, err
	}
	set := jwt.VerificationKeySet{}
	for _, key := range keys {
		set.Keys = append(set.Keys, key.Key)
	}
	return set, nil
}

// describe lists the keys for serve's startup log.
func (k *keyring) describe() []any {
	var names []string
	if k.named != nil {
		names = k.named.IDs()
	}
	if k.jwks != nil {
		names = append(names, "jwks")
	}
	return []any{"keys", strings.Join(names, ","), "algs", strings.Join(k.algs, ",")}
}

// readSecretFile reads a secret from the file path given with flag. One
// trailing newline (\n or \r\n), as editors write it, is not part of it.
func readSecretFile(flag, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
}

// serveReadPEM reads "path" or "kid=path". The key ID defaults to the
// file's base name without its extension (keys/2026-01.pem → "2026-01").
// The file's first block is a PUBLIC KEY (PKIX), an RSA PUBLIC KEY (PKCS #1)
// or a CERTIFICATE; a private key is refused, as serve only verifies.
func serveReadPEM(spec string) (pemKey, error) {
	kid, path, ok := strings.Cut(spec, "=")
	if !ok {
		path = spec
		kid = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if kid == "" || path == "" {
		return pemKey{}, fmt.Errorf("--pem %q: want path or kid=path", spec)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return pemKey{}, fmt.Errorf("--pem: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return pemKey{}, fmt.Errorf("--pem %s: no PEM block", path)
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return pemKey{}, fmt.Errorf("--pem %s holds a private key; serve only verifies: give it the public key (openssl pkey -in %s -pubout)", path, path)
	}
	key, err := pemPublicKey(block)
	switch {
	case err != nil:
		return pemKey{}, fmt.Errorf("--pem %s: %w", path, err)
	case key == nil:
		return pemKey{}, fmt.Errorf("--pem %s: unsupported PEM block %q", path, block.Type)
	case keyAlgs(key) == nil:
		return pemKey{}, fmt.Errorf("--pem %s: unsupported key type %T", path, key)
	}
	return pemKey{kid: kid, key: key, file: path}, nil
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
		k, err := pemPublicKey(b)
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

// pemPublicKey returns the public key of one PEM block: a PUBLIC KEY
// (PKIX), an RSA PUBLIC KEY (PKCS #1), a CERTIFICATE, or the public half of
// a PRIVATE KEY (PKCS #8), RSA PRIVATE KEY (PKCS #1) or EC PRIVATE KEY
// (SEC 1). It returns nil for a block that holds no key (such as EC
// PARAMETERS).
func pemPublicKey(b *pem.Block) (crypto.PublicKey, error) {
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

// keyAlgs lists the JWT algorithms a public key can verify, its type's
// default first (RS256 for RSA); nil for a type JWTs are not signed with.
func keyAlgs(k crypto.PublicKey) []string {
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
	t, err := jwtrevoke.FromJWT(tok)
	if err != nil {
		return jwtrevoke.Token{}, fmt.Errorf("not a usable JWT: %w", err)
	}
	return t, nil
}

// cliUnverifiedWarning is printed to stderr whenever --unverified is used.
const cliUnverifiedWarning = `WARNING: --unverified: the token's signature was NOT verified.
WARNING: its claims (jti, sub, sid, kid, iat, exp) are taken on trust; anyone can forge them.`

// cliRevokeParser checks a token's signature and algorithm, not its
// times: revoking a token that has expired, or is not valid yet, is fine.
func cliRevokeParser(algs []string) *jwt.Parser {
	return jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithoutClaimsValidation())
}

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
		k, err := pemPublicKey(b)
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
