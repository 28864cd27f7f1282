package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
)

// TestCLIHelp: every verb has help with examples, and --json where a
// script wants it.
func TestCLIHelp(t *testing.T) {
	ctx := clitest.Context(t, 30*time.Second)
	for _, verb := range [][]string{
		{"revoke"}, {"revoke", "token"}, {"revoke", "jti"}, {"revoke", "subject"}, {"revoke", "session"},
		{"revoke", "key"}, {"revoke", "all"}, {"check"}, {"watch"}, {"status"}, {"mirror"},
	} {
		stdout, _, err := cliRun(ctx, nil, append(verb, "--help")...)
		for _, want := range []string{"Usage:", "Examples:", "--json", "--server"} {
			if err != nil || !strings.Contains(stdout, want) {
				t.Errorf("jwtrevoke %s --help = %v; lacks %q:\n%s", strings.Join(verb, " "), err, want, stdout)
				break
			}
		}
	}
}
