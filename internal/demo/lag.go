package demo

import (
	"slices"
	"sync"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
)

// lagTracker measures propagation lag (event issued → applied here) of the
// events published after the replica started, from the agent's OnApply
// hook. It keeps the last lagWindow samples for percentiles. It is safe
// for use by multiple goroutines.
type lagTracker struct {
	started time.Time

	mu      sync.Mutex // guards the fields below
	applied uint64
	samples [lagWindow]time.Duration
	n       int // samples taken in all
	last    time.Duration
}

const lagWindow = 512

func newLagTracker(started time.Time) *lagTracker { return &lagTracker{started: started} }

// observe is the agent's OnApply hook: quick, no I/O.
func (l *lagTracker) observe(r jwtrevoke.Revocation, _ uint64) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.applied++
	if r.Issued.Before(l.started) {
		return // replayed from before this replica started: not propagation
	}
	d := max(now.Sub(r.Issued), 0)
	l.samples[l.n%lagWindow] = d
	l.n++
	l.last = d
}

// snapshot returns the events applied, the last lag and the 50th and 99th
// percentiles of the recent lags (zero without samples).
func (l *lagTracker) snapshot() (applied uint64, last, p50, p99 time.Duration, samples int) {
	l.mu.Lock()
	applied, last = l.applied, l.last
	s := slices.Clone(l.samples[:min(l.n, lagWindow)])
	l.mu.Unlock()
	if len(s) == 0 {
		return applied, 0, 0, 0, 0
	}
	slices.Sort(s)
	return applied, last, lagPercentile(s, 0.50), lagPercentile(s, 0.99), len(s)
}

// recent returns the last n lags, oldest first.
func (l *lagTracker) recent(n int) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := min(n, l.n, lagWindow)
	out := make([]time.Duration, k)
	for i := range k {
		out[i] = l.samples[(l.n-k+i)%lagWindow]
	}
	return out
}

// percentile of sorted samples, nearest rank.
func lagPercentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// millis is a duration in milliseconds with microsecond resolution, for JSON.
func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
