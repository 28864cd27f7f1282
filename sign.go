package jwtrevoke

// Signing. A signed event is a body followed by a signature block:
//
//	size  field
//	1     algorithm = 0x01 (ed25519)
//	1     I, key ID length, 1..MaxKeyIDLen
//	I     key ID, UTF-8
//	64    ed25519 signature (RFC 8032, pure) of the body bytes
//
// The signature covers the body only, so the same revocation re-signed by
// another key keeps its body and its message ID (see MsgID).

import (
	"crypto/ed25519"
	"fmt"
	"unicode/utf8"
)

// sigEd25519 is the algorithm byte of an ed25519 signature block.
const sigEd25519 = 0x01

// A Signer signs event bodies with an ed25519 key known to decoders by
// KeyID. A Signer is a value; it is safe for use by multiple goroutines.
type Signer struct {
	// KeyID names the key in the decoders' KeySet: 1 to MaxKeyIDLen bytes
	// of UTF-8, e.g. "ops-2026-01".
	KeyID string
	// Key is the private key, ed25519.PrivateKeySize bytes.
	Key ed25519.PrivateKey
}

// check reports whether s can sign.
func (s Signer) check() error {
	switch {
	case s.KeyID == "":
		return fmt.Errorf("%w: signer has no key ID", ErrBadSigningKey)
	case len(s.KeyID) > MaxKeyIDLen:
		return fmt.Errorf("%w: signer key ID is %d bytes, limit %d", ErrFieldTooLong, len(s.KeyID), MaxKeyIDLen)
	case !utf8.ValidString(s.KeyID):
		return fmt.Errorf("%w: signer key ID %q", ErrNotUTF8, s.KeyID)
	case len(s.Key) != ed25519.PrivateKeySize:
		return fmt.Errorf("%w: private key for %q is %d bytes, want %d", ErrBadSigningKey, s.KeyID, len(s.Key), ed25519.PrivateKeySize)
	}
	return nil
}

// Sign returns body followed by a signature block for s; body is not
// modified. body must be one complete unsigned v1 body, as MarshalBinary
// returns: Sign checks its framing (ErrMalformed, ErrUnknownVersion, …) but
// not its text or times. A Signer without a key ID or with a key of the
// wrong size fails with ErrBadSigningKey; an overlong or non-UTF-8 key ID
// with ErrFieldTooLong or ErrNotUTF8.
func (s Signer) Sign(body []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	f, err := parseFrame(body)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if f.keyID != nil {
		return nil, fmt.Errorf("%w: sign: body already has a signature block at offset %d", ErrMalformed, f.body)
	}
	out := make([]byte, 0, len(body)+s.blockLen())
	return s.appendBlock(append(out, body...)), nil
}

// blockLen is the length of s's signature block.
func (s Signer) blockLen() int { return 2 + len(s.KeyID) + ed25519.SignatureSize }

// appendBlock appends to body, which must be exactly one body, the
// signature block of s over it.
func (s Signer) appendBlock(body []byte) []byte {
	sig := ed25519.Sign(s.Key, body)
	body = append(body, sigEd25519, byte(len(s.KeyID)))
	body = append(body, s.KeyID...)
	return append(body, sig...)
}

// Encode validates r and returns its event: the body alone if s is nil,
// else the body signed by s.
func Encode(r Revocation, s *Signer) ([]byte, error) {
	if s == nil {
		return r.MarshalBinary()
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	body, err := r.AppendBinary(make([]byte, 0, r.wireLen()+s.blockLen()))
	if err != nil {
		return nil, err
	}
	return s.appendBlock(body), nil
}

// KeySet holds the public keys a Decoder trusts, by key ID. To retire a key,
// remove it. A KeySet is safe for concurrent reads; do not modify one that
// a Decoder in use holds.
type KeySet map[string]ed25519.PublicKey
