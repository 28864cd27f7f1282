package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// TestCLIRevokeConfirmAndStatusAgents: revoke --confirm 2 returns once
// both agents applied the event and says so; --confirm 3 of 2 exits with
// an error naming how many did; status lists both agents at the stream's
// last sequence.
func TestCLIRevokeConfirmAndStatusAgents(t *testing.T) {
	ctx := clitest.Context(t, 60*time.Second)
	s := testkit.NATS(t, "")
	url := s.ClientURL()
	testkit.NewPublisher(t, testkit.Connect(t, url)) // the stream
	var agents []*agent.Agent
	for i := range 2 {
		agents = append(agents, testkit.NewAgent(t, testkit.Connect(t, url), agent.WithName("api-"+string(rune('1'+i)))))
	}
	stdout, stderr, err := cliRun(ctx, nil, "--server", url, "--json", "revoke", "subject", "alice", "--confirm", "2")
	if err != nil {
		t.Fatalf("revoke --confirm 2: %v\n%s", err, stderr)
	}
	var rc receipt
	if err := json.Unmarshal([]byte(stdout), &rc); err != nil {
		t.Fatal(err)
	}
	if rc.Confirmed != 2 || rc.ConfirmedMS == nil {
		t.Errorf("receipt confirmed %d (%v ms), want 2", rc.Confirmed, rc.ConfirmedMS)
	}
	for i, a := range agents {
		if a.LastApplied() < rc.Seq {
			t.Errorf("agent %d had not applied %d when the revoke returned", i, rc.Seq)
		}
	}
	stdout, _, err = cliRun(ctx, nil, "--server", url, "revoke", "subject", "bob", "--confirm", "3", "--confirm-timeout", "200ms")
	if err == nil || !strings.Contains(err.Error(), "only 2 of 3 agents") || !strings.Contains(stdout, "NOT: 2 of 3 agents") {
		t.Errorf("revoke --confirm 3 with 2 agents: %v\n%s", err, stdout)
	}
	stdout, stderr, err = cliRun(ctx, nil, "--server", url, "--json", "status")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, stderr)
	}
	var rep statusReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Agents) != 2 {
		t.Fatalf("status lists %d agents, want 2: %s", len(rep.Agents), stdout)
	}
	for _, a := range rep.Agents {
		if !strings.HasPrefix(a.Name, "api-") || !a.Ready || a.Stale || a.Applied != rep.LastSeq || a.Lag != 0 {
			t.Errorf("agent %+v, stream at %d", a, rep.LastSeq)
		}
	}
	stdout, _, err = cliRun(ctx, nil, "--server", url, "status")
	if err != nil || !strings.Contains(stdout, "Agents: 2 live") || !strings.Contains(stdout, "api-1") {
		t.Errorf("status text: %v\n%s", err, stdout)
	}
}
