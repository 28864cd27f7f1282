package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// cliGoroutines returns the stacks of every goroutine, other than the
// caller's, that the in-process nats-server did not start.
func cliGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range bytes.Split(buf, []byte("\n\n"))[1:] { // the caller's comes first
		if s := string(g); !strings.Contains(s, "nats-io/nats-server/") {
			out = append(out, s)
		}
	}
	return out
}

// TestCLIVerbsLeaveNoGoroutines: each verb closes its agent, consumer and
// connection before it returns.
func TestCLIVerbsLeaveNoGoroutines(t *testing.T) {
	ctx := cliContext(t, 60*time.Second)
	url := cliServer(t)
	tok := cliSignToken(t, "j-leak", "leak", "", time.Now().Add(-time.Minute))
	if _, _, err := cliRun(ctx, nil, "-s", url, "revoke", "subject", "warm-up", "--create-stream"); err != nil {
		t.Fatal(err)
	}
	baseline := cliGoroutines()

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
	o := &checkOptions{
		g:       &globalFlags{server: url, stream: publisher.DefaultStream, maxLifetime: 24 * time.Hour},
		keys:    cliTokenFlags{hmacSecret: cliTestSecret},
		timeout: 20 * time.Second,
	}
	cmd := &cobra.Command{}
	cmd.SetContext(ctx)
	cmd.SetErr(&strings.Builder{})
	if rep, err := o.run(cmd, tok); err != nil || rep.Verdict != "revoked" {
		t.Fatalf("check = %+v, %v; want revoked", rep, err)
	}

	var now []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if now = cliGoroutines(); len(now) <= len(baseline) {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	t.Errorf("%d goroutines after the verbs returned, want at most %d as before; now running:\n\n%s",
		len(now), len(baseline), strings.Join(now, "\n\n"))
}
