package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/cli"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// cliExecEnv is cliExec with extra environment variables (NATS_URL among
// them), for the tests of where the verbs look for NATS.
func cliExecEnv(t *testing.T, ctx context.Context, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, buildBinary(t), args...)
	cmd.Env = append(append(os.Environ(), "NATS_URL=", "NATS_CREDS="), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running jwtrevoke %v: %v\nstderr:\n%s", args, err, errb.String())
	}
	return out.String(), errb.String(), code
}

// TestCLIVerbsFindTheServer runs the binary: without --server the verbs
// use NATS_URL, and without either the default server, which their errors
// name.
func TestCLIVerbsFindTheServer(t *testing.T) {
	buildBinary(t) // before the test's clock starts
	ctx := clitest.Context(t, 3*time.Minute)
	url := testkit.NATS(t, "").ClientURL()
	clitest.Publisher(t, testkit.Connect(t, url))
	env := []string{"NATS_URL=" + url}

	if stdout, stderr, code := cliExecEnv(t, ctx, env, "revoke", "subject", "alice", "--json"); code != 0 || !strings.Contains(stdout, `"key": "alice"`) {
		t.Errorf("revoke subject with NATS_URL and no --server: exit %d, stdout %q, stderr %q; want exit 0, a receipt", code, stdout, stderr)
	}
	if stdout, stderr, code := cliExecEnv(t, ctx, env, "status", "--json"); code != 0 || !strings.Contains(stdout, `"last_seq": 1`) {
		t.Errorf("status with NATS_URL and no --server: exit %d, stdout %q, stderr %q; want exit 0, one event", code, stdout, stderr)
	}
	tok := clitest.SignToken(t, "j-env", "alice", "", time.Now().Add(-time.Minute))
	if _, stderr, code := cliExecEnv(t, ctx, env, "check", tok, "--unverified", "--timeout", clitest.CheckTimeout); code != cli.CheckRefused {
		t.Errorf("check with NATS_URL and no --server: exit %d, stderr %q; want %d, revoked", code, stderr, cli.CheckRefused)
	}
	if stdout, stderr, code := cliExecEnv(t, ctx, env, "watch", "--all", "--count", "1"); code != 0 || !strings.Contains(stdout, `"alice"`) {
		t.Errorf("watch with NATS_URL and no --server: exit %d, stdout %q, stderr %q; want exit 0, the event", code, stdout, stderr)
	}

	// Neither: the default server. Whether or not one runs there on this
	// machine, the stream below is not on it, and the error names it.
	for _, verb := range [][]string{{"status"}, {"watch"}, {"revoke", "subject", "alice"}} {
		args := append([]string{"--stream", "JWTREVOKE_TEST_NOSUCH"}, verb...)
		if _, stderr, code := cliExecEnv(t, ctx, nil, args...); code != clitool.ExitFailed || !strings.Contains(stderr, clitool.DefaultServer) {
			t.Errorf("jwtrevoke %v without --server or NATS_URL: exit %d, stderr %q; want exit 1 naming %s", args, code, stderr, clitool.DefaultServer)
		}
	}
}
