package jwtrevoke

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"runtime/debug"
	"strconv"
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary events and clocks to two decoders, one that
// verifies signatures and one that does not. Decoding must not panic,
// must allocate little, must return errors that wrap exactly one sentinel,
// and whatever it accepts must re-encode to the same bytes.
func FuzzDecode(f *testing.F) {
	vf := readVectors(f)
	for _, v := range vf.Valid {
		addVector(f, v.EventHex, v.Now)
	}
	for _, v := range vf.Invalid {
		addVector(f, v.EventHex, v.Now)
	}
	plain := &Decoder{}
	verifying := &Decoder{Keys: testKeySet(f)}
	countAllocs := !raceEnabled() // the race detector makes sync.Pool, and so fmt, allocate at random

	f.Fuzz(func(t *testing.T, event []byte, nowNs int64) {
		now := time.Unix(0, nowNs)
		for _, d := range []*Decoder{plain, verifying} {
			r, keyID, err := d.DecodeSigned(event, now)
			if countAllocs {
				if allocs := testing.AllocsPerRun(1, func() { d.Decode(event, now) }); allocs > 8 {
					t.Errorf("Decode(%x) made %v allocations, want ≤ 8", event, allocs)
				}
			}
			if err != nil {
				if sentinelName(err) == "" {
					t.Errorf("Decode(%x) = %v, want an error wrapping exactly one sentinel", event, err)
				}
				continue
			}
			checkCanonical(t, event, r, keyID)
		}
	})
}

// checkCanonical checks that a decoded event re-encodes to its own bytes.
func checkCanonical(t *testing.T, event []byte, r Revocation, keyID string) {
	t.Helper()
	body, err := r.MarshalBinary()
	if err != nil {
		t.Fatalf("Decode(%x) = %+v, whose MarshalBinary fails: %v", event, r, err)
	}
	if !bytes.HasPrefix(event, body) {
		t.Fatalf("MarshalBinary(Decode(%x)) = %x, want a prefix of the event", event, body)
	}
	block := event[len(body):]
	switch {
	case keyID == "" && len(block) != 0:
		t.Errorf("Decode(%x): unsigned, but %d bytes follow the body", event, len(block))
	case keyID != "":
		want := append([]byte{sigEd25519, byte(len(keyID))}, keyID...)
		if !bytes.HasPrefix(block, want) || len(block) != len(want)+ed25519.SignatureSize {
			t.Errorf("Decode(%x): key ID %q, but the signature block is %x", event, keyID, block)
		}
	}
	if n := len(r.Key) + len(r.Reason) + len(r.Actor) + len(keyID); n >= len(event) {
		t.Errorf("Decode(%x): %d bytes of strings from a %d-byte event", event, n, len(event))
	}
	// The message ID covers everything but the signature bytes.
	covered := event
	if keyID != "" {
		covered = event[:len(event)-ed25519.SignatureSize]
	}
	if sum := sha256.Sum256(covered); MsgID(event) != "jr1-"+hex.EncodeToString(sum[:16]) {
		t.Errorf("MsgID(%x) = %q, want the hash of the event without its signature", event, MsgID(event))
	}
}

// addVector adds one vector to f's seed corpus.
func addVector(f *testing.F, eventHex, now string) {
	f.Helper()
	b, err := hex.DecodeString(eventHex)
	if err != nil {
		f.Fatalf("event_hex %q: %v", eventHex, err)
	}
	n, err := strconv.ParseInt(now, 10, 64)
	if err != nil {
		f.Fatalf("now %q: %v", now, err)
	}
	f.Add(b, n)
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
