package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
)

type watchOptions struct {
	g     *clitool.Globals
	since string
	all   bool
	count int
	trust []string
}

// NewWatchCommand returns `jwtrevoke watch`. It reads the global flags
// from g.
func NewWatchCommand(g *clitool.Globals) *cobra.Command {
	o := &watchOptions{g: g}
	c := &cobra.Command{
		Use:   "watch",
		Short: "Tail revocation events as they arrive",
		Long: `Watch follows the revocation stream with an ordered consumer and prints one
line per event: when the server stored it, its sequence, kind, key, cut-off,
expiry, reason, actor and lag (from the event's issued time to now). With --json
it prints one JSON object per line.

Every event is decoded as an agent decodes it (--max-lifetime; --trust-key to
require signatures), and its status says what an agent would do with it:

  ok         applied
  expired    its entry has lapsed (normal when replaying old events)
  malformed  refused: not a valid v1 event, or times out of bounds
  untrusted  refused: unsigned, unknown key ID or bad signature (with --trust-key)

A refused event is printed with its error; watch never stops on one. By default
only new events are shown; --since or --all replay older ones first. It runs
until Ctrl-C, or until --count events have been printed.

Events go to stdout; what watch says about itself goes to stderr: where it
starts, that it is waiting (and for what, when --since is past the stream's
last event), and when it loses and regains the server.

Exit status: 0 at Ctrl-C or after --count events, 1 failed (no server, no
stream), 2 usage error (an unknown flag, a bad flag value).`,
		Example: `  jwtrevoke watch
  jwtrevoke watch --json | jq 'select(.status != "ok")'
  jwtrevoke watch --all --count 10
  jwtrevoke watch --since 1h
  jwtrevoke watch --since 1042 --trust-key ops-2026-01=ops.pub`,
		Args: clitool.UsageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := c.Flags()
	f.StringVar(&o.since, "since", "", "start at a stream sequence (42), a duration back from now (10m) or an RFC 3339 time (default: only new events)")
	f.BoolVar(&o.all, "all", false, "start from the first event the stream holds")
	f.IntVar(&o.count, "count", 0, "stop after this many events (default: run until Ctrl-C)")
	f.StringArrayVar(&o.trust, "trust-key", nil, "key-id=file: require events signed by these ed25519 public keys (repeatable)")
	return c
}

func (o *watchOptions) run(cmd *cobra.Command) error {
	if o.all && o.since != "" {
		return clitool.UsageError(cmd, errors.New("--all and --since exclude each other"))
	}
	if o.count < 0 {
		return clitool.UsageError(cmd, fmt.Errorf("--count %d: must not be negative", o.count))
	}
	trusted, err := parseTrustKeys(o.trust)
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}
	from := "new events only"
	switch {
	case o.all:
		cfg.DeliverPolicy, from = jetstream.DeliverAllPolicy, "the first event"
	case o.since != "":
		s, err := parseSince(o.since, time.Now())
		if err != nil {
			return clitool.UsageError(cmd, err)
		}
		if s.seq > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, s.seq
			from = "sequence " + strconv.FormatUint(s.seq, 10)
		} else {
			cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &s.time
			from = stamp(s.time)
		}
	}

	ctx := cmd.Context()
	setup, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	// What watch says about itself goes to stderr, also from the
	// connection's callbacks, which may run after watch has returned.
	notes := &watchNotes{w: cmd.ErrOrStderr()}
	defer notes.stop()
	nc, err := o.g.Connect(setup, "jwtrevoke watch",
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err == nil {
				return // closed by watch itself
			}
			notes.printf("Disconnected from NATS (%v); reconnecting…\n", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			notes.printf("Reconnected to %s; watching again\n", nc.ConnectedUrlRedacted())
		}))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	st, err := js.Stream(setup, o.g.Stream)
	if err != nil {
		return fmt.Errorf("stream %q on %s: %w", o.g.Stream, clitool.RedactURLs(o.g.ServerURL()), err)
	}
	contract, _, err := o.g.StreamContract(st.CachedInfo().Config)
	if err != nil {
		return err
	}
	cons, err := js.OrderedConsumer(setup, o.g.Stream, cfg)
	if err != nil {
		return fmt.Errorf("consumer on %q: %w", o.g.Stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consumer on %q: %w", o.g.Stream, err)
	}
	defer it.Stop()
	notes.printf("Watching stream %s on %s from %s; Ctrl-C to stop\n", o.g.Stream, clitool.RedactURLs(o.g.ServerURL()), from)
	// Say so when there is nothing to show yet, and later when the replay
	// has caught up with the stream, rather than fall silent.
	state := st.CachedInfo().State
	waiting := false
	switch {
	case cfg.DeliverPolicy == jetstream.DeliverNewPolicy,
		cfg.DeliverPolicy == jetstream.DeliverAllPolicy && state.LastSeq == 0:
		waiting = true
		notes.printf("Waiting for events after seq %d; the stream's last is %d\n", state.LastSeq, state.LastSeq)
	case cfg.DeliverPolicy == jetstream.DeliverByStartSequencePolicy && cfg.OptStartSeq > state.LastSeq:
		waiting = true
		notes.printf("Waiting for events after seq %d; the stream's last is %d (--since %d is past it)\n", cfg.OptStartSeq-1, state.LastSeq, cfg.OptStartSeq)
	case cfg.DeliverPolicy == jetstream.DeliverByStartTimePolicy && (state.LastSeq == 0 || cfg.OptStartTime.After(state.LastTime)):
		waiting = true
		notes.printf("Waiting for events after %s; the stream's last is %d, stored %s\n", stampMilli(*cfg.OptStartTime), state.LastSeq, stampMilli(state.LastTime))
	}

	decoder := contract.Decoder(trusted)
	dec := &decoder
	out := cmd.OutOrStdout()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for n := 0; o.count == 0 || n < o.count; n++ {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil // Ctrl-C
			}
			return fmt.Errorf("reading stream %q: %w", o.g.Stream, err)
		}
		ev := newWatchEvent(m, dec, time.Now())
		if o.g.JSON {
			err = enc.Encode(ev)
		} else {
			err = ev.writeText(out)
		}
		if err != nil {
			return err
		}
		if meta, err := m.Metadata(); err == nil && meta.NumPending == 0 && !waiting && (o.count == 0 || n+1 < o.count) {
			waiting = true
			notes.printf("Waiting for events after seq %d; the stream's last is %d\n", meta.Sequence.Stream, meta.Sequence.Stream)
		}
	}
	return nil
}

// watchNotes writes what watch says about itself (not its events) to
// stderr, from its loop and from the NATS connection's callbacks, until
// stop. It is safe for use by multiple goroutines.
type watchNotes struct {
	mu      sync.Mutex // guards w and stopped
	w       io.Writer
	stopped bool
}

func (n *watchNotes) printf(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.stopped {
		fmt.Fprintf(n.w, format, args...)
	}
}

// stop drops whatever is printed after it: a callback that runs after
// watch has returned writes nothing.
func (n *watchNotes) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped = true
}

// Statuses of a watched event.
const (
	watchOK        = "ok"
	watchExpired   = "expired"
	watchMalformed = "malformed"
	watchUntrusted = "untrusted"
)

// watchEvent is one line of watch output.
type watchEvent struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"` // when the server stored it
	Subject string    `json:"subject"`
	Size    int       `json:"size"`
	Status  string    `json:"status"`
	Error   string    `json:"error,omitempty"`
	*revocation
	Signed  string   `json:"signed_by,omitempty"`
	LagMS   *float64 `json:"lag_ms,omitempty"`
	Warning string   `json:"warning,omitempty"`
}

// newWatchEvent decodes one message as an agent would at now.
func newWatchEvent(m jetstream.Msg, dec *jwtrevoke.Decoder, now time.Time) watchEvent {
	ev := watchEvent{Subject: m.Subject(), Size: len(m.Data())}
	if meta, err := m.Metadata(); err == nil {
		ev.Seq, ev.Time = meta.Sequence.Stream, meta.Timestamp.UTC()
	}
	r, kid, err := dec.DecodeSigned(m.Data(), now)
	switch {
	case err == nil:
		ev.Status = watchOK
		lag := millis(now.Sub(r.Issued))
		ev.LagMS = &lag
	case errors.Is(err, jwtrevoke.ErrExpired):
		ev.Status = watchExpired
		// Show what it was: decode it as of the time it was stored.
		if !ev.Time.IsZero() {
			r, kid, err = dec.DecodeSigned(m.Data(), ev.Time)
		}
		if err != nil {
			err = nil
			r = jwtrevoke.Revocation{}
		}
	case errors.Is(err, jwtrevoke.ErrUnsigned), errors.Is(err, jwtrevoke.ErrUnknownKeyID), errors.Is(err, jwtrevoke.ErrBadSignature):
		ev.Status, ev.Error = watchUntrusted, err.Error()
	default:
		ev.Status, ev.Error = watchMalformed, err.Error()
	}
	if err == nil && r.Kind.Valid() {
		rj := newRevocation(r)
		ev.revocation, ev.Signed = &rj, kid
		// Agents apply an event whatever its subject, but settle "unknown"
		// verdicts by the subject: a hand-made event on the wrong one
		// would not be found.
		if want := "." + r.Kind.String() + "." + jwtrevoke.KeyToken(r.Key); !strings.HasSuffix(ev.Subject, want) {
			ev.Warning = "the subject does not match the event's kind and key: want …" + want
		}
	}
	return ev
}

// writeText prints the event as one line.
func (ev watchEvent) writeText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  #%d  ", stampMilli(ev.Time), ev.Seq)
	if ev.Status != watchOK {
		b.WriteString(strings.ToUpper(ev.Status) + "  ")
	}
	if r := ev.revocation; r != nil {
		key := strconv.Quote(r.Key)
		if r.Kind == jwtrevoke.KindAll {
			key = "-"
		}
		fmt.Fprintf(&b, "%s  %s  before=%s  expires=%s", r.Kind, key, stamp(r.Before), stamp(r.Expires))
		if r.Reason != "" {
			fmt.Fprintf(&b, "  reason=%q", r.Reason)
		}
		if r.Actor != "" {
			fmt.Fprintf(&b, "  actor=%q", r.Actor)
		}
		if ev.Signed != "" {
			fmt.Fprintf(&b, "  signed_by=%q", ev.Signed)
		}
	} else {
		fmt.Fprintf(&b, "subject=%s  size=%d", ev.Subject, ev.Size)
	}
	if ev.LagMS != nil {
		fmt.Fprintf(&b, "  lag=%s", round(time.Duration(*ev.LagMS*float64(time.Millisecond))))
	}
	if ev.Error != "" {
		fmt.Fprintf(&b, "  error=%q", ev.Error)
	}
	if ev.Warning != "" {
		fmt.Fprintf(&b, "  warning=%q", ev.Warning)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}
