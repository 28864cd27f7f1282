package jwtrevoke

// The binary wire format, version 1. docs/wire-format.md is the reference
// for other languages; testdata/wire-vectors.json pins it byte for byte.
//
// A body is, with every integer big-endian:
//
//	off  size  field
//	0    1     version = 0x01
//	1    1     kind (1 jti, 2 sub, 3 sid, 4 kid, 5 all)
//	2    8     before, int64 Unix nanoseconds
//	10   8     expires, int64 Unix nanoseconds
//	18   8     issued, int64 Unix nanoseconds
//	26   2     K, key length: 0 for kind all, 1..MaxKeyLen otherwise
//	28   K     key, UTF-8
//	.    2     R, reason length, 0..MaxReasonLen
//	.    R     reason, UTF-8
//	.    2     A, actor length, 0..MaxActorLen
//	.    A     actor, UTF-8
//
// An unsigned event is exactly a body; a signed event appends a signature
// block (see sign.go). Nothing else may follow.

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

const (
	// WireVersion is the version byte that opens every event this package
	// writes, and the only one it reads.
	WireVersion = 1

	// DefaultMaxEventSize is the size limit, in bytes, of a Decoder whose
	// MaxSize is zero. The largest legal v1 event (longest key, reason,
	// actor and key ID, signed) is 1698 bytes.
	DefaultMaxEventSize = 2048

	// DefaultMaxLifetime is the MaxLifetime of a Decoder whose field is zero.
	DefaultMaxLifetime = 24 * time.Hour

	// DefaultMaxSkew is the MaxSkew of a Decoder whose field is zero.
	DefaultMaxSkew = 5 * time.Minute
)

// Offsets and sizes of the v1 layout.
const (
	offKind    = 1
	offBefore  = 2
	offExpires = 10
	offIssued  = 18
	offKeyLen  = 26
	offKey     = 28

	// minBodyLen is a body with three empty text fields.
	minBodyLen = offKey + 2 + 2

	// maxEventLen is the longest legal signed event.
	maxEventLen = offKey + MaxKeyLen + 2 + MaxReasonLen + 2 + MaxActorLen +
		2 + MaxKeyIDLen + ed25519.SignatureSize
)

// Validate reports whether r can be encoded: a defined Kind; a Key of 1 to
// MaxKeyLen bytes (empty for KindAll, and only then); Reason and Actor
// within MaxReasonLen and MaxActorLen; all three text fields valid UTF-8;
// Before, Expires and Issued set and within the range of int64 Unix
// nanoseconds (1677-09-21 to 2262-04-11); Expires not before Before.
//
// The error wraps ErrUnknownKind, ErrEmptyKey, ErrKeyTooLong, ErrMalformed
// (a key on KindAll), ErrFieldTooLong, ErrNotUTF8 or ErrTimes. Lengths are
// checked before text, and text before times, as the decoder does.
func (r Revocation) Validate() error {
	if !r.Kind.Valid() {
		return fmt.Errorf("%w: %d", ErrUnknownKind, uint8(r.Kind))
	}
	switch {
	case r.Kind == KindAll && r.Key != "":
		return fmt.Errorf("%w: kind all takes no key, got %d bytes", ErrMalformed, len(r.Key))
	case r.Kind != KindAll && r.Key == "":
		return fmt.Errorf("%w: kind %s needs a key", ErrEmptyKey, r.Kind)
	case len(r.Key) > MaxKeyLen:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrKeyTooLong, len(r.Key), MaxKeyLen)
	case len(r.Reason) > MaxReasonLen:
		return fmt.Errorf("%w: reason is %d bytes, limit %d", ErrFieldTooLong, len(r.Reason), MaxReasonLen)
	case len(r.Actor) > MaxActorLen:
		return fmt.Errorf("%w: actor is %d bytes, limit %d", ErrFieldTooLong, len(r.Actor), MaxActorLen)
	case !utf8.ValidString(r.Key):
		return fmt.Errorf("%w: key %q", ErrNotUTF8, r.Key)
	case !utf8.ValidString(r.Reason):
		return fmt.Errorf("%w: reason %q", ErrNotUTF8, r.Reason)
	case !utf8.ValidString(r.Actor):
		return fmt.Errorf("%w: actor %q", ErrNotUTF8, r.Actor)
	}
	for _, f := range [...]struct {
		name string
		t    time.Time
	}{{"before", r.Before}, {"expires", r.Expires}, {"issued", r.Issued}} {
		if f.t.IsZero() {
			return fmt.Errorf("%w: %s is not set", ErrTimes, f.name)
		}
		if f.t.Before(time.Unix(0, math.MinInt64)) || f.t.After(time.Unix(0, math.MaxInt64)) {
			return fmt.Errorf("%w: %s %s is outside the range of Unix nanoseconds", ErrTimes, f.name, f.t.UTC().Format(time.RFC3339Nano))
		}
	}
	if r.Expires.Before(r.Before) {
		return fmt.Errorf("%w: expires %s is before before %s", ErrTimes,
			r.Expires.UTC().Format(time.RFC3339Nano), r.Before.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// wireLen is the length of r's body, assuming r is valid.
func (r Revocation) wireLen() int {
	return minBodyLen + len(r.Key) + len(r.Reason) + len(r.Actor)
}

// AppendBinary validates r and appends its unsigned body to b, implementing
// encoding.BinaryAppender. Times are written as UnixNano, so anything finer
// than a nanosecond and the location are lost. On error b is returned
// unchanged.
func (r Revocation) AppendBinary(b []byte) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return b, err
	}
	b = append(b, WireVersion, byte(r.Kind))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Before.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expires.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Issued.UnixNano()))
	b = appendText(b, r.Key)
	b = appendText(b, r.Reason)
	b = appendText(b, r.Actor)
	return b, nil
}

// MarshalBinary validates r and returns its unsigned body, implementing
// encoding.BinaryMarshaler. See AppendBinary.
func (r Revocation) MarshalBinary() ([]byte, error) {
	b, err := r.AppendBinary(make([]byte, 0, r.wireLen()))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// appendText appends s with its uint16 length prefix. The caller has
// checked that s fits.
func appendText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}
