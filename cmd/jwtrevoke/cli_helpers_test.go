package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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

// cliServer starts an embedded nats-server with JetStream for one test and
// returns its client URL.
func cliServer(t *testing.T) string {
	t.Helper()
	return testkit.NATS(t, "").ClientURL()
}

// cliConnect connects to url for the test's own publishing and checks.
func cliConnect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("nats.Connect(%s) = %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// cliPublisher creates the revocation stream with the default
// configuration (24h tokens) and returns a publisher on it.
func cliPublisher(t *testing.T, ctx context.Context, nc *nats.Conn) *publisher.Publisher {
	t.Helper()
	p, err := publisher.New(ctx, nc)
	if err != nil {
		t.Fatalf("publisher.New = %v", err)
	}
	return p
}

// cliRun runs the jwtrevoke command in this process (so the race detector
// sees the verbs' code) and returns what it printed.
func cliRun(ctx context.Context, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	root.SetIn(stdin)
	err = root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
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
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = cliTestKeyID
	s, err := tok.SignedString([]byte(cliTestSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
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

// cliWatchLine is one JSON line of watch output, as a script reads it.
type cliWatchLine struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Subject string    `json:"subject"`
	Size    int       `json:"size"`
	Status  string    `json:"status"`
	Error   string    `json:"error"`
	Kind    string    `json:"kind"`
	Key     string    `json:"key"`
	Before  time.Time `json:"before"`
	Expires time.Time `json:"expires"`
	Issued  time.Time `json:"issued"`
	Reason  string    `json:"reason"`
	Actor   string    `json:"actor"`
	Signed  string    `json:"signed_by"`
	LagMS   *float64  `json:"lag_ms"`
	Warning string    `json:"warning"`
}
