package idp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/httpjson"
	"github.com/jwtrevoke/jwtrevoke/keyset"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// The Shared Signals event types a SETReceiver acts on.
const (
	EventSessionRevoked   = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	EventCredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	EventAccountDisabled  = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	EventSessionsRevoked  = "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked"
	EventVerification     = "https://schemas.openid.net/secevent/ssf/event-type/verification"
)

// SET error codes (RFC 8935 §2.4, the ones RFC 8936 reports in setErrs).
const (
	ErrCodeInvalidRequest  = "invalid_request"
	ErrCodeInvalidKey      = "invalid_key"
	ErrCodeInvalidIssuer   = "invalid_issuer"
	ErrCodeInvalidAudience = "invalid_audience"
	ErrCodeAuthentication  = "authentication_failed"
)

// SETError is why a Security Event Token was refused: an RFC 8935 error
// code and a description. Unavailable marks a valid SET whose revocation
// could not be written: it is neither acknowledged nor refused, so the
// transmitter sends it again.
type SETError struct {
	Code        string
	Description string
	Unavailable bool
}

func (e *SETError) Error() string { return e.Code + ": " + e.Description }

// SETReceiver takes Shared Signals Framework 1.0 Security Event Tokens
// (RFC 8417) from one transmitter, pushed to its ServeHTTP (RFC 8935) or
// fetched by Poll (RFC 8936), and turns the events that end access into
// revocations:
//
//   - CAEP session-revoked: the session, when the subject is complex and
//     names one; else the subject is cut off;
//   - CAEP credential-change, RISC account-disabled and sessions-revoked:
//     the subject is cut off.
//
// A cut-off is at the event's time (CAEP event_timestamp, else the SET's
// iat) plus one second, as for a logout (package doc): every token issued
// before the event, on the transmitter's clock, is refused. The subject is
// the SET's sub_id (SSF 1.0) or the event's subject (RISC, earlier CAEP),
// resolved by a SubjectMap; a subject it cannot resolve is refused, never
// ignored. The verification event and event types not listed are
// accepted and revoke nothing.
//
// A SET must be typed secevent+jwt, from the configured issuer, for the
// configured audience, signed with the transmitter's keys (RS256 by
// default, RSA keys of at least 2048 bits), with an iat within the window
// and a jti not seen within it.
//
// It is safe for use by multiple goroutines.
type SETReceiver struct {
	pub     *publisher.Publisher
	keys    keyset.Set
	cfg     setConfig
	replay  *replayCache
	metrics *counter
}

type setConfig struct {
	issuer    string
	audience  []string
	subjects  SubjectMap
	algs      []string
	pushToken string
	window    time.Duration
	leeway    time.Duration
	replayMax int
	now       func() time.Time
	log       *slog.Logger
}

// SETOption configures a SETReceiver.
type SETOption func(*setConfig) error

// WithSETAlgorithms replaces the accepted algorithms (default RS256).
func WithSETAlgorithms(algs ...string) SETOption {
	return func(c *setConfig) error {
		if len(algs) == 0 || slices.Contains(algs, "none") || slices.ContainsFunc(algs, func(a string) bool { return strings.HasPrefix(a, "HS") }) {
			return fmt.Errorf("%w: SET algorithms %q: asymmetric ones only", ErrBadOption, algs)
		}
		c.algs = slices.Clone(algs)
		return nil
	}
}

// WithPushToken requires pushed SETs to carry Authorization: Bearer token
// (the authorization_header the receiver gave the transmitter's stream).
func WithPushToken(token string) SETOption {
	return func(c *setConfig) error {
		if len(token) < 16 {
			return fmt.Errorf("%w: a push token of %d bytes: want at least 16", ErrBadOption, len(token))
		}
		c.pushToken = token
		return nil
	}
}

// WithSETWindow sets how old a SET's iat may be (default 1 hour: polled
// SETs may wait at the transmitter); its jti is remembered that long.
func WithSETWindow(d time.Duration) SETOption {
	return func(c *setConfig) error {
		if d <= 0 || d > 7*24*time.Hour {
			return fmt.Errorf("%w: SET window %v: want (0, 7d]", ErrBadOption, d)
		}
		c.window = d
		return nil
	}
}

// WithSETClock sets the clock (tests).
func WithSETClock(now func() time.Time) SETOption {
	return func(c *setConfig) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrBadOption)
		}
		c.now = now
		return nil
	}
}

// WithSETLogger logs every event acted on and every refusal.
func WithSETLogger(l *slog.Logger) SETOption {
	return func(c *setConfig) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	}
}

// Outcomes of a SET, the label of its metric (refusals by error code).
const (
	OutcomeVerification = "verification"
	OutcomeIgnored      = "ignored"
)

// NewSETReceiver returns the receiver of the transmitter issuer's SETs
// for audience, verified with keys, revoking through pub what subjects
// resolves.
func NewSETReceiver(pub *publisher.Publisher, keys keyset.Set, issuer string, audience []string, subjects SubjectMap, opts ...SETOption) (*SETReceiver, error) {
	if pub == nil || keys == nil || issuer == "" || len(audience) == 0 || slices.Contains(audience, "") {
		return nil, fmt.Errorf("%w: NewSETReceiver needs a publisher, the transmitter's keys, its issuer and the audience", ErrBadOption)
	}
	cfg := setConfig{issuer: issuer, audience: slices.Clone(audience), subjects: subjects, algs: []string{"RS256"},
		window: time.Hour, leeway: 30 * time.Second, replayMax: 100_000, now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return &SETReceiver{pub: pub, keys: keys, cfg: cfg, replay: newReplayCache(cfg.replayMax, cfg.now),
		metrics: newCounter("jwtrevoke_ssf_sets_total", "Security Event Tokens received, by outcome: what was revoked, or the error code.",
			OutcomeSession, OutcomeSubject, OutcomeVerification, OutcomeIgnored, OutcomeReplayed, OutcomeUnavailable,
			ErrCodeInvalidRequest, ErrCodeInvalidKey, ErrCodeInvalidIssuer, ErrCodeInvalidAudience, ErrCodeAuthentication)}, nil
}

// action is one revocation an event asks for.
type action struct {
	event  string
	target target
	before time.Time
}

// Receive validates one SET and writes the revocations its events ask
// for. It returns nil when the SET is taken (acted on, or accepted with
// nothing to do), or why not.
func (r *SETReceiver) Receive(ctx context.Context, raw string) *SETError {
	s, err := verifySigned(raw, r.keys, r.cfg.algs)
	if err != nil {
		code := ErrCodeInvalidKey
		if errors.Is(err, errNotJWT) {
			code = ErrCodeInvalidRequest
		}
		return r.refused(&SETError{Code: code, Description: err.Error()}, "")
	}
	jti, acts, serr := r.validate(s)
	if serr != nil {
		return r.refused(serr, "")
	}
	id := r.cfg.issuer + "\x00" + jti
	now := r.cfg.now()
	if !r.replay.reserve(id, now.Add(r.cfg.window+2*r.cfg.leeway)) {
		return r.refused(&SETError{Code: ErrCodeInvalidRequest, Description: fmt.Sprintf("SET %q was already received", jti)}, OutcomeReplayed)
	}
	if len(acts) == 0 {
		outcome := OutcomeIgnored
		if _, ok := s.claims["events"].(map[string]any)[EventVerification]; ok {
			outcome = OutcomeVerification
		}
		r.metrics.add(outcome)
		return nil
	}
	for _, a := range acts {
		opts := []publisher.RevokeOption{publisher.Reason("ssf:" + a.event[strings.LastIndex(a.event, "/")+1:]), publisher.Actor("ssf:" + r.cfg.issuer)}
		var err error
		outcome := OutcomeSubject
		if a.target.kind == jwtrevoke.KindSession {
			outcome = OutcomeSession
			_, err = r.pub.RevokeSession(ctx, a.target.key, a.before, opts...)
		} else {
			_, err = r.pub.RevokeSubject(ctx, a.target.key, a.before, opts...)
		}
		if err != nil {
			r.replay.release(id)
			r.metrics.add(OutcomeUnavailable)
			r.cfg.log.Error("SET revocation not written", "jti", jti, "err", err)
			return &SETError{Code: ErrCodeInvalidRequest, Description: "the revocation could not be written; send it again", Unavailable: true}
		}
		r.metrics.add(outcome)
		r.cfg.log.Info("SET acted on", "jti", jti, "event", a.event, "kind", a.target.kind.String(), "key", a.target.key, "before", a.before)
	}
	return nil
}

func (r *SETReceiver) refused(e *SETError, outcome string) *SETError {
	if outcome == "" {
		outcome = e.Code
	}
	r.metrics.add(outcome)
	r.cfg.log.Warn("SET refused", "err", e.Code, "description", e.Description)
	return e
}

// validate checks a verified SET's header and claims and returns its jti
// and the revocations its events ask for.
func (r *SETReceiver) validate(s *signed) (string, []action, *SETError) {
	bad := func(code, format string, args ...any) (string, []action, *SETError) {
		return "", nil, &SETError{Code: code, Description: fmt.Sprintf(format, args...)}
	}
	typ, _ := s.header["typ"].(string)
	if t := strings.ToLower(typ); t != "secevent+jwt" && t != "application/secevent+jwt" {
		return bad(ErrCodeInvalidRequest, "typ %q: a SET is typed secevent+jwt", typ)
	}
	iss, err := s.str("iss")
	if err != nil {
		return bad(ErrCodeInvalidRequest, "%v", err)
	}
	if iss != r.cfg.issuer {
		return bad(ErrCodeInvalidIssuer, "iss %q is not the transmitter %q", iss, r.cfg.issuer)
	}
	if err := s.audience(r.cfg.audience); err != nil {
		return bad(ErrCodeInvalidAudience, "%v", err)
	}
	now := r.cfg.now()
	iat, ok, err := s.time("iat")
	switch {
	case err != nil:
		return bad(ErrCodeInvalidRequest, "%v", err)
	case !ok:
		return bad(ErrCodeInvalidRequest, "no iat")
	case iat.After(now.Add(r.cfg.leeway)):
		return bad(ErrCodeInvalidRequest, "iat %v is in the future", iat.UTC())
	case iat.Before(now.Add(-r.cfg.window - r.cfg.leeway)):
		return bad(ErrCodeInvalidRequest, "iat %v is older than the %v window", iat.UTC(), r.cfg.window)
	}
	if exp, ok, err := s.time("exp"); err != nil {
		return bad(ErrCodeInvalidRequest, "%v", err)
	} else if ok && !exp.Add(r.cfg.leeway).After(now) {
		return bad(ErrCodeInvalidRequest, "expired at %v", exp.UTC())
	}
	jti, err := s.str("jti")
	if err != nil || jti == "" {
		return bad(ErrCodeInvalidRequest, "no jti")
	}
	events, ok := s.claims["events"].(map[string]any)
	if !ok || len(events) == 0 {
		return bad(ErrCodeInvalidRequest, "no events object")
	}
	var acts []action
	for uri, ev := range events {
		body, ok := ev.(map[string]any)
		if !ok {
			return bad(ErrCodeInvalidRequest, "event %s is not an object", uri)
		}
		switch uri {
		case EventSessionRevoked, EventCredentialChange, EventAccountDisabled, EventSessionsRevoked:
		default:
			continue // verification, and events that end no access
		}
		subject, ok := s.claims["sub_id"]
		if !ok {
			subject, ok = body["subject"]
		}
		if !ok {
			return bad(ErrCodeInvalidRequest, "event %s names no subject (sub_id)", uri)
		}
		t, err := r.target(uri, subject)
		if err != nil {
			return bad(ErrCodeInvalidRequest, "event %s: %v", uri, err)
		}
		at := iat
		if ts, ok := body["event_timestamp"]; ok {
			if at, err = eventTime(ts); err != nil {
				return bad(ErrCodeInvalidRequest, "event %s: %v", uri, err)
			}
			if at.After(now.Add(r.cfg.leeway)) {
				return bad(ErrCodeInvalidRequest, "event %s: event_timestamp %v is in the future", uri, at.UTC())
			}
		}
		for _, tt := range t {
			acts = append(acts, action{event: uri, target: tt, before: cutoff(at)})
		}
	}
	return jti, acts, nil
}

// target resolves an event's subject: for session-revoked, a complex
// subject's session is that session (its id equals the tokens' sid);
// otherwise the subject (a complex one's user) through the SubjectMap.
func (r *SETReceiver) target(event string, subject any) ([]target, error) {
	raw, err := json.Marshal(subject)
	if err != nil {
		return nil, err
	}
	obj, _ := subject.(map[string]any)
	if f, _ := obj["format"].(string); f == "complex" {
		if sess, ok := obj["session"].(map[string]any); ok && event == EventSessionRevoked {
			if f, _ := sess["format"].(string); f != "opaque" {
				return nil, fmt.Errorf("%w: a session identifier of format %q (want opaque)", ErrUnsupportedSubject, f)
			}
			id, _ := sess["id"].(string)
			if id == "" || len(id) > jwtrevoke.MaxKeyLen {
				return nil, fmt.Errorf("%w: the session's id", ErrUnsupportedSubject)
			}
			return []target{{jwtrevoke.KindSession, id}}, nil
		}
		user, ok := obj["user"]
		if !ok {
			return nil, fmt.Errorf("%w: a complex subject without user", ErrUnsupportedSubject)
		}
		if raw, err = json.Marshal(user); err != nil {
			return nil, err
		}
	}
	return r.cfg.subjects.resolve(raw)
}

// eventTime reads a CAEP event_timestamp: a NumericDate in seconds, or in
// milliseconds as the CAEP drafts' examples wrote it (no time in seconds
// reaches 10^11 before the year 5000).
func eventTime(v any) (time.Time, error) {
	f, ok := v.(float64)
	if !ok || f <= 0 {
		return time.Time{}, fmt.Errorf("event_timestamp %v is not a positive NumericDate", v)
	}
	if f >= 1e11 {
		return time.UnixMilli(int64(f)), nil
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}

// ServeHTTP is the push endpoint (RFC 8935): POST, Content-Type
// application/secevent+jwt, one SET; 202 when taken, 400 with
// {"err","description"} when refused, 401 when the push token is wrong,
// 503 when its revocation could not be written (the transmitter retries).
func (r *SETReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.metrics.add(ErrCodeInvalidRequest)
		writeSETError(w, http.StatusMethodNotAllowed, &SETError{Code: ErrCodeInvalidRequest, Description: "POST one SET"})
		return
	}
	if r.cfg.pushToken != "" && !bearerIs(req, r.cfg.pushToken) {
		r.metrics.add(ErrCodeAuthentication)
		w.Header().Set("WWW-Authenticate", `Bearer realm="jwtrevoke-ssf"`)
		writeSETError(w, http.StatusUnauthorized, &SETError{Code: ErrCodeAuthentication, Description: "the push token is missing or wrong"})
		return
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/secevent+jwt" {
		r.metrics.add(ErrCodeInvalidRequest)
		writeSETError(w, http.StatusBadRequest, &SETError{Code: ErrCodeInvalidRequest, Description: "want Content-Type application/secevent+jwt"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxFormBytes))
	if err != nil {
		r.metrics.add(ErrCodeInvalidRequest)
		writeSETError(w, http.StatusBadRequest, &SETError{Code: ErrCodeInvalidRequest, Description: "the body is larger than a SET"})
		return
	}
	if e := r.Receive(req.Context(), string(bytes.TrimSpace(body))); e != nil {
		status := http.StatusBadRequest
		if e.Unavailable {
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		}
		writeSETError(w, status, e)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func writeSETError(w http.ResponseWriter, status int, e *SETError) {
	httpjson.Write(w, status, map[string]string{"err": e.Code, "description": e.Description})
}

// PollOnce asks the transmitter's poll endpoint (RFC 8936) for SETs,
// acknowledging acks and reporting errs from the previous poll, takes
// each SET it returns, and returns what to acknowledge and report next
// time and whether more are waiting. token, when not "", is sent as a
// bearer token.
func (r *SETReceiver) PollOnce(ctx context.Context, client *http.Client, endpoint, token string, acks []string, errs map[string]*SETError) (nextAcks []string, nextErrs map[string]*SETError, more bool, err error) {
	type setErr struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	}
	reqBody := struct {
		Ack               []string          `json:"ack"`
		SetErrs           map[string]setErr `json:"setErrs,omitempty"`
		MaxEvents         int               `json:"maxEvents"`
		ReturnImmediately bool              `json:"returnImmediately"`
	}{Ack: acks, MaxEvents: 100, ReturnImmediately: true}
	if reqBody.Ack == nil {
		reqBody.Ack = []string{}
	}
	if len(errs) > 0 {
		reqBody.SetErrs = map[string]setErr{}
		for jti, e := range errs {
			reqBody.SetErrs[jti] = setErr{e.Code, e.Description}
		}
	}
	b, _ := json.Marshal(reqBody)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(b))
	if err != nil {
		return acks, errs, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return acks, errs, false, fmt.Errorf("polling %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return acks, errs, false, fmt.Errorf("polling %s: status %d", endpoint, resp.StatusCode)
	}
	var got struct {
		Sets          map[string]string `json:"sets"`
		MoreAvailable bool              `json:"moreAvailable"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&got); err != nil {
		return acks, errs, false, fmt.Errorf("polling %s: %w", endpoint, err)
	}
	// Acknowledged and reported: from now on, only this poll's SETs.
	nextAcks, nextErrs = []string{}, map[string]*SETError{}
	for jti, set := range got.Sets {
		e := r.Receive(ctx, set)
		switch {
		case e == nil:
			nextAcks = append(nextAcks, jti)
		case e.Unavailable:
			// Neither: the transmitter sends it again.
		default:
			nextErrs[jti] = e
		}
	}
	return nextAcks, nextErrs, got.MoreAvailable, nil
}

// Poll polls the transmitter until ctx ends: at once while it has more,
// every interval otherwise, backing off up to a minute while it fails.
func (r *SETReceiver) Poll(ctx context.Context, client *http.Client, endpoint, token string, interval time.Duration) {
	var acks []string
	var errs map[string]*SETError
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		var more bool
		var err error
		acks, errs, more, err = r.PollOnce(ctx, client, endpoint, token, acks, errs)
		switch {
		case err != nil:
			wait = min(max(2*wait, time.Second), time.Minute)
			r.cfg.log.Warn("SET poll failed", "endpoint", endpoint, "err", err, "retry_in", wait)
		case more:
			wait = 0
		default:
			wait = interval
		}
	}
}

// Collector returns the receiver's metric, jwtrevoke_ssf_sets_total{outcome}.
func (r *SETReceiver) Collector() prometheus.Collector { return r.metrics }

// bearerIs reports whether r carries Authorization: Bearer want.
func bearerIs(r *http.Request, want string) bool {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "Bearer") && constantTimeEqual(strings.TrimSpace(tok), want)
}
