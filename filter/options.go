package filter

import (
	"fmt"
	"time"
)

// Option configures a Filter.
type Option func(*config) error

type config struct {
	budget      int64
	fpRate      float64
	maxLifetime time.Duration
	genWidth    time.Duration
	grace       time.Duration
	clock       func() time.Time
	noCompact   bool // tests: the generations alone, to compare against
}

func defaultConfig() config {
	return config{
		budget:      64 << 20,
		fpRate:      1e-6,
		maxLifetime: 24 * time.Hour,
		grace:       5 * time.Minute,
		clock:       time.Now,
	}
}

// WithMemoryBudget sets how many bytes the Bloom filters and exact entries
// may use together. Past it, the LRU evicts exact entries and checks that hit
// an evicted entry's Bloom bits answer Unknown. The default is 64 MiB; the
// minimum is 1 MiB.
func WithMemoryBudget(bytes int64) Option {
	return func(c *config) error {
		if bytes < 1<<20 {
			return fmt.Errorf("%w: memory budget %d bytes is below 1 MiB", ErrBadOption, bytes)
		}
		c.budget = bytes
		return nil
	}
}

// WithFalsePositiveRate sets the Bloom false-positive target for one key
// lookup, summed over all generations. A false positive costs one LRU lookup
// and, once entries have been evicted, an Unknown verdict. The default is 1e-6.
func WithFalsePositiveRate(p float64) Option {
	return func(c *config) error {
		if !(p > 0 && p < 0.1) {
			return fmt.Errorf("%w: false-positive rate %v outside (0, 0.1)", ErrBadOption, p)
		}
		c.fpRate = p
		return nil
	}
}

// WithMaxTokenLifetime sets the longest lifetime of a token the filter will
// see. It sizes the expiry generations and the lifetime of cached "not
// revoked" settlements. The default is 24 hours.
func WithMaxTokenLifetime(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second {
			return fmt.Errorf("%w: max token lifetime %v below one second", ErrBadOption, d)
		}
		c.maxLifetime = d
		return nil
	}
}

// WithGenerationWidth sets the window of expiry times that share one
// generation of Bloom filters. Narrow windows drop expired entries sooner;
// wide ones mean fewer filters to probe per check. The default is half the
// max token lifetime (at least one second), so a check probes three
// generations.
func WithGenerationWidth(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second {
			return fmt.Errorf("%w: generation width %v below one second", ErrBadOption, d)
		}
		c.genWidth = d
		return nil
	}
}

// WithGrace keeps every entry this long past its Expires, so that a clock
// behind the issuer's by up to this much never forgets a revocation while the
// token it names is still accepted. The default is 5 minutes.
func WithGrace(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("%w: negative grace %v", ErrBadOption, d)
		}
		c.grace = d
		return nil
	}
}

// WithClock sets the clock used by Check and Add (the ...At variants take
// the time explicitly). The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrBadOption)
		}
		c.clock = now
		return nil
	}
}
