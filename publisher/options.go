package publisher

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
)

// Option configures a Publisher.
type Option func(*config) error

type config struct {
	stream      string
	prefix      string
	maxLifetime time.Duration
	leeway      time.Duration
	set         contractSet // which of the contract's options were given
	replicas    int
	create      bool
	domain      string
	signer      *jwtrevoke.Signer
	actor       string
	attempts    int
	timeout     time.Duration
	clock       func() time.Time
	log         *slog.Logger
}

func defaultConfig() config {
	return config{
		stream:      jwtrevoke.DefaultStream,
		prefix:      jwtrevoke.DefaultSubjectPrefix,
		maxLifetime: jwtrevoke.DefaultMaxTokenLifetime,
		leeway:      jwtrevoke.DefaultLeeway,
		replicas:    1,
		create:      true,
		attempts:    8,
		timeout:     2 * time.Second,
		clock:       time.Now,
		log:         slog.New(slog.DiscardHandler),
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

// WithSubjectPrefix sets the subject prefix of revocation events. Part of
// the stream's contract, as WithMaxTokenLifetime. The default is the
// stream's contract, or jwtrevoke.DefaultSubjectPrefix ("jwtrevoke.v1")
// for a new stream.
func WithSubjectPrefix(p string) Option {
	return func(c *config) error {
		if p == "" {
			return fmt.Errorf("%w: empty subject prefix", ErrBadOption)
		}
		c.prefix, c.set.prefix = p, true
		return nil
	}
}

// WithMaxTokenLifetime sets the longest lifetime of a token the issuers
// mint. Subject, session, key and all revocations are kept this long after
// their cut-off, and the stream's MaxAge is this plus the leeway. It is part
// of the stream's contract: a publisher that creates the stream writes it
// there, and agents read it; on an existing stream whose contract says
// otherwise, New refuses it (ErrContract). The default is the stream's
// contract, or 24 hours for a new stream.
func WithMaxTokenLifetime(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second {
			return fmt.Errorf("%w: max token lifetime %v", ErrBadOption, d)
		}
		c.maxLifetime, c.set.maxLifetime = d, true
		return nil
	}
}

// WithLeeway sets the clock leeway added to every expiry (the verifiers'
// exp leeway). Part of the stream's contract, as WithMaxTokenLifetime. The
// default is the stream's contract, or one minute for a new stream.
func WithLeeway(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("%w: negative leeway", ErrBadOption)
		}
		c.leeway, c.set.leeway = d, true
		return nil
	}
}

// WithReplicas sets the stream's replica count when the publisher creates
// it: 3 on a production cluster. The default is 1.
func WithReplicas(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 5 {
			return fmt.Errorf("%w: replicas %d outside 1..5", ErrBadOption, n)
		}
		c.replicas = n
		return nil
	}
}

// WithCreateStream says whether New may create the stream when it does not
// exist. With false, New only checks an existing stream (for publishers
// whose credentials may not manage streams). The default is true.
func WithCreateStream(create bool) Option {
	return func(c *config) error { c.create = create; return nil }
}

// WithDomain writes to the revocation stream of JetStream domain domain
// rather than that of the server nc is connected to: a publisher in a
// region, connected to the region's leaf node, writes to the hub with
// WithDomain("hub") (see package region). Events and their acks take the
// leaf node's link; the stream is looked up, created and read (a key's
// latest event) at the hub; New waits for a leaf node's link to the hub
// that is not up yet until ctx ends (10 s when ctx has no deadline). The
// default is the connected server's domain.
func WithDomain(domain string) Option {
	return func(c *config) error {
		if strings.ContainsAny(domain, ".*> \t\r\n") {
			return fmt.Errorf("%w: JetStream domain %q", ErrBadOption, domain)
		}
		c.domain = domain
		return nil
	}
}

// WithSigner signs every event with an ed25519 key; agents that trust
// the key ID verify it. The default is unsigned events.
func WithSigner(keyID string, key ed25519.PrivateKey) Option {
	return func(c *config) error {
		s := &jwtrevoke.Signer{KeyID: keyID, Key: key}
		now := time.Now()
		probe, err := jwtrevoke.Revocation{Kind: jwtrevoke.KindAll, Before: now, Expires: now, Issued: now}.MarshalBinary()
		if err == nil {
			_, err = s.Sign(probe)
		}
		if err != nil {
			return fmt.Errorf("%w: signer: %w", ErrBadOption, err)
		}
		c.signer = s
		return nil
	}
}

// WithActor sets the default Actor recorded in events, such as the
// service's name. The default is empty.
func WithActor(actor string) Option {
	return func(c *config) error {
		if len(actor) > jwtrevoke.MaxActorLen {
			return fmt.Errorf("%w: actor longer than %d bytes", ErrBadOption, jwtrevoke.MaxActorLen)
		}
		c.actor = actor
		return nil
	}
}

// WithRetry sets how many times a publish is attempted and how long each
// attempt waits for its acknowledgement. Retries back off from 20 ms to 1 s
// and go on, past the attempts, until attempts × perAttempt has passed (so
// failures that return at once, as during a leader election, do not use up
// the budget in a moment); they stop early when the context ends. The
// default is 8 attempts of 2 s.
func WithRetry(attempts int, perAttempt time.Duration) Option {
	return func(c *config) error {
		if attempts < 1 || perAttempt <= 0 {
			return fmt.Errorf("%w: retry %d × %v", ErrBadOption, attempts, perAttempt)
		}
		c.attempts, c.timeout = attempts, perAttempt
		return nil
	}
}

// WithClock sets the clock used for cut-offs and expiries. The default is
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

// WithLogger sets the logger. Tokens are never logged; keys are. The
// default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	}
}
