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

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
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
	heardAt   atomic.Int64  // Unix ns: last answer or message from the server
	ready     atomic.Bool
	readyCh   chan struct{}
	readyOnce sync.Once
	target    uint64 // the stream's last sequence when New ran

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
	cc      jetstream.ConsumeContext
	closed  bool
	waiters []waiter // WaitApplied calls; nwaiters is their number

	nwaiters atomic.Int64

	// Touched by the prober goroutine only.
	rewindSuspect int    // consecutive probes that saw the stream behind
	progressSeq   uint64 // applied sequence at the last stall check
	stalledSince  int64  // Unix ns since when no progress was seen; 0: none

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stats  counters
}

// probe is a server answer: at sent, the stream's last sequence was last.
type probe struct {
	sent int64
	last uint64
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
	st, err := js.Stream(ctx, cfg.stream)
	if err != nil {
		return nil, fmt.Errorf("jwtrevoke/agent: stream %q: %w", cfg.stream, err)
	}
	info := st.CachedInfo()
	contract, err := adoptContract(&cfg, info.Config)
	if err != nil {
		return nil, err
	}
	fopts := append([]filter.Option{filter.WithMaxTokenLifetime(cfg.maxLifetime), filter.WithClock(cfg.clock)}, cfg.filterOpts...)
	f, err := filter.New(fopts...)
	if err != nil {
		return nil, err
	}
	if !info.Config.AllowDirect {
		cfg.log.Warn("revocation stream does not allow direct get: unknown verdicts cannot be settled", "stream", cfg.stream)
	}
	a := &Agent{
		cfg:     cfg,
		js:      js,
		stream:  st,
		f:       f,
		dec:     contract.Decoder(cfg.keys),
		readyCh: make(chan struct{}),
		target:  info.State.LastSeq,
		created: info.Created,
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	f.Expect(int64(info.State.Msgs))
	now := cfg.clock().UnixNano()
	a.heardAt.Store(now)
	if info.State.Msgs == 0 {
		a.freshAsOf.Store(now)
		a.markReady()
	}
	if err := a.startConsumer(ctx, max(info.State.FirstSeq, 1), false); err != nil {
		a.cancel()
		return nil, err
	}
	a.wg.Add(1)
	go a.probeLoop()
	cfg.log.Info("agent replaying revocations", "stream", cfg.stream, "events", info.State.Msgs, "last_seq", info.State.LastSeq)
	return a, nil
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
		a.ready.Store(true)
		close(a.readyCh)
		a.cfg.log.Info("agent ready", "stream", a.cfg.stream, "applied", a.applied.Load())
	})
}

// startConsumer (re)starts the ordered consumer at stream sequence from.
// With rewind, it also resets the last applied sequence to from-1 once the
// old consumer has stopped, so that no event of the old stream is taken for
// one of the new.
func (a *Agent) startConsumer(ctx context.Context, from uint64, rewind bool) error {
	a.mu.Lock()
	old := a.cc
	a.cc = nil
	closed := a.closed
	a.mu.Unlock()
	if old != nil {
		old.Stop()
		<-old.Closed()
	}
	if closed {
		return ErrClosed
	}
	a.applyMu.Lock()
	a.gen++
	gen := a.gen
	if rewind {
		a.applied.Store(from - 1)
	}
	a.applyMu.Unlock()
	if rewind {
		a.mu.Lock()
		a.probes = nil
		a.mu.Unlock()
	}
	cons, err := a.js.OrderedConsumer(ctx, a.cfg.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{jwtrevoke.SubjectFilter(a.cfg.prefix)},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from,
	})
	if err != nil {
		return fmt.Errorf("jwtrevoke/agent: consumer on %q: %w", a.cfg.stream, err)
	}
	// The consumer's own heartbeats only keep it healthy (nats.go accepts
	// 500 ms to 30 s); freshness comes from the probes.
	hb := min(max(a.cfg.staleAfter/5, 500*time.Millisecond), 5*time.Second)
	cc, err := cons.Consume(func(m jetstream.Msg) { a.handle(gen, m) },
		jetstream.PullHeartbeat(hb),
		jetstream.PullExpiry(max(3*hb, time.Second)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			a.stats.consumerErrors.Add(1)
			a.cfg.log.Warn("revocation consumer", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("jwtrevoke/agent: consume %q: %w", a.cfg.stream, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		cc.Stop()
		return ErrClosed
	}
	a.cc = cc
	return nil
}

// handle applies one event delivered by the consumer of generation gen.
// The ordered consumer calls it for one message at a time, in stream order;
// a delivery from a consumer that has since been replaced is dropped, so
// that it can neither move the applied sequence past events the new
// consumer has yet to deliver nor undo a rewind.
func (a *Agent) handle(gen uint64, m jetstream.Msg) {
	r, seq, ok := a.apply(gen, m)
	if ok && a.cfg.onApply != nil {
		a.cfg.onApply(r, seq) // outside applyMu: fn may be slow
	}
}

// apply is handle's part under applyMu; ok says a revocation was applied.
func (a *Agent) apply(gen uint64, m jetstream.Msg) (r jwtrevoke.Revocation, seq uint64, ok bool) {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	if gen != a.gen {
		return r, 0, false
	}
	meta, err := m.Metadata()
	if err != nil {
		a.stats.rejected(reasonMalformed)
		return r, 0, false
	}
	seq = meta.Sequence.Stream
	now := a.cfg.clock()
	a.heardAt.Store(now.UnixNano())
	if seq <= a.applied.Load() {
		return r, 0, false // already applied (a consumer restart)
	}
	r, _, err = a.dec.DecodeSigned(m.Data(), now)
	switch {
	case err == nil:
		if err = a.f.AddAt(r, now); err != nil {
			a.stats.rejected(reasonMalformed)
			a.cfg.log.Warn("revocation event refused by the filter", "seq", seq, "err", err)
		} else {
			a.stats.applied.Add(1)
			a.stats.observeLag(now.Sub(r.Issued))
		}
	case errors.Is(err, jwtrevoke.ErrExpired):
		a.stats.expired.Add(1)
	default:
		a.stats.rejected(rejectReason(err))
		a.cfg.log.Warn("revocation event rejected", "seq", seq, "subject", m.Subject(), "err", err)
	}
	a.applied.Store(seq)
	if meta.NumPending == 0 {
		a.fresh(now.UnixNano())
		a.markReady()
	} else if seq >= a.target {
		a.markReady()
	}
	a.mu.Lock()
	a.coverProbesLocked(seq)
	if a.nwaiters.Load() > 0 {
		a.wakeLocked(seq, false)
	}
	a.mu.Unlock()
	return r, seq, err == nil
}

// fresh records that every event stored before t is applied.
func (a *Agent) fresh(t int64) {
	for {
		old := a.freshAsOf.Load()
		if t <= old || a.freshAsOf.CompareAndSwap(old, t) {
			return
		}
	}
}

// coverProbesLocked marks fresh the probes whose last sequence is applied.
func (a *Agent) coverProbesLocked(seq uint64) {
	i := 0
	for ; i < len(a.probes) && a.probes[i].last <= seq; i++ {
		a.fresh(a.probes[i].sent)
	}
	a.probes = a.probes[i:]
}

func (a *Agent) probeLoop() {
	defer a.wg.Done()
	interval := max(a.cfg.staleAfter/5, 10*time.Millisecond)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		a.probe(interval)
	}
}

// probe asks the server for the stream's state and updates freshness,
// readiness, and the rewind alarm.
func (a *Agent) probe(timeout time.Duration) {
	appliedAtSend := a.applied.Load()
	sent := a.cfg.clock().UnixNano()
	ctx, cancel := context.WithTimeout(a.ctx, max(timeout, 100*time.Millisecond))
	info, err := a.stream.Info(ctx)
	cancel()
	if err != nil {
		if a.ctx.Err() == nil {
			a.stats.probeErrors.Add(1)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				a.cfg.log.Error("revocation stream is gone; answering from memory", "stream", a.cfg.stream)
			}
		}
		return
	}
	a.heardAt.Store(a.cfg.clock().UnixNano())
	st := info.State
	a.mu.Lock()
	recreated := !a.created.IsZero() && !info.Created.Equal(a.created)
	a.created = info.Created
	a.mu.Unlock()
	// A stream behind what was applied is a rewind only if a second probe
	// says so too: a newly elected leader may answer before it caught up.
	behind := st.LastSeq < appliedAtSend
	if behind && !recreated {
		a.rewindSuspect++
		if a.rewindSuspect < 2 {
			return
		}
	} else {
		a.rewindSuspect = 0
	}
	if recreated || behind {
		// The stream lost events this agent applied: it was recreated or
		// restored from an older backup. Keep every revocation already
		// applied, replay what the stream holds now, and raise the alarm.
		a.rewindSuspect = 0
		a.stats.rewinds.Add(1)
		a.cfg.log.Error("revocation stream rewound: it no longer holds events this agent applied; keeping them and replaying",
			"stream", a.cfg.stream, "applied", appliedAtSend, "stream_last_seq", st.LastSeq, "recreated", recreated)
		if err := a.startConsumer(a.ctx, max(st.FirstSeq, 1), true); err != nil && !errors.Is(err, ErrClosed) {
			a.cfg.log.Error("restarting the revocation consumer", "err", err)
		}
		return
	}
	if st.Msgs == 0 || appliedAtSend >= st.LastSeq || a.applied.Load() >= st.LastSeq {
		a.fresh(sent)
		a.markReady()
		a.stalledSince = 0
		return
	}
	a.restartIfStalled(st.LastSeq)
	a.mu.Lock()
	a.probes = append(a.probes, probe{sent: sent, last: st.LastSeq})
	if len(a.probes) > 64 {
		a.probes = a.probes[len(a.probes)-64:]
	}
	a.coverProbesLocked(a.applied.Load())
	a.mu.Unlock()
}

// restartIfStalled restarts the consumer from the next unapplied sequence
// when the stream holds events the agent has not applied and it has made
// no progress for a staleness bound: after a cluster leader change the
// ordered consumer can be left on a dead node without reporting an error,
// and a failed restart must be retried. Called by the prober only.
func (a *Agent) restartIfStalled(last uint64) {
	applied := a.applied.Load()
	now := a.cfg.clock().UnixNano()
	a.mu.Lock()
	noConsumer := a.cc == nil && !a.closed
	a.mu.Unlock()
	if applied != a.progressSeq || a.stalledSince == 0 {
		a.progressSeq, a.stalledSince = applied, now
		if !noConsumer {
			return
		}
	}
	if !noConsumer && now-a.stalledSince < int64(a.cfg.staleAfter) {
		return
	}
	a.stats.consumerRestarts.Add(1)
	a.cfg.log.Warn("revocation consumer made no progress; restarting it", "stream", a.cfg.stream, "applied", applied, "stream_last_seq", last)
	a.stalledSince = now
	if err := a.startConsumer(a.ctx, applied+1, false); err != nil && !errors.Is(err, ErrClosed) {
		a.cfg.log.Error("restarting the revocation consumer", "err", err)
	}
}

// Close stops the agent and waits for every goroutine it started. Checks
// after Close answer from memory as stale.
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
	if cc != nil {
		cc.Stop()
		<-cc.Closed()
	}
	a.wg.Wait()
	a.freshAsOf.Store(0)
	return nil
}
