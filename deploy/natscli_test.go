package deploy_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// natsCLIVersion is the nats CLI the runbook is checked with.
const natsCLIVersion = "v0.5.0"

var natsCLI struct {
	once     sync.Once
	path     string
	err      error
	out      []byte
	timedOut bool // go install was killed at installTimeout
}

// installTimeout bounds go install of the nats CLI. It only guards against
// a hung toolchain: with a cold cache beside the -race test binaries of
// `go test ./...`, as in CI, the install took three and a half minutes on
// this two-core machine, more than the minute TestCluster used to allow.
// Ten minutes is the default go test -timeout of the whole test binary.
const installTimeout = 10 * time.Minute

// installNatsCLI builds github.com/nats-io/natscli/nats at natsCLIVersion
// into a temporary directory once per test process. TestMain starts it
// early, so that it overlaps the cluster's boot.
func installNatsCLI() (string, error) {
	natsCLI.once.Do(func() {
		dir, err := os.MkdirTemp("", "jwtrevoke-deploy-natscli-")
		if err != nil {
			natsCLI.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "install", "github.com/nats-io/natscli/nats@"+natsCLIVersion)
		cmd.Dir = dir // outside this module: go install pkg@version builds it on its own
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=", "GOWORK=off")
		natsCLI.out, natsCLI.err = cmd.CombinedOutput()
		if ctx.Err() != nil {
			natsCLI.err = fmt.Errorf("go install did not finish within %v: %w", installTimeout, ctx.Err())
			natsCLI.timedOut = true
		}
		if natsCLI.err == nil {
			natsCLI.path = filepath.Join(dir, "nats")
		}
	})
	return natsCLI.path, natsCLI.err
}

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		go installNatsCLI()
	}
	code := m.Run()
	if natsCLI.path != "" {
		os.RemoveAll(filepath.Dir(natsCLI.path))
	}
	os.Exit(code)
}

// runbook lists the nats CLI commands deploy/README.md gives operators, by
// the user they run as. Each must appear in the README as written here and
// must succeed against the cluster booted from the configs. (The README's
// "stream view" is left out: the CLI pages it and insists on a terminal.)
var runbook = []struct {
	user string
	args string
}{
	{"admin", "stream info JWTREVOKE"},
	{"admin", "stream subjects JWTREVOKE"},
	{"admin", "stream get JWTREVOKE 1"},
	{"admin", "consumer ls JWTREVOKE"},
	{"admin", "stream report"},
	{"admin", "account info"},
	{"agent", "stream info JWTREVOKE"},
	{"sys", "server report jetstream"},
	{"sys", "server list"},
}

// runbookCommands runs the runbook's commands with the nats CLI. It waits
// for the CLI's install (started by TestMain) before its own clock starts:
// the install takes as long as the machine needs.
func runbookCommands(t *testing.T, c *cluster) {
	if testing.Short() {
		t.Skip("skipping the nats CLI in -short mode")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range runbook {
		if !strings.Contains(string(readme), "--context jwtrevoke-"+cmd.user+" "+cmd.args) {
			t.Errorf("deploy/README.md does not give the command: nats --context jwtrevoke-%s %s", cmd.user, cmd.args)
		}
	}
	bin, err := installNatsCLI()
	if natsCLI.timedOut {
		t.Fatalf("installing the nats CLI (go install github.com/nats-io/natscli/nats@%s): %v\n%s", natsCLIVersion, err, natsCLI.out)
	}
	if err != nil {
		t.Skipf("skipping: could not install the nats CLI (go install github.com/nats-io/natscli/nats@%s; offline?): %v\n%s", natsCLIVersion, err, natsCLI.out)
	}
	home := t.TempDir()
	for _, cmd := range runbook {
		u := c.users[cmd.user]
		// Each command answers within a second; the bound is a hang guard.
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		x := exec.CommandContext(cctx, bin, append([]string{"--server", c.clientURLs("nats"), "--user", u.name, "--password", u.password}, strings.Fields(cmd.args)...)...)
		// Its own empty configuration: no saved contexts, no NATS_URL.
		x.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "NATS_CONTEXT=", "NATS_URL=", "NATS_USER=", "NATS_PASSWORD=")
		out, err := x.CombinedOutput()
		cancel()
		if err != nil || strings.Contains(string(out), "Permissions Violation") {
			t.Errorf("nats %s (as %s): %v\n%s", cmd.args, cmd.user, err, out)
			continue
		}
		t.Logf("nats %s (as %s):\n%s", cmd.args, cmd.user, out)
	}
}
