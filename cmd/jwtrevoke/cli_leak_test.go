package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// leakWait bounds how long a leak check waits for the goroutines of what
// was closed to return. They return within milliseconds once their
// connections close; the bound is only there so that a real leak fails
// the test instead of hanging it, and is generous so that a starved
// machine does not look like a leak.
const leakWait = 60 * time.Second

// TestCLIVerbsLeaveNoGoroutines: each verb closes its agent, consumer and
// connection before it returns.
func TestCLIVerbsLeaveNoGoroutines(t *testing.T) {
	waitBackgroundBuilds()
	ctx := cliContext(t, 60*time.Second)
	url := cliServer(t)
	tok := cliSignToken(t, "j-leak", "leak", "", time.Now().Add(-time.Minute))
	if _, _, err := cliRun(ctx, nil, "-s", url, "revoke", "subject", "warm-up", "--create-stream"); err != nil {
		t.Fatal(err)
	}
	// The goroutines running now; the warm-up's may still be ending, which
	// is why the check below compares sets and not counts.
	baseline := testkit.Goroutines()

	for _, args := range [][]string{
		{"-s", url, "revoke", "subject", "leak"},
		{"-s", url, "revoke", "token", tok, "--hmac-secret", cliTestSecret},
		{"-s", url, "watch", "--all", "--count", "2"},
		{"-s", url, "--json", "status"},
	} {
		if _, stderr, err := cliRun(ctx, nil, args...); err != nil {
			t.Fatalf("jwtrevoke %v = %v\n%s", args, err, stderr)
		}
	}
	// check refuses the token, whose subject is revoked above: exit status 1.
	var coded interface{ ExitCode() int }
	stdout, stderr, err := cliRun(ctx, nil, "-s", url, "--json", "check", tok, "--hmac-secret", cliTestSecret, "--hmac-key-id", cliTestKeyID, "--timeout", cliCheckTimeout)
	if !errors.As(err, &coded) || coded.ExitCode() != checkRefused || !strings.Contains(stdout, `"verdict": "revoked"`) {
		t.Fatalf("jwtrevoke check = %v, %s; want exit status %d, revoked\n%s", err, stdout, checkRefused, stderr)
	}
	// Every goroutine the verbs started has returned, except the embedded
	// server's own (it serves the whole test).
	testkit.NoNewGoroutines(t, baseline, leakWait, "nats-io/nats-server/")
}
