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
	"regexp"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run())
}

// Exit statuses every verb shares; check gives 1 and 2 its own meanings
// (checkRefused, checkError), which keep a usage error apart from a
// refusal.
const (
	exitFailed = 1 // the verb ran and failed
	exitUsage  = 2 // it was called wrong: a missing or extra argument, an unknown flag, a bad flag value
)

// run runs the verb and returns the exit status: 0, or for an error 1,
// or the status the error carries (see exitError).
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if msg := cliErrorText(err); msg != "" {
		fmt.Fprintln(os.Stderr, "jwtrevoke:", msg)
	}
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		return coded.ExitCode()
	}
	return exitFailed
}

// cliErrorText is err's message for a line that already starts with
// "jwtrevoke:": without the package prefixes of the library's errors
// ("jwtrevoke: ", "jwtrevoke/publisher: ") at its start or after a colon,
// so that "revoking subject: jwtrevoke: empty key" reads "revoking subject:
// empty key".
func cliErrorText(err error) string {
	return regexp.MustCompile(`(^|: )jwtrevoke(/[a-z]+)?: `).ReplaceAllString(err.Error(), "$1")
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

// usageError is err, a mistake in how cmd was called, as the error that
// makes jwtrevoke exit 2 (exitUsage), with a pointer to cmd's help.
func usageError(cmd *cobra.Command, err error) error {
	return &exitError{code: exitUsage, err: fmt.Errorf("%w\nRun '%s --help' for usage.", err, cmd.CommandPath())}
}

// usageArgs turns the errors of an argument validator into usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError(cmd, err)
		}
		return nil
	}
}

// needVerb is the RunE of a command that only groups verbs (jwtrevoke,
// jwtrevoke revoke): called without one, it prints its usage to stderr
// and exits 2.
func needVerb(what string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		fmt.Fprint(cmd.ErrOrStderr(), cmd.UsageString())
		return usageError(cmd, errors.New(what))
	}
}

// unknownVerb is the Args of a command that only groups verbs: an
// argument is a verb it does not know.
func unknownVerb(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, set only where cobra suggests
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += " (did you mean " + strings.Join(s, " or ") + "?)"
	}
	return usageError(cmd, errors.New(msg))
}

func newRoot() *cobra.Command {
	g := &globalFlags{}
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
		Args:          unknownVerb,
		RunE:          needVerb("give a verb: serve, demo, revoke, check, watch or status"),
	}
	root.SetFlagErrorFunc(usageError)
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
