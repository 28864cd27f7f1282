package jwtrevoke_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
)

// A publisher signs a "log out everywhere" event; an agent holding the
// public key decodes and verifies it.
func Example() {
	// In production the key comes from a secret store; this one is fixed.
	seed := make([]byte, ed25519.SeedSize)
	signer := jwtrevoke.Signer{KeyID: "ops-2026-01", Key: ed25519.NewKeyFromSeed(seed)}

	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	r := jwtrevoke.Revocation{
		Kind:    jwtrevoke.KindSubject,
		Key:     "user-42",
		Before:  now,
		Expires: now.Add(24 * time.Hour), // the longest token lifetime
		Issued:  now,
		Reason:  "password change",
	}
	event, err := jwtrevoke.Encode(r, &signer)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(event), "bytes on", jwtrevoke.Subject("", r.Kind, r.Key))
	fmt.Println("Nats-Msg-Id:", jwtrevoke.MsgID(event))

	d := jwtrevoke.Decoder{Keys: jwtrevoke.KeySet{"ops-2026-01": signer.Key.Public().(ed25519.PublicKey)}}
	got, keyID, err := d.DecodeSigned(event, now.Add(50*time.Millisecond))
	fmt.Println(got.Kind, got.Key, got.Before.Equal(now), keyID, err)
	// Output:
	// 131 bytes on jwtrevoke.v1.sub.6d894aa3ee802549d7f340e7c1cf0d1c
	// Nats-Msg-Id: jr1-a2b704543668404e24a4b26c7a695106
	// sub user-42 true ops-2026-01 <nil>
}

// An event replayed after its entry expired fails with ErrExpired, which an
// agent counts apart from malformed or forged events.
func ExampleDecoder_Decode() {
	t := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	event, _ := jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: "jti-1", Before: t, Expires: t.Add(time.Hour), Issued: t}.MarshalBinary()

	var d jwtrevoke.Decoder // defaults: 24h lifetime, 5m skew, 2048 bytes, no keys
	r, err := d.Decode(event, t.Add(time.Minute))
	fmt.Println(r.Kind, r.Key, r.Expires.Format(time.RFC3339), err)

	_, err = d.Decode(event, t.Add(2*time.Hour))
	fmt.Println(errors.Is(err, jwtrevoke.ErrExpired))

	d.Keys = jwtrevoke.KeySet{"ops-2026-01": make(ed25519.PublicKey, ed25519.PublicKeySize)}
	_, err = d.Decode(event, t.Add(time.Minute))
	fmt.Println(errors.Is(err, jwtrevoke.ErrUnsigned))
	// Output:
	// jti jti-1 2026-01-15T11:00:00Z <nil>
	// true
	// true
}

// The smallest event: revoke every token issued before a time.
func ExampleRevocation_MarshalBinary() {
	t := time.Unix(1768471200, 0)
	b, err := jwtrevoke.Revocation{Kind: jwtrevoke.KindAll, Before: t, Expires: t.Add(time.Hour), Issued: t}.MarshalBinary()
	fmt.Printf("%d bytes, %x, %v\n", len(b), b, err)
	// Output:
	// 32 bytes, 0105188adf2fc7824000188ae275f83ae000188adf2fc7824000000000000000, <nil>
}

func ExampleSubject() {
	fmt.Println(jwtrevoke.Subject("", jwtrevoke.KindSubject, "user-42"))
	fmt.Println(jwtrevoke.Subject("acme.revoke", jwtrevoke.KindAll, ""))
	fmt.Println(jwtrevoke.SubjectFilter(""))
	// Output:
	// jwtrevoke.v1.sub.6d894aa3ee802549d7f340e7c1cf0d1c
	// acme.revoke.all.e3b0c44298fc1c149afbf4c8996fb924
	// jwtrevoke.v1.>
}
