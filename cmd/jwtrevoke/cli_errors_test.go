package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/cli"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// TestCLINotANATSServer: an http:// or https:// server URL is refused at
// once as a usage error (internal/cli's TestCLINotANATSServerGreeting has
// servers that answer with something other than NATS).
func TestCLINotANATSServer(t *testing.T) {
	buildBinary(t) // before the test's clock starts
	ctx := clitest.Context(t, 3*time.Minute)
	tok := clitest.SignToken(t, "j-url", "alice", "", time.Now().Add(-time.Minute))
	for _, url := range []string{"http://127.0.0.1:8080", "https://nats.example.com", "nats://127.0.0.1:4222,http://127.0.0.1:8080"} {
		for _, verb := range [][]string{{"status"}, {"watch"}, {"revoke", "subject", "alice"}, {"check", tok, "--unverified"}} {
			args := append([]string{"--server", url}, verb...)
			if _, stderr, code := cliExec(t, ctx, nil, args...); code != clitool.ExitUsage || !strings.Contains(stderr, "not a NATS server URL (use nats://host:4222)") {
				t.Errorf("jwtrevoke %v: exit %d, stderr %q; want exit 2, not a NATS server URL", args, code, stderr)
			}
		}
	}
}

// cliPrefixRE matches the package prefixes of jwtrevoke's errors.
var cliPrefixRE = regexp.MustCompile(`jwtrevoke(/[a-z]+)?: `)

// TestCLIErrorsSayJwtrevokeOnce: the library's errors carry their package
// prefix; what the command prints starts with "jwtrevoke:" and has it
// nowhere else.
func TestCLIErrorsSayJwtrevokeOnce(t *testing.T) {
	buildBinary(t) // before the test's clock starts
	ctx := clitest.Context(t, 3*time.Minute)
	url := testkit.NATS(t, "").ClientURL()
	clitest.Publisher(t, testkit.Connect(t, url)) // a 24h stream
	for _, args := range [][]string{
		{"--server", url, "--max-lifetime", "1h", "revoke", "subject", "alice"},
		{"--server", url, "--subject-prefix", "other.v1", "revoke", "subject", "alice"},
		{"--server", url, "revoke", "subject", ""},
		{"--server", url, "--stream", "NOSUCH", "status"},
	} {
		_, stderr, code := cliExec(t, ctx, nil, args...)
		if code == 0 || !strings.HasPrefix(stderr, "jwtrevoke: ") || len(cliPrefixRE.FindAllString(stderr, -1)) != 1 {
			t.Errorf("jwtrevoke %q: exit %d, stderr %q; want an error with one jwtrevoke: prefix, at its start", args, code, stderr)
		}
	}
	tok := clitest.SignToken(t, "j-once", "alice", "", time.Now().Add(-time.Minute))
	_, stderr, code := cliExec(t, ctx, nil, "--server", url, "--max-lifetime", "1h", "check", tok, "--hmac-secret", clitest.Secret, "--hmac-key-id", clitest.KeyID)
	if code != cli.CheckError || !strings.HasPrefix(stderr, "jwtrevoke check: ") || len(cliPrefixRE.FindAllString(stderr, -1)) != 0 {
		t.Errorf("check against a contradicted contract: exit %d, stderr %q; want exit 2, one jwtrevoke check: prefix and no other", code, stderr)
	}
}
