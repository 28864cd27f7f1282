package main

import (
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
)

// TestCLIUsageErrorsExit2 runs the binary with every kind of usage error,
// for every verb: each exits 2 (for check, not 1, which means refused)
// before it connects anywhere, says what was wrong on stderr and points to
// the help; stdout stays empty. A verb that groups others (jwtrevoke,
// revoke) called alone prints its usage on stderr.
func TestCLIUsageErrorsExit2(t *testing.T) {
	buildBinary(t) // before the test's clock starts
	ctx := clitest.Context(t, 3*time.Minute)
	for _, tc := range []struct {
		args []string
		want string // on stderr
	}{
		{nil, "give a verb"},
		{[]string{"frob"}, `unknown command "frob" for "jwtrevoke"`},
		{[]string{"stauts"}, "did you mean status?"},
		{[]string{"--server"}, "flag needs an argument"},
		{[]string{"check"}, "accepts 1 arg(s), received 0"},
		{[]string{"check", "a", "b"}, "accepts 1 arg(s), received 2"},
		{[]string{"check", "--bogus", "x"}, "unknown flag: --bogus"},
		{[]string{"check", "x", "--timeout", "soon"}, `invalid argument "soon"`},
		{[]string{"revoke"}, "give a kind to revoke"},
		{[]string{"revoke", "frob"}, `unknown command "frob" for "jwtrevoke revoke"`},
		{[]string{"revoke", "subject"}, "accepts 1 arg(s), received 0"},
		{[]string{"revoke", "subject", ""}, "empty subject: give the sub claim"},
		{[]string{"revoke", "session", ""}, "empty session: give the sid claim"},
		{[]string{"revoke", "jti", ""}, "empty token: give the jti claim"},
		{[]string{"revoke", "key", ""}, "empty signing key: give the kid claim"},
		{[]string{"revoke", "jti", "j-1", "--exp", "soon"}, `--exp "soon"`},
		{[]string{"revoke", "subject", "alice", "--before", "yesterday"}, `--before "yesterday"`},
		{[]string{"revoke", "all", "--force", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"revoke", "subject", "alice", "--sign-key", "k.pem"}, "--sign-key and --sign-key-id go together"},
		{[]string{"watch", "--since", "soon"}, `--since "soon"`},
		{[]string{"watch", "--count", "many"}, `invalid argument "many"`},
		{[]string{"watch", "--count", "-1"}, "must not be negative"},
		{[]string{"watch", "--all", "--since", "1"}, "exclude each other"},
		{[]string{"watch", "extra"}, `unknown command "extra" for "jwtrevoke watch"`},
		{[]string{"status", "extra"}, `unknown command "extra" for "jwtrevoke status"`},
		{[]string{"status", "--timeout", "x"}, `invalid argument "x"`},
		{[]string{"demo", "--replicas", "0"}, "--replicas 0"},
		{[]string{"mirror", "--replicas", "0"}, "--replicas 0"},
		{[]string{"mirror", "extra"}, `unknown command "extra" for "jwtrevoke mirror"`},
		{[]string{"serve", "--bogus"}, "unknown flag: --bogus"},
	} {
		stdout, stderr, code := cliExec(t, ctx, nil, tc.args...)
		if code != clitool.ExitUsage || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("jwtrevoke %q: exit %d, stdout %q, stderr %q; want exit %d, nothing on stdout, stderr mentioning %q", tc.args, code, stdout, stderr, clitool.ExitUsage, tc.want)
		}
		if code == clitool.ExitUsage && strings.Count(stderr, "jwtrevoke:") != 1 {
			t.Errorf("jwtrevoke %q: stderr %q; want one jwtrevoke: prefix", tc.args, stderr)
		}
	}

	// Alone, the grouping verbs print their usage on stderr.
	for _, args := range [][]string{nil, {"revoke"}} {
		if _, stderr, code := cliExec(t, ctx, nil, args...); code != clitool.ExitUsage || !strings.Contains(stderr, "Available Commands:") {
			t.Errorf("jwtrevoke %q: exit %d, stderr %q; want exit 2 and the usage on stderr", args, code, stderr)
		}
	}
	// Asked for, help is not an error.
	for _, args := range [][]string{{"--help"}, {"revoke", "--help"}, {"check", "-h"}} {
		if stdout, _, code := cliExec(t, ctx, nil, args...); code != 0 || !strings.Contains(stdout, "Usage:") {
			t.Errorf("jwtrevoke %q: exit %d, stdout %q; want exit 0 and the help", args, code, stdout)
		}
	}
	// Every verb's help says what its exit statuses mean.
	for verb, want := range map[string]string{
		"check":  "2 no verdict: a usage error",
		"revoke": "2 usage error",
		"watch":  "2 usage error",
		"status": "2 usage error",
		"serve":  "2 usage error",
		"demo":   "2 usage error",
		"mirror": "2 usage error",
	} {
		stdout, _, _ := cliExec(t, ctx, nil, verb, "--help")
		if !strings.Contains(strings.Join(strings.Fields(stdout), " "), "Exit status: 0") || !strings.Contains(strings.Join(strings.Fields(stdout), " "), want) {
			t.Errorf("jwtrevoke %s --help does not document its exit status (%q):\n%s", verb, want, stdout)
		}
	}
}
