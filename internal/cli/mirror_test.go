package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// TestCLIMirror: mirror makes a region's mirror of the hub's stream once
// and then finds it; revoke from the region writes to the hub only with
// --hub-domain, and the region's agent applies the event under the
// sequence revoke printed; mirror at the hub itself is refused.
func TestCLIMirror(t *testing.T) {
	ctx := clitest.Context(t, 2*time.Minute)
	hub, leaf := testkit.HubAndRegion(t)
	testkit.NewPublisher(t, testkit.Connect(t, hub.ClientURL())) // the hub's stream, 1h contract
	regionURL := leaf.ClientURL()

	var rep mirrorReport
	stdout, stderr, err := cliRun(ctx, nil, "mirror", "--server", regionURL, "--json")
	if err != nil {
		t.Fatalf("mirror: %v\n%s", err, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("mirror --json: %v\n%s", err, stdout)
	}
	if !rep.Created || rep.HubDomain != "hub" || rep.Region != "region-a" || rep.Consumer != "JWTREVOKE_MIRROR_region-a" || rep.MaxTokenLifetime != time.Hour.String() || rep.Replicas != 1 {
		t.Fatalf("mirror --json = %+v; want created, domain hub, region-a's durable consumer, 1h, 1 replica", rep)
	}
	stdout, _, err = cliRun(ctx, nil, "mirror", "--server", regionURL)
	if err != nil || !strings.HasPrefix(stdout, "Found the mirror JWTREVOKE of the hub's JWTREVOKE (domain hub)") {
		t.Fatalf("mirror again: %v, %q; want it found", err, stdout)
	}

	// status in the region checks the mirror against the hub's stream,
	// not as a stream of its own (which would have no subjects).
	stdout, stderr, err = cliRun(ctx, nil, "status", "--server", regionURL, "--json", "--agents-wait", "0")
	if err != nil {
		t.Fatalf("status in the region: %v\n%s", err, stderr)
	}
	var st struct {
		Safe    bool   `json:"safe"`
		Problem string `json:"problem"`
		Mirror  *struct {
			Origin string `json:"origin"`
			API    string `json:"api"`
		} `json:"mirror"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || !st.Safe || st.Mirror == nil || st.Mirror.Origin != "JWTREVOKE" || st.Mirror.API != "$JS.hub.API" {
		t.Fatalf("status --json in the region: %v %s; want a safe mirror of the hub's JWTREVOKE", err, stdout)
	}
	if stdout, _, err = cliRun(ctx, nil, "status", "--server", regionURL, "--agents-wait", "0"); err != nil || !strings.Contains(stdout, "Mirror of:") || strings.Contains(stdout, "NO") {
		t.Fatalf("status in the region: %v\n%s", err, stdout)
	}

	if _, _, err := cliRun(ctx, nil, "revoke", "jti", "cli-region", "--server", regionURL); err == nil || !strings.Contains(err.Error(), "--hub-domain") {
		t.Fatalf("revoke on the region's mirror without --hub-domain: %v, want a refusal naming --hub-domain", err)
	}
	stdout, stderr, err = cliRun(ctx, nil, "revoke", "jti", "cli-region", "--server", regionURL, "--hub-domain", "hub", "--json")
	if err != nil {
		t.Fatalf("revoke --hub-domain hub: %v\n%s", err, stderr)
	}
	var rc struct{ Seq uint64 }
	if err := json.Unmarshal([]byte(stdout), &rc); err != nil || rc.Seq == 0 {
		t.Fatalf("revoke --json: %v %q", err, stdout)
	}
	a := testkit.NewAgent(t, testkit.Connect(t, regionURL))
	testkit.WaitApplied(t, a, rc.Seq)

	if _, _, err := cliRun(ctx, nil, "mirror", "--server", hub.ClientURL()); err == nil || !strings.Contains(err.Error(), "the hub's JetStream domain") {
		t.Fatalf("mirror at the hub itself: %v, want a refusal", err)
	}
}
