package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// cliTestSecret signs the HS256 tokens of the CLI tests, which carry
// cliTestKeyID as their kid: the name check must be given for the secret
// (--hmac-key-id) to accept them.
const (
	cliTestSecret = "cli-test-secret-0123456789abcdef"
	cliTestKeyID  = "cli-test-key"
)

// cliPublisher creates the revocation stream with the default
// configuration (24h tokens) and returns a publisher on it.
func cliPublisher(t *testing.T, nc *nats.Conn) *publisher.Publisher {
	t.Helper()
	return testkit.NewPublisher(t, nc, publisher.WithMaxTokenLifetime(jwtrevoke.DefaultMaxTokenLifetime))
}

// cliExec runs the built jwtrevoke binary and returns what it printed and
// its exit code.
func cliExec(t *testing.T, ctx context.Context, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, buildBinary(t), args...)
	cmd.Env = append(os.Environ(), "NATS_URL=", "NATS_CREDS=")
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running jwtrevoke %v: %v\nstderr:\n%s", args, err, errb.String())
	}
	return out.String(), errb.String(), code
}

// cliCheckTimeout is the --timeout the tests give check: how long it may
// wait for its agent to replay the stream. The replay of a few events takes
// milliseconds; the default 10 s is a bound a loaded CI machine can miss,
// and a check that is ready exits at once whatever the bound.
const cliCheckTimeout = "2m"

// cliSignToken signs an HS256 token with cliTestSecret. iat is written with
// its fraction of a second when it has one.
func cliSignToken(t *testing.T, jti, sub, sid string, iat time.Time) string {
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
	return testkit.SignHS256(t, []byte(cliTestSecret), claims, cliTestKeyID)
}

// cliWriteFile writes data to a file in the test's temporary directory and
// returns its path.
func cliWriteFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cliSecretFile holds cliTestSecret, with a trailing newline as editors
// write it.
func cliSecretFile(t *testing.T) string {
	t.Helper()
	return cliWriteFile(t, "secret.txt", []byte(cliTestSecret+"\n"))
}

// cliContext bounds a test. Every wait inside ends at its event (an
// answer, a line of output, an exit); the CLI tests take well under a
// second each when idle, so the bounds they pass (half a minute and up)
// are hang guards that a loaded machine does not come near.
func cliContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// cliStreamInfo asks the server about a stream.
func cliStreamInfo(t *testing.T, ctx context.Context, nc *nats.Conn, name string) *jetstream.StreamInfo {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s info: %v", name, err)
	}
	return info
}
