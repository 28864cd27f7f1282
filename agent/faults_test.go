package agent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

func TestServerRestartMidStream(t *testing.T) {
	const n = 300
	dir := t.TempDir()
	s := testkit.NATS(t, dir)
	url := s.ClientURL()
	pub := testkit.NewPublisher(t, testkit.Connect(t, url)) // default retries
	var agents []*agent.Agent
	for range 3 {
		agents = append(agents, testkit.NewAgent(t, testkit.Connect(t, url)))
	}
	retries := func() float64 {
		v, _ := testkit.MetricValue(testkit.Gather(t, pub.Collector()), "jwtrevoke_publish_retries_total")
		return v
	}

	var (
		finished atomic.Int64
		mu       sync.Mutex // guards rcs, errs and slowest
		rcs      []publisher.Receipt
		errs     []error
		slowest  time.Duration
		half     = make(chan struct{}) // n/2 revocations published
		down     = make(chan struct{}) // the server is shut down
		done     = make(chan struct{})
		ctx, cc  = context.WithTimeout(context.Background(), testkit.Patience)
	)
	defer cc()
	go func() {
		defer close(done)
		for i := range n {
			switch i {
			case n / 2:
				close(half)
			case 3 * n / 4:
				// The publishes before this one race the shutdown, as
				// in production; this one waits until the server is
				// down, so that one publish at least is sure to be
				// sent to no server and to cross the restart.
				select {
				case <-down:
				case <-ctx.Done():
				}
			}
			start := time.Now()
			rc, err := pub.RevokeJTI(ctx, fmt.Sprintf("restart-%d", i), time.Time{})
			mu.Lock()
			slowest = max(slowest, time.Since(start))
			if err != nil {
				errs = append(errs, fmt.Errorf("RevokeJTI(restart-%d): %w", i, err))
			} else {
				rcs = append(rcs, rc)
			}
			mu.Unlock()
			finished.Add(1)
		}
	}()

	select {
	case <-half:
	case <-ctx.Done():
		t.Fatalf("%d of %d revocations published after %v", finished.Load(), n, testkit.Patience)
	}
	start := time.Now()
	retried := retries()
	s.Shutdown()
	s.WaitForShutdown()
	at := finished.Load()
	close(down)
	// A publish attempt fails while the server is down: that publish is
	// now retrying, and can only finish on the restarted server.
	testkit.Eventually(t, "a publish attempt fails while the server is down", func() bool { return retries() > retried })
	testkit.Restart(t, s, dir)
	t.Logf("server down after %d revocations, restarted in %v", at, time.Since(start))
	select {
	case <-done:
	case <-time.After(testkit.Patience):
		t.Fatalf("publisher not done after %v: %d of %d", testkit.Patience, finished.Load(), n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, err := range errs {
		t.Errorf("publish across the restart failed: %v", err)
	}
	t.Logf("%d revocations acked, slowest publish %v", len(rcs), slowest)
	var last uint64
	for _, rc := range rcs {
		last = max(last, rc.Seq)
	}

	for i, a := range agents {
		testkit.WaitApplied(t, a, last)
		for _, rc := range rcs {
			tok := jtiToken(rc.Revocation.Key)
			if r := a.Check(&tok); r.Verdict != filter.Revoked || r.Allowed {
				t.Fatalf("agent %d: Check(%s) (seq %d) = %+v, want Revoked, refused", i, rc.Revocation.Key, rc.Seq, r)
			}
		}
		testkit.Eventually(t, fmt.Sprintf("agent %d fresh", i), func() bool {
			tok := jtiToken("never-revoked")
			r := a.Check(&tok)
			return r.Allowed && !r.Stale
		})
		st := a.Stats()
		// Each acked revocation is its own key, so its own message. A
		// restart on the same store loses none and replays none twice,
		// and it is no rewind.
		if st.EventsApplied != uint64(len(rcs)) || st.LastApplied < last || st.Rewinds != 0 {
			t.Errorf("agent %d: EventsApplied = %d, LastApplied = %d, Rewinds = %d; want %d acked events up to seq %d, no rewind",
				i, st.EventsApplied, st.LastApplied, st.Rewinds, len(rcs), last)
		}
		t.Logf("agent %d: applied %d, consumer errors %d, probe errors %d", i, st.EventsApplied, st.ConsumerErrors, st.ProbeErrors)
	}
	// Close while the server is up: the cleanups would stop the restarted
	// server first.
	for _, a := range agents {
		a.Close()
	}
}

func TestConsumerDeletedRecovers(t *testing.T) {
	s := testkit.NATS(t, "")
	nc := testkit.Connect(t, s.ClientURL())
	pub := testkit.NewPublisher(t, nc)
	a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()))
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()

	first := jtiRevocations("before", 20)
	testkit.WaitApplied(t, a, revokeBatch(t, pub, first))

	st, err := testkit.JetStream(t, nc).Stream(ctx, jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	lister := st.ConsumerNames(ctx)
	for name := range lister.Name() {
		names = append(names, name)
	}
	if err := lister.Err(); err != nil {
		t.Fatalf("ConsumerNames() error = %v", err)
	}
	if len(names) != 1 {
		t.Fatalf("stream has consumers %v, want the agent's one", names)
	}
	if err := st.DeleteConsumer(ctx, names[0]); err != nil {
		t.Fatalf("DeleteConsumer(%s) error = %v", names[0], err)
	}

	second := jtiRevocations("after", 20)
	last := revokeBatch(t, pub, second)
	start := time.Now()
	testkit.WaitApplied(t, a, last) // published after the consumer was deleted
	took := time.Since(start)
	t.Logf("recovered in %v", took)
	testkit.Eventually(t, "the agent made a new consumer", func() bool {
		var now []string
		for name := range st.ConsumerNames(ctx).Name() {
			now = append(now, name)
		}
		return len(now) == 1 && now[0] != names[0]
	})
	for _, rv := range append(first, second...) {
		tok := jtiToken(rv.Key)
		if r := a.Check(&tok); r.Verdict != filter.Revoked || r.Allowed {
			t.Fatalf("Check(%s) = %+v, want Revoked, refused", rv.Key, r)
		}
	}
	if got := a.Stats().EventsApplied; got != 40 {
		t.Fatalf("Stats().EventsApplied = %d, want 40", got)
	}
}

// startAgent is newAgent for agents whose New may fail: it returns the error.
func startAgent(t testing.TB, url string, opts ...agent.Option) (*agent.Agent, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	a, err := agent.New(ctx, testkit.Connect(t, url), append([]agent.Option{agent.WithMaxTokenLifetime(time.Hour)}, opts...)...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { a.Close() })
	return a, a.WaitReady(ctx)
}

func TestStalenessFollowsPolicy(t *testing.T) {
	// 200ms is what an operator who wants a tight bound sets; 2.5s is
	// about what one who does not would. The bound sets how often the
	// agents probe the server (five times per bound) and their consumer
	// heartbeats; staleness itself is read on the agents' clock, which
	// moves only when the test moves it.
	for _, bound := range []time.Duration{200 * time.Millisecond, 2500 * time.Millisecond} {
		t.Run(bound.String(), func(t *testing.T) { testStaleness(t, bound) })
	}
}

// testStaleness drives two agents, failing closed and failing open,
// through an outage of the server. Their clock moves only when the test
// moves it, and every time they record is a reading of it, so the test
// knows how long ago each last heard from the server: freshness is proven
// by what the server said (or could not say), never by how fast this
// machine answers a probe.
func testStaleness(t *testing.T, bound time.Duration) {
	dir := t.TempDir()
	s := testkit.NATS(t, dir)
	pub := testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))
	clk := testkit.NewManualClock()
	closed, err := startAgent(t, s.ClientURL(), agent.WithStaleness(bound), agent.WithClock(clk.Now))
	if err != nil {
		t.Fatalf("agent.New(WithStaleness(%v)) error = %v", bound, err)
	}
	open, err := startAgent(t, s.ClientURL(), agent.WithStaleness(bound), agent.WithPolicy(agent.FailOpen), agent.WithClock(clk.Now))
	if err != nil {
		t.Fatalf("agent.New(WithStaleness(%v), WithPolicy(FailOpen)) error = %v", bound, err)
	}
	agents := []struct {
		name    string
		a       *agent.Agent
		allowed bool // a clean token's answer while stale
	}{{"fail-closed", closed, false}, {"fail-open", open, true}}

	rc, err := pub.RevokeJTI(context.Background(), "stale-revoked", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitApplied(t, closed, rc.Seq)
	testkit.WaitApplied(t, open, rc.Seq)
	clean, revoked := jtiToken("stale-clean"), jtiToken("stale-revoked")
	fresh := func(a *agent.Agent) bool { r := a.Check(&clean); return r.Allowed && !r.Stale && r.Reason() == "" }
	for _, c := range agents {
		if !fresh(c.a) {
			t.Fatalf("%s: Check(clean) = %+v before the clock moved, want allowed, fresh", c.name, c.a.Check(&clean))
		}
	}
	// Past the bound, only a word from the server makes an agent fresh
	// again: here, an answer to one of its probes.
	clk.Advance(bound + time.Nanosecond)
	for _, c := range agents {
		testkit.Eventually(t, c.name+" fresh again from its probes, a bound later", func() bool { return fresh(c.a) })
	}

	// Each agent last heard from the server at the clock's present time
	// (it answered a probe sent then), and will hear nothing more.
	s.Shutdown()
	s.WaitForShutdown()
	clk.Advance(bound)
	for _, c := range agents {
		if r := c.a.Check(&clean); !r.Allowed || r.Stale {
			t.Errorf("%s: Check(clean) = %+v one bound after the server last answered, want allowed, fresh", c.name, r)
		}
	}
	clk.Advance(time.Nanosecond)
	for _, c := range agents {
		r := c.a.Check(&clean)
		if !r.Stale || r.Allowed != c.allowed || r.Reason() != "stale" || r.Verdict != filter.NotRevoked || r.NotReady {
			t.Errorf("%s: Check(clean) just past the bound = %+v, Reason %q; want stale, Allowed %v, Reason stale", c.name, r, r.Reason(), c.allowed)
		}
		// A revoked token stays refused, whatever the policy.
		if r := c.a.Check(&revoked); r.Allowed || r.Verdict != filter.Revoked || r.Reason() != "revoked" {
			t.Errorf("%s: Check(revoked) while stale = %+v, want refused as revoked", c.name, r)
		}
	}
	// The agents' probes fail while the server is down.
	testkit.Eventually(t, "a probe fails while the server is down", func() bool { return closed.Stats().ProbeErrors > 0 })

	restart := time.Now()
	testkit.Restart(t, s, dir)
	t.Logf("server restarted in %v", time.Since(restart))
	for _, c := range agents {
		took := testkit.Eventually(t, c.name+" fresh again after the restart", func() bool { return fresh(c.a) })
		t.Logf("%s: fresh again %v after the restart", c.name, took)
	}
	if st := closed.Stats(); st.ChecksStale == 0 || st.ProbeErrors == 0 {
		t.Errorf("Stats() ChecksStale = %d, ProbeErrors = %d; want both > 0 after an outage", st.ChecksStale, st.ProbeErrors)
	}

	// Both consumers resumed: a revocation published now reaches both.
	rc, err = pub.RevokeJTI(context.Background(), "after-restart", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitApplied(t, closed, rc.Seq)
	testkit.WaitApplied(t, open, rc.Seq)
	// Close while the server is up (cleanups would stop the server first).
	// Close must return; how fast it does is no business of a unit test.
	for _, c := range agents {
		closeWithin(t, c.name, c.a)
	}
}

// closeWithin closes a and fails the test if Close does not return within
// testkit.Patience: Close waits for the agent's goroutines, never for the network.
func closeWithin(t testing.TB, name string, a *agent.Agent) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- a.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s: Close() error = %v", name, err)
		}
		t.Logf("%s: Close() returned in %v", name, time.Since(start))
	case <-time.After(testkit.Patience):
		t.Fatalf("%s: Close() has not returned after %v", name, testkit.Patience)
	}
}

// rawEvent returns the v1 body of a token revocation by hand, so that the
// test can break it in ways the encoder refuses to.
func rawEvent(version, kind byte, before, expires, issued time.Time, key, reason []byte) []byte {
	b := []byte{version, kind}
	b = binary.BigEndian.AppendUint64(b, uint64(before.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(expires.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(issued.UnixNano()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(reason)))
	b = append(b, reason...)
	return binary.BigEndian.AppendUint16(b, 0) // no actor
}

func TestBadEventsSkipped(t *testing.T) {
	s := testkit.NATS(t, "")
	nc := testkit.Connect(t, s.ClientURL())
	testkit.NewPublisher(t, nc) // creates the stream
	js := testkit.JetStream(t, nc)

	trustedPub, trustedPriv, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	trusted := &jwtrevoke.Signer{KeyID: "ops-1", Key: trustedPriv}
	impostor := &jwtrevoke.Signer{KeyID: "ops-1", Key: otherPriv} // right ID, wrong key
	unknown := &jwtrevoke.Signer{KeyID: "ops-9", Key: trustedPriv}
	keys := jwtrevoke.KeySet{"ops-1": trustedPub}
	a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), agent.WithTrustedKeys(keys), testkit.StillClock())

	now := time.Now()
	rev := func(key string) jwtrevoke.Revocation {
		return jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: key, Before: now, Expires: now.Add(10 * time.Minute), Issued: now}
	}
	encode := func(r jwtrevoke.Revocation, s *jwtrevoke.Signer) []byte {
		t.Helper()
		b, err := jwtrevoke.Encode(r, s)
		if err != nil {
			t.Fatalf("Encode(%q) error = %v", r.Key, err)
		}
		return b
	}
	exp := now.Add(10 * time.Minute)
	tampered := encode(rev("tampered"), trusted)
	tampered[28] ^= 0x20 // the key's first byte: "tampered" → "Tampered"
	farAhead := rev("far-ahead")
	farAhead.Expires = now.Add(30 * 24 * time.Hour)
	expired := rev("expired")
	expired.Before, expired.Expires = now.Add(-2*time.Hour), now.Add(-time.Hour)
	wrongVersion := encode(rev("v2"), trusted)
	wrongVersion[0] = 2
	wrongKind := encode(rev("kind9"), trusted)
	wrongKind[1] = 9

	bad := []struct {
		name   string
		data   []byte
		reason string // "" for an expired event, counted apart
	}{
		{"garbage", []byte("this is not a revocation"), "unknown_version"},
		{"2000 bytes of garbage", bytes.Repeat([]byte{0x01, 0x01, 0xfe}, 667)[:2000], "too_large"},
		{"truncated", encode(rev("truncated"), trusted)[:20], "malformed"},
		{"trailing bytes", append(encode(rev("trailing"), nil), 0xff, 0xff), "malformed"},
		{"key too long", rawEvent(1, 1, now, exp, now, bytes.Repeat([]byte("k"), 300), nil), "too_large"},
		{"reason too long", rawEvent(1, 1, now, exp, now, []byte("long-reason"), bytes.Repeat([]byte("r"), 1500)), "too_large"},
		{"not UTF-8", rawEvent(1, 1, now, exp, now, []byte{0xff, 0xfe}, nil), "malformed"},
		{"unknown version", wrongVersion, "unknown_version"},
		{"unknown kind", wrongKind, "unknown_kind"},
		{"expiry too far ahead", encode(farAhead, trusted), "out_of_bounds"},
		{"unsigned", encode(rev("unsigned"), nil), "unsigned"},
		{"signed by an impostor", encode(rev("impostor"), impostor), "bad_signature"},
		{"tampered after signing", tampered, "bad_signature"},
		{"unknown key ID", encode(rev("unknown-kid"), unknown), "unknown_key_id"},
		{"expired", encode(expired, trusted), ""},
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	want := map[string]uint64{}
	for i, b := range bad {
		if len(b.data) > jwtrevoke.DefaultMaxEventSize {
			t.Fatalf("%s: %d bytes, over the stream's MaxMsgSize", b.name, len(b.data))
		}
		if _, err := js.Publish(ctx, fmt.Sprintf("jwtrevoke.v1.jti.bad%d", i), b.data); err != nil {
			t.Fatalf("Publish(%s) error = %v", b.name, err)
		}
		if b.reason != "" {
			want[b.reason]++
		}
	}
	good := rev("good")
	ack, err := js.Publish(ctx, jwtrevoke.Subject("", good.Kind, good.Key), encode(good, trusted))
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitApplied(t, a, ack.Sequence)

	check := func(name string, a *agent.Agent) {
		t.Helper()
		st := a.Stats()
		got := maps.Clone(st.EventsRejected)
		maps.DeleteFunc(got, func(_ string, n uint64) bool { return n == 0 })
		if !maps.Equal(got, want) {
			t.Errorf("%s: Stats().EventsRejected = %v, want %v", name, got, want)
		}
		if st.EventsApplied != 1 || st.EventsExpired != 1 {
			t.Errorf("%s: EventsApplied = %d, EventsExpired = %d; want 1 and 1", name, st.EventsApplied, st.EventsExpired)
		}
		if added := st.Filter.Kinds[0].Added; added != 1 {
			t.Errorf("%s: filter holds %d jti revocations, want 1 (bad events must not grow it)", name, added)
		}
		tok := jtiToken("good")
		if r := a.Check(&tok); r.Verdict != filter.Revoked || r.Allowed {
			t.Errorf("%s: Check(good) = %+v, want Revoked, refused", name, r)
		}
		for _, key := range []string{"unsigned", "impostor", "tampered", "unknown-kid", "far-ahead", "v2", "kind9", "trailing"} {
			tok := jtiToken(key)
			if r := a.Check(&tok); r.Verdict != filter.NotRevoked || !r.Allowed {
				t.Errorf("%s: Check(%s) = %+v, want NotRevoked, allowed: a bad event must not revoke", name, key, r)
			}
		}
	}
	check("live agent", a)
	// An agent that replays the same events judges them the same way.
	check("late agent", testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), agent.WithTrustedKeys(keys), testkit.StillClock()))
}

func TestStreamRecreatedRewinds(t *testing.T) {
	s := testkit.NATS(t, "")
	nc := testkit.Connect(t, s.ClientURL())
	pub := testkit.NewPublisher(t, nc)
	a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()))
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()

	old := jtiRevocations("old", 10)
	testkit.WaitApplied(t, a, revokeBatch(t, pub, old))

	if err := testkit.JetStream(t, nc).DeleteStream(ctx, jwtrevoke.DefaultStream); err != nil {
		t.Fatalf("DeleteStream() error = %v", err)
	}
	// A new publisher recreates the stream, empty. Right after a delete
	// the server may still be removing the old store ("error creating
	// store for stream"): try again for a moment.
	testkit.Eventually(t, "stream recreated", func() bool {
		p, err := publisher.New(ctx, nc, publisher.WithMaxTokenLifetime(time.Hour))
		if err != nil {
			t.Logf("publisher.New() right after DeleteStream: %v", err)
			time.Sleep(20 * time.Millisecond)
			return false
		}
		pub = p
		return true
	})
	if info, err := testkit.JetStream(t, nc).Stream(ctx, jwtrevoke.DefaultStream); err != nil || info.CachedInfo().State.Msgs != 0 {
		t.Fatalf("recreated stream: %v, %v; want it empty", err, info)
	}
	// Fewer events than before, so the new stream's sequences stay below
	// what the agent already applied: only the rewind check finds them.
	fresh := jtiRevocations("new", 3)
	revokeBatch(t, pub, fresh)

	testkit.Eventually(t, "rewind detected", func() bool { return a.Stats().Rewinds >= 1 })
	for _, rv := range fresh {
		tok := jtiToken(rv.Key)
		testkit.Eventually(t, "new revocation "+rv.Key+" applied", func() bool {
			r := a.Check(&tok)
			return r.Verdict == filter.Revoked && !r.Allowed
		})
	}
	for _, rv := range old {
		tok := jtiToken(rv.Key)
		if r := a.Check(&tok); r.Verdict != filter.Revoked || r.Allowed {
			t.Fatalf("Check(%s) after the stream was recreated = %+v, want still Revoked", rv.Key, r)
		}
	}
	// And it keeps tailing the new stream.
	rc, err := pub.RevokeJTI(ctx, "after-rewind", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// The agent adds an event to its filter before it stores its sequence:
	// wait for the sequence, then check both.
	testkit.WaitApplied(t, a, rc.Seq)
	if a.LastApplied() != rc.Seq {
		t.Errorf("LastApplied() = %d, want %d (the recreated stream's last)", a.LastApplied(), rc.Seq)
	}
	tok := jtiToken("after-rewind")
	if r := a.Check(&tok); r.Verdict != filter.Revoked || r.Allowed {
		t.Errorf("Check(after-rewind) = %+v, want Revoked, refused", r)
	}
	clean := jtiToken("never-revoked")
	testkit.Eventually(t, "fresh again", func() bool { r := a.Check(&clean); return r.Allowed && !r.Stale })
}
