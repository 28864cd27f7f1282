package keyset

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Option configures NewJWKS.
type Option func(*jwksConfig) error

type jwksConfig struct {
	refresh    time.Duration
	unknownKID time.Duration
	maxWait    time.Duration
	timeout    time.Duration
	client     *http.Client
	log        *slog.Logger
}

// WithRefresh sets how often the key sets are fetched again. The
// default is one hour.
func WithRefresh(d time.Duration) Option {
	return func(c *jwksConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: JWKS refresh interval %v", ErrBadOption, d)
		}
		c.refresh = d
		return nil
	}
}

// WithUnknownKID sets how often a token with an unknown kid may make
// the key sets be fetched again (every), and how long such a token may wait
// for that fetch (maxWait; past it the token is refused). The default is
// once every 5 minutes, waiting at most 2 seconds.
func WithUnknownKID(every, maxWait time.Duration) Option {
	return func(c *jwksConfig) error {
		if every <= 0 || maxWait <= 0 {
			return fmt.Errorf("%w: JWKS unknown kid refetch every %v, waiting %v", ErrBadOption, every, maxWait)
		}
		c.unknownKID, c.maxWait = every, maxWait
		return nil
	}
}

// WithTimeout bounds each fetch of a key set. The default is 10
// seconds.
func WithTimeout(d time.Duration) Option {
	return func(c *jwksConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: JWKS timeout %v", ErrBadOption, d)
		}
		c.timeout = d
		return nil
	}
}

// WithHTTPClient sets the HTTP client that fetches the key sets (for a
// proxy, a private CA, mTLS). The caller keeps ownership of it. The default
// is a client of JWKS's own, whose idle connections Close closes.
func WithHTTPClient(c *http.Client) Option {
	return func(cfg *jwksConfig) error {
		if c == nil {
			return fmt.Errorf("%w: nil HTTP client", ErrBadOption)
		}
		cfg.client = c
		return nil
	}
}

// WithLogger sets the logger for failed fetches and for keys added and
// removed. The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *jwksConfig) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	}
}
