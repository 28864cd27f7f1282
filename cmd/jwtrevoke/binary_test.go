package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
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

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago: it
// listens on :0, reads the port and closes the listener. Another process can
// take the port in between; tests that use it should fail clearly, not hang.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
