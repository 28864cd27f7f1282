package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/snapshot"
)

// Errors returned by this package.
var (
	ErrBadOption = errors.New("jwtrevoke/agent: bad option")
	ErrClosed    = errors.New("jwtrevoke/agent: closed")
)

// Agent replays and tails the revocation stream into a filter and answers
// checks. It is safe for use by multiple goroutines.
type Agent struct {
	cfg    config
	js     jetstream.JetStream
	stream jetstream.Stream
	f      *filter.Filter
	dec    jwtrevoke.Decoder

	applied   atomic.Uint64 // last applied stream sequence
	freshAsOf atomic.Int64  // Unix ns: every event stored before it is applied
	// confirmWanted: an event carrying jwtrevoke.ConfirmHeader was
	// applied since the last caught-up report.
	confirmWanted atomic.Bool
	// A stream fed from others (a mirror, a region's copy of the hub's
	// stream, or one with sources) is only as fresh as its links:
	// originAsOf is when it last held every event of its origins (Unix ns,
	// 0 never), and caps freshAsOf while mirror is set.
	mirror      atomic.Bool
	originAsOf  atomic.Int64
	heardAt     atomic.Int64 // Unix ns: last answer or message from the server
	ready       atomic.Bool
	readyCh     chan struct{}
	readyOnce   sync.Once
	target      uint64 // the stream's last sequence when New ran
	snapshotSeq uint64 // the sequence of the snapshot the agent started from, 0 if none

	// applyMu orders applying events against consumer restarts: a stopped
	// consumer may still call its handler (nats.go does not wait for an
	// in-flight callback, and an ordered consumer resetting itself can
	// start one more delivery after Stop), so each consumer carries the
	// generation it was started in and its late deliveries are dropped.
	applyMu sync.Mutex
	gen     uint64 // current consumer generation; guarded by applyMu

	mu      sync.Mutex // guards the fields below
	probes  []probe    // answered probes not yet covered by applied
	created time.Time  // the stream's creation time, to detect recreation
	// subjects are the stream's subjects as last seen, so that the
	// consumer filters only a stream that holds more than revocations.
	subjects []string
	cc       jetstream.ConsumeContext
	closed   bool
	waiters  []waiter // WaitApplied calls; nwaiters is their number

	nwaiters atomic.Int64

	// Touched by the prober goroutine only.
	rewindSuspect int    // consecutive probes that saw the stream behind
	progressSeq   uint64 // applied sequence at the last stall check
	stalledSince  int64  // Unix ns since when no progress was seen; 0: none

	// id names this agent in its status reports; report wakes the
	// reporter (capacity 1: reports coalesce).
	id     string
	report chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stats  counters
}

// New starts an agent on nc: it looks up the stream, starts replaying it
// from the first sequence, and returns without waiting for the replay (see
// WaitReady). The caller keeps ownership of nc; Close the agent before
// closing nc.
func New(ctx context.Context, nc *nats.Conn, opts ...Option) (*Agent, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jwtrevoke/agent: %w", err)
	}
	st, err := openStream(ctx, js, cfg.stream)
	if err != nil {
		return nil, err
	}
	info := st.CachedInfo()
	contract, err := adoptContract(&cfg, info.Config)
	if err != nil {
		return nil, err
	}
	fopts := append([]filter.Option{filter.WithMaxTokenLifetime(cfg.maxLifetime), filter.WithClock(cfg.clock)}, cfg.filterOpts...)
	newFilter := func() (*filter.Filter, error) { return filter.New(fopts...) }
	f, err := newFilter()
	if err != nil {
		return nil, err
	}
	if !cfg.snapshotSet {
		cfg.snapshotBucket = snapshot.Bucket(cfg.stream)
	}
	if !info.Config.AllowDirect {
		cfg.log.Warn("revocation stream does not allow direct get: unknown verdicts cannot be settled", "stream", cfg.stream)
	}
	a := &Agent{
		cfg:      cfg,
		js:       js,
		stream:   st,
		f:        f,
		dec:      contract.Decoder(cfg.keys),
		readyCh:  make(chan struct{}),
		target:   info.State.LastSeq,
		created:  info.Created,
		subjects: info.Config.Subjects,
		id:       nuid.Next(),
		report:   make(chan struct{}, 1),
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if err := a.start(ctx, info, contract, newFilter); err != nil {
		a.cancel()
		return nil, err
	}
	return a, nil
}

// openStream looks the stream up, saying who creates it if it is missing.
func openStream(ctx context.Context, js jetstream.JetStream, name string) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("jwtrevoke/agent: stream %q: %w: agents only read it; the publisher creates it (publisher.New, "+
			"jwtrevoke serve, or jwtrevoke revoke --create-stream), so start one first", name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("jwtrevoke/agent: stream %q: %w", name, err)
	}
	return st, nil
}

// start fills the filter from a snapshot if there is a valid one, and
// starts the consumer after it (or at the stream's first event) and the
// prober.
func (a *Agent) start(ctx context.Context, info *jetstream.StreamInfo, contract jwtrevoke.Contract, newFilter func() (*filter.Filter, error)) error {
	from := max(info.State.FirstSeq, 1)
	if sf, seq := a.loadSnapshot(ctx, info, contract, newFilter); sf != nil {
		a.f, from, a.snapshotSeq = sf, seq+1, seq
		a.applied.Store(seq)
	} else {
		a.f.Expect(int64(info.State.Msgs))
	}
	a.cfg.log.Info("agent replaying revocations", "stream", a.cfg.stream, "from_seq", from, "events", info.State.Msgs, "last_seq", info.State.LastSeq)
	now := a.cfg.clock().UnixNano()
	a.heardAt.Store(now)
	a.observeMirror(info, now)
	if info.State.Msgs == 0 || a.applied.Load() >= a.target {
		a.fresh(now) // a mirror's capped by its origin
		a.markReady()
	}
	if err := a.startConsumer(ctx, from, false); err != nil {
		return err
	}
	a.wg.Add(1)
	go a.probeLoop()
	if a.cfg.statusEvery > 0 {
		a.wg.Add(1)
		go a.reportLoop()
	}
	return nil
}

// adoptContract makes cfg follow the contract in the stream's metadata:
// options not given take the stream's values, and an option given with
// another value is an error naming both. A stream without a contract (made
// by hand or by an older version) keeps cfg, with the default leeway.
func adoptContract(cfg *config, sc jetstream.StreamConfig) (jwtrevoke.Contract, error) {
	mine := jwtrevoke.Contract{WireVersion: jwtrevoke.WireVersion, SubjectPrefix: cfg.prefix, MaxTokenLifetime: cfg.maxLifetime, Leeway: cfg.leeway}
	theirs, ok, err := jwtrevoke.ContractFromMetadata(sc.Metadata)
	if err != nil {
		return mine, fmt.Errorf("jwtrevoke/agent: stream %q: %w", sc.Name, err)
	}
	if !ok {
		cfg.log.Warn("the revocation stream carries no contract in its metadata: assuming this agent's max token lifetime and subject prefix", "stream", sc.Name, "max_token_lifetime", cfg.maxLifetime, "subject_prefix", cfg.prefix)
		return mine, nil
	}
	if err := theirs.Conflict(mine, cfg.set.prefix, cfg.set.maxLifetime, false, "agent.With"); err != nil {
		return mine, fmt.Errorf("jwtrevoke/agent: stream %q: %w", sc.Name, err)
	}
	cfg.prefix, cfg.maxLifetime, cfg.leeway = theirs.SubjectPrefix, theirs.MaxTokenLifetime, theirs.Leeway
	return theirs, nil
}

// Contract returns the stream's contract as the agent follows it.
func (a *Agent) Contract() jwtrevoke.Contract {
	return jwtrevoke.Contract{WireVersion: jwtrevoke.WireVersion, SubjectPrefix: a.cfg.prefix, MaxTokenLifetime: a.cfg.maxLifetime, Leeway: a.cfg.leeway}
}

// Filter returns the agent's filter, for stats and tests. Add to it only
// what the stream holds.
func (a *Agent) Filter() *filter.Filter { return a.f }

// Ready reports whether the agent has applied every event that existed
// when it started.
func (a *Agent) Ready() bool { return a.ready.Load() }

// WaitReady blocks until the agent is ready or ctx ends.
func (a *Agent) WaitReady(ctx context.Context) error {
	select {
	case <-a.readyCh:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("jwtrevoke/agent: not ready (applied %d of %d): %w", a.applied.Load(), a.target, ctx.Err())
	}
}

// Staleness is how long ago the agent last knew it had applied every
// event in the stream.
func (a *Agent) Staleness() time.Duration {
	return time.Duration(a.cfg.clock().UnixNano() - a.freshAsOf.Load())
}

// LastApplied returns the stream sequence of the last event applied.
func (a *Agent) LastApplied() uint64 { return a.applied.Load() }

func (a *Agent) markReady() {
	a.readyOnce.Do(func() {
		// The replay is in: size the filter for steady state again and
		// fold the replay's keys into its compact layers.
		a.f.Expect(0)
		a.f.Compact()
		a.ready.Store(true)
		close(a.readyCh)
		a.cfg.log.Info("agent ready", "stream", a.cfg.stream, "applied", a.applied.Load())
	})
}

// closeWait bounds how long Close waits for the consumer to stop.
const closeWait = 2 * time.Second

// Close stops the agent and waits for every goroutine it started, and for
// its consumer to stop — for at most closeWait when the server cannot be
// reached (nats.go's ordered consumer then waits out its API requests,
// about ten seconds; the server drops the ephemeral consumer itself).
// Nothing is applied after Close returns.
// Checks after Close answer from memory as stale.
func (a *Agent) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	cc := a.cc
	a.cc = nil
	a.wakeLocked(0, true)
	a.mu.Unlock()
	a.cancel()
	// Deliveries still on their way are dropped (apply checks gen).
	a.applyMu.Lock()
	a.gen++
	a.applyMu.Unlock()
	if cc != nil {
		stopped := make(chan struct{})
		go func() {
			cc.Stop()
			<-cc.Closed()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(closeWait):
			a.cfg.log.Warn("the revocation consumer did not stop in time (server unreachable?); left to stop by itself", "stream", a.cfg.stream, "waited", closeWait)
		}
	}
	a.wg.Wait()
	a.freshAsOf.Store(0)
	return nil
}
