package agent

// Cold start from a snapshot: the newest valid snapshot of the stream's
// bucket fills the filter, and the consumer starts after its sequence.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/snapshot"
)

// Outcomes of trying a snapshot, as counted by the
// jwtrevoke_snapshot_loads_total metric and Stats.SnapshotLoads.
const (
	SnapshotLoaded       = "loaded"       // the agent started from it
	SnapshotNone         = "none"         // no bucket, or no snapshot in it
	SnapshotCorrupt      = "corrupt"      // damaged, truncated, unknown version, or unreadable
	SnapshotUnsigned     = "unsigned"     // not signed, or not by a trusted key, where signatures are required
	SnapshotOtherStream  = "other_stream" // of another stream, another incarnation of it, or another contract
	SnapshotIncomplete   = "incomplete"   // the stream no longer holds every event after it
	SnapshotAhead        = "ahead"        // past the stream's last sequence: the stream was rewound
	SnapshotUnavailable  = "unavailable"  // the bucket could not be listed or read in time
	numSnapshotOutcomes  = 8
	snapshotReadAttempts = 3 // snapshots tried, newest first, before a full replay
)

// snapshotLookupTimeout bounds finding and listing the bucket: milliseconds
// when it answers, and a full replay when it does not.
const snapshotLookupTimeout = 5 * time.Second

var snapshotOutcomes = [numSnapshotOutcomes]string{SnapshotLoaded, SnapshotNone, SnapshotCorrupt, SnapshotUnsigned,
	SnapshotOtherStream, SnapshotIncomplete, SnapshotAhead, SnapshotUnavailable}

func (c *counters) snapshot(outcome string) {
	for i, o := range snapshotOutcomes {
		if o == outcome {
			c.snapshotLoads[i].Add(1)
		}
	}
}

// loadSnapshot fills a new filter from the newest valid snapshot and
// returns it with the snapshot's sequence, or (nil, 0) for a full replay.
// Every snapshot refused is logged with why and counted.
func (a *Agent) loadSnapshot(ctx context.Context, info *jetstream.StreamInfo, contract jwtrevoke.Contract, newFilter func() (*filter.Filter, error)) (*filter.Filter, uint64) {
	if a.cfg.snapshotBucket == "" {
		return nil, 0
	}
	// The lookup is bounded on its own: a user without the bucket's
	// permissions gets no answer at all (the server reports the violation
	// asynchronously), and that must cost a replica a few seconds, not its
	// start.
	lctx, cancel := context.WithTimeout(ctx, snapshotLookupTimeout)
	defer cancel()
	store, err := snapshot.Open(lctx, a.js, a.cfg.snapshotBucket)
	if errors.Is(err, snapshot.ErrNoSnapshot) {
		a.stats.snapshot(SnapshotNone)
		a.cfg.log.Debug("no snapshot bucket: replaying the whole stream", "bucket", a.cfg.snapshotBucket)
		return nil, 0
	}
	var entries []snapshot.Entry
	if err == nil {
		entries, err = store.List(lctx)
	}
	if err != nil {
		a.stats.snapshot(SnapshotUnavailable)
		a.cfg.log.Warn("snapshots unavailable: replaying the whole stream", "bucket", a.cfg.snapshotBucket, "err", err)
		return nil, 0
	}
	if len(entries) == 0 {
		a.stats.snapshot(SnapshotNone)
		return nil, 0
	}
	for _, e := range entries[:min(len(entries), snapshotReadAttempts)] {
		f, err := newFilter()
		if err != nil {
			return nil, 0
		}
		start := time.Now()
		outcome, err := a.readSnapshot(ctx, store, e, info, contract, f)
		a.stats.snapshot(outcome)
		if err == nil {
			a.cfg.log.Info("agent loaded a snapshot", "bucket", a.cfg.snapshotBucket, "seq", e.Seq, "revocations", e.Count, "took", time.Since(start).Round(time.Millisecond))
			return f, e.Seq
		}
		a.cfg.log.Warn("snapshot refused", "bucket", a.cfg.snapshotBucket, "name", e.Name, "why", outcome, "err", err)
	}
	a.cfg.log.Warn("no valid snapshot: replaying the whole stream", "bucket", a.cfg.snapshotBucket)
	return nil, 0
}

// readSnapshot checks e against the stream and reads it into f.
func (a *Agent) readSnapshot(ctx context.Context, store *snapshot.Store, e snapshot.Entry, info *jetstream.StreamInfo, contract jwtrevoke.Contract, f *filter.Filter) (string, error) {
	st := info.State
	switch {
	case e.Seq > st.LastSeq:
		return SnapshotAhead, fmt.Errorf("%w: snapshot at sequence %d, stream's last is %d", snapshot.ErrMismatch, e.Seq, st.LastSeq)
	case e.Seq+1 < st.FirstSeq:
		return SnapshotIncomplete, fmt.Errorf("%w: snapshot at sequence %d, stream's first is %d: events in between are gone", snapshot.ErrMismatch, e.Seq, st.FirstSeq)
	}
	check := func(h snapshot.Header) error {
		switch {
		case h.Stream != info.Config.Name || !h.Created.Equal(info.Created):
			return fmt.Errorf("%w: snapshot of stream %q created %s, this is %q created %s", snapshot.ErrMismatch,
				h.Stream, h.Created.Format(time.RFC3339Nano), info.Config.Name, info.Created.UTC().Format(time.RFC3339Nano))
		case h.Contract != contract:
			return fmt.Errorf("%w: snapshot under contract %+v, the stream's is %+v", snapshot.ErrMismatch, h.Contract, contract)
		}
		return nil
	}
	f.Expect(int64(e.Count) + int64(st.LastSeq-e.Seq))
	err := a.fillFromSnapshot(ctx, store, e, check, f)
	switch {
	case err == nil:
		return SnapshotLoaded, nil
	case errors.Is(err, jwtrevoke.ErrUnsigned), errors.Is(err, jwtrevoke.ErrUnknownKeyID), errors.Is(err, jwtrevoke.ErrBadSignature):
		return SnapshotUnsigned, err
	case errors.Is(err, snapshot.ErrMismatch):
		return SnapshotOtherStream, err
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, nats.ErrConnectionClosed):
		return SnapshotUnavailable, err
	}
	return SnapshotCorrupt, err
}

// snapshotBatch is how many records the reader hands the filter at once.
const snapshotBatch = 4096

// fillFromSnapshot reads e into f, reading and decoding on one goroutine
// while this one adds to the filter, so that the two costs overlap. A
// record that has expired by this agent's clock, or lies too far ahead, is
// skipped, as the replay would skip its events. The filter holds the
// snapshot only if it returns nil.
func (a *Agent) fillFromSnapshot(ctx context.Context, store *snapshot.Store, e snapshot.Entry, check func(snapshot.Header) error, f *filter.Filter) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Batches go back to the reader once added (the filter keeps no
	// revocation), so a load of millions allocates a few batches, not one
	// per 4,096 records: the garbage collector's work was most of a load.
	batches := make(chan []jwtrevoke.Revocation, 4)
	spare := make(chan []jwtrevoke.Revocation, 6)
	read := make(chan error, 1)
	go func() {
		defer close(batches)
		next := func() []jwtrevoke.Revocation {
			select {
			case b := <-spare:
				return b[:0]
			default:
				return make([]jwtrevoke.Revocation, 0, snapshotBatch)
			}
		}
		b := next()
		_, err := store.Read(ctx, e, a.cfg.keys, check, func(r jwtrevoke.Revocation) error {
			if b = append(b, r); len(b) < snapshotBatch {
				return nil
			}
			select {
			case batches <- b:
				b = next()
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err == nil && len(b) > 0 {
			batches <- b
		}
		read <- err
	}()
	now := a.cfg.clock()
	limit := now.Add(a.dec.MaxLifetime + jwtrevoke.DefaultMaxSkew)
	// Records are of distinct keys, so the filter is told how many are
	// still to come and does not make exact the entries its budget could
	// not keep past them (filter.AddBatchAt).
	var addErr error
	left := int(min(e.Count, uint64(math.MaxInt)))
	for b := range batches {
		left -= len(b)
		if addErr != nil {
			continue
		}
		keep := b[:0]
		for _, r := range b {
			if r.Expires.After(now) && !r.Expires.After(limit) {
				keep = append(keep, r)
			}
		}
		if addErr = f.AddBatchAt(keep, now, left); addErr != nil {
			addErr = fmt.Errorf("%w: %w", snapshot.ErrCorrupt, addErr)
			cancel()
		}
		clear(b) // drop the keys before the batch is reused
		select {
		case spare <- b:
		default:
		}
	}
	if err := <-read; addErr == nil {
		return err
	}
	return addErr
}
