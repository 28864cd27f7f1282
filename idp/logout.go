package idp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/httpjson"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// BackchannelLogoutEvent is the event a logout token's events claim holds
// (OpenID Connect Back-Channel Logout 1.0, §2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// maxFormBytes bounds the request body: a form with one logout token.
const maxFormBytes = 64 << 10

// BackchannelLogout is the handler of an OpenID Connect Back-Channel
// Logout 1.0 endpoint (POST, form logout_token). A valid logout token with
// sid revokes that session; one with sub and no sid cuts the subject off
// at its iat + 1 s (package doc: "Which time is the cut-off"). It answers 200 when the
// revocation is on the stream, 400 with error invalid_request (§2.8) for a
// token that fails validation, and 503 when the stream cannot be written
// (the provider may retry: the token is not then taken for a replay).
//
// Access tokens carry sid only when the provider puts it there (Keycloak
// does; others need a claim mapper): a session logout refuses only the
// tokens with that sid. WithSubjectLogout makes every logout a subject
// cut-off instead, for providers whose access tokens carry no sid.
//
// It is safe for use by multiple goroutines.
type BackchannelLogout struct {
	pub     *publisher.Publisher
	keys    keyset.Set
	cfg     logoutConfig
	replay  *replayCache
	metrics *counter
}

type logoutConfig struct {
	issuer    string
	audience  []string
	algs      []string
	window    time.Duration
	leeway    time.Duration
	replayMax int
	subject   bool
	now       func() time.Time
	log       *slog.Logger
}

// LogoutOption configures a BackchannelLogout.
type LogoutOption func(*logoutConfig) error

// WithLogoutAlgorithms replaces DefaultAlgorithms.
func WithLogoutAlgorithms(algs ...string) LogoutOption {
	return func(c *logoutConfig) error {
		if len(algs) == 0 || slices.Contains(algs, "none") {
			return fmt.Errorf("%w: logout token algorithms %q", ErrBadOption, algs)
		}
		c.algs = slices.Clone(algs)
		return nil
	}
}

// WithIssuedAtWindow sets how old a logout token's iat may be (default 5
// minutes); its jti is remembered that long, so it cannot be replayed.
func WithIssuedAtWindow(d time.Duration) LogoutOption {
	return func(c *logoutConfig) error {
		if d <= 0 || d > 24*time.Hour {
			return fmt.Errorf("%w: iat window %v: want (0, 24h]", ErrBadOption, d)
		}
		c.window = d
		return nil
	}
}

// WithLogoutLeeway sets the clock leeway for iat and exp (default 30 s).
func WithLogoutLeeway(d time.Duration) LogoutOption {
	return func(c *logoutConfig) error {
		if d < 0 || d > 5*time.Minute {
			return fmt.Errorf("%w: leeway %v: want [0, 5m]", ErrBadOption, d)
		}
		c.leeway = d
		return nil
	}
}

// WithReplayCacheSize bounds the jtis remembered (default 100,000).
func WithReplayCacheSize(n int) LogoutOption {
	return func(c *logoutConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: replay cache size %d", ErrBadOption, n)
		}
		c.replayMax = n
		return nil
	}
}

// WithSubjectLogout makes every logout a subject cut-off, sid or not.
func WithSubjectLogout() LogoutOption {
	return func(c *logoutConfig) error { c.subject = true; return nil }
}

// WithLogoutClock sets the clock (tests).
func WithLogoutClock(now func() time.Time) LogoutOption {
	return func(c *logoutConfig) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrBadOption)
		}
		c.now = now
		return nil
	}
}

// WithLogoutLogger logs every logout and every refusal (never the token).
func WithLogoutLogger(l *slog.Logger) LogoutOption {
	return func(c *logoutConfig) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	}
}

// Outcomes of a back-channel logout, the label of its metric.
const (
	OutcomeSession     = "session"           // a session revoked
	OutcomeSubject     = "subject"           // a subject cut off
	OutcomeMalformed   = "malformed"         // not a form with one logout_token, not a JWT
	OutcomeSignature   = "invalid_signature" // algorithm, key or signature refused
	OutcomeClaims      = "invalid_claims"    // iss, aud, iat, exp, typ, events, nonce, sub/sid
	OutcomeReplayed    = "replayed"          // a jti seen before within its window
	OutcomeUnavailable = "unavailable"       // the stream could not be written
)

// NewBackchannelLogout returns the handler for logout tokens of issuer,
// addressed to one of the client IDs audience, verified with keys (the
// provider's JWKS: see Discover and keyset.NewJWKS), revoking through pub.
func NewBackchannelLogout(pub *publisher.Publisher, keys keyset.Set, issuer string, audience []string, opts ...LogoutOption) (*BackchannelLogout, error) {
	if pub == nil || keys == nil {
		return nil, fmt.Errorf("%w: NewBackchannelLogout needs a publisher and the provider's keys", ErrBadOption)
	}
	if issuer == "" || len(audience) == 0 || slices.Contains(audience, "") {
		return nil, fmt.Errorf("%w: NewBackchannelLogout needs the issuer and the client IDs the tokens are addressed to", ErrBadOption)
	}
	cfg := logoutConfig{
		issuer: issuer, audience: slices.Clone(audience), algs: DefaultAlgorithms,
		window: 5 * time.Minute, leeway: 30 * time.Second, replayMax: 100_000,
		now: time.Now, log: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return &BackchannelLogout{
		pub: pub, keys: keys, cfg: cfg,
		replay: newReplayCache(cfg.replayMax, cfg.now),
		metrics: newCounter("jwtrevoke_backchannel_logout_total", "Back-channel logout requests, by outcome.",
			OutcomeSession, OutcomeSubject, OutcomeMalformed, OutcomeSignature, OutcomeClaims, OutcomeReplayed, OutcomeUnavailable),
	}, nil
}

// logout is what a valid logout token asks for.
type logout struct {
	jti, sub, sid string
	before        time.Time // the cut-off
	until         time.Time // when its jti may be forgotten
}

func (h *BackchannelLogout) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, http.StatusMethodNotAllowed, OutcomeMalformed, errors.New("POST a form with logout_token"))
		return
	}
	raw, err := logoutToken(w, r)
	if err != nil {
		h.refuse(w, http.StatusBadRequest, OutcomeMalformed, err)
		return
	}
	s, err := verifySigned(raw, h.keys, h.cfg.algs)
	if err != nil {
		outcome := OutcomeSignature
		if errors.Is(err, errNotJWT) {
			outcome = OutcomeMalformed
		}
		h.refuse(w, http.StatusBadRequest, outcome, err)
		return
	}
	lo, err := h.validate(s)
	if err != nil {
		h.refuse(w, http.StatusBadRequest, OutcomeClaims, err)
		return
	}
	id := h.cfg.issuer + "\x00" + lo.jti
	if !h.replay.reserve(id, lo.until) {
		h.refuse(w, http.StatusBadRequest, OutcomeReplayed, fmt.Errorf("logout token %q was already received", lo.jti))
		return
	}
	outcome, err := h.revoke(r.Context(), lo)
	if err != nil {
		h.replay.release(id)
		h.cfg.log.Error("back-channel logout not written", "jti", lo.jti, "err", err)
		h.metrics.add(OutcomeUnavailable)
		w.Header().Set("Retry-After", "1")
		httpjson.Error(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the revocation could not be written; retry")
		return
	}
	h.metrics.add(outcome)
	w.WriteHeader(http.StatusOK)
}

// logoutToken reads the form's one logout_token.
func logoutToken(w http.ResponseWriter, r *http.Request) (string, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", errors.New("want Content-Type application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return "", fmt.Errorf("reading the form: %w", err)
	}
	vs := r.PostForm["logout_token"]
	switch {
	case len(vs) == 0 || vs[0] == "":
		return "", errors.New("no logout_token")
	case len(vs) > 1:
		return "", errors.New("more than one logout_token")
	}
	if q, _ := url.ParseQuery(r.URL.RawQuery); q.Has("logout_token") {
		return "", errors.New("logout_token in the query: it belongs in the body")
	}
	return vs[0], nil
}

// validate applies §2.6 to a token whose signature verified.
func (h *BackchannelLogout) validate(s *signed) (logout, error) {
	var lo logout
	if typ, ok := s.header["typ"]; ok {
		t, _ := typ.(string)
		switch strings.ToLower(t) {
		case "logout+jwt", "application/logout+jwt", "jwt":
		default:
			// Another kind of token (an ID token, a SET, an access token)
			// presented as a logout.
			return lo, fmt.Errorf("typ %q is not logout+jwt", typ)
		}
	}
	iss, err := s.str("iss")
	if err != nil {
		return lo, err
	}
	if iss != h.cfg.issuer {
		return lo, fmt.Errorf("iss %q is not %q", iss, h.cfg.issuer)
	}
	if err := s.audience(h.cfg.audience); err != nil {
		return lo, err
	}
	now := h.cfg.now()
	iat, ok, err := s.time("iat")
	if err != nil {
		return lo, err
	}
	if !ok {
		return lo, errors.New("no iat")
	}
	if iat.After(now.Add(h.cfg.leeway)) {
		return lo, fmt.Errorf("iat %v is in the future", iat.UTC())
	}
	if iat.Before(now.Add(-h.cfg.window - h.cfg.leeway)) {
		return lo, fmt.Errorf("iat %v is older than the %v window", iat.UTC(), h.cfg.window)
	}
	lo.until = iat.Add(h.cfg.window + 2*h.cfg.leeway)
	exp, ok, err := s.time("exp")
	if err != nil {
		return lo, err
	}
	if ok {
		if !exp.Add(h.cfg.leeway).After(now) {
			return lo, fmt.Errorf("expired at %v", exp.UTC())
		}
		if e := exp.Add(h.cfg.leeway); e.After(lo.until) {
			lo.until = e
		}
	}
	if _, ok := s.claims["nonce"]; ok {
		return lo, errors.New("a nonce: logout tokens have none (is this an ID token?)")
	}
	ev, ok := s.claims["events"].(map[string]any)
	if !ok {
		return lo, errors.New("no events object")
	}
	if _, ok := ev[BackchannelLogoutEvent].(map[string]any); !ok {
		return lo, fmt.Errorf("events holds no %s object", BackchannelLogoutEvent)
	}
	if lo.jti, err = s.str("jti"); err != nil {
		return lo, err
	}
	if lo.jti == "" {
		return lo, errors.New("no jti")
	}
	if lo.sub, err = s.str("sub"); err != nil {
		return lo, err
	}
	if lo.sid, err = s.str("sid"); err != nil {
		return lo, err
	}
	if lo.sub == "" && lo.sid == "" {
		return lo, errors.New("neither sub nor sid")
	}
	for _, k := range []string{lo.sub, lo.sid, lo.jti} {
		if len(k) > jwtrevoke.MaxKeyLen {
			return lo, fmt.Errorf("a claim of %d bytes exceeds %d", len(k), jwtrevoke.MaxKeyLen)
		}
	}
	lo.before = cutoff(iat)
	return lo, nil
}

// cutoff is the revocation time for an event the provider stamped at t
// (package doc): the start of the next second.
func cutoff(t time.Time) time.Time { return t.Truncate(time.Second).Add(time.Second) }

// revoke writes the logout's revocation and names its outcome.
func (h *BackchannelLogout) revoke(ctx context.Context, lo logout) (string, error) {
	opts := []publisher.RevokeOption{publisher.Reason("backchannel-logout"), publisher.Actor("idp:" + h.cfg.issuer)}
	if lo.sid != "" && !h.cfg.subject {
		_, err := h.pub.RevokeSession(ctx, lo.sid, lo.before, opts...)
		h.cfg.log.Info("back-channel logout: session revoked", "sid", lo.sid, "before", lo.before, "jti", lo.jti)
		return OutcomeSession, err
	}
	if lo.sub == "" {
		return "", errors.New("a subject logout needs sub")
	}
	_, err := h.pub.RevokeSubject(ctx, lo.sub, lo.before, opts...)
	h.cfg.log.Info("back-channel logout: subject cut off", "sub", lo.sub, "before", lo.before, "jti", lo.jti)
	return OutcomeSubject, err
}

// refuse answers a logout that fails, and counts it.
func (h *BackchannelLogout) refuse(w http.ResponseWriter, status int, outcome string, err error) {
	h.metrics.add(outcome)
	h.cfg.log.Warn("back-channel logout refused", "outcome", outcome, "err", err)
	httpjson.Error(w, status, "invalid_request", err.Error())
}

// Collector returns the handler's metric,
// jwtrevoke_backchannel_logout_total{outcome}.
func (h *BackchannelLogout) Collector() prometheus.Collector { return h.metrics }
