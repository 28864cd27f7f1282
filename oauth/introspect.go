package oauth

// The OAuth 2.0 token introspection endpoint (RFC 7662).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// Verifier verifies a presented token's signature and claims, as the APIs
// do: a *verify.Verifier. Any error means "not a valid access token".
type Verifier interface {
	Verify(raw string) (*jwt.Token, jwtrevoke.Token, error)
}

// Introspection is the body of an introspection answer (RFC 7662 §2.2).
// An inactive token's answer is {"active":false} and nothing else.
type Introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`      // "scope" claim, or "scp" joined with spaces
	ClientID  string `json:"client_id,omitempty"`  // "client_id" claim, else "azp"
	Username  string `json:"username,omitempty"`   // "username" claim, else "preferred_username"
	TokenType string `json:"token_type,omitempty"` // "Bearer"
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Nbf       int64  `json:"nbf,omitempty"`
	Sub       string `json:"sub,omitempty"`
	// Aud is the audience: a string when the token names one, else a list.
	Aud any    `json:"aud,omitempty"`
	Iss string `json:"iss,omitempty"`
	Jti string `json:"jti,omitempty"`
	Sid string `json:"sid,omitempty"` // session ID (OpenID Connect), not in RFC 7662
	// Stale is true when the answer is active only because the agent
	// fails open: it is stale or not ready, or could not settle an unknown
	// verdict, so a revocation it has not seen may exist (Result.Stale in
	// Go). Not in RFC 7662; the response also carries the header
	// Jwtrevoke-Stale with the reason ("stale", "not_ready", "unknown").
	Stale bool `json:"stale,omitempty"`
}

// StaleHeader is the response header of an introspection answer given
// from an agent that cannot vouch for it (see Introspection.Stale).
const StaleHeader = "Jwtrevoke-Stale"

// Outcomes of an introspection request, as counted by the
// jwtrevoke_introspection_requests_total metric.
const (
	introspectActive = iota
	introspectInactive
	introspectInvalidRequest // 400 (and 405, 413, 415)
	introspectInvalidClient  // 401
)

// NewIntrospectionHandler returns an OAuth 2.0 token introspection
// endpoint (RFC 7662) for services that cannot embed an agent: it verifies
// a presented token with v and asks a whether it may be used.
//
// A request is a POST of the application/x-www-form-urlencoded parameter
// token (token_type_hint is accepted and ignored: only JWT access tokens
// are known here), from a client authenticated as WithClientCredentials
// configures, or from anyone if WithPublicClient is given. The answers:
//
//   - 200 {"active":true,…} with the verified claims RFC 7662 §2.2 names
//     (scope, client_id, username, exp, iat, nbf, sub, aud, iss, jti),
//     sid, and token_type "Bearer" — when the token verifies and a.Check
//     allows it;
//   - 200 {"active":false} when it does not: revoked, expired, malformed,
//     badly signed, without jti (such a token could never be revoked), or
//     when the agent cannot vouch for it — stale, not yet ready or an
//     unsettled Unknown verdict — under FailClosed (the default). Under
//     FailOpen such a token is answered from memory, as the middleware
//     would, and the answer says so: "stale":true and the header
//     Jwtrevoke-Stale naming the reason (StaleHeader).
//   - 400 invalid_request (missing token, a parameter given twice, two
//     ways of client authentication), 401 invalid_client with
//     WWW-Authenticate: Basic realm="jwtrevoke", 405 for a method other
//     than POST (or OPTIONS for a CORS preflight), 413 for a body over
//     MaxRequestSize, 415 for another content type; bodies as
//     in RFC 6749 §5.2.
//
// Every answer carries Cache-Control: no-store. Raw tokens are never
// logged. Each answer counts in the agent's checks, and by outcome in the
// handler's Collector. The handler is safe for use by multiple goroutines.
func NewIntrospectionHandler(a *agent.Agent, v Verifier, opts ...Option) (*IntrospectionHandler, error) {
	if a == nil || isNil(v) {
		return nil, fmt.Errorf("%w: NewIntrospectionHandler needs an agent and a verifier", ErrBadOption)
	}
	cfg, err := newConfig("introspection", false, opts)
	if err != nil {
		return nil, err
	}
	return &IntrospectionHandler{a: a, v: v, cfg: cfg, outcomes: newOutcomes("jwtrevoke_introspection_requests_total",
		"Requests to the RFC 7662 introspection endpoint, by outcome.", "active", "inactive", "invalid_request", "invalid_client")}, nil
}

// IntrospectionHandler is the RFC 7662 endpoint NewIntrospectionHandler
// builds.
type IntrospectionHandler struct {
	a        *agent.Agent
	v        Verifier
	cfg      config
	outcomes *outcomes
}

// Collector returns the handler's metric, for a registry of your own:
//
//	introspection_requests_total{outcome}  active, inactive, invalid_request, invalid_client
func (h *IntrospectionHandler) Collector() prometheus.Collector { return h.outcomes }

func (h *IntrospectionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.auth.begin(w, r) {
		return // a CORS preflight
	}
	if _, refused := h.cfg.auth.accept(w, r); refused != nil {
		outcome := introspectInvalidRequest
		if refused.Status == http.StatusUnauthorized {
			outcome = introspectInvalidClient
		}
		h.fail(w, outcome, refused.Status, refused.Code, refused.Description)
		return
	}
	raw := r.PostForm.Get("token")
	if raw == "" {
		h.fail(w, introspectInvalidRequest, http.StatusBadRequest, "invalid_request", "the token parameter is required")
		return
	}
	ans, doubt := h.introspect(r, raw)
	if doubt != jwtrevoke.ReasonNone {
		w.Header().Set(StaleHeader, string(doubt))
	}
	if ans.Active {
		h.outcomes.add(introspectActive)
	} else {
		h.outcomes.add(introspectInactive)
	}
	writeJSON(w, http.StatusOK, ans)
}

// introspect answers for one raw token, and, for an active answer the
// agent cannot vouch for (fail open), why.
//
// A request that carries jwtrevoke.SeqHeader (the API passing on its
// client's, from that client's logout) waits, at most seqWait, until the
// agent has applied that sequence, and is inactive if it has not: the
// client has seen a revocation this agent may not have.
func (h *IntrospectionHandler) introspect(r *http.Request, raw string) (Introspection, jwtrevoke.Reason) {
	tok, t, aerr := h.v.Verify(raw)
	if aerr != nil {
		h.cfg.log.Debug("introspection: token not valid", "err", aerr)
		return Introspection{}, jwtrevoke.ReasonNone
	}
	if err := verify.WaitSeq(r.Context(), h.a, r.Header.Values(jwtrevoke.SeqHeader), seqWait); err != nil {
		h.cfg.log.Debug("introspection: the client's sequence not applied", "err", err)
		return Introspection{}, jwtrevoke.ReasonNone
	}
	res := h.a.Check(&t)
	if !res.Allowed {
		h.cfg.log.Debug("introspection: token refused", "reason", res.Reason(), "jti", t.JTI)
		return Introspection{}, jwtrevoke.ReasonNone
	}
	ans := Introspection{Active: true, TokenType: "Bearer", Sub: t.Subject, Jti: t.JTI, Sid: t.Session}
	doubt := jwtrevoke.ReasonNone
	if res.Stale || res.Verdict == filter.Unknown {
		doubt = res.Reason()
		ans.Stale = true
	}
	if !t.ExpiresAt.IsZero() {
		ans.Exp = t.ExpiresAt.Unix()
	}
	if !t.IssuedAt.IsZero() {
		ans.Iat = t.IssuedAt.Unix()
	}
	c := tok.Claims
	if nbf, err := c.GetNotBefore(); err == nil && nbf != nil {
		ans.Nbf = nbf.Unix()
	}
	ans.Iss, _ = c.GetIssuer()
	if aud, err := c.GetAudience(); err == nil {
		switch len(aud) {
		case 0:
		case 1:
			ans.Aud = aud[0]
		default:
			ans.Aud = []string(aud)
		}
	}
	m := claimsMap(c)
	ans.Scope = stringClaim(m, "scope")
	if ans.Scope == "" {
		if scp, ok := m["scp"].([]any); ok {
			parts := make([]string, 0, len(scp))
			for _, s := range scp {
				if s, ok := s.(string); ok {
					parts = append(parts, s)
				}
			}
			ans.Scope = strings.Join(parts, " ")
		} else {
			ans.Scope = stringClaim(m, "scp")
		}
	}
	if ans.ClientID = stringClaim(m, "client_id"); ans.ClientID == "" {
		ans.ClientID = stringClaim(m, "azp")
	}
	if ans.Username = stringClaim(m, "username"); ans.Username == "" {
		ans.Username = stringClaim(m, "preferred_username")
	}
	return ans, doubt
}

// claimsMap returns the claims as a map: jwt.MapClaims as they are, other
// claims types through their JSON encoding.
func claimsMap(c jwt.Claims) map[string]any {
	if m, ok := c.(jwt.MapClaims); ok {
		return m
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

func stringClaim(m map[string]any, name string) string {
	s, _ := m[name].(string)
	return s
}

func (h *IntrospectionHandler) fail(w http.ResponseWriter, outcome, status int, code, desc string) {
	h.outcomes.add(outcome)
	writeError(w, status, code, desc)
}

// seqWait bounds an introspection's wait for the sequence its request
// carries (jwtrevoke.SeqHeader), as verify.WithSeqWait's default.
const seqWait = 5 * time.Millisecond
