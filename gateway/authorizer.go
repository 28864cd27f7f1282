package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/oauth"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// Authorizer decides whether a gateway may pass a request on: it takes the
// request's token, verifies it and asks the local agent. It is the part
// every outlet shares (ForwardAuth, and the Envoy server of package
// gateway/extauthz); it is safe for use by multiple goroutines.
type Authorizer struct {
	agent  *agent.Agent
	verify func(raw string) (jwtrevoke.Token, error)
	cfg    config
}

// Request is what an outlet read off a gateway's request: every value of
// its Authorization headers and of its Cookie headers, as received.
type Request struct {
	Authorization []string
	Cookie        []string
	// Seq are the values of jwtrevoke.SeqHeader: a client that carries
	// the sequence of its own logout is not answered from before it.
	Seq []string
}

// Header is one header of a Decision.
type Header struct {
	Name, Value string
}

// Decision is an Authorizer's answer.
type Decision struct {
	// Allowed says the request may pass.
	Allowed bool
	// Reason is why it may not; for an allowed request, why the agent
	// cannot vouch for the answer (it fails open), or "" when fresh.
	Reason jwtrevoke.Reason
	// Headers, when allowed, are the identity headers for the upstream
	// request, every configured one (Value "" where the token lacks the
	// claim), then oauth.StaleHeader with Reason. An outlet must set the
	// non-empty ones and remove the empty ones, so a client cannot send
	// its own.
	Headers []Header
	// Challenge, when refused, is the RFC 6750 WWW-Authenticate value.
	Challenge string
}

// NewAuthorizer returns the Authorizer for agent a, verifying tokens with v.
func NewAuthorizer(a *agent.Agent, v *verify.Verifier, opts ...Option) (*Authorizer, error) {
	if a == nil || v == nil {
		return nil, fmt.Errorf("%w: a gateway outlet needs an agent and a verifier", ErrBadOption)
	}
	cfg := config{
		headers: []identity{
			{HeaderSubject, fields["sub"]},
			{HeaderSession, fields["sid"]},
			{HeaderTokenID, fields["jti"]},
		},
		log:     slog.New(slog.DiscardHandler),
		seqWait: 5 * time.Millisecond,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return &Authorizer{
		agent: a,
		verify: func(raw string) (jwtrevoke.Token, error) {
			_, t, err := v.Verify(raw)
			return t, err
		},
		cfg: cfg,
	}, nil
}

// Decide answers one request. It never blocks on the network.
func (z *Authorizer) Decide(r Request) Decision {
	raw, reason := z.token(r)
	if reason != jwtrevoke.ReasonNone {
		return z.refuse(reason)
	}
	t, err := z.verify(raw)
	if err != nil {
		return z.refuse(verify.AsError(err).Reason)
	}
	if reason := z.waitSeq(r.Seq); reason != jwtrevoke.ReasonNone {
		return z.refuse(reason)
	}
	res := z.agent.Check(&t)
	if !res.Allowed {
		return z.refuse(res.Reason())
	}
	d := Decision{Allowed: true, Reason: res.Reason(), Headers: make([]Header, 0, len(z.cfg.headers)+1)}
	for _, id := range z.cfg.headers {
		d.Headers = append(d.Headers, Header{id.header, headerSafe(id.value(&t))})
	}
	// An answer the agent cannot vouch for (allowed only because it fails
	// open) names why, as /introspect does.
	d.Headers = append(d.Headers, Header{oauth.StaleHeader, string(res.Reason())})
	return d
}

// waitSeq waits, at most the configured time, until the agent has applied
// the sequence the request carries, as verify.Middleware does.
func (z *Authorizer) waitSeq(vals []string) jwtrevoke.Reason {
	if z.cfg.seqWait == 0 {
		return jwtrevoke.ReasonNone
	}
	if err := verify.WaitSeq(context.Background(), z.agent, vals, z.cfg.seqWait); err != nil {
		return err.Reason
	}
	return jwtrevoke.ReasonNone
}

// token returns the request's raw token: the Authorization header's
// bearer token, or else the configured cookie.
func (z *Authorizer) token(r Request) (string, jwtrevoke.Reason) {
	if len(r.Authorization) > 0 {
		if len(r.Authorization) > 1 {
			// Two headers: which one the upstream reads is not ours to guess.
			return "", jwtrevoke.ReasonMalformed
		}
		scheme, raw, ok := strings.Cut(r.Authorization[0], " ")
		raw = strings.TrimSpace(raw)
		// A compact JWT has no comma or space: one here is two headers a
		// proxy joined ("Bearer a,Bearer b") or a value that lies.
		if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" || strings.ContainsAny(raw, ", \t") {
			return "", jwtrevoke.ReasonMalformed
		}
		return raw, jwtrevoke.ReasonNone
	}
	if z.cfg.cookie != "" && len(r.Cookie) > 0 {
		var found []string
		for _, line := range r.Cookie {
			found = cookieValues(found, line, z.cfg.cookie)
		}
		switch {
		case len(found) > 1:
			// Two cookies of the name: the one checked need not be the
			// one the upstream reads.
			return "", jwtrevoke.ReasonMalformed
		case len(found) == 1 && found[0] != "":
			return found[0], jwtrevoke.ReasonNone
		}
	}
	return "", jwtrevoke.ReasonMissing
}

// cookieValues appends to vs the value of every cookie named name in the
// Cookie header value line. It reads only the pairs of that name, so a
// cookie of another name that breaks RFC 6265 (browsers send them) does
// not make the request fail.
func cookieValues(vs []string, line, name string) []string {
	for line != "" {
		var pair string
		pair, line, _ = strings.Cut(line, ";")
		k, v, _ := strings.Cut(pair, "=")
		if strings.TrimSpace(k) != name {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		vs = append(vs, v)
	}
	return vs
}

// refuse is the refusal for reason, with the RFC 6750 challenge: bare for
// a request without a token (§3.1), with error="invalid_token" otherwise.
func (z *Authorizer) refuse(reason jwtrevoke.Reason) Decision {
	z.cfg.log.Debug("gateway check refused", "reason", string(reason))
	var params []string
	if z.cfg.realm != "" {
		params = append(params, fmt.Sprintf("realm=%q", z.cfg.realm))
	}
	if reason != jwtrevoke.ReasonMissing {
		params = append(params, `error="invalid_token"`, fmt.Sprintf("error_description=%q", reason.Description()))
	}
	challenge := "Bearer"
	if len(params) > 0 {
		challenge += " " + strings.Join(params, ", ")
	}
	return Decision{Reason: reason, Challenge: challenge}
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

// Outcomes counts an outlet's decisions as the Prometheus counter
// name{outcome}: outcome "allowed" or the refusal's reason.
type Outcomes struct {
	allowed atomic.Uint64
	reasons [len(refusals)]atomic.Uint64
	desc    *prometheus.Desc
}

var refusals = [...]jwtrevoke.Reason{
	jwtrevoke.ReasonMissing, jwtrevoke.ReasonMalformed, jwtrevoke.ReasonExpired, jwtrevoke.ReasonInvalid,
	jwtrevoke.ReasonNoJTI, jwtrevoke.ReasonRevoked, jwtrevoke.ReasonUnknown, jwtrevoke.ReasonStale, jwtrevoke.ReasonNotReady,
}

// NewOutcomes returns the counter named name, with the help text help.
func NewOutcomes(name, help string) *Outcomes {
	return &Outcomes{desc: prometheus.NewDesc(name, help, []string{"outcome"}, nil)}
}

// Count counts d.
func (o *Outcomes) Count(d Decision) {
	if d.Allowed {
		o.allowed.Add(1)
		return
	}
	for i, x := range refusals {
		if x == d.Reason {
			o.reasons[i].Add(1)
			return
		}
	}
	o.reasons[3].Add(1) // any other: invalid
}

// Describe and Collect make Outcomes a prometheus.Collector.
func (o *Outcomes) Describe(ch chan<- *prometheus.Desc) { ch <- o.desc }

func (o *Outcomes) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(o.desc, prometheus.CounterValue, float64(o.allowed.Load()), "allowed")
	for i, r := range refusals {
		ch <- prometheus.MustNewConstMetric(o.desc, prometheus.CounterValue, float64(o.reasons[i].Load()), string(r))
	}
}
