package faults

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func encode(t testing.TB, r jwtrevoke.Revocation, s *jwtrevoke.Signer) []byte {
	t.Helper()
	b, err := jwtrevoke.Encode(r, s)
	if err != nil {
		t.Fatalf("Encode(%v %q) error = %v", r.Kind, r.Key, err)
	}
	return b
}

func jtiRev(key string) jwtrevoke.Revocation {
	now := time.Now()
	return jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: key, Before: now, Expires: tokenExp, Issued: now}
}

// rawPublish stores data on subject the way an attacker with publish
// rights would: straight to JetStream, no message ID, no guard.
func rawPublish(t testing.TB, js jetstream.JetStream, subject string, data []byte) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ack, err := js.Publish(ctx, subject, data)
	if err != nil {
		t.Fatalf("Publish(%s, %d bytes) error = %v", subject, len(data), err)
	}
	return ack.Sequence
}

func rejected(st agent.Stats) uint64 {
	n := uint64(0)
	for _, v := range st.EventsRejected {
		n += v
	}
	return n
}

// TestSignatures is hostile input 2: with signatures required, events with
// a bad signature, an unknown key ID, no signature, or signed by a key
// retired from the agent's KeySet are refused, and the next valid event
// still applies. It also follows the key rotation docs/wire-format.md §6
// prescribes (re-publish live events with the new key, then retire the
// old one) and checks that an agent trusting only the new key still
// refuses every live revoked token.
func TestSignatures(t *testing.T) {
	parallel(t)
	n := pick(20, 200)
	r := report(t, "H02", "bad, unknown, retired signing keys", fmt.Sprintf("%d each of unsigned, impostor-signed, unknown-key-ID and retired-key events, each followed by a valid one; a key rotation", n))

	srv := server(t, natsproc.Options{})
	admin := dial(t, srv.URL())
	js := testkit.JetStream(t, admin)
	oldPub, oldPriv := newKey(t)
	newPubKey, newPriv := newKey(t)
	_, impostorPriv := newKey(t)
	pubOld := testkit.NewPublisher(t, admin, publisher.WithSigner("k-old", oldPriv))
	tr := &tracker{}
	both := tr.mustStart(t, "trusts old+new", dial(t, srv.URL()), agent.WithTrustedKeys(jwtrevoke.KeySet{"k-old": oldPub, "k-new": newPubKey}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Revocations signed with the old key, live.
	log := &ackLog{}
	batch(ctx, pubOld, revs("signed-old", n), n, log)
	// Rotation, as documented: re-publish the live events signed with the
	// new key, then retire the old key.
	pubNew := testkit.NewPublisher(t, dial(t, srv.URL()), publisher.WithSigner("k-new", newPriv))
	acked, _ := log.snapshot()
	rotatedDup := 0
	for _, a := range acked {
		m, err := mustStream(t, js).GetLastMsgForSubject(ctx, jwtrevoke.Subject("", jwtrevoke.KindToken, a.tok.JTI))
		if err != nil {
			t.Fatal(err)
		}
		stored, err := (&jwtrevoke.Decoder{}).Decode(m.Data, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		rc, err := pubNew.Revoke(ctx, stored)
		if err != nil {
			t.Fatalf("re-publishing %s with the new key: %v", a.tok.JTI, err)
		}
		if rc.Duplicate {
			rotatedDup++
		}
	}

	// Hostile events, each followed by a valid one.
	trusted := &jwtrevoke.Signer{KeyID: "k-new", Key: newPriv}
	kinds := []struct {
		name   string
		signer *jwtrevoke.Signer
		reason string
	}{
		{"unsigned", nil, "unsigned"},
		{"impostor", &jwtrevoke.Signer{KeyID: "k-new", Key: impostorPriv}, "bad_signature"},
		{"unknown-kid", &jwtrevoke.Signer{KeyID: "k-unknown", Key: newPriv}, "unknown_key_id"},
		{"retired", &jwtrevoke.Signer{KeyID: "k-old", Key: oldPriv}, "unknown_key_id"},
	}
	var lastSeq uint64
	for i := range n {
		for _, k := range kinds {
			key := fmt.Sprintf("%s-%d", k.name, i)
			rawPublish(t, js, jwtrevoke.Subject("", jwtrevoke.KindToken, key), encode(t, jtiRev(key), k.signer))
			next := fmt.Sprintf("next-after-%s-%d", k.name, i)
			lastSeq = rawPublish(t, js, jwtrevoke.Subject("", jwtrevoke.KindToken, next), encode(t, jtiRev(next), trusted))
		}
	}
	waitApplied(30*time.Second, both.a, lastSeq)
	// The old key retired: an agent that trusts only the new one.
	retiredAgent := tr.mustStart(t, "trusts new only", dial(t, srv.URL()), agent.WithTrustedKeys(jwtrevoke.KeySet{"k-new": newPubKey}))

	accepted, missed := 0, 0
	for i := range n {
		for _, k := range kinds {
			hostile := jtiToken(fmt.Sprintf("%s-%d", k.name, i))
			if res := retiredAgent.a.Check(&hostile); res.Verdict != filter.NotRevoked {
				accepted++ // a refused event revoked something
			}
			next := jtiToken(fmt.Sprintf("next-after-%s-%d", k.name, i))
			for _, a := range []*node{both, retiredAgent} {
				if res := a.a.Check(&next); res.Verdict != filter.Revoked || res.Allowed {
					missed++
				}
			}
		}
	}
	lostOld := 0
	for _, a := range acked {
		if res := retiredAgent.a.Check(&a.tok); res.Verdict != filter.Revoked || res.Allowed {
			lostOld++
		}
	}
	lostBoth, _ := settle([]*node{both}, log, 30*time.Second)
	st := retiredAgent.a.Stats()
	r.acked = len(acked) + n*len(kinds)
	r.lost = missed + lostOld + sum(lostBoth)
	r.note("agent trusting only the new key: rejected %v, applied %d; hostile events that revoked something: %d; valid events after hostile ones not applied: %d",
		nonZero(st.EventsRejected), st.EventsApplied, accepted, missed)
	r.note("rotation: %d of %d re-published events came back Duplicate; the agent trusting only the new key refuses %d of the %d live revocations first signed with the old key",
		rotatedDup, len(acked), len(acked)-lostOld, len(acked))
	if accepted > 0 || missed > 0 {
		t.Errorf("%d hostile events revoked something, %d valid events after them were not applied", accepted, missed)
	}
	// The message ID covers the signer's key ID (docs/wire-format.md §7),
	// so a re-signed copy is stored beside the old one, not dropped as its
	// duplicate; once the old key is retired, the new copies revoke.
	if rotatedDup > 0 {
		t.Errorf("key rotation: %d of %d events re-signed with the new key came back Duplicate: the stream kept only the copy signed with the old key", rotatedDup, len(acked))
	}
	if lostOld > 0 {
		t.Errorf("key rotation: the agent trusting only the new key accepts %d of %d live revoked tokens first signed with the old key", lostOld, len(acked))
	}
	r.done(t)
}

func mustStream(t testing.TB, js jetstream.JetStream) jetstream.Stream {
	t.Helper()
	st, err := js.Stream(context.Background(), jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

// mutate returns a damaged copy of a signed event: a flipped byte, a cut,
// trailing bytes, a forged length, a wrong version or kind, garbage, a
// signature taken from another event, or a changed key ID. Every kind of
// damage changes the event (other must be a different event), so no copy
// is valid by chance.
func mutate(rng *rand.Rand, ev, other []byte) []byte {
	b := append([]byte(nil), ev...)
	switch rng.IntN(9) {
	case 0: // flip bits in one byte
		i := rng.IntN(len(b))
		b[i] ^= byte(1 + rng.IntN(255))
	case 1: // cut anywhere
		b = b[:rng.IntN(len(b))]
	case 2: // trailing bytes
		b = append(b, byte(rng.IntN(256)), byte(rng.IntN(256)))
	case 3: // a length field that lies (never the true length)
		k := binary.BigEndian.Uint16(b[26:])
		binary.BigEndian.PutUint16(b[26:], k+1+uint16(rng.IntN(math.MaxUint16-1)))
	case 4:
		b[0] = byte(2 + rng.IntN(254))
	case 5:
		b[1] = byte(6 + rng.IntN(250))
	case 6: // garbage of a plausible size
		b = make([]byte, 1+rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
	case 7: // another event's signature
		copy(b[len(b)-ed25519.SignatureSize:], other[len(other)-ed25519.SignatureSize:])
	case 8: // change a byte of the key ID
		b[len(b)-ed25519.SignatureSize-1] ^= 0x20
	}
	return b
}

// TestMalformedMixed is hostile input 3: malformed events interleaved
// with as many valid ones on the stream; every valid one applies, none of
// the malformed. (The decoder's own fuzz target, FuzzDecode, runs in CI.)
func TestMalformedMixed(t *testing.T) {
	parallel(t)
	n := pick(1000, 10_000)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 3))
	r := report(t, "H03", "malformed events mixed with valid", fmt.Sprintf("%d mutated signed events (9 kinds of damage, seed %d) interleaved with %d valid ones", n, seed, n))

	srv := server(t, natsproc.Options{})
	admin := dial(t, srv.URL())
	testkit.NewPublisher(t, admin)
	js := testkit.JetStream(t, admin)
	keyPub, keyPriv := newKey(t)
	signer := &jwtrevoke.Signer{KeyID: "ops", Key: keyPriv}
	tr := &tracker{}
	a := tr.mustStart(t, "agent", dial(t, srv.URL()), agent.WithTrustedKeys(jwtrevoke.KeySet{"ops": keyPub}))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var futs []jetstream.PubAckFuture
	// The event whose signature the first damaged copy may borrow: another
	// event, never stored (borrowing an event's own signature would leave
	// it intact and valid).
	prev := encode(t, jtiRev("borrowed-signature"), signer)
	for i := range n {
		key := fmt.Sprintf("valid-%d", i)
		ev := encode(t, jtiRev(key), signer)
		bad := mutate(rng, ev, prev)
		if bytes.Equal(bad, ev) {
			t.Fatalf("mutate left event %d intact", i)
		}
		prev = ev
		// The malformed copy goes to its own subject, so it never replaces
		// a valid event (see H07 for what that does).
		f1, err := js.PublishAsync(fmt.Sprintf("jwtrevoke.v1.jti.bad%d", i), bad)
		if err != nil {
			t.Fatal(err)
		}
		f2, err := js.PublishAsync(jwtrevoke.Subject("", jwtrevoke.KindToken, key), ev)
		if err != nil {
			t.Fatal(err)
		}
		futs = append(futs, f1, f2)
	}
	var last uint64
	for _, f := range futs {
		select {
		case ack := <-f.Ok():
			last = max(last, ack.Sequence)
		case err := <-f.Err():
			t.Fatalf("publish: %v", err)
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	mustApply(t, time.Minute, "agent applied everything", a.a, last)
	st := a.a.Stats()
	lost := 0
	for i := range n {
		tok := jtiToken(fmt.Sprintf("valid-%d", i))
		if res := a.a.Check(&tok); res.Verdict != filter.Revoked || res.Allowed {
			lost++
		}
	}
	r.acked, r.lost = n, lost
	r.note("applied %d, rejected %d %v, expired on arrival %d (a damaged time field); filter holds %d jti entries",
		st.EventsApplied, rejected(st), nonZero(st.EventsRejected), st.EventsExpired, st.Filter.Kinds[0].Added)
	if st.EventsApplied != uint64(n) || rejected(st)+st.EventsExpired != uint64(n) || st.Filter.Kinds[0].Added != uint64(n) {
		t.Errorf("applied %d, rejected %d + expired %d, filter added %d; want %d, %d, %d", st.EventsApplied, rejected(st), st.EventsExpired, st.Filter.Kinds[0].Added, n, n, n)
	}
	if lost > 0 {
		t.Errorf("%d valid revocations not applied", lost)
	}
}

// TestOversized is hostile input 4: events and keys over the limits are
// refused before anything is allocated for them: by the stream
// (MaxMsgSize), by the agent's decoder (measured with testing.AllocsPerRun
// and the bytes allocated per attempt), and by the publisher.
func TestOversized(t *testing.T) {
	// AllocsPerRun refuses to run in a parallel test: measure first.
	r := report(t, "H04", "oversized events and keys", "a 4 KiB and a 1 MiB event; a key length of 65535; a 300-byte key through the publisher; a 512 KiB event on a stream without a size limit")

	// The decoder, directly.
	now := time.Now()
	valid := encode(t, jtiRev("x"), nil)
	huge := append(append([]byte(nil), valid...), make([]byte, 1<<20)...)
	lyingLen := append([]byte(nil), valid...)
	binary.BigEndian.PutUint16(lyingLen[26:], math.MaxUint16) // claims a 65535-byte key
	lyingLen = append(lyingLen, make([]byte, 1500)...)        // and is under the size limit
	var dec jwtrevoke.Decoder
	measures := []struct {
		name string
		ev   []byte
	}{{"1 MiB event", huge}, {"4 KiB event", huge[:4096]}, {"key length 65535", lyingLen}}
	var lines []string
	for _, m := range measures {
		var err error
		allocs := testing.AllocsPerRun(200, func() { _, err = dec.Decode(m.ev, now) })
		bytes := bytesPerRun(200, func() { dec.Decode(m.ev, now) })
		lines = append(lines, fmt.Sprintf("decoder, %s: %s, %.0f allocs and %.0f bytes per attempt", m.name, shortErr(err), allocs, bytes))
		if err == nil || allocs > 8 || bytes > 1024 {
			t.Errorf("Decode(%s) = %v with %.0f allocs, %.0f bytes per attempt; want refused with a few small allocations (the error)", m.name, err, allocs, bytes)
		}
	}
	parallel(t)

	srv := server(t, natsproc.Options{})
	admin := dial(t, srv.URL())
	pub := testkit.NewPublisher(t, admin)
	js := testkit.JetStream(t, admin)
	tr := &tracker{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The stream refuses events over its MaxMsgSize (2048).
	before := streamState(t, admin)
	_, err := js.Publish(ctx, jwtrevoke.Subject("", jwtrevoke.KindToken, "big"), huge[:4096])
	lines = append(lines, fmt.Sprintf("stream, 4 KiB event: %s", shortErr(err)))
	if err == nil || !strings.Contains(err.Error(), "maximum") {
		t.Errorf("publishing a 4 KiB event: error = %v, want the stream's size refusal", err)
	}
	// The publisher refuses an oversized key before publishing.
	_, err = pub.RevokeJTI(ctx, strings.Repeat("k", 300), tokenExp)
	lines = append(lines, fmt.Sprintf("publisher, 300-byte key: %s", shortErr(err)))
	if err == nil {
		t.Errorf("RevokeJTI(300-byte key) error = nil, want ErrKeyTooLong")
	}
	if after := streamState(t, admin); after.LastSeq != before.LastSeq {
		t.Errorf("stream seq %d → %d: an oversized event was stored", before.LastSeq, after.LastSeq)
	}

	// A stream someone made without a size limit: the agent refuses the
	// event itself.
	cfg := publisher.StreamConfig("NOLIMIT", "nolimit.v1", lifetime, time.Minute, 1)
	cfg.MaxMsgSize = -1
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	b := tr.mustStart(t, "no-limit agent", dial(t, srv.URL()), agent.WithStream("NOLIMIT"), agent.WithSubjectPrefix("nolimit.v1"))
	seq := rawPublish(t, js, jwtrevoke.Subject("nolimit.v1", jwtrevoke.KindToken, "big"), huge[:512<<10])
	okKey := "after-big"
	seq2 := rawPublish(t, js, jwtrevoke.Subject("nolimit.v1", jwtrevoke.KindToken, okKey), encode(t, jtiRev(okKey), nil))
	mustApply(t, 30*time.Second, "agent applied past the big event", b.a, max(seq, seq2))
	bst := b.a.Stats()
	tok := jtiToken(okKey)
	lost := 0
	if res := b.a.Check(&tok); res.Verdict != filter.Revoked {
		lost++
	}
	lines = append(lines, fmt.Sprintf("agent on a stream without a size limit, 512 KiB event: rejected %v, filter entries %d; the next event applied: %v",
		nonZero(bst.EventsRejected), bst.Filter.Kinds[0].Added, lost == 0))
	if bst.EventsRejected["too_large"] != 1 || bst.Filter.Kinds[0].Added != 1 {
		t.Errorf("no-limit agent: rejected %v, filter added %d; want too_large 1 and only the valid event added", bst.EventsRejected, bst.Filter.Kinds[0].Added)
	}
	r.lost = lost
	r.acked = 1
	r.note("%s", strings.Join(lines, "; "))
}

// bytesPerRun is the heap bytes f allocates per call, averaged over runs.
func bytesPerRun(runs int, f func()) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&m1)
	return float64(m1.TotalAlloc-m0.TotalAlloc) / float64(runs)
}

// TestOutOfBoundsTimes is hostile input 5: validly signed events whose
// times are out of bounds — forgotten-at already past, beyond the max token
// lifetime, before their own cut-off, at the ends of the int64 range — are
// refused; and the publisher must not acknowledge a revocation the agents
// will refuse.
func TestOutOfBoundsTimes(t *testing.T) {
	parallel(t)
	r := report(t, "H05", "out-of-bounds times", "signed events with expiry past, beyond the lifetime, before the cut-off, at MinInt64/MaxInt64; a publisher asked for an expiry beyond the lifetime")

	srv := server(t, natsproc.Options{})
	admin := dial(t, srv.URL())
	pub := testkit.NewPublisher(t, admin)
	js := testkit.JetStream(t, admin)
	keyPub, keyPriv := newKey(t)
	signer := &jwtrevoke.Signer{KeyID: "ops", Key: keyPriv}
	tr := &tracker{}
	a := tr.mustStart(t, "agent", dial(t, srv.URL()), agent.WithTrustedKeys(jwtrevoke.KeySet{"ops": keyPub}))
	plain := tr.mustStart(t, "unsigned agent", dial(t, srv.URL()))

	now := time.Now()
	minT, maxT := time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
	cases := []struct {
		name          string
		before, until time.Time
		want          string // reject reason, or "expired"
	}{
		{"forgotten-at in the past", now.Add(-2 * time.Hour), now.Add(-time.Hour), "expired"},
		{"forgotten-at a second ago", now.Add(-time.Minute), now.Add(-time.Second), "expired"},
		{"beyond the max lifetime", now, now.Add(30 * 24 * time.Hour), "out_of_bounds"},
		{"forgotten-at MaxInt64", now, maxT, "out_of_bounds"},
		{"cut-off MinInt64, forgotten-at MinInt64", minT, minT, "expired"},
		{"cut-off MaxInt64, forgotten-at MaxInt64", maxT, maxT, "out_of_bounds"},
	}
	want := map[string]uint64{}
	var expired uint64
	for i, c := range cases {
		key := fmt.Sprintf("oob-%d", i)
		rev := jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: key, Before: c.before, Expires: c.until, Issued: now}
		rawPublish(t, js, jwtrevoke.Subject("", jwtrevoke.KindToken, key), encode(t, rev, signer))
		if c.want == "expired" {
			expired++
		} else {
			want[c.want]++
		}
	}
	// Expiry before the cut-off: the encoder refuses it, so by hand.
	bad := encode(t, jtiRev("oob-order"), nil)
	binary.BigEndian.PutUint64(bad[10:], uint64(now.Add(-time.Hour).UnixNano())) // expires < before
	bad, err := signer.Sign(bad)
	if err != nil {
		t.Fatal(err)
	}
	want["out_of_bounds"]++
	last := rawPublish(t, js, jwtrevoke.Subject("", jwtrevoke.KindToken, "oob-order"), bad)
	mustApply(t, 30*time.Second, "agent applied the events", a.a, last)
	st := a.a.Stats()
	got := nonZero(st.EventsRejected)
	accepted := int(st.Filter.Kinds[0].Added)
	r.note("agent: rejected %v, expired on arrival %d, applied %d", got, st.EventsExpired, st.EventsApplied)
	if fmt.Sprint(got) != fmt.Sprint(want) || st.EventsExpired != expired || accepted != 0 {
		t.Errorf("rejected %v, expired %d, filter added %d; want %v, %d, 0", got, st.EventsExpired, accepted, want, expired)
	}

	// The publisher: a token whose exp is beyond the max token lifetime
	// (an issuer configured for longer tokens than the revocation system),
	// and a revocation with an explicit far expiry.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := &ackLog{}
	far := now.Add(48 * time.Hour)
	var pubNotes []string
	rc, err := pub.RevokeJTI(ctx, "long-lived-token", far)
	pubNotes = append(pubNotes, fmt.Sprintf("RevokeJTI(exp now+48h): %s", ackOrErr(rc, err)))
	if err == nil {
		log.add(jwtrevoke.Token{JTI: "long-lived-token", IssuedAt: now, ExpiresAt: far}, rc, time.Now())
	}
	rc, err = pub.Revoke(ctx, jwtrevoke.Revocation{Kind: jwtrevoke.KindSubject, Key: "far-user", Before: now, Expires: far})
	pubNotes = append(pubNotes, fmt.Sprintf("Revoke(sub, expires now+48h): %s", ackOrErr(rc, err)))
	if err == nil {
		log.add(jwtrevoke.Token{JTI: "far-user-tok", Subject: "far-user", IssuedAt: now.Add(-time.Minute), ExpiresAt: far}, rc, time.Now())
	}
	lost, _ := settle([]*node{plain}, log, 30*time.Second) // returns at once once applied
	acked, _ := log.snapshot()
	r.acked, r.lost = len(acked), sum(lost)
	pst := plain.a.Stats()
	r.note("publisher with a 1 h max lifetime: %s; an agent then rejected %v and refuses %d of the %d acknowledged tokens",
		strings.Join(pubNotes, ", "), nonZero(pst.EventsRejected), len(acked)-sum(lost), len(acked))
	if sum(lost) > 0 {
		t.Errorf("regression of a fixed bug: the publisher acknowledges revocations that every agent refuses: with WithMaxTokenLifetime(1h), RevokeJTI for a token with exp 48 h ahead and Revoke with Expires 48 h ahead "+
			"are stored and acked (Receipt, nil error), then each agent's decoder rejects them as beyond its lifetime (out_of_bounds), so %d acked revocations are never applied and the tokens stay valid. "+
			"publisher.Revoke (publisher/publisher.go) validates only the encoding (Revocation.Validate), not the bounds the agents enforce; it should refuse "+
			"(an error such as jwtrevoke.ErrTooFarAhead) an Expires beyond now + max lifetime + leeway — a stream message also outlives only MaxAge = lifetime + leeway + 5 min, so such an event would leave the log while live",
			sum(lost))
	}
	r.done(t)
}

func ackOrErr(rc publisher.Receipt, err error) string {
	if err != nil {
		return "refused: " + shortErr(err)
	}
	return fmt.Sprintf("acked (seq %d)", rc.Seq)
}

// TestReplayedEvents is hostile input 7: old events delivered again — a
// stream replay, or an old event re-published — never un-revoke anything:
// not at a live agent, and not at an agent that starts afterwards. It also
// shows what a publisher without the signing key can do to a key's latest
// event.
func TestReplayedEvents(t *testing.T) {
	parallel(t)
	r := report(t, "H07", "replayed old events", "an older subject revocation re-published (valid signature, no message ID) after a newer one; garbage published on a revoked key's subject; a whole-stream replay to a new agent")

	srv := server(t, natsproc.Options{})
	admin := dial(t, srv.URL())
	js := testkit.JetStream(t, admin)
	keyPub, keyPriv := newKey(t)
	pub := testkit.NewPublisher(t, admin, publisher.WithSigner("ops", keyPriv))
	trusted := agent.WithTrustedKeys(jwtrevoke.KeySet{"ops": keyPub})
	tr := &tracker{}
	live := tr.mustStart(t, "live", dial(t, srv.URL()), trusted)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := mustStream(t, js)

	// Log out everywhere twice: the second cut-off is later.
	t1 := time.Now().Add(-10 * time.Minute)
	t2 := time.Now().Add(-time.Minute)
	if _, err := pub.RevokeSubject(ctx, "alice", t1); err != nil {
		t.Fatal(err)
	}
	oldMsg, err := st.GetLastMsgForSubject(ctx, jwtrevoke.Subject("", jwtrevoke.KindSubject, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	rc2, err := pub.RevokeSubject(ctx, "alice", t2)
	if err != nil {
		t.Fatal(err)
	}
	// A token issued between the two cut-offs: revoked by the second only.
	between := jwtrevoke.Token{JTI: "alice-between", Subject: "alice", IssuedAt: t1.Add(time.Minute), ExpiresAt: tokenExp}
	rcB, err := pub.RevokeJTI(ctx, "bob-token", tokenExp)
	if err != nil {
		t.Fatal(err)
	}
	bob := jtiToken("bob-token")
	log := &ackLog{}
	log.add(between, rc2, time.Now())
	log.add(bob, rcB, time.Now())
	if lost, _ := settle([]*node{live}, log, 30*time.Second); sum(lost) > 0 {
		t.Fatal("the live agent did not apply the revocations")
	}

	// Replay: the old, validly signed event re-published without a
	// message ID, and garbage on bob's key subject. Then every other way a
	// writer of the stream could remove or shadow a key's event: an
	// unsigned event with a later cut-off and expiry (refused for want of a
	// signature) and one with an earlier one, a copy of the old event with
	// a one-second per-message TTL, garbage under the live event's own
	// message ID, and a rollup (which the stream must refuse).
	aliceSubj, bobSubj := jwtrevoke.Subject("", jwtrevoke.KindSubject, "alice"), jwtrevoke.Subject("", jwtrevoke.KindToken, "bob-token")
	seq := rawPublish(t, js, oldMsg.Subject, oldMsg.Data)
	seq = max(seq, rawPublish(t, js, bobSubj, []byte("not an event")))
	now := time.Now()
	seq = max(seq, rawPublish(t, js, aliceSubj, encode(t, jwtrevoke.Revocation{Kind: jwtrevoke.KindSubject, Key: "alice", Before: now.Add(-time.Hour), Expires: now.Add(time.Minute), Issued: now}, nil)))
	seq = max(seq, rawPublish(t, js, bobSubj, encode(t, jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: "bob-token", Before: now, Expires: now.Add(2 * time.Second), Issued: now}, nil)))
	for _, m := range []*nats.Msg{
		{Subject: aliceSubj, Data: oldMsg.Data, Header: nats.Header{jetstream.MsgTTLHeader: []string{"1s"}}},
		{Subject: bobSubj, Data: []byte("garbage under the live ID"), Header: nats.Header{jetstream.MsgIDHeader: []string{rcB.MsgID}}},
	} {
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatalf("PublishMsg(%s, %v) error = %v", m.Subject, m.Header, err)
		}
		if m.Header.Get(jetstream.MsgIDHeader) != "" && !ack.Duplicate {
			t.Errorf("garbage under the live event's message ID was stored (seq %d), want it dropped as a duplicate", ack.Sequence)
		}
		seq = max(seq, ack.Sequence)
	}
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: aliceSubj, Data: []byte("rollup"), Header: nats.Header{"Nats-Rollup": []string{"sub"}}}); err == nil {
		t.Errorf("a Nats-Rollup publish on alice's subject was accepted, want the stream to refuse rollups")
	}
	// And every event of the stream delivered again to the live agent is
	// what a consumer reset does: handled by sequence, already covered.
	mustApply(t, 30*time.Second, "live agent saw the replays", live.a, seq)
	cold := tr.mustStart(t, "started after the replay", dial(t, srv.URL()), trusted)

	type check struct {
		who  *node
		name string
		tok  jwtrevoke.Token
	}
	var failures []string
	for _, c := range []check{{live, "live: alice token between the cut-offs", between}, {live, "live: bob's token", bob},
		{cold, "new agent: alice token between the cut-offs", between}, {cold, "new agent: bob's token", bob}} {
		if res := c.who.a.Check(&c.tok); res.Allowed {
			failures = append(failures, c.name)
		}
	}
	r.acked = 2
	liveBad, coldBad := 0, 0
	for _, f := range failures {
		if strings.HasPrefix(f, "live") {
			liveBad++
		} else {
			coldBad++
		}
	}
	r.lost = liveBad + coldBad
	r.note("the live agent keeps the later cut-off and bob's revocation (idempotent: %v); an agent started after the replays, garbage, unsigned and TTL'd copies, a duplicate ID and a refused rollup accepts: %v (none expected: the stream keeps every event of a key and agents merge the valid ones)",
		liveBad == 0, failures)
	if liveBad > 0 {
		t.Errorf("live agent un-revoked: %v", failures)
	}
	if coldBad > 0 {
		t.Errorf("an agent started after the replays un-revoked: %v", failures)
	}
	r.done(t)
}
