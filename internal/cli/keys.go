package cli

// The keys that verify JWTs for check and revoke token: an HMAC secret or
// PEM keys, or --unverified to only decode the token. The verbs check one
// token an operator holds, so unlike serve (internal/serve) they also take
// the issuer's private key file, any HMAC secret, and every algorithm the
// keys' types can verify. The ed25519 keys that sign or verify revocation
// events are in signkeys.go.

import (
	"crypto"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/pflag"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/keyset"
)

// keyFlags are the flags of check and revoke token that say which keys
// verify the token.
type keyFlags struct {
	hmacSecret     string
	hmacSecretFile string
	hmacKeyID      string
	pemFiles       []string
	algs           []string
	unverified     bool // decode without verifying
}

// register adds the key flags of check and revoke token to fs.
func (f *keyFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.hmacSecret, "hmac-secret", "", "HMAC secret the token is signed with (visible in ps and shell history: prefer --hmac-secret-file)")
	fs.StringVar(&f.hmacSecretFile, "hmac-secret-file", "", "file holding the HMAC secret (one trailing newline is ignored)")
	fs.StringVar(&f.hmacKeyID, "hmac-key-id", "", "the HMAC secret's name, as serve knows it: the kid its tokens may carry (default: its RFC 7638 thumbprint)")
	fs.StringArrayVar(&f.pemFiles, "pem", nil, "PEM file with the issuer's public key, certificate or private key (RSA, ECDSA or Ed25519), as path or kid=path (default kid: the file name without extension, as serve names it); repeat for several keys")
	fs.StringSliceVar(&f.algs, "alg", nil, "signing algorithms to accept, comma separated (default: HS256,HS384,HS512 with an HMAC secret, else those of the PEM keys' type)")
	fs.BoolVar(&f.unverified, "unverified", false, "only decode the token, without checking its signature: its claims are taken on trust")
}

// keyring reads the keys of check and revoke token, or returns nil with
// --unverified.
func (f *keyFlags) keyring() (*clitool.Keyring, error) {
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
	if hmac {
		return f.hmacKeyring()
	}
	return f.pemKeyring()
}

// hmacKeyring is the ring of the HMAC secret, accepted with HS256, HS384
// and HS512 unless --alg says otherwise.
func (f *keyFlags) hmacKeyring() (*clitool.Keyring, error) {
	secret := f.hmacSecret
	if f.hmacSecretFile != "" {
		var err error
		if secret, err = clitool.ReadSecretFile("--hmac-secret-file", f.hmacSecretFile); err != nil {
			return nil, err
		}
	}
	if secret == "" {
		return nil, errors.New("the HMAC secret is empty")
	}
	algs := f.algs
	if len(algs) == 0 {
		algs = []string{"HS256", "HS384", "HS512"}
	}
	static, err := clitool.StaticKeys([]keyset.Key{{ID: f.hmacKeyID, Key: []byte(secret)}})
	if err != nil {
		return nil, err
	}
	return clitool.NewKeyring(static, nil, algs), nil
}

// pemKeyring is the ring of the keys in the --pem files, accepted with
// every algorithm their types can verify unless --alg says otherwise.
func (f *keyFlags) pemKeyring() (*clitool.Keyring, error) {
	var defaults []string
	var named []keyset.Key
	for _, spec := range f.pemFiles {
		kid, path, ok, err := clitool.PEMSpec(spec)
		if err != nil {
			return nil, err
		}
		keys, err := readPEMKeys(path)
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
			for _, a := range clitool.KeyAlgs(key) {
				if !slices.Contains(defaults, a) {
					defaults = append(defaults, a)
				}
			}
		}
	}
	algs := f.algs
	if len(algs) == 0 {
		algs = defaults
	}
	static, err := clitool.StaticKeys(named)
	if err != nil {
		return nil, err
	}
	return clitool.NewKeyring(static, nil, algs), nil
}

// keyfunc is the ring as a jwt.Keyfunc, for revoke token: it revokes by
// jti, so only the signature matters, and a kid that names no key is
// looked past (every key is tried, as for a token without kid).
func keyfunc(k *clitool.Keyring) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
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
}

// readPEMKeys returns the public keys of every key or certificate in
// a PEM file. Private keys are accepted (their public half is used), so the
// issuer's key file works as is.
func readPEMKeys(path string) ([]crypto.PublicKey, error) {
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
		k, err := clitool.PEMPublicKey(b)
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

// parseUnverified decodes a JWT's header and claims without checking
// its signature or times.
func parseUnverified(raw string) (jwtrevoke.Token, error) {
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

// unverifiedWarning is printed to stderr whenever --unverified is used.
const unverifiedWarning = `WARNING: --unverified: the token's signature was NOT verified.
WARNING: its claims (jti, sub, sid, kid, iat, exp) are taken on trust; anyone can forge them.`

// revokeParser checks a token's signature and algorithm, not its
// times: revoking a token that has expired, or is not valid yet, is fine.
func revokeParser(algs []string) *jwt.Parser {
	return jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithoutClaimsValidation())
}
