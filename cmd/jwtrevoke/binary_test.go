package main

import (
	"bytes"
	"context"
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

// buildBinary builds this command into a temporary directory once per test
// binary and returns the path of the executable. The build is bounded to two
// minutes; a failure fails the calling test with the compiler output. The
// directory is left for the OS to clean up (tests share the binary, so no
// single test can remove it).
func buildBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
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
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
		cmd.Env = os.Environ()
		binaryOut, binaryErr = cmd.CombinedOutput()
		if binaryErr == nil {
			binaryPath = out
		}
	})
	if binaryErr != nil {
		t.Fatalf("building jwtrevoke: %v\n%s", binaryErr, binaryOut)
	}
	return binaryPath
}

// syncBuffer collects a child process's output, written from its stdout
// and stderr at once, for the test's log.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
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
