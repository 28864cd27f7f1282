package jwtrevoke

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

func TestSignerErrors(t *testing.T) {
	good := testSigner(t, 0)
	body := rawBodyOf(sampleRevocation())
	tests := []struct {
		name string
		s    Signer
		body []byte
		want error
	}{
		{"valid", good, body, nil},
		{"no key ID", Signer{Key: good.Key}, body, ErrBadSigningKey},
		{"key ID 64", Signer{KeyID: strings.Repeat("i", 64), Key: good.Key}, body, nil},
		{"key ID 65", Signer{KeyID: strings.Repeat("i", 65), Key: good.Key}, body, ErrFieldTooLong},
		{"key ID not UTF-8", Signer{KeyID: "k\xff", Key: good.Key}, body, ErrNotUTF8},
		{"no key", Signer{KeyID: "k"}, body, ErrBadSigningKey},
		{"seed instead of key", Signer{KeyID: "k", Key: good.Key.Seed()}, body, ErrBadSigningKey},
		{"body already signed", good, mustEncode(t, sampleRevocation(), &good), ErrMalformed},
		{"body truncated", good, body[:len(body)-1], ErrMalformed},
		{"body with trailing byte", good, append(bytes.Clone(body), 0), ErrMalformed},
		{"unknown version", good, append([]byte{2}, body[1:]...), ErrUnknownVersion},
	}
	for _, tt := range tests {
		got, err := tt.s.Sign(tt.body)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) || (err != nil && got != nil) {
			t.Errorf("%s: Sign(%d bytes) = %d bytes, %v; want %v", tt.name, len(tt.body), len(got), err, tt.want)
		}
		if tt.want == nil && !bytes.HasPrefix(got, tt.body) {
			t.Errorf("%s: Sign(%x) = %x, want the body as prefix", tt.name, tt.body, got)
		}
		if !bytes.Equal(tt.body, body) {
			continue
		}
		// A bad signer fails Encode the same way.
		got, err = Encode(sampleRevocation(), &tt.s)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Encode(…, signer) = %d bytes, %v; want %v", tt.name, len(got), err, tt.want)
		}
	}
}

func TestEncodeEqualsSign(t *testing.T) {
	s := testSigner(t, 1)
	r := sampleRevocation()
	body, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	if enc := mustEncode(t, r, &s); !bytes.Equal(enc, signed) {
		t.Errorf("Encode(r, s) = %x, want Sign(MarshalBinary(r)) = %x", enc, signed)
	}
	if enc := mustEncode(t, r, nil); !bytes.Equal(enc, body) {
		t.Errorf("Encode(r, nil) = %x, want MarshalBinary(r) = %x", enc, body)
	}
	want := len(body) + 2 + len(s.KeyID) + ed25519.SignatureSize
	if len(signed) != want || signed[len(body)] != 0x01 || int(signed[len(body)+1]) != len(s.KeyID) ||
		string(signed[len(body)+2:len(body)+2+len(s.KeyID)]) != s.KeyID {
		t.Errorf("Sign(body) block = %x, want 01 %02x %x || 64-byte signature", signed[len(body):], len(s.KeyID), s.KeyID)
	}
	if !ed25519.Verify(s.Key.Public().(ed25519.PublicKey), body, signed[len(signed)-ed25519.SignatureSize:]) {
		t.Errorf("Sign(body) signature does not verify over the body")
	}
}

func TestEncodeInvalid(t *testing.T) {
	s := testSigner(t, 0)
	r := sampleRevocation()
	r.Key = ""
	for _, signer := range []*Signer{nil, &s} {
		if b, err := Encode(r, signer); !errors.Is(err, ErrEmptyKey) || b != nil {
			t.Errorf("Encode(empty key, signed %v) = %x, %v; want ErrEmptyKey", signer != nil, b, err)
		}
	}
	if b, err := Encode(sampleRevocation(), &Signer{KeyID: "k"}); !errors.Is(err, ErrBadSigningKey) || b != nil {
		t.Errorf("Encode(…, signer without key) = %x, %v; want ErrBadSigningKey", b, err)
	}
}

func TestUnverifiedSignature(t *testing.T) {
	s := testSigner(t, 0)
	event := mustEncode(t, sampleRevocation(), &s)
	event[len(event)-1] ^= 1
	_, keyID, err := (&Decoder{}).DecodeSigned(event, t0)
	if err != nil || keyID != s.KeyID {
		t.Errorf("Decoder{}.DecodeSigned(bad signature) = %q, %v; want %q, nil (no keys, no verification)", keyID, err, s.KeyID)
	}
	if _, err := (&Decoder{Keys: testKeySet(t)}).Decode(event, t0); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Decoder{Keys}.Decode(bad signature) = %v, want ErrBadSignature", err)
	}
}

func TestRetiredKey(t *testing.T) {
	s := testSigner(t, 0)
	event := mustEncode(t, sampleRevocation(), &s)
	keys := testKeySet(t)
	delete(keys, s.KeyID)
	if _, err := (&Decoder{Keys: keys}).Decode(event, t0); !errors.Is(err, ErrUnknownKeyID) {
		t.Errorf("Decode(signed by retired %q) = %v, want ErrUnknownKeyID", s.KeyID, err)
	}
}
