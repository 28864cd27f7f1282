package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
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

// ForwardAuth is the handler of /forward-auth, the outlet of nginx
// (auth_request), Traefik (ForwardAuth) and Caddy (forward_auth). It is
// safe for use by multiple goroutines. The agent's policy decides a stale
// answer: under agent.FailClosed it is a 401 (reason stale, not_ready or
// unknown); under FailOpen it passes, with the reason in the
// Jwtrevoke-Stale header.
type ForwardAuth struct {
	authz   *Authorizer
	metrics *Outcomes
}

type config struct {
	cookie  string
	headers []identity
	realm   string
	log     *slog.Logger
	seqWait time.Duration
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

// WithSeqWait sets how long a request that carries jwtrevoke.SeqHeader
// (the sequence of the client's own logout) may wait for the local agent
// to apply it before it is refused as stale, as verify.WithSeqWait. The
// default is 5ms; 0 ignores the header. The gateway must pass the header
// to the outlet (nginx and Caddy pass the request's headers).
func WithSeqWait(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > 10*time.Second {
			return fmt.Errorf("%w: seq wait %v: want [0, 10s]", ErrBadOption, d)
		}
		c.seqWait = d
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
	z, err := NewAuthorizer(a, v, opts...)
	if err != nil {
		return nil, err
	}
	return &ForwardAuth{authz: z, metrics: NewOutcomes("jwtrevoke_forward_auth_requests_total",
		"Forward-auth subrequests answered, by outcome: allowed, or the reason of a 401.")}, nil
}

// ServeHTTP answers one subrequest, whatever its method. It never reads
// the body.
func (h *ForwardAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	d := h.authz.Decide(Request{Authorization: r.Header.Values("Authorization"), Cookie: r.Header.Values("Cookie"), Seq: r.Header.Values(jwtrevoke.SeqHeader)})
	h.metrics.Count(d)
	if !d.Allowed {
		w.Header().Set("WWW-Authenticate", d.Challenge)
		w.Header().Set("X-Auth-Reason", string(d.Reason))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	// Every header, empty ones too: a gateway that copies them (Caddy's
	// copy_headers) then overwrites what the client sent instead of
	// keeping it or copying a placeholder.
	for _, hd := range d.Headers {
		w.Header()[hd.Name] = []string{hd.Value}
	}
	w.WriteHeader(http.StatusOK)
}

// Collector returns the handler's metrics:
// jwtrevoke_forward_auth_requests_total{outcome}, outcome "allowed" or the
// refusal's reason.
func (h *ForwardAuth) Collector() prometheus.Collector { return h.metrics }
