package agent_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// TestSettleMergesEveryEventOfAKey: an agent whose exact entries were
// evicted settles an Unknown verdict from the stream. Someone who may
// publish but not sign wrote after the key's valid event — garbage, an
// unsigned event, and the key's older, weaker signed event re-published —
// and settling must still find the valid, strongest one: the stream keeps
// every event of a key, and settling merges the valid ones instead of
// taking the last one written.
func TestSettleMergesEveryEventOfAKey(t *testing.T) {
	const n = 15000
	s := testkit.NATS(t, "")
	keyPub, keyPriv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	nc := testkit.Connect(t, s.ClientURL())
	pub := testkit.NewPublisher(t, nc, publisher.WithSigner("ops", keyPriv))
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()

	// Victim: log out everywhere twice; the second cut-off is later. A
	// token issued between the two is revoked by the second only.
	t1, t2 := time.Now().Add(-10*time.Minute), time.Now().Add(-time.Minute)
	if _, err := pub.RevokeSubject(ctx, "victim", t1); err != nil {
		t.Fatal(err)
	}
	subj := jwtrevoke.Subject("", jwtrevoke.KindSubject, "victim")
	st := testkit.JetStream(t, nc)
	stream, err := st.Stream(ctx, jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	older, err := stream.GetLastMsgForSubject(ctx, subj)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.RevokeSubject(ctx, "victim", t2); err != nil {
		t.Fatal(err)
	}
	// The attacker's writes, after the valid event.
	now := time.Now()
	unsigned, err := jwtrevoke.Encode(jwtrevoke.Revocation{Kind: jwtrevoke.KindSubject, Key: "victim", Before: t1.Add(-time.Hour), Expires: now.Add(time.Minute), Issued: now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{[]byte("garbage"), unsigned, older.Data} {
		if _, err := st.Publish(ctx, subj, data); err != nil {
			t.Fatal(err)
		}
	}
	// Enough other keys after the victim that its exact entry is evicted
	// from a 1 MiB budget (which holds about half as many; the case fails
	// below if the victim was not evicted, rather than pass untested).
	revs := make([]jwtrevoke.Revocation, n)
	for i := range revs {
		revs[i] = jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("filler-%d", i), Before: now, Expires: now.Add(10 * time.Minute)}
	}
	last := revokeBatch(t, pub, revs)

	a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), agent.WithTrustedKeys(jwtrevoke.KeySet{"ops": keyPub}),
		agent.WithMemoryBudget(1<<20), agent.WithFalsePositiveRate(1e-3))
	testkit.WaitApplied(t, a, last)
	fs := a.Stats().Filter
	t.Logf("filter: %d exact entries of capacity %d, %d evictions", fs.ExactEntries, fs.ExactCapacity, fs.Evictions)
	between := jwtrevoke.Token{JTI: "between", Subject: "victim", IssuedAt: t1.Add(time.Minute), ExpiresAt: now.Add(10 * time.Minute)}
	if v := a.Filter().CheckKeyAt(jwtrevoke.KindSubject, "victim", between.IssuedAt, time.Now()); v != filter.Unknown {
		t.Fatalf("victim's entry: filter verdict %v before settling, want Unknown (evicted); the case does not reach settling", v)
	}
	before := a.Stats().Settles
	res := a.Check(&between)
	if res.Allowed || res.Verdict != filter.Revoked || res.Kind != jwtrevoke.KindSubject {
		t.Errorf("Check(token between the cut-offs) after settling = %+v, want refused: revoked by the later, valid cut-off", res)
	}
	if a.Stats().Settles == before {
		t.Errorf("Stats().Settles did not grow: the check did not settle from the stream")
	}
}
