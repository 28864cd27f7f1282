package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// TestCLIRevokeAllRefusesWithoutTerminal runs the binary with a pipe as
// stdin: revoke all without --force must refuse, even when the pipe says
// yes, and publish nothing.
func TestCLIRevokeAllRefusesWithoutTerminal(t *testing.T) {
	buildBinary(t) // before the test's clock starts
	ctx := clitest.Context(t, 3*time.Minute)
	url := testkit.NATS(t, "").ClientURL()
	nc := testkit.Connect(t, url)
	pub := clitest.Publisher(t, nc)

	_, stderr, code := cliExec(t, ctx, strings.NewReader("yes\n"), "--server", url, "revoke", "all")
	if code != 1 || !strings.Contains(stderr, "stdin is not a terminal") || !strings.Contains(stderr, "--force") {
		t.Fatalf("revoke all from a pipe: exit %d, stderr %q; want exit 1 naming --force", code, stderr)
	}
	stdout, stderr, code := cliExec(t, ctx, nil, "--server", url, "revoke", "all", "--force", "--json")
	if code != 0 || !strings.Contains(stdout, `"kind": "all"`) {
		t.Fatalf("revoke all --force: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if info := cliStreamInfo(t, ctx, nc, pub.Stream()); info.State.Msgs != 1 {
		t.Fatalf("stream after one refused and one forced revoke all: %+v; want 1 message", info.State)
	}
}

// TestCLIRevokeAllConfirmsOnTerminal runs the binary on a pseudo-terminal
// (util-linux script): revoke all asks, and publishes only after "yes".
func TestCLIRevokeAllConfirmsOnTerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("skipping: no script(1) to give the command a terminal")
	}
	bin := buildBinary(t) // before the test's clock starts
	ctx := clitest.Context(t, 3*time.Minute)
	url := testkit.NATS(t, "").ClientURL()
	nc := testkit.Connect(t, url)
	pub := clitest.Publisher(t, nc)
	line := bin + " --server " + url + " revoke all --reason confirmed"
	for _, tc := range []struct {
		answer string
		msgs   uint64
		want   string
	}{
		{"no\n", 0, "aborted"},
		{"yes\n", 1, "Revoked every token"},
	} {
		cmd := exec.CommandContext(ctx, script, "-qec", line, "/dev/null")
		cmd.Stdin = strings.NewReader(tc.answer)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), "Type yes to continue") || !strings.Contains(string(out), tc.want) {
			t.Errorf("revoke all on a terminal, answering %q:\n%s\nwant the question and %q", tc.answer, out, tc.want)
		}
		if info := cliStreamInfo(t, ctx, nc, pub.Stream()); info.State.Msgs != tc.msgs {
			t.Errorf("after answering %q: %d messages, want %d", tc.answer, info.State.Msgs, tc.msgs)
		}
	}
}
