// Package clitest holds what the command's tests share: the tests of the
// verbs in process (internal/cli) and of the built binary (cmd/jwtrevoke).
// It ships in no binary.
package clitest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// Secret signs the HS256 tokens of the CLI tests, which carry KeyID as
// their kid: the name check must be given for the secret (--hmac-key-id)
// to accept them.
const (
	Secret = "cli-test-secret-0123456789abcdef"
	KeyID  = "cli-test-key"
)

// CheckTimeout is the --timeout the tests give check: how long it may wait
// for its agent to replay the stream. The replay of a few events takes
// milliseconds; the default 10 s is a bound a loaded CI machine can miss,
// and a check that is ready exits at once whatever the bound.
const CheckTimeout = "2m"

// Publisher creates the revocation stream with the default configuration
// (24h tokens) and returns a publisher on it.
func Publisher(t *testing.T, nc *nats.Conn) *publisher.Publisher {
	t.Helper()
	return testkit.NewPublisher(t, nc, publisher.WithMaxTokenLifetime(jwtrevoke.DefaultMaxTokenLifetime))
}

// SignToken signs an HS256 token with Secret. iat is written with its
// fraction of a second when it has one.
func SignToken(t *testing.T, jti, sub, sid string, iat time.Time) string {
	t.Helper()
	claims := jwt.MapClaims{
		"jti": jti,
		"sub": sub,
		"iat": float64(iat.UnixMicro()) / 1e6,
		"exp": iat.Add(10 * time.Minute).Unix(),
	}
	if sid != "" {
		claims["sid"] = sid
	}
	return testkit.SignHS256(t, []byte(Secret), claims, KeyID)
}

// WriteFile writes data to a file in the test's temporary directory and
// returns its path.
func WriteFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// SecretFile holds Secret, with a trailing newline as editors write it.
func SecretFile(t *testing.T) string {
	t.Helper()
	return WriteFile(t, "secret.txt", []byte(Secret+"\n"))
}

// Context bounds a test. Every wait inside ends at its event (an answer,
// a line of output, an exit); the CLI tests take well under a second each
// when idle, so the bounds they pass (half a minute and up) are hang
// guards that a loaded machine does not come near.
func Context(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// SyncBuffer collects what another goroutine or a child process writes.
type SyncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
