package idp

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke/keyset"
)

// ErrBadOption is returned by the constructors for an invalid option.
var ErrBadOption = errors.New("jwtrevoke/idp: bad option")

// DefaultAlgorithms are the signing algorithms accepted from a provider
// unless an option says otherwise: asymmetric ones only, so that nobody who
// holds a client secret can sign a logout.
var DefaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// errNotJWT marks a token that is not a signed JWT at all (too long,
// encrypted, not three parts, not parseable), as against one whose
// algorithm, key or signature is refused.
var errNotJWT = errors.New("not a signed JWT")

// maxSignedBytes bounds a signed token before it is parsed.
const maxSignedBytes = 16 << 10

// signed is a provider's signed JWT after its signature has been checked.
type signed struct {
	header map[string]any
	claims jwt.MapClaims
}

// minRSABits is the smallest RSA key a provider's signature is accepted
// with (the CAEP interoperability profile's floor, and NIST's).
const minRSABits = 2048

// verifySigned checks raw's form, header and signature with keys, and
// returns its header and claims. It checks no claim.
func verifySigned(raw string, keys keyset.Set, algs []string) (*signed, error) {
	if len(raw) > maxSignedBytes {
		return nil, fmt.Errorf("%w: token of %d bytes exceeds %d", errNotJWT, len(raw), maxSignedBytes)
	}
	switch strings.Count(raw, ".") {
	case 2:
	case 4:
		return nil, fmt.Errorf("%w: an encrypted token (JWE): not supported; register no encryption for this client", errNotJWT)
	default:
		return nil, fmt.Errorf("%w: want three dot-separated parts", errNotJWT)
	}
	claims := jwt.MapClaims{}
	tok, parts, err := jwt.NewParser().ParseUnverified(raw, claims)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotJWT, err)
	}
	if alg := tok.Method.Alg(); !slices.Contains(algs, alg) {
		return nil, fmt.Errorf("signing algorithm %q is not accepted (want one of %s)", alg, strings.Join(algs, ", "))
	}
	if _, _, err := keyset.HeaderKeyID(tok); err != nil {
		return nil, err
	}
	if _, ok := tok.Header["crit"]; ok {
		return nil, errors.New("a crit header names extensions this receiver does not understand")
	}
	cands, err := keys.VerificationKeys(tok)
	if err != nil {
		return nil, fmt.Errorf("no key for the token: %w", err)
	}
	input := raw[:len(parts[0])+1+len(parts[1])]
	for _, k := range cands {
		if tok.Method.Verify(input, tok.Signature, k.Key) == nil {
			if rk, ok := k.Key.(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
				return nil, fmt.Errorf("key %q is RSA of %d bits: want at least %d", k.ID, rk.N.BitLen(), minRSABits)
			}
			return &signed{header: tok.Header, claims: claims}, nil
		}
	}
	return nil, errors.New("the signature does not verify with the provider's keys")
}

// str returns the string claim name, "" when absent, and an error when it
// is present with another type.
func (s *signed) str(name string) (string, error) {
	v, ok := s.claims[name]
	if !ok {
		return "", nil
	}
	str, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("claim %s is a %T, not a string", name, v)
	}
	return str, nil
}

// time returns the NumericDate claim name; ok is false when absent.
func (s *signed) time(name string) (t time.Time, ok bool, err error) {
	if _, present := s.claims[name]; !present {
		return time.Time{}, false, nil
	}
	var d *jwt.NumericDate
	switch name {
	case "iat":
		d, err = s.claims.GetIssuedAt()
	case "exp":
		d, err = s.claims.GetExpirationTime()
	default:
		return time.Time{}, false, fmt.Errorf("claim %s is not a time claim", name)
	}
	if err != nil || d == nil {
		return time.Time{}, false, fmt.Errorf("claim %s is not a NumericDate", name)
	}
	return d.Time, true, nil
}

// audience reports whether the aud claim (a string or an array of
// strings) holds one of want.
func (s *signed) audience(want []string) error {
	aud, err := s.claims.GetAudience()
	if err != nil {
		return fmt.Errorf("claim aud: %w", err)
	}
	for _, a := range aud {
		if slices.Contains(want, a) {
			return nil
		}
	}
	return fmt.Errorf("aud %q names none of %q", []string(aud), want)
}

// constantTimeEqual compares secrets without leaking where they differ.
func constantTimeEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
