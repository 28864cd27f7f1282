package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
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

// cliCheckTimeout is the --timeout the tests give check: how long it may
// wait for its agent to replay the stream. The replay of a few events takes
// milliseconds; the default 10 s is a bound a loaded CI machine can miss,
// and a check that is ready exits at once whatever the bound.
const cliCheckTimeout = "2m"

// newTestRoot is the jwtrevoke root command as cmd/jwtrevoke makes it,
// with this package's verbs: the same global flags, and flag and argument
// errors as usage errors.
func newTestRoot() *cobra.Command {
	g := &clitool.Globals{}
	root := &cobra.Command{
		Use:           "jwtrevoke",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          clitool.UnknownVerb,
		RunE:          clitool.NeedVerb("give a verb"),
	}
	root.SetFlagErrorFunc(clitool.UsageError)
	g.Register(root)
	root.AddCommand(NewRevokeCommand(g), NewCheckCommand(g), NewWatchCommand(g), NewStatusCommand(g))
	return root
}

// cliPublisher creates the revocation stream with the default
// configuration (24h tokens) and returns a publisher on it.
func cliPublisher(t *testing.T, nc *nats.Conn) *publisher.Publisher {
	t.Helper()
	return testkit.NewPublisher(t, nc, publisher.WithMaxTokenLifetime(jwtrevoke.DefaultMaxTokenLifetime))
}

// cliRun runs the jwtrevoke command in this process (so the race detector
// sees the verbs' code) and returns what it printed.
func cliRun(ctx context.Context, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	root := newTestRoot()
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

// syncBuffer collects what a verb running on another goroutine writes.
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
