package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/snapshot"
)

// TestCLISnapshot: `jwtrevoke snapshot` writes a snapshot of the stream's
// live revocations that a new agent starts from; on a stream without
// events it fails with exit 1 and says why.
func TestCLISnapshot(t *testing.T) {
	buildBinary(t) // before the test's clock starts
	ctx := clitest.Context(t, 3*time.Minute)
	url := testkit.NATS(t, "").ClientURL()
	nc := testkit.Connect(t, url)
	pub := clitest.Publisher(t, nc)

	_, stderr, code := cliExec(t, ctx, nil, "--server", url, "snapshot")
	if code != 1 || !strings.Contains(stderr, "holds no event") {
		t.Fatalf("snapshot of an empty stream: exit %d, stderr %q; want 1 saying it holds no event", code, stderr)
	}
	for _, sub := range []string{"alice", "bob", "carol"} {
		if _, err := pub.RevokeSubject(ctx, sub, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := cliExec(t, ctx, nil, "--server", url, "snapshot", "--json")
	if code != 0 {
		t.Fatalf("snapshot: exit %d, stderr %q", code, stderr)
	}
	var rep struct {
		Bucket      string
		Seq         uint64
		Revocations uint64
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("snapshot --json: %v in %q", err, stdout)
	}
	if rep.Bucket != snapshot.DefaultBucket || rep.Seq != 3 || rep.Revocations != 3 {
		t.Fatalf("snapshot --json = %+v, want bucket %s, seq 3, 3 revocations", rep, snapshot.DefaultBucket)
	}
	a := testkit.NewAgent(t, testkit.Connect(t, url), agent.WithMaxTokenLifetime(jwtrevoke.DefaultMaxTokenLifetime))
	if st := a.Stats(); st.SnapshotSeq != 3 || st.SnapshotLoads[agent.SnapshotLoaded] != 1 {
		t.Fatalf("agent after jwtrevoke snapshot: started from %d, loads %v; want 3", st.SnapshotSeq, st.SnapshotLoads)
	}
	if _, stderr, code := cliExec(t, ctx, nil, "--server", url, "snapshot", "--sign-key", "x"); code != 2 || !strings.Contains(stderr, "go together") {
		t.Errorf("snapshot --sign-key without --sign-key-id: exit %d, stderr %q; want 2", code, stderr)
	}
}
