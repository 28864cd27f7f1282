// Package gobuild builds binaries of the module's own packages and
// dependencies for tests that run them as child processes: a nats-server
// from the module's nats-server dependency, the jwtrevoke command. Each is
// built once per process, plain (without the test binary's -race or
// coverage flags), into a temporary directory that Remove deletes.
package gobuild

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

type built struct {
	once sync.Once
	path string
	took time.Duration
	err  error
}

var (
	mu     sync.Mutex
	builds = map[string]*built{}
	dirs   []string
)

// Binary returns the path of a binary of the package importPath, building
// it on the first call for that path. Later calls return the same path.
func Binary(importPath string) (string, error) {
	b := entry(importPath)
	b.once.Do(func() {
		start := time.Now()
		b.path, b.err = build(importPath)
		b.took = time.Since(start)
	})
	return b.path, b.err
}

// Took is how long the build of importPath took (0 before Binary ran).
func Took(importPath string) time.Duration {
	mu.Lock()
	defer mu.Unlock()
	if b := builds[importPath]; b != nil {
		return b.took
	}
	return 0
}

// Remove deletes every binary built. Call it when the process is done with
// them (TestMain, after m.Run).
func Remove() {
	mu.Lock()
	defer mu.Unlock()
	for _, d := range dirs {
		os.RemoveAll(d)
	}
	dirs = nil
}

func entry(importPath string) *built {
	mu.Lock()
	defer mu.Unlock()
	b := builds[importPath]
	if b == nil {
		b = &built{}
		builds[importPath] = b
	}
	return b
}

func build(importPath string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	root, err := moduleRoot(gobin)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "jwtrevoke-gobuild-")
	if err != nil {
		return "", err
	}
	mu.Lock()
	dirs = append(dirs, dir)
	mu.Unlock()
	name := path.Base(importPath)
	if strings.HasPrefix(name, "v") && strings.Trim(name[1:], "0123456789") == "" {
		name = path.Base(path.Dir(importPath)) // …/nats-server/v2 → nats-server
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command(gobin, "build", "-o", out, importPath)
	cmd.Dir = root
	// The test binary may run with -race or a coverage setup in GOFLAGS;
	// the child is built plain.
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("gobuild: go build %s in %s: %v\n%s", importPath, root, err, b)
	}
	return out, nil
}

// moduleRoot is the directory of the main module's go.mod, as seen from the
// current directory (a test runs in its package's directory).
func moduleRoot(gobin string) (string, error) {
	b, err := exec.Command(gobin, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("gobuild: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("gobuild: not inside a Go module")
	}
	return filepath.Dir(mod), nil
}
