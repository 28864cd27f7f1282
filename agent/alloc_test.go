package agent_test

import (
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// TestCheckDoesNotAllocate holds the hot path to invariant 5: a check of
// a token, revoked or not, allocates nothing.
func TestCheckDoesNotAllocate(t *testing.T) {
	s := testkit.NATS(t, "")
	pub := testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL()))
	a := testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()))
	revoked := jwtrevoke.Token{JTI: "gone", Subject: "alice", Session: "s1", KeyID: "k1", IssuedAt: time.Now().Add(-time.Minute), ExpiresAt: time.Now().Add(time.Hour)}
	rc, err := pub.RevokeToken(t.Context(), revoked)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the event itself: a refusal could also come from a stale
	// agent, and then the revoked path would not be the one measured.
	testkit.WaitApplied(t, a, rc.Seq)
	clean := jwtrevoke.Token{JTI: "live", Subject: "bob", Session: "s2", KeyID: "k1", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	for _, c := range []struct {
		tok  *jwtrevoke.Token
		want filter.Verdict
	}{{&clean, filter.NotRevoked}, {&revoked, filter.Revoked}} {
		if r := a.Check(c.tok); r.Verdict != c.want {
			t.Fatalf("Check(%s) = %+v, want %v", c.tok.JTI, r, c.want)
		}
	}
	for _, tok := range []*jwtrevoke.Token{&clean, &revoked} {
		if n := testing.AllocsPerRun(1000, func() { a.Check(tok) }); n != 0 {
			t.Errorf("Check(%s) allocates %v times per call, want 0", tok.JTI, n)
		}
	}
}
