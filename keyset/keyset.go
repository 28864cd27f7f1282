package keyset

// Verification keys that know who they are: a signing-key revocation names
// a key, and only the verifier knows which key actually verified a token.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/golang-jwt/jwt/v5"
)

// ErrUnknownKey is returned by a Set when a token's kid header names no
// key of the set. The Verifier refuses such a token (ReasonInvalid).
var ErrUnknownKey = errors.New("jwtrevoke/keyset: the token's kid names no configured key")

// Key is one verification key and its identity: the name a signing-key
// revocation (kind kid) uses for it.
type Key struct {
	// ID is the key's identity. For a key of NewStatic it is the name the key
	// was configured under or, if that is empty, the key's RFC 7638 JWK
	// thumbprint (see Thumbprint); for a JWKS key, its kid or, without one,
	// its thumbprint.
	ID string
	// Key verifies signatures: *rsa.PublicKey, *ecdsa.PublicKey,
	// ed25519.PublicKey, or an HMAC secret as []byte.
	Key any
}

// Set gives the Verifier the keys that may have signed a token, each
// with its identity. The Verifier tries them in order and checks key
// revocations against the identity of the one that verified, never
// against the token's kid header alone — so a key revocation refuses every
// token the key verifies, whatever the header says.
//
// VerificationKeys sees the token before its signature is checked: its
// header may lie. An implementation returns the key a kid header names (and
// ErrUnknownKey if it names none), and every key only when the token has no
// kid. NewStatic, *JWKS and Keyfunc implement it.
type Set interface {
	VerificationKeys(t *jwt.Token) ([]Key, error)
}

// Static is a fixed set of verification keys. It is safe for use by multiple
// goroutines.
type Static struct {
	all  []Key
	byID map[string]int
}

// NewStatic returns the set of keys. A key with an empty ID is known by its
// RFC 7638 thumbprint. Two keys with one ID, or a key of an unsupported
// type, are an error.
func NewStatic(keys ...Key) (*Static, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no keys", ErrBadOption)
	}
	ks := &Static{byID: make(map[string]int, len(keys))}
	for _, k := range keys {
		tp, err := Thumbprint(k.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %v", ErrBadOption, k.ID, err)
		}
		if k.ID == "" {
			k.ID = tp
		}
		if _, dup := ks.byID[k.ID]; dup {
			return nil, fmt.Errorf("%w: two keys with ID %q", ErrBadOption, k.ID)
		}
		ks.byID[k.ID] = len(ks.all)
		ks.all = append(ks.all, k)
	}
	return ks, nil
}

// VerificationKeys returns the key t's kid header names, or every key if t
// has no kid. A kid that names no key is ErrUnknownKey.
func (ks *Static) VerificationKeys(t *jwt.Token) ([]Key, error) {
	kid, present, err := HeaderKeyID(t)
	switch {
	case err != nil:
		return nil, err
	case !present:
		return ks.all, nil
	}
	i, ok := ks.byID[kid]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	return ks.all[i : i+1], nil
}

// IDs returns the identities of the keys, in the order given.
func (ks *Static) IDs() []string {
	ids := make([]string, len(ks.all))
	for i, k := range ks.all {
		ids[i] = k.ID
	}
	return ids
}

// Keyfunc adapts a plain jwt.Keyfunc to a Set. A keyfunc returns keys
// without names, so the identity of whatever key it returns is the token's
// kid header (empty without one).
//
// That protects key revocations only if kf picks the key strictly by the
// kid header and refuses a token whose kid it does not know or that has
// none. A keyfunc that falls back to another key, or to every key (a
// jwt.VerificationKeySet), lets a token signed with a revoked key through
// under any other kid or none: use NewStatic or a *JWKS instead, which know
// which key verified.
func Keyfunc(kf jwt.Keyfunc) Set {
	return keyfuncSet(kf)
}

type keyfuncSet jwt.Keyfunc

func (kf keyfuncSet) VerificationKeys(t *jwt.Token) ([]Key, error) {
	kid, _, err := HeaderKeyID(t)
	if err != nil {
		return nil, err
	}
	got, err := kf(t)
	if err != nil {
		return nil, err
	}
	if set, ok := got.(jwt.VerificationKeySet); ok {
		keys := make([]Key, 0, len(set.Keys))
		for _, k := range set.Keys {
			keys = append(keys, Key{ID: kid, Key: k})
		}
		return keys, nil
	}
	return []Key{{ID: kid, Key: got}}, nil
}

// HeaderKeyID returns the kid header: whether it is present, and an error if
// it is present but not a non-empty string.
func HeaderKeyID(t *jwt.Token) (kid string, present bool, err error) {
	v, ok := t.Header["kid"]
	if !ok {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", true, fmt.Errorf("%w: the kid header is %v, want a non-empty string", jwt.ErrTokenMalformed, v)
	}
	return s, true, nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint of a verification key:
// the unpadded base64url SHA-256 of its required JWK members in canonical
// form. It is the identity of a key that has no name.
func Thumbprint(key any) (string, error) {
	var members map[string]string
	b64 := base64.RawURLEncoding.EncodeToString
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "", errors.New("nil RSA key")
		}
		members = map[string]string{"e": b64(big.NewInt(int64(k.E)).Bytes()), "kty": "RSA", "n": b64(k.N.Bytes())}
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return "", errors.New("nil ECDSA key")
		}
		ecdh, err := k.ECDH()
		if err != nil {
			return "", err
		}
		raw := ecdh.Bytes() // 0x04 || X || Y, each padded to the field size
		n := (len(raw) - 1) / 2
		members = map[string]string{"crv": k.Curve.Params().Name, "kty": "EC", "x": b64(raw[1 : 1+n]), "y": b64(raw[1+n:])}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", errors.New("bad Ed25519 key")
		}
		members = map[string]string{"crv": "Ed25519", "kty": "OKP", "x": b64(k)}
	case []byte:
		if len(k) == 0 {
			return "", errors.New("empty HMAC secret")
		}
		members = map[string]string{"k": b64(k), "kty": "oct"}
	default:
		return "", fmt.Errorf("unsupported key type %T", key)
	}
	// encoding/json writes map keys sorted and no whitespace: the
	// canonical form RFC 7638 §3 asks for, as every member is a string
	// without characters that need escaping.
	b, err := json.Marshal(members)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return b64(sum[:]), nil
}
