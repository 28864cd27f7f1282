package verify

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrBadOption is returned for an invalid option or argument.
var ErrBadOption = errors.New("jwtrevoke/verify: bad option")

// Option configures New and Middleware.
type Option func(*config) error

type config struct {
	issuer    string
	audience  []string
	leeway    time.Duration
	extractor TokenExtractor
	onError   ErrorHandler
	newClaims func() jwt.Claims
	maxToken  int
	now       func() time.Time
	crit      []string // header parameters the application understands in crit
	seqWait   time.Duration
}

// WithIssuer requires the iss claim to equal iss. The default does not
// check it.
func WithIssuer(iss string) Option {
	return func(c *config) error { c.issuer = iss; return nil }
}

// WithAudience requires the aud claim to contain one of aud. The default
// does not check it.
func WithAudience(aud ...string) Option {
	return func(c *config) error { c.audience = aud; return nil }
}

// WithLeeway sets the clock leeway for exp, nbf and iat. The default is
// 30 seconds.
func WithLeeway(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > 5*time.Minute {
			return fmt.Errorf("%w: leeway %v outside 0..5m", ErrBadOption, d)
		}
		c.leeway = d
		return nil
	}
}

// WithExtractor sets where the token comes from. The default is
// BearerToken.
func WithExtractor(e TokenExtractor) Option {
	return func(c *config) error {
		if e == nil {
			return fmt.Errorf("%w: nil extractor", ErrBadOption)
		}
		c.extractor = e
		return nil
	}
}

// WithErrorHandler replaces DefaultErrorHandler.
func WithErrorHandler(h ErrorHandler) Option {
	return func(c *config) error {
		if h == nil {
			return fmt.Errorf("%w: nil error handler", ErrBadOption)
		}
		c.onError = h
		return nil
	}
}

// WithClaims sets the claims type tokens are parsed into: new returns a
// fresh pointer per request (for example func() jwt.Claims { return
// new(MyClaims) }). The default is jwt.MapClaims.
func WithClaims(new func() jwt.Claims) Option {
	return func(c *config) error {
		if new == nil {
			return fmt.Errorf("%w: nil claims constructor", ErrBadOption)
		}
		c.newClaims = new
		return nil
	}
}

// WithClock sets the clock for exp, nbf and iat. The default is the
// agent's clock for Middleware and time.Now for New.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("%w: nil time func", ErrBadOption)
		}
		c.now = now
		return nil
	}
}

// WithCriticalHeaders names the JWS header parameters this application
// understands and processes itself, so that a token listing them in its
// crit header (RFC 7515 §4.1.11) is accepted. A token whose crit lists
// anything else is refused. The default understands none: a token with a
// crit header is refused.
func WithCriticalHeaders(names ...string) Option {
	return func(c *config) error {
		for _, n := range names {
			if n == "" || registeredHeaders[n] {
				return fmt.Errorf("%w: %q cannot be a critical header extension", ErrBadOption, n)
			}
		}
		c.crit = slices.Clone(names)
		return nil
	}
}

// WithMaxTokenSize refuses tokens longer than n bytes before parsing them.
// The default is 8 KiB.
func WithMaxTokenSize(n int) Option {
	return func(c *config) error {
		if n < 64 {
			return fmt.Errorf("%w: max token size %d", ErrBadOption, n)
		}
		c.maxToken = n
		return nil
	}
}

// WithSeqWait sets how long the middleware lets a request that carries
// jwtrevoke.SeqHeader wait for this replica's agent to apply that
// sequence (the client's own logout, say) before refusing it as stale.
// The default is 5ms; 0 ignores the header.
func WithSeqWait(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > 10*time.Second {
			return fmt.Errorf("%w: seq wait %v: want [0, 10s]", ErrBadOption, d)
		}
		c.seqWait = d
		return nil
	}
}
