package snapshot_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/snapshot"
)

// history publishes random revocations of every kind over a small pool of
// keys (so that one key gets several events to merge), some expiring
// within minutes, plus fillers that push a small-budget agent into
// evictions.
type history struct {
	r      *rand.Rand
	now    time.Time
	fill   int
	events []jwtrevoke.Revocation
}

var pool = 12

func (h *history) next(n int) []jwtrevoke.Revocation {
	kinds := []jwtrevoke.Kind{jwtrevoke.KindToken, jwtrevoke.KindSubject, jwtrevoke.KindSession, jwtrevoke.KindKey, jwtrevoke.KindAll}
	var out []jwtrevoke.Revocation
	for range n {
		k := kinds[h.r.IntN(len(kinds))]
		key := ""
		if k != jwtrevoke.KindAll {
			key = fmt.Sprintf("%v-%d", k, h.r.IntN(pool))
		}
		before := h.now.Add(-time.Duration(h.r.IntN(3600)) * time.Second)
		// A third expire within ten minutes: the clock moves past some of
		// them between the snapshot and the agents' start.
		life := time.Duration(60+h.r.IntN(3000)) * time.Second
		if h.r.IntN(3) == 0 {
			life = time.Duration(1+h.r.IntN(600)) * time.Second
		}
		out = append(out, jwtrevoke.Revocation{Kind: k, Key: key, Before: before, Expires: h.now.Add(life), Issued: h.now})
	}
	for range h.fill {
		out = append(out, jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("filler-%d", h.r.Uint64()), Before: h.now, Expires: h.now.Add(time.Hour), Issued: h.now})
	}
	h.events = append(h.events, out...)
	return out
}

// probes are tokens around every key's possible cut-offs.
func (h *history) probes() []jwtrevoke.Token {
	var toks []jwtrevoke.Token
	exp := h.now.Add(2 * time.Hour)
	for i := range pool {
		for _, ago := range []time.Duration{0, 10 * time.Minute, 30 * time.Minute, 59 * time.Minute, 2 * time.Hour} {
			iat := h.now.Add(-ago)
			toks = append(toks,
				jwtrevoke.Token{JTI: fmt.Sprintf("jti-%d", i), IssuedAt: iat, ExpiresAt: exp},
				jwtrevoke.Token{JTI: fmt.Sprintf("clean-%d-%v", i, ago), Subject: fmt.Sprintf("sub-%d", i), IssuedAt: iat, ExpiresAt: exp},
				jwtrevoke.Token{JTI: fmt.Sprintf("clean-s-%d-%v", i, ago), Session: fmt.Sprintf("sid-%d", i), IssuedAt: iat, ExpiresAt: exp},
				jwtrevoke.Token{JTI: fmt.Sprintf("clean-k-%d-%v", i, ago), KeyID: fmt.Sprintf("kid-%d", i), IssuedAt: iat, ExpiresAt: exp},
			)
		}
	}
	for _, e := range h.events {
		if e.Kind == jwtrevoke.KindToken {
			toks = append(toks, jwtrevoke.Token{JTI: e.Key, IssuedAt: h.now, ExpiresAt: exp})
		}
	}
	return toks
}

// TestSnapshotAnswersAsFullReplay is the property: for random histories
// (every kind, several events per key, expiries between the snapshot and
// the start, a memory budget that forces evictions and so settling against
// the stream), an agent that starts from a snapshot at S and replays from
// S+1 answers every check exactly as an agent that replays everything.
func TestSnapshotAnswersAsFullReplay(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) { testSnapshotProperty(t, seed) })
	}
}

func testSnapshotProperty(t *testing.T, seed uint64) {
	s := testkit.NATS(t, "")
	nc := testkit.Connect(t, s.ClientURL())
	pub := testkit.NewPublisher(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	clock := testkit.NewManualClock()
	h := &history{r: rand.New(rand.NewPCG(seed, 42)), now: clock.Now(), fill: 6000 * int(seed%2)}
	if _, err := pub.RevokeBatch(ctx, h.next(300)); err != nil {
		t.Fatal(err)
	}
	e, err := snapshot.Take(ctx, testkit.JetStream(t, nc), snapshot.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	rcs, err := pub.RevokeBatch(ctx, h.next(100))
	if err != nil {
		t.Fatal(err)
	}
	last := rcs[len(rcs)-1].Seq
	clock.Advance(5 * time.Minute) // some revocations expire between the snapshot and the start

	opts := []agent.Option{agent.WithClock(clock.Now), agent.WithMemoryBudget(1 << 20)}
	full := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), append(opts, agent.WithSnapshots(""))...)
	fromSnap := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), opts...)
	testkit.WaitApplied(t, full, last)
	testkit.WaitApplied(t, fromSnap, last)
	st := fromSnap.Stats()
	if st.SnapshotSeq != e.Seq || st.SnapshotLoads[agent.SnapshotLoaded] != 1 {
		t.Fatalf("agent started from snapshot seq %d (loads %v), want %d", st.SnapshotSeq, st.SnapshotLoads, e.Seq)
	}
	if st.EventsApplied+st.EventsExpired+rejected(st) > last-e.Seq {
		t.Errorf("agent from the snapshot handled %d events, want at most the %d after it", st.EventsApplied+st.EventsExpired, last-e.Seq)
	}
	evictions := fromSnap.Filter().Stats().Evictions + full.Filter().Stats().Evictions
	var differ, revoked int
	for _, tok := range h.probes() {
		a, b := full.Check(&tok), fromSnap.Check(&tok)
		if a.Verdict != b.Verdict || a.Allowed != b.Allowed || a.Kind != b.Kind {
			differ++
			if differ <= 5 {
				t.Errorf("token %+v: full replay %+v, from snapshot %+v", tok, a, b)
			}
		}
		if a.Verdict.String() == "revoked" {
			revoked++
		}
	}
	t.Logf("seed %d: snapshot at %d of %d events (%d revocations), %d probes, %d revoked, %d differ, %d evictions",
		seed, e.Seq, last, e.Count, len(h.probes()), revoked, differ, evictions)
	if revoked == 0 {
		t.Error("no probe was revoked: the property checked nothing")
	}
}

func rejected(st agent.Stats) uint64 {
	var n uint64
	for _, v := range st.EventsRejected {
		n += v
	}
	return n
}

// revokeN publishes n jti revocations named prefix-i and returns the last
// sequence.
func revokeN(t *testing.T, pub *publisher.Publisher, prefix string, n int) uint64 {
	t.Helper()
	now := time.Now()
	revs := make([]jwtrevoke.Revocation, n)
	for i := range revs {
		revs[i] = jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("%s-%d", prefix, i), Before: now, Expires: now.Add(time.Hour)}
	}
	rcs, err := pub.RevokeBatch(context.Background(), revs)
	if err != nil {
		t.Fatal(err)
	}
	return rcs[len(rcs)-1].Seq
}

// startsFrom starts an agent and checks which snapshot it started from
// and what it counted, and that every revocation named prefix-0..n-1 is
// refused whichever way it started.
func startsFrom(t *testing.T, url string, wantSeq uint64, outcome string, opts ...agent.Option) *agent.Agent {
	t.Helper()
	a := testkit.NewAgent(t, testkit.Connect(t, url), append([]agent.Option{testkit.StillClock()}, opts...)...)
	st := a.Stats()
	if st.SnapshotSeq != wantSeq || st.SnapshotLoads[outcome] == 0 {
		t.Fatalf("agent started from snapshot %d, loads %v; want %d and at least one %q", st.SnapshotSeq, st.SnapshotLoads, wantSeq, outcome)
	}
	return a
}

func mustRevoke(t *testing.T, a *agent.Agent, keys ...string) {
	t.Helper()
	for _, k := range keys {
		tok := jwtrevoke.Token{JTI: k, IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if r := a.Check(&tok); r.Verdict.String() != "revoked" {
			t.Errorf("Check(%s) = %+v, want revoked", k, r)
		}
	}
}

func TestAgentFromSnapshot(t *testing.T) {
	pub, url := newTestEnv(t)
	nc := testkit.Connect(t, url)
	js := testkit.JetStream(t, nc)
	ctx := context.Background()
	revokeN(t, pub, "before", 50)
	e, err := snapshot.Take(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	last := revokeN(t, pub, "after", 10)
	a := startsFrom(t, url, e.Seq, agent.SnapshotLoaded)
	testkit.WaitApplied(t, a, last)
	if st := a.Stats(); st.EventsApplied != 10 {
		t.Errorf("EventsApplied = %d, want the 10 after the snapshot", st.EventsApplied)
	}
	mustRevoke(t, a, "before-0", "before-49", "after-0", "after-9")

	// The bucket deleted: a full replay, nothing lost.
	if err := js.DeleteObjectStore(ctx, snapshot.DefaultBucket); err != nil {
		t.Fatal(err)
	}
	b := startsFrom(t, url, 0, agent.SnapshotNone)
	mustRevoke(t, b, "before-0", "after-9")
}

// TestAgentRefusesBadSnapshots: a corrupt newest snapshot falls back to
// the one before; an unsigned one where signatures are required, and one
// of another incarnation of the stream, fall back to a full replay.
func TestAgentRefusesBadSnapshots(t *testing.T) {
	pub, url := newTestEnv(t)
	nc := testkit.Connect(t, url)
	js := testkit.JetStream(t, nc)
	ctx := context.Background()
	revokeN(t, pub, "first", 20)
	older, err := snapshot.Take(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	revokeN(t, pub, "second", 20)
	newer, err := snapshot.Take(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the newest with a damaged copy of itself.
	obj, err := js.ObjectStore(ctx, snapshot.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	part := newer.Name + "." + newer.Info.Metadata["jwtrevoke.snapshot_nonce"] + ".part-00000"
	info, err := obj.GetInfo(ctx, part)
	if err != nil {
		t.Fatal(err)
	}
	data, err := obj.GetBytes(ctx, part)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if _, err := obj.Put(ctx, info.ObjectMeta, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	a := startsFrom(t, url, older.Seq, agent.SnapshotLoaded)
	if n := a.Stats().SnapshotLoads[agent.SnapshotCorrupt]; n != 1 {
		t.Errorf("corrupt loads = %d, want 1", n)
	}
	mustRevoke(t, a, "first-0", "second-19")

	// Unsigned where the agent requires signed events and snapshots.
	keyPub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	// (Its events are unsigned too: it applies none, as it was told.)
	startsFrom(t, url, 0, agent.SnapshotUnsigned, agent.WithTrustedKeys(jwtrevoke.KeySet{"ops": keyPub}))

	// Another incarnation: the stream deleted and recreated, longer than
	// before so that the snapshots' sequences are not ahead of it.
	if err := js.DeleteStream(ctx, jwtrevoke.DefaultStream); err != nil {
		t.Fatal(err)
	}
	pub2 := testkit.NewPublisher(t, nc)
	revokeN(t, pub2, "third", 60)
	c := startsFrom(t, url, 0, agent.SnapshotOtherStream)
	mustRevoke(t, c, "third-0", "third-59")
	tok := jwtrevoke.Token{JTI: "first-0", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if r := c.Check(&tok); r.Verdict.String() != "not_revoked" {
		t.Errorf("Check(first-0) on the new stream = %+v: the old incarnation's snapshot leaked in", r)
	}
}

// TestAgentRefusesSnapshotAhead: a snapshot past the stream's last
// sequence (the stream was recreated shorter, or restored from an older
// backup) is refused before it is read.
func TestAgentRefusesSnapshotAhead(t *testing.T) {
	pub, url := newTestEnv(t)
	nc := testkit.Connect(t, url)
	js := testkit.JetStream(t, nc)
	ctx := context.Background()
	revokeN(t, pub, "old", 30)
	if _, err := snapshot.Take(ctx, js); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, jwtrevoke.DefaultStream); err != nil {
		t.Fatal(err)
	}
	revokeN(t, testkit.NewPublisher(t, nc), "new", 5)
	a := startsFrom(t, url, 0, agent.SnapshotAhead)
	mustRevoke(t, a, "new-0", "new-4")
}

// newTestEnv is a server with a publisher and the stream.
func newTestEnv(t *testing.T) (*publisher.Publisher, string) {
	t.Helper()
	s := testkit.NATS(t, "")
	return testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL())), s.ClientURL()
}

// TestSignedSnapshot: where events are signed, the snapshotter keeps only
// signed events and signs the snapshot; an agent trusting the key loads it,
// and one trusting another key refuses it.
func TestSignedSnapshot(t *testing.T) {
	s := testkit.NATS(t, "")
	nc := testkit.Connect(t, s.ClientURL())
	keyPub, keyPriv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := testkit.NewPublisher(t, nc, publisher.WithSigner("ops", keyPriv))
	revokeN(t, pub, "signed", 10)
	trusted := jwtrevoke.KeySet{"ops": keyPub}
	e, err := snapshot.Take(context.Background(), testkit.JetStream(t, nc), snapshot.WithTrustedKeys(trusted), snapshot.WithSigner("ops", keyPriv))
	if err != nil {
		t.Fatal(err)
	}
	if e.Count != 10 {
		t.Errorf("signed snapshot holds %d revocations, want 10", e.Count)
	}
	a := startsFrom(t, s.ClientURL(), e.Seq, agent.SnapshotLoaded, agent.WithTrustedKeys(trusted))
	mustRevoke(t, a, "signed-0", "signed-9")
	otherPub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	startsFrom(t, s.ClientURL(), 0, agent.SnapshotUnsigned, agent.WithTrustedKeys(jwtrevoke.KeySet{"ops": otherPub}))
}

// TestAgentRefusesSnapshotOlderThanMaxAge: once the stream has aged out
// events after the snapshot's sequence, the snapshot cannot be completed
// and is refused.
func TestAgentRefusesSnapshotOlderThanMaxAge(t *testing.T) {
	pub, url := newTestEnv(t)
	nc := testkit.Connect(t, url)
	js := testkit.JetStream(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	revokeN(t, pub, "old", 10)
	e, err := snapshot.Take(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	revokeN(t, pub, "later", 5)
	// Age everything out: MaxAge cut to a second (the case stands for a
	// snapshot older than the stream's MaxAge).
	st, err := js.Stream(ctx, jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxAge, cfg.Duplicates = time.Second, time.Second
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the stream aged out the events after the snapshot", func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.FirstSeq > e.Seq+1
	})
	startsFrom(t, url, 0, agent.SnapshotIncomplete)
}
