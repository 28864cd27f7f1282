package oauth

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"
)

// Option configures NewRevocationHandler and NewIntrospectionHandler. An
// option that applies to one endpoint only is refused by the other.
type Option func(*config) error

type config struct {
	auth    endpoint
	log     *slog.Logger
	refresh func(ctx context.Context, token string) (bool, error)
	timeout time.Duration
	only    string // the endpoint an option given applies to only, for the error
}

// WithClientCredentials lets the confidential client id authenticate with
// secret, sent as HTTP Basic credentials (RFC 6749 §2.3.1: id and secret
// each application/x-www-form-urlencoded, then base64) or, less
// preferably, as the client_id and client_secret form parameters. Give it
// once per client. Secrets are compared in constant time.
//
// The default is no confidential client: unless WithPublicClient is given,
// the constructor refuses to build a handler nobody may call.
func WithClientCredentials(id, secret string) Option {
	return func(c *config) error {
		if err := c.auth.addClient(id, secret); err != nil {
			return fmt.Errorf("%w: %w", ErrBadOption, err)
		}
		return nil
	}
}

// WithPublicClient accepts requests without client authentication. A
// request that does present client credentials must still present valid
// ones.
//
// For revocation, RFC 7009 allows public clients such as browser and
// mobile apps: whoever holds a token may revoke it. For introspection, RFC
// 7662 §2.1 asks endpoints to require authorization to stop token
// scanning; for signed JWTs scanning is futile and the holder of a token
// can read its claims anyway, so a public endpoint reveals only whether
// the token is revoked.
//
// allowedOrigins are the web origins ("https://app.example.com", scheme,
// host and port only) whose pages may call the endpoint from a browser:
// their requests get CORS headers, and their OPTIONS preflights an answer.
// "*" allows any origin (the endpoints send no cookies, so that is safe
// for a public client). No origins means no CORS headers, for native apps.
//
// The default is no public client.
func WithPublicClient(allowedOrigins ...string) Option {
	return func(c *config) error {
		if err := c.auth.allowPublic(allowedOrigins...); err != nil {
			return fmt.Errorf("%w: %w", ErrBadOption, err)
		}
		return nil
	}
}

// WithLogger sets where the endpoint logs revocations and refusals (never
// a raw token). The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	}
}

// WithRefreshTokens lets the issuer revoke its own refresh tokens through
// the revocation endpoint. revoke is called with a presented token that is
// not a valid access token (or first, when the client hints
// "refresh_token"); it revokes the token if it is one of the issuer's and
// reports whether it was. An error makes the endpoint answer 503, so the
// client retries. revoke must be safe for concurrent use; ctx ends with
// the request or the request timeout.
//
// The default has no refresh tokens: only access tokens (JWTs) are
// revoked, and anything else is answered 200 with nothing revoked.
// Revocation endpoint only.
func WithRefreshTokens(revoke func(ctx context.Context, token string) (found bool, err error)) Option {
	return func(c *config) error {
		if revoke == nil {
			return fmt.Errorf("%w: nil refresh token revoker", ErrBadOption)
		}
		c.refresh = revoke
		c.only = "WithRefreshTokens"
		return nil
	}
}

// WithRequestTimeout bounds the work of one revocation request: verifying,
// storing the revocation (with the publisher's retries) and revoking a
// refresh token. When it passes the endpoint answers 503. The default is 5
// seconds. Revocation endpoint only (introspection does no network I/O).
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: request timeout %v", ErrBadOption, d)
		}
		c.timeout = d
		c.only = "WithRequestTimeout"
		return nil
	}
}

// newConfig applies opts for the endpoint called name.
func newConfig(name string, revocation bool, opts []Option) (config, error) {
	cfg := config{
		auth:    endpoint{name: name, maxBody: MaxRequestSize},
		log:     slog.Default(),
		timeout: 5 * time.Second,
	}
	for _, o := range opts {
		cfg.only = ""
		if err := o(&cfg); err != nil {
			return cfg, err
		}
		if cfg.only != "" && !revocation {
			return cfg, fmt.Errorf("%w: %s applies to the revocation endpoint only", ErrBadOption, cfg.only)
		}
	}
	if !cfg.auth.hasClients() {
		return cfg, ErrNoClientAuth
	}
	return cfg, nil
}

// isNil reports whether v is nil, or an interface holding a nil pointer
// (a nil *verify.Verifier passed as a Verifier is not == nil).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Interface, reflect.Map, reflect.Slice, reflect.Chan:
		return rv.IsNil()
	}
	return false
}
