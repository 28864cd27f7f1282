package cli

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// TestCLIVerbsLeaveNoGoroutines: each verb closes its agent, consumer and
// connection before it returns.
func TestCLIVerbsLeaveNoGoroutines(t *testing.T) {
	ctx := clitest.Context(t, 60*time.Second)
	url := testkit.NATS(t, "").ClientURL()
	tok := clitest.SignToken(t, "j-leak", "leak", "", time.Now().Add(-time.Minute))
	if _, _, err := cliRun(ctx, nil, "-s", url, "revoke", "subject", "warm-up", "--create-stream"); err != nil {
		t.Fatal(err)
	}
	// The goroutines running now; the warm-up's may still be ending, which
	// is why the check below compares sets and not counts.
	baseline := testkit.Goroutines()

	for _, args := range [][]string{
		{"-s", url, "revoke", "subject", "leak"},
		{"-s", url, "revoke", "token", tok, "--hmac-secret", clitest.Secret},
		{"-s", url, "watch", "--all", "--count", "2"},
		{"-s", url, "--json", "status"},
	} {
		if _, stderr, err := cliRun(ctx, nil, args...); err != nil {
			t.Fatalf("jwtrevoke %v = %v\n%s", args, err, stderr)
		}
	}
	// check refuses the token, whose subject is revoked above: exit status 1.
	var coded interface{ ExitCode() int }
	stdout, stderr, err := cliRun(ctx, nil, "-s", url, "--json", "check", tok, "--hmac-secret", clitest.Secret, "--hmac-key-id", clitest.KeyID, "--timeout", clitest.CheckTimeout)
	if !errors.As(err, &coded) || coded.ExitCode() != CheckRefused || !strings.Contains(stdout, `"verdict": "revoked"`) {
		t.Fatalf("jwtrevoke check = %v, %s; want exit status %d, revoked\n%s", err, stdout, CheckRefused, stderr)
	}
	// Every goroutine the verbs started has returned, except the embedded
	// server's own (it serves the whole test).
	testkit.NoNewGoroutines(t, baseline, testkit.Patience, "nats-io/nats-server/")
}
