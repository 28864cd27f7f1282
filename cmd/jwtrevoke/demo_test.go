package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitest"
	"github.com/jwtrevoke/jwtrevoke/internal/demo/demotest"
)

// TestDemoProcess runs the built binary's demo verb and drives the whole
// story over HTTP, then stops it with SIGTERM.
func TestDemoProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the jwtrevoke binary")
	}
	bin := buildBinary(t)
	const replicas = 3
	port := demotest.PortBlock(t, replicas)
	natsPort := freePort(t)
	// The whole run, from start to exit, bounded generously: each step waits
	// for an event (the banner, /readyz, a refusal), and the story takes
	// about a second on an idle machine.
	ctx, cancel := context.WithTimeout(context.Background(), demoTestTimeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, bin, "demo",
		"--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--replicas", strconv.Itoa(replicas),
		"--nats-listen", fmt.Sprintf("127.0.0.1:%d", natsPort),
		"--data", t.TempDir())
	cmd.Env = append(os.Environ(), "NATS_URL=") // always the embedded server
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut clitest.SyncBuffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("demo stdout:\n%s\ndemo stderr:\n%s", out.String(), errOut.String())
		}
	}()

	// The banner ends with "Ready."; it names the client secret.
	secretRE := regexp.MustCompile(`secret (\S+)`)
	secret := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(&out, line)
			if m := secretRE.FindStringSubmatch(line); m != nil && !found {
				found = true
				secret <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	var clientSecret string
	select {
	case clientSecret = <-secret:
	case err := <-exited:
		stopped = true
		t.Fatalf("demo exited before it was ready: %v", err)
	case <-ctx.Done():
		t.Fatal("demo did not print its banner in time")
	}

	dc := demotest.NewClient(t, port, replicas, clientSecret)
	dc.WaitReady(ctx)
	jr := fmt.Sprintf("jwtrevoke --server nats://127.0.0.1:%d", natsPort)
	for _, want := range []string{jr + " watch", jr + " status", "TOKEN=$(curl"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	// The agents replay, then are ready, in that order, and no login that
	// did not wait says how long it waited.
	logs := errOut.String()
	if r, a := strings.Index(logs, `msg="agents replaying revocations"`), strings.Index(logs, `msg="agents ready"`); r < 0 || a < r || strings.Contains(logs, `msg="agent ready"`) {
		t.Errorf("demo log: want agents replaying, then agents ready, and no agent's own ready line:\n%s", logs)
	}
	dc.Story(ctx)
	if strings.Contains(errOut.String(), "waited=0s") {
		t.Errorf("demo log has a wait of 0s:\n%s", errOut.String())
	}
	demoBannerShell(t, ctx, out.String(), bin, dc)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("demo after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(demoExitTimeout):
		t.Fatalf("demo did not exit within %v of SIGTERM", demoExitTimeout)
	}
}

// demoBannerShell runs the banner's shell example as a user would paste
// it: the TOKEN line logs alice in, the replica answers her token, the
// jwtrevoke line revokes her, and then every replica refuses that token.
func demoBannerShell(t *testing.T, ctx context.Context, banner, bin string, dc *demotest.Client) {
	t.Helper()
	for _, tool := range []string{"sh", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Logf("not running the banner's shell example: no %s", tool)
			return
		}
	}
	var lines []string
	for _, line := range strings.Split(banner, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "TOKEN=") || strings.HasPrefix(line, "curl -s -H") || strings.HasPrefix(line, "jwtrevoke ") && strings.Contains(line, " revoke ") {
			lines = append(lines, line)
		}
	}
	if len(lines) != 4 {
		t.Fatalf("banner: want a TOKEN line, a call, a revoke and a call; got %q", lines)
	}
	// The last call races the revocation's arrival: the refusal is waited
	// for below instead.
	script := "set -e\n" + strings.Join(lines[:3], "\n") + "\necho\necho \"TOKEN=$TOKEN\"\n"
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(os.Environ(), "NATS_URL=", "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	m := regexp.MustCompile(`(?m)^TOKEN=(\S+)$`).FindStringSubmatch(string(out))
	if err != nil || m == nil || !strings.Contains(string(out), `"sub":"alice"`) || !strings.Contains(string(out), `Revoked subject "alice"`) {
		t.Fatalf("the banner's shell example: %v\n%s\nwant alice's token accepted, then her subject revoked", err, out)
	}
	dc.Refused(ctx, "the banner's token after the banner's revoke", demotest.Pair{Access: m[1]})
}

const (
	// demoTestTimeout bounds a demo test from start to end, and
	// demoExitTimeout the wait for a demo to exit after SIGTERM (it takes
	// tens of milliseconds). Both only turn a hang into a failure: every
	// wait in between ends at its event.
	demoTestTimeout = 3 * time.Minute
	demoExitTimeout = time.Minute
)
