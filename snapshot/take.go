package snapshot

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
)

// Skew is how long past its expiry a revocation stays in a snapshot: the
// clock difference tolerated between the snapshotter and the agents that
// load it, so that an agent whose clock is behind never misses an event
// it would still have applied from the stream. An agent drops what has
// expired by its own clock as it loads.
const Skew = 5 * time.Minute

// Option configures Take and NewSnapshotter.
type Option func(*config) error

type config struct {
	stream   string
	bucket   string
	keys     jwtrevoke.KeySet
	signer   *jwtrevoke.Signer
	replicas int
	keep     int
	every    time.Duration
	clock    func() time.Time
	log      *slog.Logger
}

func newConfig(opts []Option) (config, error) {
	c := config{stream: jwtrevoke.DefaultStream, keep: 3, every: 5 * time.Minute, replicas: 1, clock: time.Now, log: slog.Default()}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return c, err
		}
	}
	if c.bucket == "" {
		c.bucket = Bucket(c.stream)
	}
	return c, nil
}

// WithStream names the revocation stream. The default is
// jwtrevoke.DefaultStream.
func WithStream(name string) Option {
	return func(c *config) error {
		if name == "" {
			return fmt.Errorf("%w: empty stream name", ErrBadOption)
		}
		c.stream = name
		return nil
	}
}

// WithBucket names the snapshot bucket. The default is Bucket(stream).
func WithBucket(name string) Option {
	return func(c *config) error {
		if name == "" {
			return fmt.Errorf("%w: empty bucket name", ErrBadOption)
		}
		c.bucket = name
		return nil
	}
}

// WithTrustedKeys makes the snapshot hold only events signed by one of
// keys, as agents that trust these keys apply. Give it whenever the agents
// have it.
func WithTrustedKeys(keys jwtrevoke.KeySet) Option {
	return func(c *config) error { c.keys = keys; return nil }
}

// WithSigner signs snapshots with an ed25519 key, which agents that trust
// signing keys require (one of their trusted keys).
func WithSigner(keyID string, key ed25519.PrivateKey) Option {
	return func(c *config) error {
		s := &jwtrevoke.Signer{KeyID: keyID, Key: key}
		if _, err := s.Sign(mustProbe()); err != nil {
			return fmt.Errorf("%w: signer: %w", ErrBadOption, err)
		}
		c.signer = s
		return nil
	}
}

func mustProbe() []byte {
	now := time.Now()
	b, _ := jwtrevoke.Revocation{Kind: jwtrevoke.KindAll, Before: now, Expires: now, Issued: now}.MarshalBinary()
	return b
}

// WithReplicas sets the bucket's replicas when it is created. The default
// is 1; give the stream's (3 on a cluster).
func WithReplicas(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 5 {
			return fmt.Errorf("%w: replicas %d", ErrBadOption, n)
		}
		c.replicas = n
		return nil
	}
}

// WithKeep keeps the newest n snapshots and deletes older ones after each
// write. The default is 3.
func WithKeep(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: keep %d", ErrBadOption, n)
		}
		c.keep = n
		return nil
	}
}

// WithInterval sets how often a Snapshotter writes a snapshot (when
// events arrived since the last). The default is 5 minutes.
func WithInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: interval %v", ErrBadOption, d)
		}
		c.every = d
		return nil
	}
}

// WithClock sets the clock events and expiries are judged by. The default
// is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrBadOption)
		}
		c.clock = now
		return nil
	}
}

// WithLogger sets the logger. The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	}
}

// follower replays and tails the stream into a Set.
type follower struct {
	cfg     config
	js      jetstream.JetStream
	stream  jetstream.Stream
	info    *jetstream.StreamInfo
	hdr     Header // Stream, Created and Contract; Seq is the last applied
	dec     jwtrevoke.Decoder
	set     *Set
	skipped int // events left out: expired, invalid, unsigned
}

func newFollower(ctx context.Context, js jetstream.JetStream, cfg config) (*follower, error) {
	st, err := js.Stream(ctx, cfg.stream)
	if err != nil {
		return nil, fmt.Errorf("jwtrevoke/snapshot: stream %q: %w", cfg.stream, err)
	}
	info := st.CachedInfo()
	contract, ok, err := jwtrevoke.ContractFromMetadata(info.Config.Metadata)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: stream %q has no contract in its metadata (made by hand or by an older publisher): agents' settings are unknown", ErrMismatch, cfg.stream)
	}
	dec := contract.Decoder(cfg.keys)
	// Events are judged Skew earlier than now, so that those expired up to
	// Skew ago stay; the lifetime bound grows by as much, so that the
	// upper limit stays where the agents' is.
	dec.MaxLifetime += Skew
	return &follower{cfg: cfg, js: js, stream: st, info: info, dec: dec, set: NewSet(),
		hdr: Header{Stream: info.Config.Name, Created: info.Created, Contract: contract}}, nil
}

// apply merges one stream message into the set.
func (f *follower) apply(seq uint64, data []byte) {
	f.hdr.Seq = seq
	r, _, err := f.dec.DecodeSigned(data, f.cfg.clock().Add(-Skew))
	if err != nil {
		f.skipped++
		return
	}
	f.set.Add(r)
}

// subjectFilter is the consumer's filter: none for a stream of revocations
// only (see jwtrevoke.ConsumerFilter).
func subjectFilter(f *follower) []string {
	return jwtrevoke.ConsumerFilter(f.info.Config.Subjects, f.hdr.Contract.SubjectPrefix)
}

// catchUp applies every event up to target with an ordered consumer.
func (f *follower) catchUp(ctx context.Context, target uint64) error {
	if target == 0 || f.hdr.Seq >= target {
		return nil
	}
	cons, err := f.js.OrderedConsumer(ctx, f.cfg.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjectFilter(f),
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    f.hdr.Seq + 1,
	})
	if err != nil {
		return fmt.Errorf("jwtrevoke/snapshot: consumer: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("jwtrevoke/snapshot: consumer: %w", err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for f.hdr.Seq < target {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("jwtrevoke/snapshot: replaying %q: %w", f.cfg.stream, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			continue
		}
		f.apply(meta.Sequence.Stream, m.Data())
	}
	return nil
}

// write expires the set and writes it as a snapshot at the last applied
// sequence, then prunes the bucket.
func (f *follower) write(ctx context.Context, store *Store) (Entry, error) {
	f.set.Expire(f.cfg.clock().Add(-Skew))
	h := f.hdr
	h.Taken = f.cfg.clock()
	e, err := store.Put(ctx, h, f.set, f.cfg.signer)
	if err != nil {
		return e, err
	}
	if err := store.Prune(ctx, f.cfg.keep); err != nil {
		f.cfg.log.Warn("pruning old snapshots", "bucket", f.cfg.bucket, "err", err)
	}
	f.cfg.log.Info("snapshot written", "bucket", f.cfg.bucket, "name", e.Name, "seq", e.Seq, "revocations", e.Count, "bytes", e.Size)
	return e, nil
}

// Take replays the stream up to its last sequence when Take starts and
// writes a snapshot of the live set at that sequence to the bucket
// (created if missing). A stream that holds no event is not snapshotted
// (ErrNoSnapshot).
func Take(ctx context.Context, js jetstream.JetStream, opts ...Option) (Entry, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return Entry{}, err
	}
	f, err := newFollower(ctx, js, cfg)
	if err != nil {
		return Entry{}, err
	}
	target := f.info.State.LastSeq
	if f.info.State.Msgs == 0 {
		return Entry{}, fmt.Errorf("%w: stream %q holds no event", ErrNoSnapshot, cfg.stream)
	}
	f.hdr.Seq = max(f.info.State.FirstSeq, 1) - 1
	if err := f.catchUp(ctx, target); err != nil {
		return Entry{}, err
	}
	store, err := Create(ctx, js, cfg.bucket, cfg.replicas)
	if err != nil {
		return Entry{}, err
	}
	return f.write(ctx, store)
}
