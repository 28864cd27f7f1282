// Package jwtrevoke is the vocabulary shared by everything that revokes JWTs
// and everything that checks them: what a revocation is (Revocation and its
// Kind), what a check needs to know about a verified token (Token), how a
// revocation travels (the versioned wire format, optionally signed with
// ed25519) and which NATS subject carries it.
//
// The package does no I/O: it imports neither NATS nor net/http. The
// publisher and agent packages build on it; a program in another language
// needs only docs/wire-format.md and testdata/wire-vectors.json to speak it.
//
// All types here are values. Functions are safe for concurrent use; a
// Decoder and a KeySet may be shared by many goroutines once built.
package jwtrevoke

import (
	"errors"
	"fmt"
	"time"
)

// Kind says which claim a revocation matches.
type Kind uint8

// The kinds of revocation. The numeric values are part of the wire format.
const (
	// KindToken revokes the one token whose jti equals Key.
	KindToken Kind = 1
	// KindSubject revokes every token whose sub equals Key and whose iat is
	// before Before ("log out everywhere", password change).
	KindSubject Kind = 2
	// KindSession revokes every token whose sid equals Key and whose iat is
	// before Before (a refresh-token family).
	KindSession Kind = 3
	// KindKey revokes every token whose header kid equals Key.
	KindKey Kind = 4
	// KindAll revokes every token whose iat is before Before. Key is empty.
	KindAll Kind = 5
)

// Kinds lists every kind in wire order.
var Kinds = [...]Kind{KindToken, KindSubject, KindSession, KindKey, KindAll}

var kindNames = [...]string{KindToken: "jti", KindSubject: "sub", KindSession: "sid", KindKey: "kid", KindAll: "all"}

// String returns the kind's short name, which is also its subject token:
// "jti", "sub", "sid", "kid" or "all".
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k >= KindToken && k <= KindAll }

// HasCutoff reports whether tokens of this kind are revoked only when issued
// before the revocation's Before time (subject, session, all).
func (k Kind) HasCutoff() bool { return k == KindSubject || k == KindSession || k == KindAll }

// ParseKind accepts a kind's short name ("jti", "sub", "sid", "kid", "all")
// or its long name ("token", "subject", "session", "key").
func ParseKind(s string) (Kind, error) {
	switch s {
	case "jti", "token":
		return KindToken, nil
	case "sub", "subject":
		return KindSubject, nil
	case "sid", "session":
		return KindSession, nil
	case "kid", "key":
		return KindKey, nil
	case "all":
		return KindAll, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownKind, s)
}

// MarshalText implements encoding.TextMarshaler with the short name.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownKind, uint8(k))
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler; see ParseKind.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Limits of the vocabulary. They are part of the wire format.
const (
	// MaxKeyLen is the longest Key, in bytes.
	MaxKeyLen = 256
	// MaxReasonLen is the longest Reason, in bytes.
	MaxReasonLen = 1024
	// MaxActorLen is the longest Actor, in bytes.
	MaxActorLen = 256
	// MaxKeyIDLen is the longest signing key ID, in bytes.
	MaxKeyIDLen = 64
)

// Revocation is one revocation event: what it matches, from when, and until
// when anyone needs to remember it.
//
// The rule for kinds with a cut-off (subject, session, all) is
//
//	revoked  ⇔  token.IssuedAt < Before
//
// compared at the precision of the token's iat. JWT iat is whole seconds by
// default, so a token with iat = 12 is treated as issued at the start of
// second 12: every token issued before Before is revoked, and so is a token
// issued later within Before's own second unless its issuer wrote a
// fractional iat. See the README ("Logging straight back in") for the ways
// an issuer gives a user who logs back in at once a working token.
type Revocation struct {
	Kind Kind
	// Key is the jti, sub, sid or kid the revocation matches; empty for
	// KindAll. At most MaxKeyLen bytes of UTF-8.
	Key string
	// Before is the cut-off: tokens issued before it are revoked (subject,
	// session, all). For token and key revocations it is the time the
	// revocation took effect.
	Before time.Time
	// Expires is when the entry may be forgotten: no token it matches can
	// still be valid then. For a token revocation, the token's exp plus
	// leeway; for the others, Before plus the longest token lifetime.
	Expires time.Time
	// Issued is when the event was written, for measuring propagation lag.
	Issued time.Time
	// Reason and Actor are free text for audit logs ("logout",
	// "admin:alice"). Optional.
	Reason string
	Actor  string
}

// Errors returned by this package. Callers test them with errors.Is; the
// returned errors wrap them with detail.
var (
	ErrUnknownKind    = errors.New("jwtrevoke: unknown revocation kind")
	ErrUnknownVersion = errors.New("jwtrevoke: unknown wire format version")
	ErrEmptyKey       = errors.New("jwtrevoke: empty key")
	ErrKeyTooLong     = errors.New("jwtrevoke: key too long")
	ErrFieldTooLong   = errors.New("jwtrevoke: field too long")
	ErrNotUTF8        = errors.New("jwtrevoke: text field is not valid UTF-8")
	ErrTimes          = errors.New("jwtrevoke: times out of order")
	ErrTooFarAhead    = errors.New("jwtrevoke: expiry beyond the maximum token lifetime")
	ErrExpired        = errors.New("jwtrevoke: revocation already expired")
	ErrTooLarge       = errors.New("jwtrevoke: event larger than the size limit")
	ErrMalformed      = errors.New("jwtrevoke: malformed event")
	ErrUnsigned       = errors.New("jwtrevoke: event is not signed")
	ErrUnknownKeyID   = errors.New("jwtrevoke: event signed with an unknown key ID")
	ErrBadSignature   = errors.New("jwtrevoke: bad event signature")
	ErrNoTokenID      = errors.New("jwtrevoke: token has no jti")
	ErrBadSigningKey  = errors.New("jwtrevoke: invalid signing key")
)
