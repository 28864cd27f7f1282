package jwtrevoke

// Reading events: the Decoder, for agents and for anyone who reads the
// stream (docs/wire-format.md).

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"
)

// A Decoder turns events into Revocations, refusing anything malformed,
// oversized, out of its time window or (when Keys is set) not signed by a
// trusted key. The zero value works: it accepts unsigned and signed events
// alike (checking that a signature block is well-formed, not that it
// verifies) with the defaults documented on each field. A nil *Decoder
// behaves like the zero value.
//
// A Decoder is safe for use by multiple goroutines as long as neither it
// nor its Keys is modified meanwhile; to change keys, build a new Decoder.
type Decoder struct {
	// MaxLifetime is the longest a revocation may need remembering: an event
	// whose Expires is later than now + MaxLifetime + MaxSkew is refused
	// with ErrTooFarAhead, which bounds the memory a bad publisher can pin.
	// Set it to the longest token lifetime plus leeway. Zero or negative
	// means DefaultMaxLifetime (24h).
	MaxLifetime time.Duration

	// MaxSkew is the clock difference tolerated between publisher and
	// decoder when applying MaxLifetime. Zero or negative means
	// DefaultMaxSkew (5m).
	MaxSkew time.Duration

	// MaxSize is the largest event accepted, in bytes; a larger one is
	// refused with ErrTooLarge before any byte is read. Zero or negative
	// means DefaultMaxEventSize (2048), which fits every legal v1 event.
	MaxSize int

	// Keys are the trusted signing keys. If it holds any key, every event
	// must be signed by one of them: unsigned events fail with ErrUnsigned,
	// unknown key IDs with ErrUnknownKeyID, failed verification with
	// ErrBadSignature. Empty (the default) means signatures are parsed but
	// not verified.
	Keys KeySet
}

func (d *Decoder) maxLifetime() time.Duration {
	if d == nil || d.MaxLifetime <= 0 {
		return DefaultMaxLifetime
	}
	return d.MaxLifetime
}

func (d *Decoder) maxSkew() time.Duration {
	if d == nil || d.MaxSkew <= 0 {
		return DefaultMaxSkew
	}
	return d.MaxSkew
}

func (d *Decoder) maxSize() int {
	if d == nil || d.MaxSize <= 0 {
		return DefaultMaxEventSize
	}
	return d.MaxSize
}

func (d *Decoder) keys() KeySet {
	if d == nil {
		return nil
	}
	return d.Keys
}

// Decode is DecodeSigned without the key ID.
func (d *Decoder) Decode(b []byte, now time.Time) (Revocation, error) {
	r, _, err := d.decode(b, now)
	return r, err
}

// DecodeSigned decodes one event as of now and returns its revocation and
// the ID of the key that signed it ("" if unsigned). Times come back in UTC.
//
// Checks run in this order, and the first failure is returned:
//
//  1. size: len(b) > MaxSize is ErrTooLarge;
//  2. version byte: ErrUnknownVersion; kind byte: ErrUnknownKind;
//  3. framing, field by field: each length against its limit before its
//     bytes (ErrEmptyKey, ErrKeyTooLong, ErrFieldTooLong; a key on kind all
//     is ErrMalformed), then the signature block; anything truncated,
//     trailing or not ed25519 is ErrMalformed;
//  4. text: key, reason, actor and key ID must be UTF-8 (ErrNotUTF8);
//  5. times: Expires before Before is ErrTimes; Expires after
//     now + MaxLifetime + MaxSkew is ErrTooFarAhead; Expires at or before
//     now is ErrExpired (an old event replayed after its entry lapsed;
//     normal, not an attack);
//  6. signature, if Keys is set: ErrUnsigned, ErrUnknownKeyID,
//     ErrBadSignature.
//
// Every error wraps one of those sentinels with the field and offset at
// fault. DecodeSigned never panics; on success it allocates only the key,
// reason, actor and key ID strings (empty ones not at all).
func (d *Decoder) DecodeSigned(b []byte, now time.Time) (r Revocation, keyID string, err error) {
	r, id, err := d.decode(b, now)
	if err != nil {
		return Revocation{}, "", err
	}
	return r, string(id), nil
}

// decode does the work of Decode and DecodeSigned, returning the key ID as
// a slice of b so that Decode need not allocate it.
func (d *Decoder) decode(b []byte, now time.Time) (Revocation, []byte, error) {
	if limit := d.maxSize(); len(b) > limit {
		return Revocation{}, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), limit)
	}
	f, err := parseFrame(b)
	if err != nil {
		return Revocation{}, nil, err
	}

	offReason := offKey + len(f.key) + 2
	offActor := offReason + len(f.reason) + 2
	switch {
	case !utf8.Valid(f.key):
		return Revocation{}, nil, fmt.Errorf("%w: key at offset %d", ErrNotUTF8, offKey)
	case !utf8.Valid(f.reason):
		return Revocation{}, nil, fmt.Errorf("%w: reason at offset %d", ErrNotUTF8, offReason)
	case !utf8.Valid(f.actor):
		return Revocation{}, nil, fmt.Errorf("%w: actor at offset %d", ErrNotUTF8, offActor)
	case !utf8.Valid(f.keyID):
		return Revocation{}, nil, fmt.Errorf("%w: signing key ID at offset %d", ErrNotUTF8, f.body+2)
	}

	before := time.Unix(0, f.before).UTC()
	expires := time.Unix(0, f.expires).UTC()
	limit := now.Add(d.maxLifetime()).Add(d.maxSkew())
	switch {
	case f.expires < f.before:
		return Revocation{}, nil, fmt.Errorf("%w: expires %s is before before %s", ErrTimes,
			expires.Format(time.RFC3339Nano), before.Format(time.RFC3339Nano))
	case expires.After(limit):
		return Revocation{}, nil, fmt.Errorf("%w: expires %s, limit now + lifetime + skew = %s", ErrTooFarAhead,
			expires.Format(time.RFC3339Nano), limit.UTC().Format(time.RFC3339Nano))
	case !expires.After(now):
		return Revocation{}, nil, fmt.Errorf("%w: expires %s, now %s", ErrExpired,
			expires.Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}

	if err := d.verify(b, f); err != nil {
		return Revocation{}, nil, err
	}
	return Revocation{
		Kind:    f.kind,
		Key:     string(f.key),
		Before:  before,
		Expires: expires,
		Issued:  time.Unix(0, f.issued).UTC(),
		Reason:  string(f.reason),
		Actor:   string(f.actor),
	}, f.keyID, nil
}

// frame is the structure of one event, its text still in the event's bytes.
type frame struct {
	kind                    Kind
	before, expires, issued int64
	key, reason, actor      []byte
	body                    int    // length of the body: where a signature block starts
	keyID, sig              []byte // nil if unsigned
}

// parseFrame checks the structure of an event (version, kind, every length
// against its limit and against what is left, the signature block, nothing
// trailing) and slices its fields. It checks neither text nor times nor the
// signature, and allocates nothing unless it fails.
func parseFrame(b []byte) (frame, error) {
	var f frame
	if len(b) == 0 {
		return f, fmt.Errorf("%w: empty event, version missing at offset 0", ErrMalformed)
	}
	if b[0] != WireVersion {
		return f, fmt.Errorf("%w: %d at offset 0, want %d", ErrUnknownVersion, b[0], WireVersion)
	}
	if len(b) <= offKind {
		return f, fmt.Errorf("%w: truncated, kind missing at offset %d", ErrMalformed, offKind)
	}
	f.kind = Kind(b[offKind])
	if !f.kind.Valid() {
		return f, fmt.Errorf("%w: %d at offset %d", ErrUnknownKind, b[offKind], offKind)
	}
	if len(b) < offKey {
		return f, fmt.Errorf("%w: truncated header, %d bytes, want at least %d", ErrMalformed, len(b), offKey)
	}
	f.before = int64(binary.BigEndian.Uint64(b[offBefore:]))
	f.expires = int64(binary.BigEndian.Uint64(b[offExpires:]))
	f.issued = int64(binary.BigEndian.Uint64(b[offIssued:]))

	n := int(binary.BigEndian.Uint16(b[offKeyLen:]))
	switch {
	case f.kind == KindAll && n != 0:
		return f, fmt.Errorf("%w: kind all takes no key, key length at offset %d is %d", ErrMalformed, offKeyLen, n)
	case f.kind != KindAll && n == 0:
		return f, fmt.Errorf("%w: kind %s needs a key, key length at offset %d is 0", ErrEmptyKey, f.kind, offKeyLen)
	case n > MaxKeyLen:
		return f, fmt.Errorf("%w: key length at offset %d is %d, limit %d", ErrKeyTooLong, offKeyLen, n, MaxKeyLen)
	}
	var err error
	off := offKey
	if f.key, off, err = field(b, off, n, "key"); err != nil {
		return f, err
	}
	if f.reason, off, err = lengthField(b, off, MaxReasonLen, "reason"); err != nil {
		return f, err
	}
	if f.actor, off, err = lengthField(b, off, MaxActorLen, "actor"); err != nil {
		return f, err
	}
	f.body = off
	if off == len(b) {
		return f, nil
	}
	return f, f.parseSignature(b, off)
}

// parseSignature reads the signature block at off: algorithm, key ID
// length, key ID, signature, and nothing after.
func (f *frame) parseSignature(b []byte, off int) error {
	if b[off] != sigEd25519 {
		return fmt.Errorf("%w: signature algorithm %#02x at offset %d, want %#02x (ed25519); or trailing bytes",
			ErrMalformed, b[off], off, sigEd25519)
	}
	off++
	if off == len(b) {
		return fmt.Errorf("%w: truncated, signing key ID length missing at offset %d", ErrMalformed, off)
	}
	n := int(b[off])
	switch {
	case n == 0:
		return fmt.Errorf("%w: signing key ID length at offset %d is 0", ErrMalformed, off)
	case n > MaxKeyIDLen:
		return fmt.Errorf("%w: signing key ID length at offset %d is %d, limit %d", ErrFieldTooLong, off, n, MaxKeyIDLen)
	}
	var err error
	if f.keyID, off, err = field(b, off+1, n, "signing key ID"); err != nil {
		return err
	}
	if f.sig, off, err = field(b, off, ed25519.SignatureSize, "signature"); err != nil {
		return err
	}
	if off != len(b) {
		return fmt.Errorf("%w: %d trailing bytes at offset %d", ErrMalformed, len(b)-off, off)
	}
	return nil
}

// verify checks the frame's signature with the trusted keys, if any.
func (d *Decoder) verify(b []byte, f frame) error {
	keys := d.keys()
	if len(keys) == 0 {
		return nil
	}
	if f.keyID == nil {
		return fmt.Errorf("%w: %d-byte event has no signature block", ErrUnsigned, len(b))
	}
	pub, ok := keys[string(f.keyID)]
	switch {
	case !ok:
		return fmt.Errorf("%w: %q", ErrUnknownKeyID, f.keyID)
	case len(pub) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: trusted key %q is %d bytes, want %d", ErrBadSignature,
			f.keyID, len(pub), ed25519.PublicKeySize)
	case !ed25519.Verify(pub, b[:f.body], f.sig):
		return fmt.Errorf("%w: key ID %q, signature at offset %d", ErrBadSignature,
			f.keyID, len(b)-ed25519.SignatureSize)
	}
	return nil
}

// lengthField reads a uint16 length at off, checks it against limit and
// returns the field that follows and the offset after it.
func lengthField(b []byte, off, limit int, name string) ([]byte, int, error) {
	if len(b)-off < 2 {
		return nil, off, fmt.Errorf("%w: truncated, %s length missing at offset %d", ErrMalformed, name, off)
	}
	n := int(binary.BigEndian.Uint16(b[off:]))
	if n > limit {
		return nil, off, fmt.Errorf("%w: %s length at offset %d is %d, limit %d", ErrFieldTooLong, name, off, n, limit)
	}
	return field(b, off+2, n, name)
}

// field returns the n bytes at off and the offset after them.
func field(b []byte, off, n int, name string) ([]byte, int, error) {
	if len(b)-off < n {
		return nil, off, fmt.Errorf("%w: truncated %s at offset %d, want %d bytes, have %d", ErrMalformed, name, off, n, len(b)-off)
	}
	return b[off : off+n : off+n], off + n, nil
}
