// Command jwtrevoke runs the revocation service, a one-command demo, and
// the tools to revoke, check and watch revocations from a shell.
//
//	jwtrevoke demo                     # everything in one process, embedded NATS
//	jwtrevoke serve                    # the revocation service (RFC 7009, RFC 7662, admin API)
//	jwtrevoke revoke subject alice     # revoke from a shell
//	jwtrevoke check <jwt>              # verdict from a local agent
//	jwtrevoke watch --json             # tail events as JSON lines
//	jwtrevoke status                   # the stream and its live entries
//
// main only wires the root command, its version and its exit status; the
// verbs live in internal/serve, internal/demo and internal/cli, on the
// plumbing they share in internal/cli/clitool.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke/internal/cli"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/internal/demo"
	"github.com/jwtrevoke/jwtrevoke/internal/serve"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run())
}

// run runs the verb and returns the exit status: 0, or for an error 1
// (clitool.ExitFailed), or the status the error carries (clitool.ExitError).
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if msg := clitool.ErrorText(err); msg != "" {
		fmt.Fprintln(os.Stderr, "jwtrevoke:", msg)
	}
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		return coded.ExitCode()
	}
	return clitool.ExitFailed
}

func newRoot() *cobra.Command {
	g := &clitool.Globals{}
	root := &cobra.Command{
		Use:   "jwtrevoke",
		Short: "Real logout for JWTs: revoke tokens and have every API replica refuse them within milliseconds",
		Long: `Real logout for JWTs: revoke tokens and have every API replica refuse them
within milliseconds.

Exit status, for every verb: 0 done, 1 failed, 2 usage error (a missing or
extra argument, an unknown flag, a bad flag value). check says 1 for a
refused token and 2 also when it reaches no verdict.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          clitool.UnknownVerb,
		RunE:          clitool.NeedVerb("give a verb: serve, demo, revoke, check, watch, status, snapshot or mirror"),
	}
	root.SetFlagErrorFunc(clitool.UsageError)
	g.Register(root)
	root.AddCommand(
		serve.NewCommand(g),
		demo.NewCommand(g),
		cli.NewRevokeCommand(g),
		cli.NewCheckCommand(g),
		cli.NewWatchCommand(g),
		cli.NewStatusCommand(g),
		cli.NewSnapshotCommand(g),
		cli.NewMirrorCommand(g),
	)
	return root
}
