package snapshot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Snapshotter tails the stream into its live set and writes a snapshot
// every interval (WithInterval) in which events arrived: the long-running
// form of Take, as `jwtrevoke serve` runs it. A recreated stream (another
// incarnation) is followed from its start again. Two snapshotters on one
// bucket are safe: each writes whole snapshots, and one of the same
// sequence replaces the other's. A Snapshotter is safe for use by multiple
// goroutines.
type Snapshotter struct {
	cfg    config
	js     jetstream.JetStream
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex // guards last and err
	last Entry
	err  error
}

// NewSnapshotter starts a snapshotter: it replays the stream, writes a
// first snapshot, and then keeps tailing. It returns at once; Close stops
// it.
func NewSnapshotter(js jetstream.JetStream, opts ...Option) (*Snapshotter, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Snapshotter{cfg: cfg, js: js, cancel: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s, nil
}

// Last returns the last snapshot written and the last error, if the most
// recent attempt failed.
func (s *Snapshotter) Last() (Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.err
}

// Close stops the snapshotter and waits for it; a snapshot being written
// is abandoned (the Object Store keeps no partial object).
func (s *Snapshotter) Close() error {
	s.cancel()
	<-s.done
	return nil
}

func (s *Snapshotter) record(e Entry, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.last = e
	}
	s.err = err
}

// run follows one incarnation of the stream after another until ctx ends,
// waiting out failures (no stream yet, no server) with a bounded backoff.
func (s *Snapshotter) run(ctx context.Context) {
	defer close(s.done)
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.record(Entry{}, err)
			s.cfg.log.Warn("snapshotter", "stream", s.cfg.stream, "err", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, s.cfg.every)
	}
}

// errRecreated ends follow when the stream is another incarnation.
var errRecreated = errors.New("jwtrevoke/snapshot: the stream was recreated")

// follow replays the stream, writes a snapshot, and tails it, writing
// again every interval with new events, until ctx ends, the stream is
// recreated or an error.
func (s *Snapshotter) follow(ctx context.Context) error {
	f, err := newFollower(ctx, s.js, s.cfg)
	if err != nil {
		return err
	}
	f.hdr.Seq = max(f.info.State.FirstSeq, 1) - 1
	if err := f.catchUp(ctx, f.info.State.LastSeq); err != nil {
		return err
	}
	store, err := Create(ctx, s.js, s.cfg.bucket, s.cfg.replicas)
	if err != nil {
		return err
	}
	written := uint64(0)
	write := func() error {
		if f.hdr.Seq == 0 || f.hdr.Seq == written {
			return nil
		}
		info, err := f.stream.Info(ctx)
		if err != nil {
			return err
		}
		if !info.Created.Equal(f.hdr.Created) {
			return errRecreated
		}
		e, err := f.write(ctx, store)
		s.record(e, err)
		if err == nil {
			written = e.Seq
		}
		return err
	}
	if err := write(); err != nil {
		return err
	}
	return s.tail(ctx, f, write)
}

// tailHeartbeat is the tail's consumer heartbeat: a tail that hears
// nothing for two of them (a pull the server no longer holds) is reset by
// nats.go's ordered consumer instead of waiting forever.
const tailHeartbeat = 5 * time.Second

// tail applies new events and calls write every interval. The consumer is
// read in a goroutine with no deadline of its own, so that nats.go's
// missed-heartbeat check runs all along (a Next cut short every interval,
// as before, never lasted long enough to miss one, and a pull the server
// no longer held would have gone unnoticed); events are applied here.
func (s *Snapshotter) tail(ctx context.Context, f *follower, write func() error) error {
	cons, err := f.js.OrderedConsumer(ctx, s.cfg.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjectFilter(f),
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    f.hdr.Seq + 1,
	})
	if err != nil {
		return fmt.Errorf("jwtrevoke/snapshot: consumer: %w", err)
	}
	it, err := cons.Messages(jetstream.PullHeartbeat(tailHeartbeat), jetstream.PullExpiry(3*tailHeartbeat))
	if err != nil {
		return fmt.Errorf("jwtrevoke/snapshot: consumer: %w", err)
	}
	defer it.Stop() // after done is closed: ends the reader's Next
	type delivery struct {
		m   jetstream.Msg
		err error
	}
	deliveries, done := make(chan delivery), make(chan struct{})
	defer close(done)
	go func() {
		for {
			m, err := it.Next()
			select {
			case deliveries <- delivery{m, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(s.cfg.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case d := <-deliveries:
			if d.err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("jwtrevoke/snapshot: tailing %q: %w", s.cfg.stream, d.err)
			}
			if meta, err := d.m.Metadata(); err == nil {
				f.apply(meta.Sequence.Stream, d.m.Data())
			}
		case <-tick.C:
			if err := write(); err != nil {
				return err
			}
		}
	}
}
