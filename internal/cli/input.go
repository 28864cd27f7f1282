package cli

// What the shell verbs read from their arguments and the terminal: times
// and durations, tokens, confirmations, the default actor.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/jwtrevoke/jwtrevoke"
)

// futureTolerance is how far in the future a --before cut-off may lie: a
// little clock difference, not a typo that would revoke tokens not yet
// issued (and that agents refuse as too far ahead).
const futureTolerance = time.Minute

// parseCutoff reads a --before value: empty or "now" for now, else an
// RFC 3339 time (fractions of a second allowed). A cut-off in the future,
// or so far back that every token issued before it has expired, is refused
// (maxLifetime 0: the default lifetime; the publisher then checks against
// the stream's own contract).
func parseCutoff(s string, now time.Time, maxLifetime time.Duration) (time.Time, error) {
	if maxLifetime == 0 {
		maxLifetime = jwtrevoke.DefaultMaxTokenLifetime
	}
	if s == "" || s == "now" {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--before %q: want an RFC 3339 time such as 2026-01-15T10:00:00Z, or now", s)
	}
	switch {
	case t.After(now.Add(futureTolerance)):
		return time.Time{}, fmt.Errorf("--before %s is in the future: it would also revoke tokens not issued yet", t.Format(time.RFC3339Nano))
	case t.Add(maxLifetime).Before(now):
		return time.Time{}, fmt.Errorf("--before %s is more than --max-lifetime %v ago: every token issued before it has expired already", t.Format(time.RFC3339Nano), maxLifetime)
	}
	return t, nil
}

// parseExpiry reads a --exp value: an RFC 3339 time, a duration from now
// ("15m"), or a JWT NumericDate (Unix seconds). Empty means unknown.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, fmt.Errorf("--exp %q: want an RFC 3339 time, a duration from now (15m) or Unix seconds (the token's exp claim)", s)
}

// watchStart is where watch starts reading the stream.
type watchStart struct {
	seq  uint64    // a stream sequence, or
	time time.Time // a time; both zero: only new events
}

// parseSince reads a --since value: a stream sequence (123), a duration
// back from now (10m) or an RFC 3339 time.
func parseSince(s string, now time.Time) (watchStart, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		if n == 0 {
			return watchStart{}, errors.New("--since 0: stream sequences start at 1 (use --all for everything)")
		}
		return watchStart{seq: n}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return watchStart{}, fmt.Errorf("--since %q: a duration back from now must be positive", s)
		}
		return watchStart{time: now.Add(-d)}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return watchStart{time: t}, nil
	}
	return watchStart{}, fmt.Errorf("--since %q: want a stream sequence (42), a duration back from now (10m) or an RFC 3339 time", s)
}

// readToken returns the JWT given as an argument, or read from stdin
// when the argument is "-" (which keeps it out of the process list and the
// shell history). A "Bearer " prefix is dropped.
func readToken(cmd *cobra.Command, arg string) (string, error) {
	raw := arg
	if arg == "-" {
		b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
		if err != nil {
			return "", fmt.Errorf("reading the token from stdin: %w", err)
		}
		raw = string(b)
	}
	raw = strings.TrimSpace(raw)
	if len(raw) > 7 && strings.EqualFold(raw[:7], "bearer ") {
		raw = strings.TrimSpace(raw[7:])
	}
	if raw == "" {
		return "", errors.New("no token given")
	}
	return raw, nil
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm asks a yes/no question on the terminal. It refuses, without
// asking, when stdin is not a terminal: a script must say --force.
func confirm(cmd *cobra.Command, question string) error {
	if !isTerminal(cmd.InOrStdin()) {
		return errors.New("refusing without confirmation: stdin is not a terminal (pass --force to confirm from a script)")
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s\nType yes to continue: ", question)
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("aborted: no answer")
	}
	if strings.TrimSpace(line) != "yes" {
		return errors.New("aborted: the answer was not yes")
	}
	return nil
}

// defaultActor is $USER@hostname, the actor recorded when --actor is not
// given.
func defaultActor() string {
	name := os.Getenv("USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		name = "unknown"
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		name += "@" + host
	}
	if len(name) > jwtrevoke.MaxActorLen {
		name = strings.ToValidUTF8(name[:jwtrevoke.MaxActorLen], "")
	}
	return name
}
