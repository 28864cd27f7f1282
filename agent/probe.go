package agent

// Freshness: the prober asks the server for the stream's state, marks the
// agent fresh, detects a rewound stream and restarts a stalled consumer.

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// probe is a server answer: at sent, the stream's last sequence was last.
type probe struct {
	sent int64
	last uint64
}

// fresh records that every event stored before t is applied.
func (a *Agent) fresh(t int64) {
	if a.mirror.Load() {
		t = min(t, a.originAsOf.Load())
	}
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
	a.observeMirror(info, sent)
	st := info.State
	a.mu.Lock()
	recreated := !a.created.IsZero() && !info.Created.Equal(a.created)
	a.created = info.Created
	a.subjects = info.Config.Subjects
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

// observeMirror notes, for a stream fed from others (a mirror, such as a
// region's copy of the hub's stream, or a stream with sources), when it
// last held every event of its origins: at the probe's time less the time
// since it last heard the origin it heard longest ago, if every origin
// reported no lag and no error then. A stream cut off from an origin
// stops moving that time, and the agent goes stale after its bound
// however well it hears the stream.
func (a *Agent) observeMirror(info *jetstream.StreamInfo, sent int64) {
	origins := info.Sources
	if info.Mirror != nil {
		origins = append([]*jetstream.StreamSourceInfo{info.Mirror}, origins...)
	}
	if len(origins) == 0 {
		a.mirror.Store(false)
		return
	}
	if !a.mirror.Swap(true) {
		kind := "a mirror"
		if info.Mirror == nil {
			kind = "fed by sources"
		}
		a.cfg.log.Info("revocation stream is "+kind+": fresh only as far as its origins are", "stream", a.cfg.stream, "origin", origins[0].Name, "origins", len(origins))
	}
	asOf := sent
	for _, m := range origins {
		if m == nil || m.Error != nil || m.Active < 0 || m.Lag > 0 {
			return
		}
		asOf = min(asOf, sent-int64(m.Active))
	}
	for {
		old := a.originAsOf.Load()
		if asOf <= old || a.originAsOf.CompareAndSwap(old, asOf) {
			return
		}
	}
}
