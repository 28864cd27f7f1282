// Command jwtrevoke runs the revocation service, a one-command demo, and
// the tools to revoke, check and watch revocations from a shell.
//
//	jwtrevoke demo                     # everything in one process, embedded NATS
//	jwtrevoke serve                    # the revocation service (RFC 7009, RFC 7662, admin API)
//	jwtrevoke revoke subject alice     # revoke from a shell
//	jwtrevoke check <jwt>              # verdict from a local agent
//	jwtrevoke watch --json             # tail events as JSON lines
//	jwtrevoke status                   # the stream and its live entries
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run())
}

// run runs the verb and returns the exit status: 0, or for an error 1,
// or the status the error carries (see exitError).
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(os.Stderr, "jwtrevoke:", msg)
	}
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		return coded.ExitCode()
	}
	return 1
}

// exitError is an error that carries the exit status jwtrevoke ends with,
// for a verb whose statuses mean more than "failed" (check: 1 refused, 2
// no verdict). main prints err like any error; it is nil when the verb has
// already said what there was to say.
type exitError struct {
	code int
	err  error // nil: nothing to print
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// ExitCode is the process's exit status.
func (e *exitError) ExitCode() int { return e.code }

func newRoot() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "jwtrevoke",
		Short:         "Real logout for JWTs: revoke tokens and have every API replica refuse them within milliseconds",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.register(root)
	root.AddCommand(
		newServeCmd(g),
		newDemoCmd(g),
		newRevokeCmd(g),
		newCheckCmd(g),
		newWatchCmd(g),
		newStatusCmd(g),
	)
	return root
}
