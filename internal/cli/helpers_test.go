package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
)

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
	root.AddCommand(NewRevokeCommand(g), NewCheckCommand(g), NewWatchCommand(g), NewStatusCommand(g), NewMirrorCommand(g))
	return root
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
