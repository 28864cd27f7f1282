package publisher

// The OAuth 2.0 token revocation endpoint (RFC 7009).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/oauthhttp"
)

// MaxRevocationRequestSize is the largest request body the revocation
// endpoint reads, in bytes. A larger one is refused with 413.
const MaxRevocationRequestSize = 16 << 10

// HandlerOption configures NewRevocationHandler.
type HandlerOption func(*handlerConfig) error

type handlerConfig struct {
	auth    oauthhttp.Endpoint
	refresh func(ctx context.Context, token string) (bool, error)
	timeout time.Duration
}

// WithClientCredentials lets the confidential client id authenticate with
// secret, sent as HTTP Basic credentials (RFC 6749 §2.3.1: id and secret
// each application/x-www-form-urlencoded, then base64) or, less
// preferably, as the client_id and client_secret form parameters. Give it
// once per client. Secrets are compared in constant time.
//
// The default is no confidential client: unless WithPublicClient is given,
// NewRevocationHandler refuses to build a handler nobody may call.
func WithClientCredentials(id, secret string) HandlerOption {
	return func(c *handlerConfig) error {
		if err := c.auth.AddClient(id, secret); err != nil {
			return fmt.Errorf("%w: %w", ErrBadOption, err)
		}
		return nil
	}
}

// WithPublicClient accepts requests without client authentication, as
// RFC 7009 allows for public clients such as browser and mobile apps: whoever
// holds a token may revoke it. A request that does present client
// credentials must still present valid ones.
//
// allowedOrigins are the web origins ("https://app.example.com", scheme,
// host and port only) whose pages may call the endpoint from a browser:
// their requests get CORS headers, and their OPTIONS preflights an answer.
// "*" allows any origin (the endpoint sends no cookies, so that is safe
// for a public client). No origins means no CORS headers, for native apps.
//
// The default is no public client.
func WithPublicClient(allowedOrigins ...string) HandlerOption {
	return func(c *handlerConfig) error {
		if err := c.auth.AllowPublic(allowedOrigins...); err != nil {
			return fmt.Errorf("%w: %w", ErrBadOption, err)
		}
		return nil
	}
}

// WithRefreshTokens lets the issuer revoke its own refresh tokens through
// the same endpoint. revoke is called with a presented token that is not
// a valid access token (or first, when the client hints
// "refresh_token"); it revokes the token if it is one of the issuer's and
// reports whether it was. An error makes the endpoint answer 503, so the
// client retries. revoke must be safe for concurrent use; ctx ends with
// the request or the request timeout.
//
// The default has no refresh tokens: only access tokens (JWTs) are
// revoked, and anything else is answered 200 with nothing revoked.
func WithRefreshTokens(revoke func(ctx context.Context, token string) (found bool, err error)) HandlerOption {
	return func(c *handlerConfig) error {
		if revoke == nil {
			return fmt.Errorf("%w: nil refresh token revoker", ErrBadOption)
		}
		c.refresh = revoke
		return nil
	}
}

// WithRequestTimeout bounds the work of one revocation request: verifying,
// storing the revocation (with the publisher's retries) and revoking a
// refresh token. When it passes the endpoint answers 503. The default is 5
// seconds.
func WithRequestTimeout(d time.Duration) HandlerOption {
	return func(c *handlerConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: request timeout %v", ErrBadOption, d)
		}
		c.timeout = d
		return nil
	}
}

// NewRevocationHandler returns an OAuth 2.0 token revocation endpoint
// (RFC 7009) that revokes access tokens through p.
//
// verify checks a presented token's signature and claims, as the APIs do,
// and returns what a revocation needs; any error means "not a valid access
// token". With an agent.Verifier:
//
//	verify := func(raw string) (jwtrevoke.Token, error) {
//		if _, t, err := v.Verify(raw); err != nil {
//			return jwtrevoke.Token{}, err // not `return t, err`: err is a typed nil *AuthError
//		} else {
//			return t, nil
//		}
//	}
//
// A request is a POST of application/x-www-form-urlencoded parameters
// token (required) and token_type_hint ("access_token" or
// "refresh_token"; any other value is ignored, as RFC 7009 §2.2 asks), from a client authenticated as WithClientCredentials
// configures, or from anyone if WithPublicClient is given. The answers:
//
//   - 200 with an empty body: the token verified and its revocation
//     (by jti, until its exp) is stored. Only that token is revoked, not
//     its session or subject: revoke those with RevokeSession and
//     RevokeSubject (for example from a logout handler).
//   - 200 with an empty body as well when the token is malformed, badly
//     signed, expired or otherwise not valid: nothing is revoked, since
//     nothing could accept it (RFC 7009 §2.2), and no caller learns which.
//   - 503 with Retry-After when the revocation could not be stored in
//     time: the client must assume the token is still valid and retry.
//     This is the only answer other than 200 to a well-formed request.
//   - 400 invalid_request (missing token, a parameter given twice, two
//     ways of client authentication), 401 invalid_client with
//     WWW-Authenticate: Basic realm="jwtrevoke" (missing or bad client
//     credentials), 405 for a method other than POST (or OPTIONS for a
//     CORS preflight), 413 for a body over MaxRevocationRequestSize, 415
//     for another content type.
//
// Error bodies are RFC 6749 §5.2 JSON ({"error":…,"error_description":…});
// every answer carries Cache-Control: no-store. Revocations are logged
// with the publisher's logger, by jti and client; raw tokens never are.
// Revocations record reason "rfc7009" and actor "client:<id>" (or
// "client:public"); requests are counted in the publisher's Collector.
//
// The handler is safe for use by multiple goroutines.
func NewRevocationHandler(p *Publisher, verify func(raw string) (jwtrevoke.Token, error), opts ...HandlerOption) (http.Handler, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: NewRevocationHandler needs a publisher", ErrBadOption)
	}
	if verify == nil {
		return nil, fmt.Errorf("%w: NewRevocationHandler needs a verify function", ErrBadOption)
	}
	cfg := handlerConfig{
		auth:    oauthhttp.Endpoint{Name: "revocation", MaxBody: MaxRevocationRequestSize},
		timeout: 5 * time.Second,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if !cfg.auth.HasClients() {
		return nil, ErrNoClientAuth
	}
	return &revocationHandler{p: p, verify: verify, cfg: cfg}, nil
}

type revocationHandler struct {
	p      *Publisher
	verify func(string) (jwtrevoke.Token, error)
	cfg    handlerConfig
}

// Token type hints (RFC 7009 §2.1).
const (
	hintAccess  = "access_token"
	hintRefresh = "refresh_token"
)

func (h *revocationHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.auth.Begin(w, r) {
		return // a CORS preflight
	}
	clientID, refused := h.cfg.auth.Accept(w, r)
	if refused != nil {
		outcome := outcomeInvalidRequest
		if refused.Status == http.StatusUnauthorized {
			outcome = outcomeInvalidClient
		}
		h.fail(w, outcome, refused.Status, refused.Code, refused.Description)
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		h.fail(w, outcomeInvalidRequest, http.StatusBadRequest, "invalid_request", "the token parameter is required")
		return
	}
	hint := r.PostForm.Get("token_type_hint")
	if hint != hintAccess && hint != hintRefresh {
		// RFC 7009 §2.2: an invalid hint is ignored and does not influence
		// the response; the token is looked up as if there were none.
		hint = ""
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
	defer cancel()
	outcome, err := h.revoke(ctx, token, hint, clientID)
	h.p.stats.requests[outcome].Add(1)
	switch {
	case outcome == outcomeUnavailable:
		h.p.cfg.log.Error("RFC 7009 revocation failed", "client", clientID, "err", err)
		w.Header().Set("Retry-After", "2")
		oauthhttp.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the revocation could not be stored; retry")
	case outcome == outcomeInvalidRequest:
		h.p.cfg.log.Warn("RFC 7009 revocation refused", "client", clientID, "err", err)
		oauthhttp.WriteError(w, http.StatusBadRequest, "invalid_request", err.Error())
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// revoke does the work of a well-formed request and returns its outcome.
func (h *revocationHandler) revoke(ctx context.Context, token, hint, clientID string) (int, error) {
	log := h.p.cfg.log
	if hint == hintRefresh && h.cfg.refresh != nil {
		if found, err := h.cfg.refresh(ctx, token); err != nil {
			return outcomeUnavailable, fmt.Errorf("revoking a refresh token: %w", err)
		} else if found {
			log.Info("refresh token revoked (RFC 7009)", "client", clientID)
			return outcomeRefreshRevoked, nil
		}
	}
	t, verr := h.verify(token)
	if verr == nil {
		rc, err := h.p.RevokeToken(ctx, t, Reason("rfc7009"), Actor("client:"+clientID))
		switch {
		case errors.Is(err, ErrNoTokenID):
			// The verifier accepted a token that has no jti: nothing to
			// revoke it by, and nothing the agents could match.
			log.Warn("RFC 7009: verified token has no jti; nothing revoked", "client", clientID, "sub", t.Subject)
			return outcomeNotRevoked, nil
		case isInvalidRevocation(err):
			return outcomeInvalidRequest, fmt.Errorf("the token cannot be revoked: %w", err)
		case err != nil:
			return outcomeUnavailable, err
		case rc.Seq == 0:
			log.Debug("RFC 7009: token already expired; nothing to revoke", "client", clientID, "jti", t.JTI)
			return outcomeNotRevoked, nil
		}
		log.Info("token revoked (RFC 7009)", "client", clientID, "jti", t.JTI, "sub", t.Subject, "seq", rc.Seq, "duplicate", rc.Duplicate)
		return outcomeRevoked, nil
	}
	if hint != hintRefresh && h.cfg.refresh != nil {
		if found, err := h.cfg.refresh(ctx, token); err != nil {
			return outcomeUnavailable, fmt.Errorf("revoking a refresh token: %w", err)
		} else if found {
			log.Info("refresh token revoked (RFC 7009)", "client", clientID)
			return outcomeRefreshRevoked, nil
		}
	}
	log.Debug("RFC 7009: token not valid; nothing revoked", "client", clientID, "err", verr)
	return outcomeNotRevoked, nil
}

// isInvalidRevocation reports whether err says the revocation itself is
// invalid (retrying cannot help), not that storing it failed.
func isInvalidRevocation(err error) bool {
	for _, e := range [...]error{jwtrevoke.ErrKeyTooLong, jwtrevoke.ErrNotUTF8, jwtrevoke.ErrEmptyKey,
		jwtrevoke.ErrTimes, jwtrevoke.ErrFieldTooLong, jwtrevoke.ErrMalformed, jwtrevoke.ErrUnknownKind, jwtrevoke.ErrTooFarAhead} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (h *revocationHandler) fail(w http.ResponseWriter, outcome, status int, code, desc string) {
	h.p.stats.requests[outcome].Add(1)
	oauthhttp.WriteError(w, status, code, desc)
}
