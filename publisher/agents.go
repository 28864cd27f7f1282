package publisher

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke"
)

// ErrNotConfirmed is wrapped by the *ConfirmError of a revocation that
// fewer agents than asked confirmed in time.
var ErrNotConfirmed = errors.New("jwtrevoke/publisher: revocation not confirmed")

// ConfirmError says how far a Confirm got: the revocation is on the
// stream (at Seq) and will reach every agent, but only Got of the Want
// agents had reported applying it within Within.
type ConfirmError struct {
	Seq       uint64
	Want, Got int
	Within    time.Duration
}

func (e *ConfirmError) Error() string {
	return fmt.Sprintf("jwtrevoke/publisher: revocation at sequence %d applied by %d of %d agents within %v", e.Seq, e.Got, e.Want, e.Within)
}

func (e *ConfirmError) Unwrap() error { return ErrNotConfirmed }

// AgentSeen is an agent's last status report and when it arrived.
type AgentSeen struct {
	jwtrevoke.AgentStatus
	Heard time.Time // on this process's clock
}

// Live reports whether the agent was heard from within three of its
// intervals.
func (s AgentSeen) Live(now time.Time) bool {
	return now.Sub(s.Heard) <= 3*time.Duration(s.IntervalMS)*time.Millisecond
}

// AgentWatch follows the status reports of a stream's agents (core NATS
// subscription on jwtrevoke.StatusSubjects). It is safe for use by
// multiple goroutines.
type AgentWatch struct {
	sub *nats.Subscription
	now func() time.Time

	mu      sync.Mutex
	seen    map[string]AgentSeen
	changed chan struct{} // closed, and replaced, on every report
	bad     uint64        // reports refused
}

// maxWatchedAgents bounds the agents an AgentWatch remembers; reports of
// more are dropped (bad) until silent ones are forgotten.
const maxWatchedAgents = 10_000

// WatchAgents subscribes to stream's agent reports on nc and returns once
// the server has the subscription.
func WatchAgents(nc *nats.Conn, stream string) (*AgentWatch, error) {
	w := &AgentWatch{now: time.Now, seen: map[string]AgentSeen{}, changed: make(chan struct{})}
	sub, err := nc.Subscribe(jwtrevoke.StatusSubjects(stream), w.handle)
	if err != nil {
		return nil, fmt.Errorf("jwtrevoke/publisher: watching agents: %w", err)
	}
	if err := nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("jwtrevoke/publisher: watching agents: %w", err)
	}
	if err := nc.LastError(); err != nil && errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), jwtrevoke.StatusSubjectRoot) {
		sub.Unsubscribe()
		return nil, fmt.Errorf("jwtrevoke/publisher: watching agents: %w", err)
	}
	w.sub = sub
	return w, nil
}

func (w *AgentWatch) handle(m *nats.Msg) {
	st, err := jwtrevoke.DecodeStatus(m.Subject, m.Data)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.bad++
		return
	}
	now := w.now()
	if _, ok := w.seen[st.Agent]; !ok && len(w.seen) >= maxWatchedAgents {
		w.forgetLocked(now)
		if len(w.seen) >= maxWatchedAgents {
			w.bad++
			return
		}
	}
	if old, ok := w.seen[st.Agent]; ok && old.Applied > st.Applied {
		st.Applied = old.Applied // reports may cross; applied never goes back
	}
	w.seen[st.Agent] = AgentSeen{AgentStatus: st, Heard: now}
	close(w.changed)
	w.changed = make(chan struct{})
}

// forgetLocked drops the agents no longer live.
func (w *AgentWatch) forgetLocked(now time.Time) {
	for id, s := range w.seen {
		if !s.Live(now) {
			delete(w.seen, id)
		}
	}
}

// Agents returns the live agents, by name and ID.
func (w *AgentWatch) Agents() []AgentSeen {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	w.forgetLocked(now)
	out := make([]AgentSeen, 0, len(w.seen))
	for _, s := range w.seen {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Agent < out[j].Agent
	})
	return out
}

// Refused is the number of reports refused as malformed (or past the
// number of agents remembered).
func (w *AgentWatch) Refused() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bad
}

// applied counts the live agents that have applied seq.
func (w *AgentWatch) appliedLocked(seq uint64, now time.Time) int {
	n := 0
	for _, s := range w.seen {
		if s.Applied >= seq && s.Live(now) {
			n++
		}
	}
	return n
}

// WaitApplied waits until n live agents have reported applying seq, or
// ctx ends, and returns how many had.
func (w *AgentWatch) WaitApplied(ctx context.Context, seq uint64, n int) (int, error) {
	for {
		w.mu.Lock()
		got := w.appliedLocked(seq, w.now())
		ch := w.changed
		w.mu.Unlock()
		if got >= n {
			return got, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return got, ctx.Err()
		}
	}
}

// Close ends the subscription.
func (w *AgentWatch) Close() error { return w.sub.Unsubscribe() }

// AgentReport is one live agent as `jwtrevoke status` and serve's
// /admin/agents show it.
type AgentReport struct {
	ID          string    `json:"id"`
	Name        string    `json:"name,omitempty"`
	Applied     uint64    `json:"applied"`
	Lag         uint64    `json:"lag"` // stream sequences behind lastSeq
	Ready       bool      `json:"ready"`
	Stale       bool      `json:"stale"`
	StalenessMS int64     `json:"staleness_ms"`
	Heard       time.Time `json:"heard"`
}

// Report is s as an AgentReport, its lag counted from lastSeq.
func (s AgentSeen) Report(lastSeq uint64) AgentReport {
	var lag uint64
	if lastSeq > s.Applied {
		lag = lastSeq - s.Applied
	}
	return AgentReport{ID: s.Agent, Name: s.Name, Applied: s.Applied, Lag: lag, Ready: s.Ready, Stale: s.Stale,
		StalenessMS: s.StalenessMS, Heard: s.Heard.UTC()}
}
