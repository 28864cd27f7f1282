package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Health is the agent's readiness and freshness in one view: what every
// /readyz of jwtrevoke answers, and what yours can.
type Health struct {
	// Ready is true once the agent has applied every event that existed
	// when it started.
	Ready bool
	// Stale is true when the agent is not ready or has not known itself
	// to hold every event for longer than its staleness bound: a
	// revocation it has not seen may exist.
	Stale bool
	// Staleness is the time since the agent last knew it held every event.
	Staleness time.Duration
	// LastApplied is the stream sequence of the last event applied.
	LastApplied uint64
}

// OK reports whether the agent can vouch for its answers: ready and fresh.
// A load balancer should send traffic only to replicas whose agent is OK.
func (h Health) OK() bool { return h.Ready && !h.Stale }

// MarshalJSON writes {"ready":…,"stale":…,"staleness_ms":…,"last_applied":…}.
func (h Health) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Ready       bool   `json:"ready"`
		Stale       bool   `json:"stale"`
		StalenessMS int64  `json:"staleness_ms"`
		LastApplied uint64 `json:"last_applied"`
	}{h.Ready, h.Stale, h.Staleness.Milliseconds(), h.LastApplied})
}

// Health returns the agent's readiness and freshness now.
func (a *Agent) Health() Health {
	ready := a.ready.Load()
	staleness := a.Staleness()
	return Health{
		Ready:       ready,
		Stale:       !ready || staleness > a.cfg.staleAfter,
		Staleness:   staleness,
		LastApplied: a.applied.Load(),
	}
}

// waiter is a WaitApplied call: ch is closed once seq is applied.
type waiter struct {
	seq uint64
	ch  chan struct{}
}

// WaitApplied blocks until the agent has applied the event at stream
// sequence seq (a Receipt's Seq) or any later one, or ctx ends, or the
// agent is closed (ErrClosed). After it returns nil, every check on this
// agent sees that revocation. It costs the apply path nothing while nobody
// waits.
func (a *Agent) WaitApplied(ctx context.Context, seq uint64) error {
	if a.applied.Load() >= seq {
		return nil
	}
	w := waiter{seq: seq, ch: make(chan struct{})}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	a.waiters = append(a.waiters, w)
	a.nwaiters.Store(int64(len(a.waiters)))
	a.mu.Unlock()
	defer a.dropWaiter(w)
	// apply stores the sequence before it looks for waiters: seen here, or
	// the waiter is woken.
	if a.applied.Load() >= seq {
		return nil
	}
	select {
	case <-w.ch:
		if a.applied.Load() >= seq {
			return nil
		}
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("jwtrevoke/agent: waiting for sequence %d (applied %d): %w", seq, a.applied.Load(), ctx.Err())
	}
}

// dropWaiter removes w if it is still waiting.
func (a *Agent) dropWaiter(w waiter) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.waiters {
		if a.waiters[i].ch == w.ch {
			a.waiters = append(a.waiters[:i], a.waiters[i+1:]...)
			break
		}
	}
	a.nwaiters.Store(int64(len(a.waiters)))
}

// wakeLocked closes the channel of every waiter whose sequence is applied
// (all of them with everything), and keeps the others.
func (a *Agent) wakeLocked(applied uint64, everything bool) {
	kept := a.waiters[:0]
	for _, w := range a.waiters {
		if everything || w.seq <= applied {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	clear(a.waiters[len(kept):])
	a.waiters = kept
	a.nwaiters.Store(int64(len(a.waiters)))
}
