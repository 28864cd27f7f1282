package natsproc

// Building the nats-server binary from the module's own dependency.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Binary returns the path of a nats-server binary built from the module's
// own nats-server dependency, building it on the first call. Later calls
// return the same path.
func Binary() (string, error) {
	build.once.Do(func() {
		start := time.Now()
		build.path, build.err = buildBinary()
		build.took = time.Since(start)
	})
	return build.path, build.err
}

// RemoveBinary deletes the binary Binary built, if any. Call it when the
// process is done with every Server (TestMain, after m.Run).
func RemoveBinary() {
	if build.path != "" {
		os.RemoveAll(filepath.Dir(build.path))
	}
}

// BuildTime is how long the first Binary call took to build the server.
func BuildTime() time.Duration {
	Binary()
	return build.took
}

func buildBinary() (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	root, err := moduleRoot(gobin)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "jwtrevoke-natsproc-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "nats-server")
	cmd := exec.Command(gobin, "build", "-o", out, "github.com/nats-io/nats-server/v2")
	cmd.Dir = root
	// The test binary may run with -race or a coverage setup in GOFLAGS;
	// the child server is built plain.
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("natsproc: go build nats-server in %s: %v\n%s", root, err, b)
	}
	return out, nil
}

// moduleRoot is the directory of the main module's go.mod, as seen from the
// current directory (a test runs in its package's directory).
func moduleRoot(gobin string) (string, error) {
	b, err := exec.Command(gobin, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("natsproc: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("natsproc: not inside a Go module")
	}
	return filepath.Dir(mod), nil
}
