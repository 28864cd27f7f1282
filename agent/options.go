package agent

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
)

// Policy says what a check answers when the agent cannot be sure: when it
// is stale or not ready, or when an Unknown verdict cannot be settled.
type Policy uint8

const (
	// FailClosed refuses the token. A revoked token never gets through;
	// an outage of the revocation log refuses every token after the
	// staleness bound.
	FailClosed Policy = iota
	// FailOpen answers from memory: tokens revoked while the agent could
	// not hear the log get through until it hears it again.
	FailOpen
)

func (p Policy) String() string {
	if p == FailOpen {
		return "fail-open"
	}
	return "fail-closed"
}

// Option configures an Agent.
type Option func(*config) error

type config struct {
	stream        string
	prefix        string
	maxLifetime   time.Duration
	leeway        time.Duration // the publishers' expiry leeway, from the stream's contract
	set           struct{ prefix, maxLifetime bool }
	staleAfter    time.Duration
	probeInterval time.Duration
	settleTimeout time.Duration
	policy        Policy
	keys          jwtrevoke.KeySet
	filterOpts    []filter.Option
	clock         func() time.Time
	log           *slog.Logger
	onApply       func(r jwtrevoke.Revocation, seq uint64)
	// snapshotBucket is where snapshots are looked for; "" for none.
	snapshotBucket string
	snapshotSet    bool
	// statusEvery is the longest between status reports; 0: none.
	statusEvery time.Duration
	name        string
}

func defaultConfig() config {
	return config{
		stream:        jwtrevoke.DefaultStream,
		prefix:        jwtrevoke.DefaultSubjectPrefix,
		maxLifetime:   jwtrevoke.DefaultMaxTokenLifetime,
		leeway:        jwtrevoke.DefaultLeeway,
		staleAfter:    5 * time.Second,
		settleTimeout: 250 * time.Millisecond,
		policy:        FailClosed,
		statusEvery:   time.Second,
		clock:         time.Now,
		log:           slog.New(slog.DiscardHandler),
	}
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

// WithSubjectPrefix sets the subject prefix of revocation events. It is
// part of the stream's contract: New refuses a value the stream's contract
// contradicts (jwtrevoke.ErrContract). The default is the stream's
// contract, or jwtrevoke.DefaultSubjectPrefix for a stream without one.
func WithSubjectPrefix(p string) Option {
	return func(c *config) error {
		if p == "" {
			return fmt.Errorf("%w: empty subject prefix", ErrBadOption)
		}
		c.prefix, c.set.prefix = p, true
		return nil
	}
}

// WithMaxTokenLifetime sets the longest token lifetime, as configured on
// the publisher. Events that claim to be remembered longer (plus leeway
// and jwtrevoke.RetentionMargin) are refused. It is part of the stream's
// contract, which the publisher that created the stream wrote into it: New
// refuses a value the contract contradicts (jwtrevoke.ErrContract), so no
// agent drops valid revocations because it assumed a shorter lifetime.
// The default is the stream's contract, or 24 hours for a stream without
// one.
func WithMaxTokenLifetime(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second {
			return fmt.Errorf("%w: max token lifetime %v", ErrBadOption, d)
		}
		c.maxLifetime, c.set.maxLifetime = d, true
		return nil
	}
}

// WithStaleness sets how long the agent may go without hearing from the
// server, with nothing pending, before its answers count as stale. The
// agent probes the server five times per bound. The default is 5 seconds.
func WithStaleness(bound time.Duration) Option {
	return func(c *config) error {
		if bound < 10*time.Millisecond {
			return fmt.Errorf("%w: staleness bound %v", ErrBadOption, bound)
		}
		c.staleAfter = bound
		return nil
	}
}

// WithPolicy sets what happens when the agent cannot be sure. The default
// is FailClosed.
func WithPolicy(p Policy) Option {
	return func(c *config) error {
		if p != FailClosed && p != FailOpen {
			return fmt.Errorf("%w: policy %d", ErrBadOption, p)
		}
		c.policy = p
		return nil
	}
}

// WithTrustedKeys requires every event to be signed by one of these
// ed25519 public keys (by key ID). Unsigned events, unknown key IDs and bad
// signatures are counted and skipped. The default accepts unsigned events.
func WithTrustedKeys(keys jwtrevoke.KeySet) Option {
	return func(c *config) error {
		if len(keys) == 0 {
			return fmt.Errorf("%w: empty key set", ErrBadOption)
		}
		c.keys = keys
		return nil
	}
}

// WithMemoryBudget bounds the filter's memory; see filter.WithMemoryBudget.
// The default is 64 MiB.
func WithMemoryBudget(bytes int64) Option {
	return func(c *config) error {
		c.filterOpts = append(c.filterOpts, filter.WithMemoryBudget(bytes))
		return nil
	}
}

// WithFalsePositiveRate sets the Bloom prefilter's target false-positive
// rate (see filter.WithFalsePositiveRate): a false positive costs one exact
// lookup, never a wrong answer. The filter's token lifetime and clock are
// always the agent's. The default is the filter's.
func WithFalsePositiveRate(p float64) Option {
	return func(c *config) error {
		c.filterOpts = append(c.filterOpts, filter.WithFalsePositiveRate(p))
		return nil
	}
}

// WithSettleTimeout bounds the stream lookup that settles an Unknown
// verdict. The default is 250 ms.
func WithSettleTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: settle timeout %v", ErrBadOption, d)
		}
		c.settleTimeout = d
		return nil
	}
}

// WithClock sets the clock for expiry and staleness. The default is
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrBadOption)
		}
		c.clock = now
		return nil
	}
}

// WithLogger sets the logger. Raw tokens are never logged. The default
// discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	}
}

// WithOnApply calls fn after each revocation is applied, with its stream
// sequence, on the goroutine that applies events: fn must return quickly
// (hand the work to a channel if it may block). For audit logs, live
// dashboards and tests that wait for an event. The default is none.
func WithOnApply(fn func(r jwtrevoke.Revocation, seq uint64)) Option {
	return func(c *config) error {
		c.onApply = fn
		return nil
	}
}

// WithSnapshots names the Object Store bucket the agent starts from: the
// newest valid snapshot there fills the filter, and the replay starts
// after its sequence (see package snapshot). A snapshot that is corrupt,
// unsigned where WithTrustedKeys requires signatures, of another stream
// or incarnation, or that the stream cannot continue is refused, logged
// and counted, and the agent replays the whole stream. "" starts every
// agent with a full replay. The default is snapshot.Bucket(stream); a
// missing bucket means a full replay.
func WithSnapshots(bucket string) Option {
	return func(c *config) error {
		c.snapshotBucket, c.snapshotSet = bucket, true
		return nil
	}
}

// WithStatus sets how often, at the longest, the agent reports its applied
// sequence on jwtrevoke.StatusSubject (it reports at once when ready, and
// once caught up with an event that carries jwtrevoke.ConfirmHeader, which
// publisher.Confirm sets), so that publishers can confirm revocations and
// `jwtrevoke status` can list it. The default is a second; 0 turns reporting off. The
// NATS user needs publish permission on the status subjects (deploy/nats's
// agent user has it); a denied report is logged, and costs nothing else.
func WithStatus(every time.Duration) Option {
	return func(c *config) error {
		if every < 0 || every > 0 && every < 10*time.Millisecond {
			return fmt.Errorf("%w: status interval %v: want 0 (off) or at least 10ms", ErrBadOption, every)
		}
		c.statusEvery = every
		return nil
	}
}

// WithName names the agent in its status reports (a pod or host name). The
// default is the host name.
func WithName(name string) Option {
	return func(c *config) error {
		if len(name) > 128 {
			return fmt.Errorf("%w: name of %d bytes: at most 128", ErrBadOption, len(name))
		}
		c.name = name
		return nil
	}
}
