package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
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
	cfg, from, err := o.consumerConfig(cmd)
	if err != nil {
		return err
	}
	setup, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
	defer cancel()
	// What watch says about itself goes to stderr, also from the
	// connection's callbacks, which may run after watch has returned.
	notes := &watchNotes{w: cmd.ErrOrStderr()}
	defer notes.stop()
	ws, err := o.open(setup, cfg, notes)
	if err != nil {
		return err
	}
	defer ws.close()
	notes.printf("Watching stream %s on %s from %s; Ctrl-C to stop\n", o.g.Stream, clitool.RedactURLs(o.g.ServerURL()), from)
	// Say so when there is nothing to show yet, and later when the replay
	// has caught up with the stream, rather than fall silent.
	waiting := notes.waitingAtStart(cfg, ws.state)
	decoder := ws.contract.Decoder(trusted)
	return o.follow(cmd.Context(), cmd.OutOrStdout(), ws.it, &decoder, notes, waiting)
}

// consumerConfig is where --all or --since start the consumer, and how
// watch says so.
func (o *watchOptions) consumerConfig(cmd *cobra.Command) (cfg jetstream.OrderedConsumerConfig, from string, _ error) {
	cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}
	from = "new events only"
	switch {
	case o.all:
		cfg.DeliverPolicy, from = jetstream.DeliverAllPolicy, "the first event"
	case o.since != "":
		s, err := parseSince(o.since, time.Now())
		if err != nil {
			return cfg, "", clitool.UsageError(cmd, err)
		}
		if s.seq > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, s.seq
			from = "sequence " + strconv.FormatUint(s.seq, 10)
		} else {
			cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &s.time
			from = stamp(s.time)
		}
	}
	return cfg, from, nil
}

// watchStream is watch's consumer on the stream, and what it read of the
// stream when it started.
type watchStream struct {
	nc       *nats.Conn
	it       jetstream.MessagesContext
	state    jetstream.StreamState
	contract jwtrevoke.Contract
}

// open connects, reads the stream's contract and starts an ordered
// consumer configured as cfg. The connection's losses and returns go to
// notes. The caller closes the watchStream.
func (o *watchOptions) open(ctx context.Context, cfg jetstream.OrderedConsumerConfig, notes *watchNotes) (*watchStream, error) {
	nc, err := o.g.Connect(ctx, "jwtrevoke watch",
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
		return nil, err
	}
	ws, err := o.consume(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return ws, nil
}

// consume starts the consumer on nc.
func (o *watchOptions) consume(ctx context.Context, nc *nats.Conn, cfg jetstream.OrderedConsumerConfig) (*watchStream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, o.g.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %q on %s: %w", o.g.Stream, clitool.RedactURLs(o.g.ServerURL()), err)
	}
	contract, _, err := o.g.StreamContract(st.CachedInfo().Config)
	if err != nil {
		return nil, err
	}
	cons, err := js.OrderedConsumer(ctx, o.g.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("consumer on %q: %w", o.g.Stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("consumer on %q: %w", o.g.Stream, err)
	}
	return &watchStream{nc: nc, it: it, state: st.CachedInfo().State, contract: contract}, nil
}

// close stops the consumer and closes the connection.
func (ws *watchStream) close() {
	ws.it.Stop()
	ws.nc.Close()
}

// follow prints every event it reads from it, until ctx ends or --count
// events have been printed. Once it has caught up with the stream it says
// that it waits, unless it said so already (waiting).
func (o *watchOptions) follow(ctx context.Context, out io.Writer, it jetstream.MessagesContext, dec *jwtrevoke.Decoder, notes *watchNotes, waiting bool) error {
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

// waitingAtStart says what watch waits for when, starting the consumer
// configured as cfg on a stream in state, it has nothing to show yet; it
// reports whether it said so.
func (n *watchNotes) waitingAtStart(cfg jetstream.OrderedConsumerConfig, state jetstream.StreamState) bool {
	switch {
	case cfg.DeliverPolicy == jetstream.DeliverNewPolicy,
		cfg.DeliverPolicy == jetstream.DeliverAllPolicy && state.LastSeq == 0:
		n.printf("Waiting for events after seq %d; the stream's last is %d\n", state.LastSeq, state.LastSeq)
	case cfg.DeliverPolicy == jetstream.DeliverByStartSequencePolicy && cfg.OptStartSeq > state.LastSeq:
		n.printf("Waiting for events after seq %d; the stream's last is %d (--since %d is past it)\n", cfg.OptStartSeq-1, state.LastSeq, cfg.OptStartSeq)
	case cfg.DeliverPolicy == jetstream.DeliverByStartTimePolicy && (state.LastSeq == 0 || cfg.OptStartTime.After(state.LastTime)):
		n.printf("Waiting for events after %s; the stream's last is %d, stored %s\n", stampMilli(*cfg.OptStartTime), state.LastSeq, stampMilli(state.LastTime))
	default:
		return false
	}
	return true
}

// stop drops whatever is printed after it: a callback that runs after
// watch has returned writes nothing.
func (n *watchNotes) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped = true
}
