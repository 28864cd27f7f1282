package serve

// The keys serve verifies JWTs with: an HMAC secret, PEM public keys or
// JWKS URLs, with MicahParks/keyfunc refreshing the JWKS and following kid
// rotation. serve verifies anyone's tokens for as long as it runs, so it
// takes public keys only, an HMAC secret of at least minHMACBytes,
// and one default algorithm per key (the shell verbs' rules are looser:
// internal/cli).

import (
	"context"
	"crypto"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/keyset"
)

// minHMACBytes is the shortest HMAC secret serve accepts: RFC 7518
// §3.2 requires a key at least as long as the hash output (HS256: 32 bytes).
const minHMACBytes = 32

// keyFlags are the flags that say which keys verify JWTs.
type keyFlags struct {
	hmacSecret     string
	hmacSecretFile string
	hmacKeyID      string
	pemFiles       []string
	algs           []string
	jwksURLs       []string
	jwksRefresh    time.Duration
}

// register adds serve's key flags to fs.
func (f *keyFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.hmacSecret, "hmac-secret", "", fmt.Sprintf("HMAC secret that verifies tokens, at least %d bytes (env JWTREVOKE_HMAC_SECRET)", minHMACBytes))
	fs.StringVar(&f.hmacSecretFile, "hmac-secret-file", "", "file holding the HMAC secret (one trailing newline is ignored)")
	fs.StringVar(&f.hmacKeyID, "hmac-key-id", "", "the HMAC secret's name: the kid its tokens may carry and a key revocation names (default: its RFC 7638 thumbprint, logged at start)")
	fs.StringArrayVar(&f.pemFiles, "pem", nil, "PEM file with a public key or certificate (RSA, ECDSA, Ed25519) that verifies tokens, as path or kid=path (default kid: the file name without extension): the kid its tokens may carry and a key revocation names; repeatable")
	fs.StringArrayVar(&f.jwksURLs, "jwks-url", nil, "JWKS URL of the issuer's keys, refreshed periodically and on an unknown kid; repeatable")
	fs.DurationVar(&f.jwksRefresh, "jwks-refresh", time.Hour, "how often to refetch the JWKS")
	fs.StringSliceVar(&f.algs, "alg", nil, "signing algorithms to accept, comma separated or repeated (default: HS256 with an HMAC secret; RS256, ES256/384/512 or EdDSA per PEM key type; RS256,ES256,EdDSA with a JWKS)")
}

// keyring reads serve's keys and starts the JWKS refresh, which runs
// until ctx ends. It returns an error naming the flag at fault.
func (f *keyFlags) keyring(ctx context.Context, log *slog.Logger) (*clitool.Keyring, error) {
	secret, err := f.secret()
	if err != nil {
		return nil, err
	}
	named, defaults, err := f.namedKeys(secret)
	if err != nil {
		return nil, err
	}
	static, err := clitool.StaticKeys(named)
	if err != nil {
		return nil, err
	}
	var jwks *keyset.JWKS
	if len(f.jwksURLs) > 0 {
		if jwks, err = f.startJWKS(ctx, log); err != nil {
			return nil, err
		}
		defaults = append(defaults, "RS256", "ES256", "EdDSA")
	}
	algs, err := f.acceptedAlgs(defaults, secret != "")
	if err != nil {
		return nil, err
	}
	return clitool.NewKeyring(static, jwks, algs), nil
}

// secret reads the HMAC secret ("" for none) and checks that the keys
// given go together.
func (f *keyFlags) secret() (string, error) {
	secret := f.hmacSecret
	if f.hmacSecretFile != "" {
		if secret != "" {
			return "", errors.New("give the HMAC secret once: --hmac-secret (or JWTREVOKE_HMAC_SECRET) or --hmac-secret-file")
		}
		var err error
		if secret, err = clitool.ReadSecretFile("--hmac-secret-file", f.hmacSecretFile); err != nil {
			return "", err
		}
	}
	switch {
	case secret != "" && (len(f.pemFiles) > 0 || len(f.jwksURLs) > 0):
		return "", errors.New("an HMAC secret excludes --pem and --jwks-url: a verifier that accepts both can be tricked into HMAC with a public key")
	case secret == "" && len(f.pemFiles) == 0 && len(f.jwksURLs) == 0:
		return "", errors.New("no keys to verify tokens: give --hmac-secret (or --hmac-secret-file), --pem or --jwks-url")
	case secret != "" && len(secret) < minHMACBytes:
		return "", fmt.Errorf("the HMAC secret is %d bytes; RFC 7518 requires at least %d for HS256", len(secret), minHMACBytes)
	case secret == "" && f.hmacKeyID != "":
		return "", errors.New("--hmac-key-id names an HMAC secret, but none is given")
	}
	return secret, nil
}

// namedKeys returns the fixed keys, the HMAC secret or the PEM keys, each
// under its name, and their default algorithms.
func (f *keyFlags) namedKeys(secret string) (named []keyset.Key, defaults []string, _ error) {
	if secret != "" {
		return []keyset.Key{{ID: f.hmacKeyID, Key: []byte(secret)}}, []string{"HS256"}, nil
	}
	seen := map[string]bool{}
	for _, spec := range f.pemFiles {
		kid, key, err := readPEM(spec)
		if err != nil {
			return nil, nil, err
		}
		if seen[kid] {
			return nil, nil, fmt.Errorf("--pem %s: key ID %q given twice (name keys with kid=path)", spec, kid)
		}
		seen[kid] = true
		named = append(named, keyset.Key{ID: kid, Key: key})
		defaults = append(defaults, clitool.KeyAlgs(key)[0])
	}
	return named, defaults, nil
}

// startJWKS fetches the JWKS and refreshes it until ctx ends.
func (f *keyFlags) startJWKS(ctx context.Context, log *slog.Logger) (*keyset.JWKS, error) {
	jwks, err := keyset.NewJWKS(ctx, f.jwksURLs,
		keyset.WithRefresh(f.jwksRefresh),
		keyset.WithUnknownKID(5*time.Minute, 2*time.Second), // an unknown kid never holds a request for long
		keyset.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("--jwks-url: %w", err)
	}
	context.AfterFunc(ctx, func() { jwks.Close() })
	return jwks, nil
}

// acceptedAlgs returns --alg, or the keys' defaults, and refuses an
// algorithm the keys' kind cannot verify.
func (f *keyFlags) acceptedAlgs(defaults []string, hmac bool) ([]string, error) {
	algs := f.algs
	if len(algs) == 0 {
		slices.Sort(defaults)
		algs = slices.Compact(defaults)
	}
	for _, alg := range algs {
		hs := strings.HasPrefix(alg, "HS")
		switch {
		case hmac && !hs:
			return nil, fmt.Errorf("--alg %s needs a public key, but the key is an HMAC secret", alg)
		case !hmac && hs:
			return nil, fmt.Errorf("--alg %s needs an HMAC secret, but the keys are public keys", alg)
		}
	}
	return algs, nil
}

// readPEM reads the key of a --pem value, "path" or "kid=path"
// (clitool.PEMSpec). The file's first block is a PUBLIC KEY (PKIX), an RSA
// PUBLIC KEY (PKCS #1) or a CERTIFICATE; a private key is refused, as
// serve only verifies.
func readPEM(spec string) (kid string, _ crypto.PublicKey, _ error) {
	kid, path, _, err := clitool.PEMSpec(spec)
	if err != nil {
		return "", nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("--pem: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return "", nil, fmt.Errorf("--pem %s: no PEM block", path)
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return "", nil, fmt.Errorf("--pem %s holds a private key; serve only verifies: give it the public key (openssl pkey -in %s -pubout)", path, path)
	}
	key, err := clitool.PEMPublicKey(block)
	switch {
	case err != nil:
		return "", nil, fmt.Errorf("--pem %s: %w", path, err)
	case key == nil:
		return "", nil, fmt.Errorf("--pem %s: unsupported PEM block %q", path, block.Type)
	case clitool.KeyAlgs(key) == nil:
		return "", nil, fmt.Errorf("--pem %s: unsupported key type %T", path, key)
	}
	return kid, key, nil
}

// describeKeys lists the keys for serve's startup log.
func describeKeys(k *clitool.Keyring) []any {
	return []any{"keys", strings.Join(k.Names(), ","), "algs", strings.Join(k.Algs(), ",")}
}
