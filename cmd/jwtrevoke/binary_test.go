package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/freeport"
)

// The jwtrevoke binary is built once per test process and shared by every
// process-level test (serve, demo, CLI verbs).
var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
	binaryOut  []byte
)

// buildTimeout bounds the one `go build` of the binary (and the go
// install of the nats CLI). It only guards against a hung toolchain. With
// a cold cache the build of jwtrevoke alone took 88 s on this two-core
// machine under load, and more than the two minutes this used to be when
// `go test ./...` compiled and ran -race test binaries beside it, as CI
// does; the nats CLI takes minutes more. Ten minutes is the default
// `go test -timeout` of the whole test binary, so the build is never the
// first to give up.
const buildTimeout = 10 * time.Minute

// buildBinary builds this command into a temporary directory once per test
// binary and returns the path of the executable; a failure fails the
// calling test with the compiler output. TestMain starts the build early;
// tests call buildBinary before they start their own clocks, so that no
// test's deadline includes the build. The directory is left for the OS to
// clean up (tests share the binary, so no single test can remove it).
func buildBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(buildBinaryOnce)
	if binaryErr != nil {
		t.Fatalf("building jwtrevoke: %v\n%s", binaryErr, binaryOut)
	}
	return binaryPath
}

func buildBinaryOnce() {
	dir, err := os.MkdirTemp("", "jwtrevoke-bin-")
	if err != nil {
		binaryErr = err
		return
	}
	name := "jwtrevoke"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	out := filepath.Join(dir, name)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Env = os.Environ()
	binaryOut, binaryErr = cmd.CombinedOutput()
	if ctx.Err() != nil {
		binaryErr = fmt.Errorf("go build did not finish within %v: %w", buildTimeout, ctx.Err())
	}
	if binaryErr == nil {
		binaryPath = out
	}
}

// TestMain starts building the binary and installing the nats CLI at once,
// in the background, so that both overlap the in-process tests instead of
// adding up (with a cold cache each takes minutes on a loaded CI machine).
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		backgroundBuilds = true
		go binaryOnce.Do(buildBinaryOnce)
		go natsCLIOnce.Do(installNatsCLIOnce)
	}
	os.Exit(m.Run())
}

// backgroundBuilds is set when TestMain started the builds.
var backgroundBuilds bool

// waitBackgroundBuilds returns once the builds TestMain started, if any,
// have ended. A leak check calls it before it takes its baseline: the
// goroutines of a build still running (go build's output copiers) would
// otherwise look like goroutines the code under test left behind.
func waitBackgroundBuilds() {
	if backgroundBuilds {
		binaryOnce.Do(buildBinaryOnce)
		natsCLIOnce.Do(installNatsCLIOnce)
	}
}

// freePort returns a TCP port on 127.0.0.1 reserved for this test
// (internal/freeport) for a child process to listen on: no other test
// binary, and no port the kernel assigns to a :0 listener or an outgoing
// connection, can take it before the child binds it.
func freePort(t *testing.T) int {
	t.Helper()
	ports, err := freeport.Take(1)
	if err != nil {
		t.Fatalf("reserving a port: %v", err)
	}
	t.Cleanup(func() { freeport.Release(ports...) })
	return ports[0]
}
