package jwtrevoke

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// t0 is the "now" of most tests and vectors: 2026-01-15T10:00:00Z.
var t0 = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

// sampleRevocation returns a valid subject revocation, fresh as of t0.
func sampleRevocation() Revocation {
	before := t0.Add(-2*time.Second + 123456789)
	return Revocation{
		Kind:    KindSubject,
		Key:     "user-42",
		Before:  before,
		Expires: before.Add(24 * time.Hour),
		Issued:  before.Add(1500 * time.Microsecond),
		Reason:  "password change",
		Actor:   "admin:alice",
	}
}

// rawBody encodes a body without validating anything, so tests can build
// events that Validate refuses.
func rawBody(version, kind byte, before, expires, issued int64, key, reason, actor string) []byte {
	b := []byte{version, kind}
	b = binary.BigEndian.AppendUint64(b, uint64(before))
	b = binary.BigEndian.AppendUint64(b, uint64(expires))
	b = binary.BigEndian.AppendUint64(b, uint64(issued))
	for _, s := range []string{key, reason, actor} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	return b
}

// rawBodyOf is rawBody of r's fields.
func rawBodyOf(r Revocation) []byte {
	return rawBody(WireVersion, byte(r.Kind), r.Before.UnixNano(), r.Expires.UnixNano(), r.Issued.UnixNano(), r.Key, r.Reason, r.Actor)
}

// mustEncode returns Encode(r, s) or fails the test.
func mustEncode(t testing.TB, r Revocation, s *Signer) []byte {
	t.Helper()
	b, err := Encode(r, s)
	if err != nil {
		t.Fatalf("Encode(%+v) = %v", r, err)
	}
	return b
}

// sameRevocation reports whether a and b hold the same fields, comparing
// times with Equal.
func sameRevocation(a, b Revocation) bool {
	return a.Kind == b.Kind && a.Key == b.Key && a.Reason == b.Reason && a.Actor == b.Actor &&
		a.Before.Equal(b.Before) && a.Expires.Equal(b.Expires) && a.Issued.Equal(b.Issued)
}

func TestAppendBinaryLayout(t *testing.T) {
	r := Revocation{
		Kind:    KindSubject,
		Key:     "user-42",
		Before:  time.Unix(1, 2),
		Expires: time.Unix(3600, 0),
		Issued:  time.Unix(0, -1),
		Reason:  "logout",
		Actor:   "me",
	}
	want := "01" + "02" + // version, kind sub
		"000000003b9aca02" + // before 1_000_000_002 ns
		"0000034630b8a000" + // expires 3_600_000_000_000 ns
		"ffffffffffffffff" + // issued -1 ns
		"0007" + "757365722d3432" + // "user-42"
		"0006" + "6c6f676f7574" + // "logout"
		"0002" + "6d65" // "me"
	got, err := r.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary() = %v", err)
	}
	if hex.EncodeToString(got) != want {
		t.Errorf("MarshalBinary() = %x, want %s", got, want)
	}
	prefix := []byte("xyz")
	got, err = r.AppendBinary(prefix)
	if err != nil || string(got[:3]) != "xyz" || hex.EncodeToString(got[3:]) != want {
		t.Errorf("AppendBinary(%q) = %x, %v, want prefix then %s", prefix, got, err, want)
	}
}

func TestMinimalBody(t *testing.T) {
	r := Revocation{Kind: KindAll, Before: t0, Expires: t0, Issued: t0}
	b, err := r.MarshalBinary()
	if err != nil || len(b) != minBodyLen || minBodyLen != 32 {
		t.Errorf("MarshalBinary(%+v) = %d bytes, %v; want %d (32) bytes", r, len(b), err, minBodyLen)
	}
}

func TestLargestEvent(t *testing.T) {
	r := Revocation{
		Kind:    KindSubject,
		Key:     strings.Repeat("k", MaxKeyLen),
		Before:  t0,
		Expires: t0.Add(time.Hour),
		Issued:  t0,
		Reason:  strings.Repeat("r", MaxReasonLen),
		Actor:   strings.Repeat("a", MaxActorLen),
	}
	s := testSigner(t, 0)
	s.KeyID = strings.Repeat("i", MaxKeyIDLen)
	b := mustEncode(t, r, &s)
	if len(b) != maxEventLen || maxEventLen != 1698 || maxEventLen > DefaultMaxEventSize {
		t.Errorf("largest event = %d bytes, maxEventLen = %d, want both 1698 and ≤ %d", len(b), maxEventLen, DefaultMaxEventSize)
	}
	if _, err := (&Decoder{}).Decode(b, t0); err != nil {
		t.Errorf("Decode(largest event) = %v, want nil", err)
	}
}

func TestValidate(t *testing.T) {
	ok := sampleRevocation()
	tests := []struct {
		name   string
		change func(r *Revocation)
		want   error
	}{
		{"valid", func(r *Revocation) {}, nil},
		{"kind 0", func(r *Revocation) { r.Kind = 0 }, ErrUnknownKind},
		{"kind 6", func(r *Revocation) { r.Kind = 6 }, ErrUnknownKind},
		{"empty key", func(r *Revocation) { r.Key = "" }, ErrEmptyKey},
		{"key on all", func(r *Revocation) { r.Kind = KindAll }, ErrMalformed},
		{"all without key", func(r *Revocation) { r.Kind, r.Key = KindAll, "" }, nil},
		{"key 256", func(r *Revocation) { r.Key = strings.Repeat("k", 256) }, nil},
		{"key 257", func(r *Revocation) { r.Key = strings.Repeat("k", 257) }, ErrKeyTooLong},
		{"key 257 bytes, 129 runes", func(r *Revocation) { r.Key = strings.Repeat("ü", 128) + "k" }, ErrKeyTooLong},
		{"reason 1024", func(r *Revocation) { r.Reason = strings.Repeat("r", 1024) }, nil},
		{"reason 1025", func(r *Revocation) { r.Reason = strings.Repeat("r", 1025) }, ErrFieldTooLong},
		{"actor 256", func(r *Revocation) { r.Actor = strings.Repeat("a", 256) }, nil},
		{"actor 257", func(r *Revocation) { r.Actor = strings.Repeat("a", 257) }, ErrFieldTooLong},
		{"key not UTF-8", func(r *Revocation) { r.Key = "user-\xff" }, ErrNotUTF8},
		{"reason not UTF-8", func(r *Revocation) { r.Reason = "\xc0\xaf" }, ErrNotUTF8},
		{"actor not UTF-8", func(r *Revocation) { r.Actor = "\xed\xa0\x80" }, ErrNotUTF8},
		{"length before UTF-8", func(r *Revocation) { r.Key = "\xff"; r.Actor = strings.Repeat("a", 257) }, ErrFieldTooLong},
		{"UTF-8 before times", func(r *Revocation) { r.Key = "\xff"; r.Before = time.Time{} }, ErrNotUTF8},
		{"before zero", func(r *Revocation) { r.Before = time.Time{} }, ErrTimes},
		{"expires zero", func(r *Revocation) { r.Expires = time.Time{} }, ErrTimes},
		{"issued zero", func(r *Revocation) { r.Issued = time.Time{} }, ErrTimes},
		{"before 1677", func(r *Revocation) { r.Before = time.Unix(0, math.MinInt64).Add(-1) }, ErrTimes},
		{"expires 2262", func(r *Revocation) { r.Expires = time.Unix(0, math.MaxInt64).Add(1) }, ErrTimes},
		{"issued year 3000", func(r *Revocation) { r.Issued = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }, ErrTimes},
		{"min and max", func(r *Revocation) {
			r.Before, r.Issued, r.Expires = time.Unix(0, math.MinInt64), time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
		}, nil},
		{"expires before before", func(r *Revocation) { r.Expires = r.Before.Add(-1) }, ErrTimes},
		{"expires equals before", func(r *Revocation) { r.Expires = r.Before }, nil},
	}
	for _, tt := range tests {
		r := ok
		tt.change(&r)
		err := r.Validate()
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Validate() = %v, want %v", tt.name, err, tt.want)
		}
		b, err2 := r.MarshalBinary()
		if !errors.Is(err2, tt.want) || (tt.want == nil) != (err2 == nil) || (err2 != nil && b != nil) {
			t.Errorf("%s: MarshalBinary() = %x, %v, want %v", tt.name, b, err2, tt.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	s := testSigner(t, 0)
	base := sampleRevocation()
	tests := []Revocation{base}
	for _, k := range Kinds {
		r := base
		r.Kind = k
		if k == KindAll {
			r.Key = ""
		}
		tests = append(tests, r)
	}
	r := base
	r.Key, r.Reason, r.Actor = "Jürgen-ユーザー-🙂 .*>", "", ""
	tests = append(tests, r)
	r = base
	r.Before = time.Date(2026, 1, 15, 9, 0, 0, 1, time.FixedZone("X", 3600))
	tests = append(tests, r)

	for _, r := range tests {
		for _, signer := range []*Signer{nil, &s} {
			b := mustEncode(t, r, signer)
			d := &Decoder{Keys: testKeySet(t)}
			if signer == nil {
				d.Keys = nil
			}
			got, keyID, err := d.DecodeSigned(b, t0)
			if err != nil || !sameRevocation(got, r) {
				t.Errorf("DecodeSigned(Encode(%+v)) = %+v, %v; want the same", r, got, err)
			}
			if signer != nil && keyID != signer.KeyID || signer == nil && keyID != "" {
				t.Errorf("DecodeSigned(Encode(%+v, %v)) key ID = %q", r, signer != nil, keyID)
			}
			if got.Before.Location() != time.UTC {
				t.Errorf("DecodeSigned(…).Before.Location() = %v, want UTC", got.Before.Location())
			}
			again, _ := got.MarshalBinary()
			if !bytes.HasPrefix(b, again) {
				t.Errorf("MarshalBinary(Decode(%x)) = %x, want the same body", b, again)
			}
		}
	}
}

func TestTruncatedEvents(t *testing.T) {
	s := testSigner(t, 0)
	event := mustEncode(t, sampleRevocation(), &s)
	body, _ := sampleRevocation().MarshalBinary()
	for n := range len(event) {
		if n == len(body) {
			continue // the body alone is the unsigned event
		}
		_, err := (&Decoder{}).Decode(event[:n], t0)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(first %d of %d bytes) = %v, want ErrMalformed", n, len(event), err)
		}
	}
}

func TestDecodeChecks(t *testing.T) {
	s := testSigner(t, 0)
	r := sampleRevocation()
	body := rawBodyOf(r)
	signed := mustEncode(t, r, &s)
	bn := func(x time.Time) int64 { return x.UnixNano() }
	tests := []struct {
		name  string
		event []byte
		d     Decoder
		want  error
	}{
		{"unsigned", body, Decoder{}, nil},
		{"signed, not verified", signed, Decoder{}, nil},
		{"signed, verified", signed, Decoder{Keys: testKeySet(t)}, nil},
		{"over MaxSize", body, Decoder{MaxSize: len(body) - 1}, ErrTooLarge},
		{"at MaxSize", body, Decoder{MaxSize: len(body)}, nil},
		{"default MaxSize", append(bytes.Clone(body), make([]byte, DefaultMaxEventSize-len(body)+1)...), Decoder{}, ErrTooLarge},
		{"size before version", make([]byte, 40), Decoder{MaxSize: 39}, ErrTooLarge},
		{"version 2", append([]byte{2}, body[1:]...), Decoder{}, ErrUnknownVersion},
		{"version only", []byte{1}, Decoder{}, ErrMalformed},
		{"empty", nil, Decoder{}, ErrMalformed},
		{"kind 9", append([]byte{1, 9}, body[2:]...), Decoder{}, ErrUnknownKind},
		{"length before truncation", rawBody(1, 1, 0, 1, 0, strings.Repeat("k", 257), "", "")[:40], Decoder{}, ErrKeyTooLong},
		{"key ID 65", append(bytes.Clone(body), append([]byte{1, 65}, make([]byte, 65+64)...)...), Decoder{}, ErrFieldTooLong},
		{"expires before before", rawBody(1, 2, bn(t0.Add(time.Hour)), bn(t0.Add(time.Minute)), 0, "k", "", ""), Decoder{}, ErrTimes},
		{"lifetime default", rawBody(1, 2, 0, bn(t0.Add(24*time.Hour+5*time.Minute)), 0, "k", "", ""), Decoder{}, nil},
		{"lifetime default +1ns", rawBody(1, 2, 0, bn(t0.Add(24*time.Hour+5*time.Minute+1)), 0, "k", "", ""), Decoder{}, ErrTooFarAhead},
		{"lifetime 1h", rawBody(1, 2, 0, bn(t0.Add(time.Hour+5*time.Minute)), 0, "k", "", ""), Decoder{MaxLifetime: time.Hour}, nil},
		{"lifetime 1h +1ns", rawBody(1, 2, 0, bn(t0.Add(time.Hour+5*time.Minute+1)), 0, "k", "", ""), Decoder{MaxLifetime: time.Hour}, ErrTooFarAhead},
		{"skew 0 means default", rawBody(1, 2, 0, bn(t0.Add(time.Hour+5*time.Minute)), 0, "k", "", ""), Decoder{MaxLifetime: time.Hour, MaxSkew: 0}, nil},
		{"skew 1s", rawBody(1, 2, 0, bn(t0.Add(time.Hour+2*time.Second)), 0, "k", "", ""), Decoder{MaxLifetime: time.Hour, MaxSkew: time.Second}, ErrTooFarAhead},
		{"expires at now", rawBody(1, 2, 0, bn(t0), 0, "k", "", ""), Decoder{}, ErrExpired},
		{"expires 1ns after now", rawBody(1, 2, 0, bn(t0)+1, 0, "k", "", ""), Decoder{}, nil},
		{"unsigned, keys set", body, Decoder{Keys: testKeySet(t)}, ErrUnsigned},
		{"expired before unsigned", rawBody(1, 2, 0, 1, 0, "k", "", ""), Decoder{Keys: testKeySet(t)}, ErrExpired},
		{"unknown key ID", signed, Decoder{Keys: KeySet{"other": testKeySet(t)[s.KeyID]}}, ErrUnknownKeyID},
		{"trusted key of wrong size", signed, Decoder{Keys: KeySet{s.KeyID: make([]byte, 31)}}, ErrBadSignature},
		{"wrong trusted key", signed, Decoder{Keys: KeySet{s.KeyID: testKeySet(t)[testSigner(t, 1).KeyID]}}, ErrBadSignature},
	}
	for _, tt := range tests {
		_, err := tt.d.Decode(tt.event, t0)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Decode(%d bytes) = %v, want %v", tt.name, len(tt.event), err, tt.want)
		}
	}
}

func TestNilDecoder(t *testing.T) {
	var d *Decoder
	event := rawBodyOf(sampleRevocation())
	if _, err := d.Decode(event, t0); err != nil {
		t.Errorf("(*Decoder)(nil).Decode(valid) = %v, want nil", err)
	}
	if _, err := d.Decode(make([]byte, DefaultMaxEventSize+1), t0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("(*Decoder)(nil).Decode(2049 bytes) = %v, want ErrTooLarge", err)
	}
}

func TestDecodeErrorDetail(t *testing.T) {
	body := rawBodyOf(sampleRevocation())
	tests := []struct {
		event []byte
		want  string
	}{
		{body[:30], "truncated key at offset 28"},
		{body[:len(body)-1], "truncated actor at offset"},
		{append(bytes.Clone(body), 7), "signature algorithm 0x07 at offset 65"},
		{append([]byte{1, 1}, body[2:]...)[:27], "truncated header"},
	}
	for _, tt := range tests {
		_, err := (&Decoder{}).Decode(tt.event, t0)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decode(%x) = %v, want an error containing %q", tt.event, err, tt.want)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	s := testSigner(t, 0)
	r := sampleRevocation()
	signed := mustEncode(t, r, &s)
	all := mustEncode(t, Revocation{Kind: KindAll, Before: t0, Expires: t0.Add(time.Hour), Issued: t0}, &s)
	d := &Decoder{Keys: testKeySet(t)}
	tests := []struct {
		name  string
		f     func()
		limit float64
	}{
		{"Decode", func() { d.Decode(signed, t0) }, 3},
		{"DecodeSigned", func() { d.DecodeSigned(signed, t0) }, 4},
		{"Decode kind all", func() { d.Decode(all, t0) }, 0},
		{"MsgID", func() { MsgID(signed) }, 2},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.f); got > tt.limit {
			t.Errorf("%s: AllocsPerRun = %v, want ≤ %v", tt.name, got, tt.limit)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	s := testSigner(b, 0)
	event := mustEncode(b, sampleRevocation(), &s)
	for _, bc := range []struct {
		name string
		d    *Decoder
	}{{"unverified", &Decoder{}}, {"verified", &Decoder{Keys: testKeySet(b)}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(event)))
			for b.Loop() {
				if _, err := bc.d.Decode(event, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
