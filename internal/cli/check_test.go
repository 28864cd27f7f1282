package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// TestCLICheckRun drives the check in this process, under the race
// detector: an agent is started, waits for the replay and answers.
func TestCLICheckRun(t *testing.T) {
	ctx := clitest.Context(t, 60*time.Second)
	url := testkit.NATS(t, "").ClientURL()
	pub := clitest.Publisher(t, testkit.Connect(t, url))
	tok := clitest.SignToken(t, "j-run", "frank", "sess-f", time.Now().Add(-time.Minute))
	o := &checkOptions{
		g:       &clitool.Globals{Server: url, Stream: jwtrevoke.DefaultStream, MaxLifetime: 24 * time.Hour},
		keys:    keyFlags{hmacSecret: clitest.Secret, hmacKeyID: clitest.KeyID},
		timeout: 2 * time.Minute, // as clitest.CheckTimeout
	}
	cmd := &cobra.Command{}
	cmd.SetContext(ctx)
	cmd.SetIn(strings.NewReader(tok))
	cmd.SetErr(&strings.Builder{})

	rep, err := o.run(cmd, "-")
	if err != nil || !rep.Allowed || rep.Verdict != "allowed" {
		t.Fatalf("check run before revocation = %+v, %v; want allowed", rep, err)
	}
	for _, revoke := range []func() error{
		func() error { _, err := pub.RevokeSession(ctx, "sess-f", time.Time{}); return err },
		func() error { _, err := pub.RevokeKey(ctx, clitest.KeyID); return err },
	} {
		if err := revoke(); err != nil {
			t.Fatal(err)
		}
	}
	rep, err = o.run(cmd, tok)
	if err != nil || rep.Allowed || rep.Verdict != "revoked" || (rep.Kind != "sid" && rep.Kind != "kid") || rep.Revocation == nil {
		t.Fatalf("check run after revoking its session and key = %+v, %v; want revoked", rep, err)
	}
	var out strings.Builder
	if err := o.print(&out, rep); err != nil || !strings.Contains(out.String(), "Token REFUSED: revoked") {
		t.Errorf("print = %q, %v", out.String(), err)
	}
}
