package agent_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// jtiToken is a live token issued a minute ago with only a jti.
func jtiToken(jti string) jwtrevoke.Token {
	now := time.Now()
	return jwtrevoke.Token{JTI: jti, IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(10 * time.Minute)}
}

// jtiRevocations returns n token revocations with keys prefix-0 … prefix-(n-1).
func jtiRevocations(prefix string, n int) []jwtrevoke.Revocation {
	now := time.Now()
	revs := make([]jwtrevoke.Revocation, n)
	for i := range revs {
		revs[i] = jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("%s-%d", prefix, i), Before: now, Expires: now.Add(10 * time.Minute)}
	}
	return revs
}

// revokeBatch publishes revs and returns the highest acknowledged sequence.
// A bulk publish takes time in proportion to its size and to the machine's
// load (40,000 events take about 10 s under -race on a loaded 2-core
// machine), so it gets five times testkit.Patience.
func revokeBatch(t testing.TB, p *publisher.Publisher, revs []jwtrevoke.Revocation) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*testkit.Patience)
	defer cancel()
	rcs, err := p.RevokeBatch(ctx, revs)
	if err != nil {
		t.Fatalf("RevokeBatch(%d) error = %v", len(revs), err)
	}
	var last uint64
	for i, rc := range rcs {
		if rc.Seq == 0 {
			t.Fatalf("RevokeBatch receipt %d: Seq = 0", i)
		}
		last = max(last, rc.Seq)
	}
	return last
}

func TestAllKindsEndToEnd(t *testing.T) {
	s := testkit.NATS(t, "")
	pub := testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))
	a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), testkit.StillClock())
	ctx := context.Background()

	now := time.Now()
	cut := now.Add(-10 * time.Minute)    // cut-off of the sub, sid and all revocations
	allCut := now.Add(-30 * time.Minute) // "all tokens issued before" this
	var last uint64
	for _, revoke := range []func() (publisher.Receipt, error){
		func() (publisher.Receipt, error) { return pub.RevokeJTI(ctx, "jti-revoked", now.Add(10*time.Minute)) },
		func() (publisher.Receipt, error) { return pub.RevokeSubject(ctx, "sub-revoked", cut) },
		func() (publisher.Receipt, error) { return pub.RevokeSession(ctx, "sid-revoked", cut) },
		func() (publisher.Receipt, error) { return pub.RevokeKey(ctx, "kid-revoked") },
		func() (publisher.Receipt, error) { return pub.RevokeAll(ctx, allCut) },
	} {
		rc, err := revoke()
		if err != nil {
			t.Fatalf("revoke error = %v", err)
		}
		last = rc.Seq
	}
	testkit.WaitApplied(t, a, last)

	exp := now.Add(10 * time.Minute)
	before, after := cut.Add(-time.Minute), cut.Add(time.Minute) // iat either side of the cut-off
	tests := []struct {
		name    string
		tok     jwtrevoke.Token
		verdict filter.Verdict
		kind    jwtrevoke.Kind
	}{
		{"jti revoked", jwtrevoke.Token{JTI: "jti-revoked", IssuedAt: after, ExpiresAt: exp}, filter.Revoked, jwtrevoke.KindToken},
		{"other jti", jwtrevoke.Token{JTI: "jti-clean", IssuedAt: after, ExpiresAt: exp}, filter.NotRevoked, 0},
		{"sub, iat before cut-off", jwtrevoke.Token{JTI: "t1", Subject: "sub-revoked", IssuedAt: before, ExpiresAt: exp}, filter.Revoked, jwtrevoke.KindSubject},
		{"sub, iat after cut-off", jwtrevoke.Token{JTI: "t2", Subject: "sub-revoked", IssuedAt: after, ExpiresAt: exp}, filter.NotRevoked, 0},
		// A token without iat counts as issued before every cut-off; the
		// "all" revocation is checked first.
		{"sub, no iat", jwtrevoke.Token{JTI: "t3", Subject: "sub-revoked", ExpiresAt: exp}, filter.Revoked, jwtrevoke.KindAll},
		{"other sub, iat before cut-off", jwtrevoke.Token{JTI: "t4", Subject: "sub-clean", IssuedAt: before, ExpiresAt: exp}, filter.NotRevoked, 0},
		{"sid, iat before cut-off", jwtrevoke.Token{JTI: "t5", Session: "sid-revoked", IssuedAt: before, ExpiresAt: exp}, filter.Revoked, jwtrevoke.KindSession},
		{"sid, iat after cut-off", jwtrevoke.Token{JTI: "t6", Session: "sid-revoked", IssuedAt: after, ExpiresAt: exp}, filter.NotRevoked, 0},
		{"kid revoked", jwtrevoke.Token{JTI: "t7", KeyID: "kid-revoked", IssuedAt: after, ExpiresAt: exp}, filter.Revoked, jwtrevoke.KindKey},
		{"other kid", jwtrevoke.Token{JTI: "t8", KeyID: "kid-clean", IssuedAt: after, ExpiresAt: exp}, filter.NotRevoked, 0},
		{"all, iat before cut-off", jwtrevoke.Token{JTI: "t9", IssuedAt: allCut.Add(-time.Second), ExpiresAt: exp}, filter.Revoked, jwtrevoke.KindAll},
		{"all, iat after cut-off", jwtrevoke.Token{JTI: "t10", IssuedAt: allCut.Add(time.Second), ExpiresAt: exp}, filter.NotRevoked, 0},
	}
	for _, tt := range tests {
		r := a.Check(&tt.tok)
		wantAllowed, wantReason := tt.verdict == filter.NotRevoked, jwtrevoke.ReasonNone
		if !wantAllowed {
			wantReason = jwtrevoke.ReasonRevoked
		}
		if r.Verdict != tt.verdict || r.Kind != tt.kind || r.Allowed != wantAllowed || r.Reason() != wantReason || r.Stale || r.NotReady {
			t.Errorf("%s: Check() = {Verdict %v Kind %v Allowed %v Reason %q Stale %v NotReady %v}, want {%v %v %v %q false false}",
				tt.name, r.Verdict, r.Kind, r.Allowed, r.Reason(), r.Stale, r.NotReady, tt.verdict, tt.kind, wantAllowed, wantReason)
		}
		if got := a.IsRevoked(&tt.tok); got != !wantAllowed {
			t.Errorf("%s: IsRevoked() = %v, want %v", tt.name, got, !wantAllowed)
		}
	}
	st := a.Stats()
	if st.EventsApplied != 5 || st.ChecksRevoked != 12 || st.ChecksAllowed != 12 {
		t.Errorf("Stats() EventsApplied = %d, ChecksRevoked = %d, ChecksAllowed = %d; want 5, 12, 12", st.EventsApplied, st.ChecksRevoked, st.ChecksAllowed)
	}
}

func TestLateAgentReplaysBeforeReady(t *testing.T) {
	const n = 2000
	s := testkit.NATS(t, "")
	pub := testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))
	revs := jtiRevocations("late", n)
	last := revokeBatch(t, pub, revs)

	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	// The replay is held at its first event until the checks below are
	// done: the agent is then surely not ready, however fast it replays.
	// The hook runs on the goroutine that applies events, after the event
	// is applied.
	var (
		held    = make(chan uint64, 1)
		release = make(chan struct{})
		once    sync.Once
	)
	a, err := agent.New(ctx, testkit.Connect(t, s.ClientURL()), agent.WithMaxTokenLifetime(time.Hour), testkit.StillClock(),
		agent.WithOnApply(func(_ jwtrevoke.Revocation, seq uint64) {
			once.Do(func() {
				held <- seq
				<-release
			})
		}))
	if err != nil {
		t.Fatalf("agent.New() error = %v", err)
	}
	t.Cleanup(func() { a.Close() })
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce) // runs before Close, should the test stop early
	var first uint64
	select {
	case first = <-held:
	case <-ctx.Done():
		t.Fatalf("the agent applied no event in %v", testkit.Patience)
	}
	if first >= last || a.Ready() {
		t.Fatalf("replay held at seq %d of %d with Ready() = %v, want held before the last and not ready", first, last, a.Ready())
	}

	// Until it is ready, every answer is stale and, failing closed, refused.
	checks := 0
	for i := 0; i < n; i += 97 {
		tok := jtiToken(revs[i].Key)
		r := a.Check(&tok)
		checks++
		if !r.NotReady || !r.Stale || r.Allowed {
			t.Fatalf("Check(%s) while not ready = %+v, want NotReady, Stale and not Allowed (FailClosed)", revs[i].Key, r)
		}
		if r.Verdict == filter.NotRevoked && r.Reason() != "not_ready" {
			t.Fatalf("Check(%s) while not ready Reason() = %q, want not_ready", revs[i].Key, r.Reason())
		}
	}
	clean := jtiToken("never-revoked")
	if r := a.Check(&clean); !r.NotReady || r.Allowed || r.Reason() != "not_ready" {
		t.Fatalf("Check(clean) while not ready = %+v, Reason %q; want refused, not_ready", r, r.Reason())
	}
	t.Logf("%d checks answered while the replay was held at seq %d of %d", checks, first, last)
	releaseOnce()

	if err := a.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady() error = %v", err)
	}
	if a.LastApplied() < last {
		t.Fatalf("ready with LastApplied() = %d, want ≥ %d (the last sequence when the agent started)", a.LastApplied(), last)
	}
	for _, rv := range revs {
		tok := jtiToken(rv.Key)
		if r := a.Check(&tok); r.Verdict != filter.Revoked || r.Allowed || r.NotReady {
			t.Fatalf("Check(%s) after WaitReady = %+v, want Revoked, refused", rv.Key, r)
		}
	}
	if r := a.Check(&clean); !r.Allowed || r.Stale {
		t.Fatalf("Check(clean) after WaitReady = %+v, want allowed, fresh", r)
	}
	if st := a.Stats(); st.EventsApplied != n {
		t.Fatalf("Stats().EventsApplied = %d, want %d", st.EventsApplied, n)
	}
}

func TestEvictionSettlesUnknownFromStream(t *testing.T) {
	const (
		n      = 40000
		sample = 2000
	)
	s := testkit.NATS(t, "")
	pub := testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))
	small := []agent.Option{agent.WithMemoryBudget(1 << 20), agent.WithFalsePositiveRate(1e-3), testkit.StillClock()}
	a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), small...)
	// An agent that can never settle in time: its Unknown verdicts stay
	// Unknown, and failing closed, it must refuse them.
	unsettled := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), append(small, agent.WithSettleTimeout(time.Nanosecond))...)

	revs := jtiRevocations("evict", n)
	start := time.Now()
	last := revokeBatch(t, pub, revs)
	testkit.WaitApplied(t, a, last)
	testkit.WaitApplied(t, unsettled, last)
	t.Logf("published and applied %d revocations in %v", n, time.Since(start))

	st := a.Stats()
	if st.Filter.Evictions == 0 {
		t.Fatalf("Stats().Filter.Evictions = 0 with %d entries in a 1 MiB budget (exact capacity %d), want > 0", n, st.Filter.ExactCapacity)
	}
	if st.Filter.Bytes > st.Filter.Budget {
		t.Errorf("Stats().Filter.Bytes = %d, want ≤ budget %d", st.Filter.Bytes, st.Filter.Budget)
	}
	t.Logf("filter: %d exact entries of %d, %d evictions, %d bytes", st.Filter.ExactEntries, st.Filter.ExactCapacity, st.Filter.Evictions, st.Filter.Bytes)

	// Every revoked token is refused. A check that hits an evicted entry
	// is Unknown, settled by a direct get from the stream: Revoked. An
	// unsettled Unknown (timeout) would still be refused under FailClosed;
	// it must settle on a later try.
	step := n / sample
	for i := 0; i < n; i += step {
		tok := jtiToken(revs[i].Key)
		r := a.Check(&tok)
		if r.Allowed {
			t.Fatalf("Check(%s) = %+v, want refused", revs[i].Key, r)
		}
		if r.Verdict != filter.Revoked {
			testkit.Eventually(t, "settled to Revoked", func() bool {
				r = a.Check(&tok)
				if r.Allowed {
					t.Fatalf("Check(%s) = %+v, want refused", revs[i].Key, r)
				}
				return r.Verdict == filter.Revoked
			})
		}
		if r.Kind != jwtrevoke.KindToken || r.Reason() != "revoked" {
			t.Fatalf("Check(%s) = %+v, Reason %q; want kind jti, reason revoked", revs[i].Key, r, r.Reason())
		}
	}
	st = a.Stats()
	if st.Settles == 0 {
		t.Fatalf("Stats().Settles = 0 after checking %d revoked tokens with %d evictions, want > 0", sample, st.Filter.Evictions)
	}
	t.Logf("settles %d, settle errors %d", st.Settles, st.SettleErrors)

	// Unsettled, an Unknown verdict is refused under FailClosed: never
	// guessed as not revoked.
	unknown := 0
	for i := 0; i < n; i += step {
		tok := jtiToken(revs[i].Key)
		r := unsettled.Check(&tok)
		if r.Allowed || r.Verdict == filter.NotRevoked {
			t.Fatalf("unsettled agent: Check(%s) = %+v, want refused", revs[i].Key, r)
		}
		if r.Verdict == filter.Unknown {
			unknown++
			if r.Reason() != "unknown" || r.Kind != jwtrevoke.KindToken {
				t.Fatalf("unsettled agent: Check(%s) = %+v, Reason %q; want kind jti, reason unknown", revs[i].Key, r, r.Reason())
			}
		}
	}
	if ust := unsettled.Stats(); unknown == 0 || ust.SettleErrors == 0 || ust.ChecksUnknown != uint64(unknown) {
		t.Fatalf("unsettled agent: %d Unknown answers, SettleErrors = %d, ChecksUnknown = %d; want > 0, > 0, %d", unknown, ust.SettleErrors, ust.ChecksUnknown, unknown)
	}
	t.Logf("unsettled agent: %d of %d revoked tokens Unknown, all refused", unknown, sample)

	// Tokens never revoked are allowed: a Bloom "maybe" in an evicted
	// generation is settled as not revoked, never guessed.
	for i := range sample {
		tok := jtiToken(fmt.Sprintf("clean-%d", i))
		var r agent.Result
		testkit.Eventually(t, "clean token settled", func() bool {
			r = a.Check(&tok)
			return r.Verdict != filter.Unknown
		})
		if !r.Allowed || r.Verdict != filter.NotRevoked {
			t.Fatalf("Check(clean-%d) = %+v, want NotRevoked, allowed", i, r)
		}
	}
}
