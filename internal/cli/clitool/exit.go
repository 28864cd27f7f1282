package clitool

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// Exit statuses every verb shares; check gives 1 and 2 meanings of its own
// (internal/cli's CheckRefused and CheckError), which keep a usage error
// apart from a refusal.
const (
	ExitFailed = 1 // the verb ran and failed
	ExitUsage  = 2 // it was called wrong: a missing or extra argument, an unknown flag, a bad flag value
)

// ExitError is an error that carries the exit status jwtrevoke ends with,
// for a verb whose statuses mean more than "failed" (check: 1 refused, 2
// no verdict) and for usage errors. main prints Err like any error; it is
// nil when the verb has already said what there was to say. It is a value,
// never changed once made.
type ExitError struct {
	Code int
	Err  error // nil: nothing to print
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the process's exit status.
func (e *ExitError) ExitCode() int { return e.Code }

// Usage is err as a usage error (exit 2, ExitUsage), without a pointer to
// a command's help: for settings a verb checks itself.
func Usage(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// UsageError is err, a mistake in how cmd was called, as the error that
// makes jwtrevoke exit 2 (ExitUsage), with a pointer to cmd's help. It is
// also the root command's flag error function.
func UsageError(cmd *cobra.Command, err error) error {
	return Usage(fmt.Errorf("%w\nRun '%s --help' for usage.", err, cmd.CommandPath()))
}

// UsageArgs turns the errors of an argument validator into usage errors.
func UsageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return UsageError(cmd, err)
		}
		return nil
	}
}

// NeedVerb is the RunE of a command that only groups verbs (jwtrevoke,
// jwtrevoke revoke): called without one, it prints its usage to stderr
// and exits 2.
func NeedVerb(what string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		fmt.Fprint(cmd.ErrOrStderr(), cmd.UsageString())
		return UsageError(cmd, errors.New(what))
	}
}

// UnknownVerb is the Args of a command that only groups verbs: an
// argument is a verb it does not know.
func UnknownVerb(cmd *cobra.Command, args []string) error {
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
	return UsageError(cmd, errors.New(msg))
}

// ErrorText is err's message for a line that already starts with
// "jwtrevoke:": without the package prefixes of the library's errors
// ("jwtrevoke: ", "jwtrevoke/publisher: ") at its start or after a colon,
// so that "revoking subject: jwtrevoke: empty key" reads "revoking subject:
// empty key".
func ErrorText(err error) string {
	return regexp.MustCompile(`(^|: )jwtrevoke(/[a-z]+)?: `).ReplaceAllString(err.Error(), "$1")
}
