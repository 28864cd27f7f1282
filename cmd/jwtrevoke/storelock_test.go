package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/demo/demotest"
)

// TestServeRefusesAStoreInUse runs two real serve processes on one --data
// directory: the second refuses to start, naming the directory and the
// first one's PID, and once the first is killed with SIGKILL the store is
// free again and its acknowledged revocation is still there.
func TestServeRefusesAStoreInUse(t *testing.T) {
	dir := t.TempDir()
	first := startServe(t, "--data", dir)
	tok := serveToken(t, serveTestSecret, "j-store", "store-user", time.Now().Add(-time.Minute))
	if status, body := first.admin(t, `{"kind":"sub","key":"store-user"}`); status != 200 {
		t.Fatalf("POST /admin/revoke: %d %s", status, body)
	}
	first.eventuallyInactive(t, "the revoked token at the first serve", tok)

	for _, verb := range []string{"serve", "demo"} {
		args := []string{verb, "--data", dir, "--nats-listen", "127.0.0.1:" + strconv.Itoa(freePort(t))}
		if verb == "serve" {
			args = append(args, "--listen", "127.0.0.1:"+strconv.Itoa(freePort(t)), "--hmac-secret", serveTestSecret, "--client-id", serveTestClient, "--client-secret", serveTestPass)
		} else {
			args = append(args, "--listen", fmt.Sprintf("127.0.0.1:%d", demotest.PortBlock(t, 3)))
		}
		// Bounded generously: the second process only has to read its
		// flags and fail to take the lock.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		out, err := exec.CommandContext(ctx, buildBinary(t), args...).CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("a second %s on the store in use: %v, want a non-zero exit\n%s", verb, err, out)
		}
		pid := strconv.Itoa(first.cmd.Process.Pid)
		if s := string(out); !strings.Contains(s, dir) || !strings.Contains(s, "process "+pid) || !strings.Contains(s, "in use") {
			t.Errorf("a second %s on the store in use said %q, want the directory %s, \"in use\" and the holder's PID %s", verb, s, dir, pid)
		}
	}
	// The first is untouched by the attempts.
	if first.active(t, tok) {
		t.Fatal("the revoked token became active at the first serve")
	}

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	again := startServe(t, "--data", dir)
	if again.active(t, tok) {
		t.Error("after kill -9 and a restart on the same store, the acknowledged revocation is gone")
	}
}
