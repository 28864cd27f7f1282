package oauth

// The OAuth 2.0 token revocation endpoint (RFC 7009).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// Outcomes of a request to the revocation endpoint, as counted by the
// jwtrevoke_revocation_requests_total metric.
const (
	outcomeRevoked        = iota // a verified access token was revoked
	outcomeRefreshRevoked        // the issuer's refresh token store revoked it
	outcomeNotRevoked            // the token did not verify: 200, nothing revoked
	outcomeInvalidRequest        // 400 (and 405, 413, 415)
	outcomeInvalidClient         // 401
	outcomeUnavailable           // 503: the revocation could not be stored
)

// NewRevocationHandler returns an OAuth 2.0 token revocation endpoint
// (RFC 7009) that revokes access tokens through p.
//
// v verifies a presented token's signature and claims, as the APIs do (a
// *verify.Verifier); any error means "not a valid access token".
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
//     CORS preflight), 413 for a body over MaxRequestSize, 415
//     for another content type.
//
// Error bodies are RFC 6749 §5.2 JSON ({"error":…,"error_description":…});
// every answer carries Cache-Control: no-store. Revocations are logged
// with the publisher's logger, by jti and client; raw tokens never are.
// Revocations record reason "rfc7009" and actor "client:<id>" (or
// "client:public"); requests are counted in the handler's Collector.
//
// The handler is safe for use by multiple goroutines.
func NewRevocationHandler(p *publisher.Publisher, v Verifier, opts ...Option) (*RevocationHandler, error) {
	if p == nil || isNil(v) {
		return nil, fmt.Errorf("%w: NewRevocationHandler needs a publisher and a verifier", ErrBadOption)
	}
	cfg, err := newConfig("revocation", true, opts)
	if err != nil {
		return nil, err
	}
	return &RevocationHandler{p: p, v: v, cfg: cfg, outcomes: newOutcomes("jwtrevoke_revocation_requests_total",
		"Requests to the RFC 7009 revocation endpoint, by outcome.",
		"revoked", "refresh_revoked", "not_revoked", "invalid_request", "invalid_client", "unavailable")}, nil
}

// RevocationHandler is the RFC 7009 endpoint NewRevocationHandler builds.
type RevocationHandler struct {
	p        *publisher.Publisher
	v        Verifier
	cfg      config
	outcomes *outcomes
}

// Collector returns the handler's metric, for a registry of your own:
//
//	revocation_requests_total{outcome}  revoked, refresh_revoked, not_revoked, invalid_request, invalid_client, unavailable
func (h *RevocationHandler) Collector() prometheus.Collector { return h.outcomes }

// Token type hints (RFC 7009 §2.1).
const (
	hintAccess  = "access_token"
	hintRefresh = "refresh_token"
)

func (h *RevocationHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.auth.begin(w, r) {
		return // a CORS preflight
	}
	clientID, refused := h.cfg.auth.accept(w, r)
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
	outcome, seq, err := h.revoke(ctx, token, hint, clientID)
	h.outcomes.add(outcome)
	if seq != 0 {
		// The client may send it back (jwtrevoke.SeqHeader) so that a
		// replica behind this one waits for its own revocation.
		w.Header().Set(jwtrevoke.SeqHeader, strconv.FormatUint(seq, 10))
	}
	switch {
	case outcome == outcomeUnavailable:
		h.cfg.log.Error("RFC 7009 revocation failed", "client", clientID, "err", err)
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the revocation could not be stored; retry")
	case outcome == outcomeInvalidRequest:
		h.cfg.log.Warn("RFC 7009 revocation refused", "client", clientID, "err", err)
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// revoke does the work of a well-formed request and returns its outcome.
func (h *RevocationHandler) revoke(ctx context.Context, token, hint, clientID string) (outcome int, seq uint64, err error) {
	log := h.cfg.log
	if hint == hintRefresh && h.cfg.refresh != nil {
		if found, err := h.cfg.refresh(ctx, token); err != nil {
			return outcomeUnavailable, 0, fmt.Errorf("revoking a refresh token: %w", err)
		} else if found {
			log.Info("refresh token revoked (RFC 7009)", "client", clientID)
			return outcomeRefreshRevoked, 0, nil
		}
	}
	_, t, verr := h.v.Verify(token)
	if verr == nil {
		rc, err := h.p.RevokeToken(ctx, t, publisher.Reason("rfc7009"), publisher.Actor("client:"+clientID))
		switch {
		case errors.Is(err, jwtrevoke.ErrNoTokenID):
			// The verifier accepted a token that has no jti: nothing to
			// revoke it by, and nothing the agents could match.
			log.Warn("RFC 7009: verified token has no jti; nothing revoked", "client", clientID, "sub", t.Subject)
			return outcomeNotRevoked, 0, nil
		case isInvalidRevocation(err):
			return outcomeInvalidRequest, 0, fmt.Errorf("the token cannot be revoked: %w", err)
		case err != nil:
			return outcomeUnavailable, 0, err
		case rc.Seq == 0:
			log.Debug("RFC 7009: token already expired; nothing to revoke", "client", clientID, "jti", t.JTI)
			return outcomeNotRevoked, 0, nil
		}
		log.Info("token revoked (RFC 7009)", "client", clientID, "jti", t.JTI, "sub", t.Subject, "seq", rc.Seq, "duplicate", rc.Duplicate)
		return outcomeRevoked, rc.Seq, nil
	}
	if hint != hintRefresh && h.cfg.refresh != nil {
		if found, err := h.cfg.refresh(ctx, token); err != nil {
			return outcomeUnavailable, 0, fmt.Errorf("revoking a refresh token: %w", err)
		} else if found {
			log.Info("refresh token revoked (RFC 7009)", "client", clientID)
			return outcomeRefreshRevoked, 0, nil
		}
	}
	log.Debug("RFC 7009: token not valid; nothing revoked", "client", clientID, "err", verr)
	return outcomeNotRevoked, 0, nil
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

func (h *RevocationHandler) fail(w http.ResponseWriter, outcome, status int, code, desc string) {
	h.outcomes.add(outcome)
	writeError(w, status, code, desc)
}
