package agent

// Applying the stream: the ordered consumer and what it delivers.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/nats-io/nats.go/jetstream"
)

// startConsumer (re)starts the ordered consumer at stream sequence from.
// With rewind, it also resets the last applied sequence to from-1 once the
// old consumer has stopped, so that no event of the old stream is taken for
// one of the new.
func (a *Agent) startConsumer(ctx context.Context, from uint64, rewind bool) error {
	a.mu.Lock()
	old := a.cc
	a.cc = nil
	closed := a.closed
	filter := jwtrevoke.ConsumerFilter(a.subjects, a.cfg.prefix)
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
		FilterSubjects: filter,
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
	if m.Headers().Get(jwtrevoke.ConfirmHeader) != "" {
		a.confirmWanted.Store(true)
	}
	// Report at once when caught up with an event a publisher waits to
	// see confirmed (a replay reports only once it has caught up).
	if meta.NumPending == 0 && a.confirmWanted.Swap(false) {
		select {
		case a.report <- struct{}{}:
		default: // a report is due already; it will carry this sequence
		}
	}
	return r, seq, err == nil
}
