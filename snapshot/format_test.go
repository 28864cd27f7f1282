package snapshot_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/snapshot"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func sampleSet() *snapshot.Set {
	s := snapshot.NewSet()
	for i := range 50 {
		for _, k := range []jwtrevoke.Kind{jwtrevoke.KindToken, jwtrevoke.KindSubject, jwtrevoke.KindSession, jwtrevoke.KindKey} {
			s.Add(jwtrevoke.Revocation{Kind: k, Key: fmt.Sprintf("%v-%d", k, i), Before: t0.Add(time.Duration(i) * time.Second), Expires: t0.Add(time.Hour)})
		}
	}
	s.Add(jwtrevoke.Revocation{Kind: jwtrevoke.KindAll, Before: t0, Expires: t0.Add(time.Hour)})
	return s
}

func sampleHeader(s *snapshot.Set) snapshot.Header {
	return snapshot.Header{Stream: "JWTREVOKE", Created: t0.Add(-time.Hour), Seq: 4242, Taken: t0,
		Contract: jwtrevoke.DefaultContract(), Count: uint64(s.Len())}
}

func encode(t *testing.T, s *snapshot.Set, signer *jwtrevoke.Signer) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := snapshot.Write(&b, sampleHeader(s), s.All(), signer); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func decodeAll(b []byte, keys jwtrevoke.KeySet) (snapshot.Header, []jwtrevoke.Revocation, error) {
	var got []jwtrevoke.Revocation
	h, err := snapshot.Read(bytes.NewReader(b), keys, nil, func(r jwtrevoke.Revocation) error {
		got = append(got, r)
		return nil
	})
	return h, got, err
}

func TestRoundTrip(t *testing.T) {
	s := sampleSet()
	h, got, err := decodeAll(encode(t, s, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleHeader(s)
	if h != want {
		t.Errorf("header = %+v, want %+v", h, want)
	}
	var wantRevs []jwtrevoke.Revocation
	for r := range s.All() {
		wantRevs = append(wantRevs, r)
	}
	key := func(r jwtrevoke.Revocation) string { return fmt.Sprintf("%v/%s", r.Kind, r.Key) }
	slices.SortFunc(got, func(a, b jwtrevoke.Revocation) int { return cmpString(key(a), key(b)) })
	slices.SortFunc(wantRevs, func(a, b jwtrevoke.Revocation) int { return cmpString(key(a), key(b)) })
	if len(got) != len(wantRevs) {
		t.Fatalf("%d revocations, want %d", len(got), len(wantRevs))
	}
	for i := range got {
		if got[i].Kind != wantRevs[i].Kind || got[i].Key != wantRevs[i].Key || !got[i].Before.Equal(wantRevs[i].Before) || !got[i].Expires.Equal(wantRevs[i].Expires) {
			t.Errorf("revocation %d = %+v, want %+v", i, got[i], wantRevs[i])
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestSetMerges: one key's events merge to the latest cut-off and the
// latest expiry, as the agents' filter merges them.
func TestSetMerges(t *testing.T) {
	s := snapshot.NewSet()
	s.Add(jwtrevoke.Revocation{Kind: jwtrevoke.KindSubject, Key: "alice", Before: t0.Add(time.Minute), Expires: t0.Add(time.Hour)})
	s.Add(jwtrevoke.Revocation{Kind: jwtrevoke.KindSubject, Key: "alice", Before: t0, Expires: t0.Add(2 * time.Hour)})
	s.Add(jwtrevoke.Revocation{Kind: jwtrevoke.KindSession, Key: "alice", Before: t0, Expires: t0.Add(time.Minute)})
	if s.Len() != 2 {
		t.Fatalf("Len() = %d, want 2 (sub and sid alice are different keys)", s.Len())
	}
	for r := range s.All() {
		if r.Kind == jwtrevoke.KindSubject && (!r.Before.Equal(t0.Add(time.Minute)) || !r.Expires.Equal(t0.Add(2*time.Hour))) {
			t.Errorf("merged sub alice = %+v, want before t0+1m, expires t0+2h", r)
		}
	}
	s.Expire(t0.Add(30 * time.Minute))
	if s.Len() != 1 {
		t.Errorf("Len() after the session's expiry = %d, want 1", s.Len())
	}
}

// TestEveryDamageIsRefused: flipping any byte, or cutting the snapshot
// anywhere, or adding a byte, fails the read — the digest covers every
// byte, and the signature the digest.
func TestEveryDamageIsRefused(t *testing.T) {
	s := snapshot.NewSet()
	for i := range 3 {
		s.Add(jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("j-%d", i), Before: t0, Expires: t0.Add(time.Hour)})
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	keys := jwtrevoke.KeySet{"snap-1": pub}
	good := encode(t, s, &jwtrevoke.Signer{KeyID: "snap-1", Key: priv})
	if _, _, err := decodeAll(good, keys); err != nil {
		t.Fatalf("intact signed snapshot: %v", err)
	}
	for i := range good {
		bad := slices.Clone(good)
		bad[i] ^= 0x20
		if _, _, err := decodeAll(bad, keys); err == nil {
			t.Errorf("byte %d flipped: read succeeded", i)
		}
	}
	for n := range len(good) {
		if _, _, err := decodeAll(good[:n], keys); err == nil {
			t.Errorf("cut to %d bytes: read succeeded", n)
		}
	}
	if _, _, err := decodeAll(append(slices.Clone(good), 0), keys); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Errorf("a byte appended: %v, want ErrCorrupt", err)
	}
}

func TestSignatures(t *testing.T) {
	s := sampleSet()
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	signed := encode(t, s, &jwtrevoke.Signer{KeyID: "snap-1", Key: priv})
	unsigned := encode(t, s, nil)
	for _, tt := range []struct {
		name string
		b    []byte
		keys jwtrevoke.KeySet
		want error
	}{
		{"signed, trusted", signed, jwtrevoke.KeySet{"snap-1": pub}, nil},
		{"signed, no keys required", signed, nil, nil},
		{"unsigned, no keys required", unsigned, nil, nil},
		{"unsigned, keys required", unsigned, jwtrevoke.KeySet{"snap-1": pub}, jwtrevoke.ErrUnsigned},
		{"signed by an unknown key", signed, jwtrevoke.KeySet{"other": pub}, jwtrevoke.ErrUnknownKeyID},
		{"signed, key ID names another key", signed, jwtrevoke.KeySet{"snap-1": otherPub}, jwtrevoke.ErrBadSignature},
	} {
		h, _, err := decodeAll(tt.b, tt.keys)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
		if err == nil && tt.b[len(tt.b)-1] != 0 && h.KeyID != "snap-1" {
			t.Errorf("%s: KeyID = %q, want snap-1", tt.name, h.KeyID)
		}
	}
}

// TestCheckRefusesBeforeRecords: the header check runs before any record
// reaches fn.
func TestCheckRefusesBeforeRecords(t *testing.T) {
	b := encode(t, sampleSet(), nil)
	calls := 0
	_, err := snapshot.Read(bytes.NewReader(b), nil, func(h snapshot.Header) error {
		return fmt.Errorf("%w: not this stream", snapshot.ErrMismatch)
	}, func(jwtrevoke.Revocation) error { calls++; return nil })
	if !errors.Is(err, snapshot.ErrMismatch) || calls != 0 {
		t.Fatalf("Read with a refusing check = %v after %d records, want ErrMismatch after 0", err, calls)
	}
}

func TestWriteCountMustMatch(t *testing.T) {
	s := sampleSet()
	h := sampleHeader(s)
	h.Count++
	if err := snapshot.Write(&bytes.Buffer{}, h, s.All(), nil); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Errorf("Write with a count one too many = %v, want ErrCorrupt", err)
	}
	h.Count -= 2
	if err := snapshot.Write(&bytes.Buffer{}, h, s.All(), nil); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Errorf("Write with a count one too few = %v, want ErrCorrupt", err)
	}
}
