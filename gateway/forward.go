package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/oauth"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// ErrBadOption is returned by NewForwardAuth for an invalid option.
var ErrBadOption = errors.New("jwtrevoke/gateway: bad option")

// Default identity headers, set on every allowed answer.
const (
	HeaderSubject = "X-Auth-Subject"  // the token's sub
	HeaderSession = "X-Auth-Session"  // its sid
	HeaderTokenID = "X-Auth-Token-Id" // its jti
)

// ForwardAuth is the handler of /forward-auth. It is safe for use by
// multiple goroutines. The agent's policy decides a stale answer: under
// agent.FailClosed it is a 401 (reason stale, not_ready or unknown); under
// FailOpen it passes, with the reason in the Jwtrevoke-Stale header.
type ForwardAuth struct {
	agent   *agent.Agent
	verify  func(raw string) (jwtrevoke.Token, error)
	cfg     config
	metrics *outcomes
}

type config struct {
	cookie  string
	headers []identity
	realm   string
	log     *slog.Logger
}

// identity is one header of an allowed answer and what fills it.
type identity struct {
	header string
	value  func(t *jwtrevoke.Token) string
}

// Option configures a ForwardAuth.
type Option func(*config) error

// WithCookie also takes the token from the named cookie when the request
// has no Authorization header (a browser app that keeps its access token
// in an HttpOnly cookie). An Authorization header always wins.
func WithCookie(name string) Option {
	return func(c *config) error {
		if err := CheckCookieName(name); err != nil {
			return err
		}
		c.cookie = name
		return nil
	}
}

// CheckCookieName reports whether name can be a cookie's name (an RFC 6265
// token): the rule WithCookie applies.
func CheckCookieName(name string) error {
	if name == "" || !validHeaderName(strings.NewReplacer("_", "", ".", "").Replace(name)) {
		return fmt.Errorf("%w: cookie name %q: want letters, digits, '-', '_' or '.'", ErrBadOption, name)
	}
	return nil
}

// WithIdentityHeaders replaces the identity headers of an allowed answer:
// each maps a header name to the token field it carries, one of "sub",
// "sid", "jti", "kid" (the name of the key that verified it). The default
// is X-Auth-Subject: sub, X-Auth-Session: sid, X-Auth-Token-Id: jti.
func WithIdentityHeaders(headers map[string]string) Option {
	return func(c *config) error {
		var ids []identity
		for h, field := range headers {
			if !validHeaderName(h) {
				return fmt.Errorf("%w: header name %q", ErrBadOption, h)
			}
			f, ok := fields[field]
			if !ok {
				return fmt.Errorf("%w: header %s: field %q is not one of sub, sid, jti, kid", ErrBadOption, h, field)
			}
			ids = append(ids, identity{header: textproto.CanonicalMIMEHeaderKey(h), value: f})
		}
		c.headers = ids
		return nil
	}
}

// WithRealm sets the realm of the WWW-Authenticate challenge.
func WithRealm(realm string) Option {
	return func(c *config) error {
		if strings.ContainsAny(realm, "\"\\\r\n") {
			return fmt.Errorf("%w: realm %q has a quote, backslash or line break", ErrBadOption, realm)
		}
		c.realm = realm
		return nil
	}
}

// WithLogger logs refused requests at debug level (reason only, never the
// token). The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	}
}

var fields = map[string]func(t *jwtrevoke.Token) string{
	"sub": func(t *jwtrevoke.Token) string { return t.Subject },
	"sid": func(t *jwtrevoke.Token) string { return t.Session },
	"jti": func(t *jwtrevoke.Token) string { return t.JTI },
	"kid": func(t *jwtrevoke.Token) string { return t.KeyID },
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// NewForwardAuth returns the forward-auth handler for agent a, verifying
// tokens with v.
func NewForwardAuth(a *agent.Agent, v *verify.Verifier, opts ...Option) (*ForwardAuth, error) {
	if a == nil || v == nil {
		return nil, fmt.Errorf("%w: NewForwardAuth needs an agent and a verifier", ErrBadOption)
	}
	cfg := config{
		headers: []identity{
			{HeaderSubject, fields["sub"]},
			{HeaderSession, fields["sid"]},
			{HeaderTokenID, fields["jti"]},
		},
		log: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return &ForwardAuth{
		agent: a,
		verify: func(raw string) (jwtrevoke.Token, error) {
			_, t, err := v.Verify(raw)
			return t, err
		},
		cfg:     cfg,
		metrics: newOutcomes(),
	}, nil
}

// ServeHTTP answers one subrequest, whatever its method. It never reads
// the body.
func (h *ForwardAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	raw, reason := h.token(r)
	if reason != jwtrevoke.ReasonNone {
		h.refuse(w, reason)
		return
	}
	t, err := h.verify(raw)
	if err != nil {
		h.refuse(w, verify.AsError(err).Reason)
		return
	}
	res := h.agent.Check(&t)
	if !res.Allowed {
		h.refuse(w, res.Reason())
		return
	}
	// Every configured header, empty when the token lacks its field: a
	// gateway that copies them (Caddy's copy_headers) then overwrites what
	// the client sent instead of keeping it or copying a placeholder.
	for _, id := range h.cfg.headers {
		w.Header()[id.header] = []string{headerSafe(id.value(&t))}
	}
	// An answer the agent cannot vouch for (allowed only because it fails
	// open) names why, as /introspect does; empty when fresh, for the same
	// reason as above.
	w.Header()[oauth.StaleHeader] = []string{string(res.Reason())}
	h.metrics.allowed.Add(1)
	w.WriteHeader(http.StatusOK)
}

// token returns the request's raw token: the Authorization header's
// bearer token, or else the configured cookie.
func (h *ForwardAuth) token(r *http.Request) (string, jwtrevoke.Reason) {
	if vals := r.Header.Values("Authorization"); len(vals) > 0 {
		if len(vals) > 1 {
			// Two headers: which one the upstream reads is not ours to guess.
			return "", jwtrevoke.ReasonMalformed
		}
		raw, err := verify.BearerToken(r)
		if err != nil || raw == "" {
			return "", jwtrevoke.ReasonMalformed
		}
		return raw, jwtrevoke.ReasonNone
	}
	if h.cfg.cookie != "" {
		cs := r.CookiesNamed(h.cfg.cookie)
		switch {
		case len(cs) > 1:
			// Two cookies of the name: the one checked need not be the
			// one the upstream reads.
			return "", jwtrevoke.ReasonMalformed
		case len(cs) == 1 && cs[0].Value != "":
			return cs[0].Value, jwtrevoke.ReasonNone
		}
	}
	return "", jwtrevoke.ReasonMissing
}

// refuse answers 401 with the RFC 6750 challenge: bare for a request
// without a token (§3.1), with error="invalid_token" otherwise.
func (h *ForwardAuth) refuse(w http.ResponseWriter, reason jwtrevoke.Reason) {
	h.metrics.refused(reason)
	h.cfg.log.Debug("forward auth refused", "reason", string(reason))
	var params []string
	if h.cfg.realm != "" {
		params = append(params, fmt.Sprintf("realm=%q", h.cfg.realm))
	}
	if reason != jwtrevoke.ReasonMissing {
		params = append(params, `error="invalid_token"`, fmt.Sprintf("error_description=%q", reason.Description()))
	}
	challenge := "Bearer"
	if len(params) > 0 {
		challenge += " " + strings.Join(params, ", ")
	}
	w.Header().Set("WWW-Authenticate", challenge)
	w.Header().Set("X-Auth-Reason", string(reason))
	w.WriteHeader(http.StatusUnauthorized)
}

// headerSafe drops the bytes a header value may not hold (controls other
// than tab). Verified claims are strings of the issuer's choosing, but a
// header must not be split or cut by one.
func headerSafe(v string) string {
	ok := true
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			ok = false
			break
		}
	}
	if ok {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c < 0x20 && c != '\t' || c == 0x7f) {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Collector returns the handler's metrics:
// jwtrevoke_forward_auth_requests_total{outcome}, outcome "allowed" or the
// refusal's reason.
func (h *ForwardAuth) Collector() prometheus.Collector { return h.metrics }

// outcomes counts answers by outcome.
type outcomes struct {
	allowed atomic.Uint64
	reasons [len(refusals)]atomic.Uint64
	desc    *prometheus.Desc
}

var refusals = [...]jwtrevoke.Reason{
	jwtrevoke.ReasonMissing, jwtrevoke.ReasonMalformed, jwtrevoke.ReasonExpired, jwtrevoke.ReasonInvalid,
	jwtrevoke.ReasonNoJTI, jwtrevoke.ReasonRevoked, jwtrevoke.ReasonUnknown, jwtrevoke.ReasonStale, jwtrevoke.ReasonNotReady,
}

func newOutcomes() *outcomes {
	return &outcomes{desc: prometheus.NewDesc("jwtrevoke_forward_auth_requests_total",
		"Forward-auth subrequests answered, by outcome: allowed, or the reason of a 401.", []string{"outcome"}, nil)}
}

func (o *outcomes) refused(r jwtrevoke.Reason) {
	for i, x := range refusals {
		if x == r {
			o.reasons[i].Add(1)
			return
		}
	}
	o.reasons[3].Add(1) // any other: invalid
}

// Describe and Collect make outcomes a prometheus.Collector.
func (o *outcomes) Describe(ch chan<- *prometheus.Desc) { ch <- o.desc }

func (o *outcomes) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(o.desc, prometheus.CounterValue, float64(o.allowed.Load()), "allowed")
	for i, r := range refusals {
		ch <- prometheus.MustNewConstMetric(o.desc, prometheus.CounterValue, float64(o.reasons[i].Load()), string(r))
	}
}
