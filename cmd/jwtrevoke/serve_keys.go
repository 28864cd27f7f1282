package main

// The keys `jwtrevoke serve` verifies tokens with: an HMAC secret, PEM public
// keys, or JWKS URLs (MicahParks/keyfunc, with refresh and kid rotation).

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// serveMinHMACBytes is the shortest HMAC secret serve accepts: RFC 7518
// §3.2 requires a key at least as long as the hash output (HS256: 32 bytes).
const serveMinHMACBytes = 32

// serveKeyFlags are serve's token verification flags.
type serveKeyFlags struct {
	hmacSecret     string
	hmacSecretFile string
	pemFiles       []string
	jwksURLs       []string
	jwksRefresh    time.Duration
	algs           []string
}

// servePEMKey is one public key read from a PEM file.
type servePEMKey struct {
	kid  string
	key  crypto.PublicKey
	file string
}

// serveKeyring holds the keys that verify tokens. It is safe for use by
// multiple goroutines once built.
type serveKeyring struct {
	hmac  []byte
	pem   []servePEMKey
	byKID map[string]crypto.PublicKey
	jwks  keyfunc.Keyfunc // nil without --jwks-url
	algs  []string
}

// keyring reads the configured keys and starts the JWKS refresh, which
// runs until ctx ends. It returns an error naming the flag at fault.
func (f *serveKeyFlags) keyring(ctx context.Context, log *slog.Logger) (*serveKeyring, error) {
	k := &serveKeyring{byKID: map[string]crypto.PublicKey{}}
	secret := f.hmacSecret
	if f.hmacSecretFile != "" {
		if secret != "" {
			return nil, errors.New("give the HMAC secret once: --hmac-secret (or JWTREVOKE_HMAC_SECRET) or --hmac-secret-file")
		}
		b, err := os.ReadFile(f.hmacSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--hmac-secret-file: %w", err)
		}
		secret = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	switch {
	case secret != "" && (len(f.pemFiles) > 0 || len(f.jwksURLs) > 0):
		return nil, errors.New("an HMAC secret excludes --pem and --jwks-url: a verifier that accepts both can be tricked into HMAC with a public key")
	case secret == "" && len(f.pemFiles) == 0 && len(f.jwksURLs) == 0:
		return nil, errors.New("no keys to verify tokens: give --hmac-secret (or --hmac-secret-file), --pem or --jwks-url")
	case secret != "" && len(secret) < serveMinHMACBytes:
		return nil, fmt.Errorf("the HMAC secret is %d bytes; RFC 7518 requires at least %d for HS256", len(secret), serveMinHMACBytes)
	}
	var defaults []string
	if secret != "" {
		k.hmac = []byte(secret)
		defaults = []string{"HS256"}
	}
	for _, spec := range f.pemFiles {
		pk, err := serveReadPEM(spec)
		if err != nil {
			return nil, err
		}
		if _, dup := k.byKID[pk.kid]; dup {
			return nil, fmt.Errorf("--pem %s: key ID %q given twice (name keys with kid=path)", spec, pk.kid)
		}
		k.byKID[pk.kid] = pk.key
		k.pem = append(k.pem, pk)
		defaults = append(defaults, serveAlgsForKey(pk.key)...)
	}
	if len(f.jwksURLs) > 0 {
		for _, u := range f.jwksURLs {
			pu, err := url.Parse(u)
			if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
				return nil, fmt.Errorf("--jwks-url %q is not an http(s) URL", u)
			}
			if pu.Scheme == "http" && !serveIsLoopback(pu.Hostname()) {
				log.Warn("JWKS fetched over plain HTTP: anyone on the path can substitute keys", "url", u)
			}
		}
		jwks, err := keyfunc.NewDefaultOverrideCtx(ctx, f.jwksURLs, keyfunc.Override{
			HTTPTimeout:      10 * time.Second,
			RefreshInterval:  f.jwksRefresh,
			RateLimitWaitMax: 2 * time.Second, // an unknown kid never holds a request for long
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(_ context.Context, err error) { log.Error("refreshing JWKS", "url", u, "err", err) }
			},
		})
		if err != nil {
			return nil, fmt.Errorf("--jwks-url: %w", err)
		}
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
		case k.hmac != nil && !hs:
			return nil, fmt.Errorf("--alg %s needs a public key, but the key is an HMAC secret", alg)
		case k.hmac == nil && hs:
			return nil, fmt.Errorf("--alg %s needs an HMAC secret, but the keys are public keys", alg)
		}
	}
	return k, nil
}

// keyfunc picks the key for a token: the HMAC secret; else the PEM key
// named by the token's kid; else, for an unknown or absent kid, the JWKS
// (which refetches for a new kid, rate limited) or, without one, every PEM
// key in turn. Trying every trusted key is safe: the algorithms are fixed
// and the jwt package checks each key's type against the algorithm.
func (k *serveKeyring) keyfunc(t *jwt.Token) (any, error) {
	if k.hmac != nil {
		return k.hmac, nil
	}
	kid, _ := t.Header["kid"].(string)
	if key, ok := k.byKID[kid]; ok && kid != "" {
		return key, nil
	}
	if k.jwks != nil {
		key, err := k.jwks.Keyfunc(t)
		if err == nil || len(k.pem) == 0 {
			return key, err
		}
	}
	if len(k.pem) == 0 {
		return nil, errors.New("no key for this token")
	}
	set := jwt.VerificationKeySet{}
	for _, p := range k.pem {
		set.Keys = append(set.Keys, p.key)
	}
	return set, nil
}

// describe lists the keys for the startup log.
func (k *serveKeyring) describe() []any {
	var kinds []string
	if k.hmac != nil {
		kinds = append(kinds, "hmac")
	}
	for _, p := range k.pem {
		kinds = append(kinds, "pem:"+p.kid)
	}
	if k.jwks != nil {
		kinds = append(kinds, "jwks")
	}
	return []any{"keys", strings.Join(kinds, ","), "algs", strings.Join(k.algs, ",")}
}

// serveReadPEM reads "path" or "kid=path". The key ID defaults to the
// file's base name without its extension (keys/2026-01.pem → "2026-01").
// The file holds a PUBLIC KEY (PKIX), an RSA PUBLIC KEY (PKCS #1) or a
// CERTIFICATE; a private key is refused, as serve only verifies.
func serveReadPEM(spec string) (servePEMKey, error) {
	kid, path, ok := strings.Cut(spec, "=")
	if !ok {
		path = spec
		kid = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if kid == "" || path == "" {
		return servePEMKey{}, fmt.Errorf("--pem %q: want path or kid=path", spec)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return servePEMKey{}, fmt.Errorf("--pem: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return servePEMKey{}, fmt.Errorf("--pem %s: no PEM block", path)
	}
	var key crypto.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return servePEMKey{}, fmt.Errorf("--pem %s holds a private key; serve only verifies: give it the public key (openssl pkey -in %s -pubout)", path, path)
		}
		return servePEMKey{}, fmt.Errorf("--pem %s: unsupported PEM block %q", path, block.Type)
	}
	if err != nil {
		return servePEMKey{}, fmt.Errorf("--pem %s: %w", path, err)
	}
	if serveAlgsForKey(key) == nil {
		return servePEMKey{}, fmt.Errorf("--pem %s: unsupported key type %T", path, key)
	}
	return servePEMKey{kid: kid, key: key, file: path}, nil
}

// serveAlgsForKey returns the default algorithm of a public key's type.
func serveAlgsForKey(k crypto.PublicKey) []string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return []string{"RS256"}
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

func serveIsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
