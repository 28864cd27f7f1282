package agent

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
)

// Reasons an event is rejected, as counted in Stats.Rejected.
const (
	reasonMalformed = "malformed"
	reasonVersion   = "unknown_version"
	reasonKind      = "unknown_kind"
	reasonTooLarge  = "too_large"
	reasonBounds    = "out_of_bounds"
	reasonSignature = "bad_signature"
	reasonUnsigned  = "unsigned"
	reasonKeyID     = "unknown_key_id"
)

var rejectReasons = [...]string{reasonMalformed, reasonVersion, reasonKind, reasonTooLarge, reasonBounds, reasonSignature, reasonUnsigned, reasonKeyID}

func rejectReason(err error) string {
	switch {
	case errors.Is(err, jwtrevoke.ErrUnknownVersion):
		return reasonVersion
	case errors.Is(err, jwtrevoke.ErrUnknownKind):
		return reasonKind
	case errors.Is(err, jwtrevoke.ErrTooLarge), errors.Is(err, jwtrevoke.ErrKeyTooLong), errors.Is(err, jwtrevoke.ErrFieldTooLong):
		return reasonTooLarge
	case errors.Is(err, jwtrevoke.ErrTooFarAhead), errors.Is(err, jwtrevoke.ErrTimes):
		return reasonBounds
	case errors.Is(err, jwtrevoke.ErrBadSignature):
		return reasonSignature
	case errors.Is(err, jwtrevoke.ErrUnsigned):
		return reasonUnsigned
	case errors.Is(err, jwtrevoke.ErrUnknownKeyID):
		return reasonKeyID
	}
	return reasonMalformed
}

// LagBuckets are the upper bounds of the propagation lag histogram
// (event issued → applied here).
var LagBuckets = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 5 * time.Second, 30 * time.Second,
}

// padded keeps a hot counter on its own cache line.
type padded struct {
	atomic.Uint64
	_ [56]byte
}

const checkStripes = 8

type counters struct {
	// checks by outcome, striped by a byte of the jti so concurrent
	// checks rarely touch the same cache line.
	checks [checkStripes][numOutcomes]padded

	applied, expired                     atomic.Uint64
	rejectedBy                           [len(rejectReasons)]atomic.Uint64
	settles, settleErrors                atomic.Uint64
	probeErrors, consumerErrors, rewinds atomic.Uint64
	consumerRestarts                     atomic.Uint64
	statusErrors                         atomic.Uint64
	snapshotLoads                        [numSnapshotOutcomes]atomic.Uint64
	lagBuckets                           [len(LagBuckets) + 1]atomic.Uint64
	lagSumNanos, lagCount, lagLast       atomic.Uint64
}

const (
	outcomeAllowed = iota
	outcomeRevoked
	outcomeUnknown
	outcomeStale
	numOutcomes
)

func (c *counters) count(t *jwtrevoke.Token, r Result) {
	o := outcomeAllowed
	switch {
	case r.Verdict == filter.Revoked:
		o = outcomeRevoked
	case r.Verdict == filter.Unknown:
		o = outcomeUnknown
	case r.Stale:
		o = outcomeStale
	}
	s := 0
	if n := len(t.JTI); n > 0 {
		s = int(t.JTI[n-1]) % checkStripes
	}
	c.checks[s][o].Add(1)
}

func (c *counters) rejected(reason string) {
	for i, r := range rejectReasons {
		if r == reason {
			c.rejectedBy[i].Add(1)
			return
		}
	}
}

func (c *counters) observeLag(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := 0
	for i < len(LagBuckets) && d > LagBuckets[i] {
		i++
	}
	c.lagBuckets[i].Add(1)
	c.lagSumNanos.Add(uint64(d))
	c.lagCount.Add(1)
	c.lagLast.Store(uint64(d))
}

// Stats is a snapshot of an agent's counters.
type Stats struct {
	Ready       bool
	Staleness   time.Duration
	LastApplied uint64
	// Checks by outcome: allowed (fresh, not revoked), revoked, unknown,
	// stale (includes not ready).
	ChecksAllowed, ChecksRevoked, ChecksUnknown, ChecksStale uint64
	// EventsApplied were added to the filter; EventsExpired had expired
	// when they arrived (normal during a replay); EventsRejected were
	// refused, by reason.
	EventsApplied, EventsExpired uint64
	EventsRejected               map[string]uint64
	// Settles counts Unknown verdicts sent to the stream; SettleErrors
	// those it could not answer in time.
	Settles, SettleErrors uint64
	// ProbeErrors and ConsumerErrors count failed server round trips;
	// Rewinds counts detections of a stream that lost applied events.
	ProbeErrors, ConsumerErrors, Rewinds uint64
	// ConsumerRestarts counts consumers restarted after making no
	// progress for a staleness bound while the stream had more events.
	ConsumerRestarts uint64
	// Lag is the propagation lag histogram: LagCounts[i] events took at
	// most LagBuckets[i] (the last count is the overflow).
	LagCounts       []uint64
	LagSum, LagLast time.Duration
	LagEvents       uint64
	// SnapshotLoads counts the snapshots tried at start by outcome
	// (SnapshotLoaded, SnapshotCorrupt, …); SnapshotSeq is the sequence of
	// the one loaded, 0 for a full replay.
	SnapshotLoads map[string]uint64
	SnapshotSeq   uint64
	Filter        filter.Stats
}

// Stats returns a snapshot. It includes the filter's stats, which cost a
// pass over its memory: call it for metrics, not per request.
func (a *Agent) Stats() Stats {
	c := &a.stats
	s := Stats{
		Ready:            a.Ready(),
		Staleness:        a.Staleness(),
		LastApplied:      a.applied.Load(),
		EventsApplied:    c.applied.Load(),
		EventsExpired:    c.expired.Load(),
		EventsRejected:   map[string]uint64{},
		SnapshotLoads:    map[string]uint64{},
		SnapshotSeq:      a.snapshotSeq,
		Settles:          c.settles.Load(),
		SettleErrors:     c.settleErrors.Load(),
		ProbeErrors:      c.probeErrors.Load(),
		ConsumerErrors:   c.consumerErrors.Load(),
		Rewinds:          c.rewinds.Load(),
		ConsumerRestarts: c.consumerRestarts.Load(),
		LagSum:           time.Duration(c.lagSumNanos.Load()),
		LagLast:          time.Duration(c.lagLast.Load()),
		LagEvents:        c.lagCount.Load(),
		Filter:           a.f.Stats(),
	}
	for i := range c.checks {
		s.ChecksAllowed += c.checks[i][outcomeAllowed].Load()
		s.ChecksRevoked += c.checks[i][outcomeRevoked].Load()
		s.ChecksUnknown += c.checks[i][outcomeUnknown].Load()
		s.ChecksStale += c.checks[i][outcomeStale].Load()
	}
	for i, r := range rejectReasons {
		s.EventsRejected[r] = c.rejectedBy[i].Load()
	}
	for i, o := range snapshotOutcomes {
		s.SnapshotLoads[o] = c.snapshotLoads[i].Load()
	}
	for i := range c.lagBuckets {
		s.LagCounts = append(s.LagCounts, c.lagBuckets[i].Load())
	}
	return s
}
