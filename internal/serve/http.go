package serve

// The HTTP side of `jwtrevoke serve`: routes, health, metrics and the admin
// API.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/httpjson"
	"github.com/jwtrevoke/jwtrevoke/oauth"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// maxAdminBody bounds an admin request body.
const maxAdminBody = 16 << 10

// service is what `jwtrevoke serve` puts behind HTTP. Its
// handlers are safe for use by multiple goroutines.
type service struct {
	pub         *publisher.Publisher
	agent       *agent.Agent
	verifier    *verify.Verifier
	stream      jetstream.Stream
	log         *slog.Logger
	contract    jwtrevoke.Contract // the stream's
	clients     []client
	public      bool
	corsOrigins []string
	adminToken  string // "" turns the admin API off
	now         func() time.Time
}

// routes returns the service's handler.
func (s *service) routes() (http.Handler, error) {
	if s.now == nil {
		s.now = time.Now
	}
	var ropts []oauth.Option
	var iopts []oauth.Option
	for _, c := range s.clients {
		ropts = append(ropts, oauth.WithClientCredentials(c.id, c.secret))
		iopts = append(iopts, oauth.WithClientCredentials(c.id, c.secret))
	}
	if s.public {
		ropts = append(ropts, oauth.WithPublicClient(s.corsOrigins...))
	}
	ropts = append(ropts, oauth.WithLogger(s.log))
	iopts = append(iopts, oauth.WithLogger(s.log))
	revoke, err := oauth.NewRevocationHandler(s.pub, s.verifier, ropts...)
	if err != nil {
		return nil, err
	}
	metrics := []prometheus.Collector{s.agent.Collector(), s.pub.Collector(), revoke.Collector()}

	mux := http.NewServeMux()
	mux.Handle("/revoke", revoke)
	if len(s.clients) > 0 {
		introspect, err := oauth.NewIntrospectionHandler(s.agent, s.verifier, iopts...)
		if err != nil {
			return nil, err
		}
		metrics = append(metrics, introspect.Collector())
		mux.Handle("/introspect", introspect)
	} else {
		// RFC 7662 §2.1: the endpoint must require authorization.
		mux.HandleFunc("/introspect", func(w http.ResponseWriter, _ *http.Request) {
			httpjson.Error(w, http.StatusNotFound, "not_found", "introspection needs a confidential client: start serve with --client id:secret")
		})
	}
	mux.HandleFunc("POST /admin/revoke", s.admin(s.handleAdminRevoke))
	mux.HandleFunc("GET /admin/live", s.admin(s.handleAdminLive))
	mux.HandleFunc("GET /admin/events", s.admin(s.handleAdminEvents))
	mux.HandleFunc("/admin/", s.admin(func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Error(w, http.StatusNotFound, "not_found", "admin routes: POST /admin/revoke, GET /admin/live, GET /admin/events")
	}))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.handleReadyz)

	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	for _, c := range metrics {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return s.accessLog(mux), nil
}

// accessLog logs each request at debug level: method, path, status and
// duration. Never the body or query, where tokens travel.
func (s *service) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.Debug("http", "method", r.Method, "path", r.URL.Path, "status", rec.status, "took", time.Since(start))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// handleReadyz answers 200 when the agent has replayed the stream and is
// fresh, 503 with the reason otherwise (httpjson.Health). stale_seconds
// and last_applied_seq are the names serve first gave staleness_ms and
// last_applied.
func (s *service) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	h := s.agent.Health()
	httpjson.Health(w, h, map[string]any{"stale_seconds": max(h.Staleness.Seconds(), 0), "last_applied_seq": h.LastApplied})
}

// admin guards an admin handler with the admin bearer token, compared in
// constant time. Without an admin token every admin route answers 404.
func (s *service) admin(next http.HandlerFunc) http.HandlerFunc {
	want := sha256.Sum256([]byte(s.adminToken))
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if s.adminToken == "" {
			httpjson.Error(w, http.StatusNotFound, "not_found", "the admin API is off: start serve with --admin-token")
			return
		}
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		tok = strings.TrimSpace(tok)
		if !strings.EqualFold(scheme, "Bearer") || tok == "" {
			// RFC 6750 §3.1: a request without credentials gets no error code.
			w.Header().Set("WWW-Authenticate", `Bearer realm="jwtrevoke-admin"`)
			httpjson.Error(w, http.StatusUnauthorized, "unauthorized", "missing admin token: the admin API needs Authorization: Bearer <admin token>")
			return
		}
		got := sha256.Sum256([]byte(tok))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="jwtrevoke-admin", error="invalid_token", error_description="wrong admin token"`)
			httpjson.Error(w, http.StatusUnauthorized, "invalid_token", "wrong admin token: it is not the one serve was started with (--admin-token, --admin-token-file or JWTREVOKE_ADMIN_TOKEN)")
			return
		}
		next(w, r)
	}
}

// adminRevokeRequest is the body of POST /admin/revoke.
type adminRevokeRequest struct {
	Kind   string          `json:"kind"`   // sub, sid, kid, all, jti (or subject, session, key, token)
	Key    string          `json:"key"`    // empty for all
	Before json.RawMessage `json:"before"` // cut-off for sub, sid, all: RFC 3339 or Unix seconds; default now
	Exp    json.RawMessage `json:"exp"`    // the token's exp for jti: RFC 3339 or Unix seconds; default unknown
	Reason string          `json:"reason"`
	Actor  string          `json:"actor"`
}

// adminReceipt is the answer of POST /admin/revoke.
type adminReceipt struct {
	Kind      string     `json:"kind"`
	Key       string     `json:"key"`
	Before    *time.Time `json:"before,omitempty"`
	Expires   *time.Time `json:"expires,omitempty"`
	Seq       uint64     `json:"seq"`
	Duplicate bool       `json:"duplicate"`
	MsgID     string     `json:"msg_id,omitempty"`
	Note      string     `json:"note,omitempty"`
}

func (s *service) handleAdminRevoke(w http.ResponseWriter, r *http.Request) {
	var req adminRevokeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", "the body must be one JSON object {kind, key, before, exp, reason, actor}: "+err.Error())
		return
	}
	if dec.More() {
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", "the body must be one JSON object")
		return
	}
	kind, err := jwtrevoke.ParseKind(req.Kind)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", `kind must be one of sub, sid, kid, all, jti`)
		return
	}
	now := s.now()
	before, err := parseTime(req.Before)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", "before: "+err.Error())
		return
	}
	exp, err := parseTime(req.Exp)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", "exp: "+err.Error())
		return
	}
	switch {
	case kind == jwtrevoke.KindAll && req.Key != "":
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", "kind all takes no key")
		return
	case kind != jwtrevoke.KindAll && req.Key == "":
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", "key is required for kind "+kind.String())
		return
	case !before.IsZero() && !kind.HasCutoff():
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", "before applies to sub, sid and all; a "+kind.String()+" revocation takes effect now")
		return
	case !exp.IsZero() && kind != jwtrevoke.KindToken:
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", "exp applies to jti only")
		return
	}
	actor := req.Actor
	if actor == "" {
		actor = "admin-api"
	}
	opts := []publisher.RevokeOption{publisher.Actor(actor)}
	if req.Reason != "" {
		opts = append(opts, publisher.Reason(req.Reason))
	}
	out := adminReceipt{Kind: kind.String(), Key: req.Key}
	if kind.HasCutoff() && !before.IsZero() && !before.Add(s.contract.MaxTokenLifetime).After(now) {
		// Every token issued before the cut-off has expired.
		out.Note = "nothing to revoke: every token issued before that time has expired"
		httpjson.Write(w, http.StatusOK, out)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var rc publisher.Receipt
	switch kind {
	case jwtrevoke.KindToken:
		rc, err = s.pub.RevokeJTI(ctx, req.Key, exp, opts...)
	case jwtrevoke.KindSubject:
		rc, err = s.pub.RevokeSubject(ctx, req.Key, before, opts...)
	case jwtrevoke.KindSession:
		rc, err = s.pub.RevokeSession(ctx, req.Key, before, opts...)
	case jwtrevoke.KindKey:
		rc, err = s.pub.RevokeKey(ctx, req.Key, opts...)
	case jwtrevoke.KindAll:
		rc, err = s.pub.RevokeAll(ctx, before, opts...)
	}
	switch {
	case invalidRevocation(err):
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	case err != nil:
		s.log.Error("admin revocation failed", "kind", kind, "key", req.Key, "err", err)
		w.Header().Set("Retry-After", "2")
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "the revocation could not be stored; retry")
		return
	case rc.Seq == 0:
		out.Note = "nothing to revoke: the token has already expired"
		httpjson.Write(w, http.StatusOK, out)
		return
	}
	b, e := rc.Revocation.Before, rc.Revocation.Expires
	out.Before, out.Expires = &b, &e
	out.Seq, out.Duplicate, out.MsgID = rc.Seq, rc.Duplicate, rc.MsgID
	s.log.Info("revoked (admin API)", "kind", kind, "key", req.Key, "actor", actor, "reason", req.Reason, "seq", rc.Seq)
	httpjson.Write(w, http.StatusOK, out)
}

// invalidRevocation reports whether err is the caller's fault.
func invalidRevocation(err error) bool {
	for _, e := range [...]error{jwtrevoke.ErrKeyTooLong, jwtrevoke.ErrNotUTF8, jwtrevoke.ErrEmptyKey, jwtrevoke.ErrTimes,
		jwtrevoke.ErrFieldTooLong, jwtrevoke.ErrMalformed, jwtrevoke.ErrUnknownKind, jwtrevoke.ErrTooFarAhead} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// parseTime reads an optional time: absent, null or "" is zero; a
// string is RFC 3339; a number is Unix seconds (as in a JWT).
func parseTime(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("want an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", s)
		}
		return t, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		f, err := n.Float64()
		if err == nil && f > 0 && f < 1e11 {
			sec := int64(f)
			return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
		}
	}
	return time.Time{}, errors.New("want an RFC 3339 string or Unix seconds")
}

// liveReport is the answer of GET /admin/live.
type liveReport struct {
	Ready          bool             `json:"ready"`
	StaleSeconds   float64          `json:"stale_seconds"`
	LastAppliedSeq uint64           `json:"last_applied_seq"`
	Live           map[string]int64 `json:"live"`
	Total          int64            `json:"total"`
	Filter         struct {
		Bytes         int64  `json:"bytes"`
		BudgetBytes   int64  `json:"budget_bytes"`
		ExactEntries  int    `json:"exact_entries"`
		ExactCapacity int    `json:"exact_capacity"`
		Evictions     uint64 `json:"evictions"`
	} `json:"filter"`
	Stream struct {
		Name      string    `json:"name"`
		Messages  uint64    `json:"messages"`
		Bytes     uint64    `json:"bytes"`
		FirstSeq  uint64    `json:"first_seq"`
		LastSeq   uint64    `json:"last_seq"`
		FirstTime time.Time `json:"first_time"`
		LastTime  time.Time `json:"last_time"`
		Subjects  uint64    `json:"subjects"`
	} `json:"stream"`
	Note string `json:"note"`
}

func (s *service) handleAdminLive(w http.ResponseWriter, r *http.Request) {
	st := s.agent.Stats()
	var out liveReport
	out.Ready, out.StaleSeconds, out.LastAppliedSeq = st.Ready, max(st.Staleness.Seconds(), 0), st.LastApplied
	out.Live = map[string]int64{}
	for _, k := range st.Filter.Kinds {
		out.Live[k.Kind.String()] = k.Entries
		out.Total += k.Entries
	}
	out.Filter.Bytes, out.Filter.BudgetBytes = st.Filter.Bytes, st.Filter.Budget
	out.Filter.ExactEntries, out.Filter.ExactCapacity, out.Filter.Evictions = st.Filter.ExactEntries, st.Filter.ExactCapacity, st.Filter.Evictions
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	info, err := s.stream.Info(ctx)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "reading the stream's state: "+err.Error())
		return
	}
	out.Stream.Name = info.Config.Name
	out.Stream.Messages, out.Stream.Bytes = info.State.Msgs, info.State.Bytes
	out.Stream.FirstSeq, out.Stream.LastSeq = info.State.FirstSeq, info.State.LastSeq
	out.Stream.FirstTime, out.Stream.LastTime = info.State.FirstTime, info.State.LastTime
	out.Stream.Subjects = info.State.NumSubjects
	out.Note = "live counts come from the agent's filter, which holds hashes of keys, not keys; it may count entries " +
		"that expired but whose generation is not yet dropped. GET /admin/events lists the keys, from the stream."
	httpjson.Write(w, http.StatusOK, out)
}

// event is one event in GET /admin/events.
type event struct {
	Seq     uint64     `json:"seq"`
	Kind    string     `json:"kind,omitempty"`
	Key     string     `json:"key,omitempty"`
	Before  *time.Time `json:"before,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
	Issued  *time.Time `json:"issued,omitempty"`
	Reason  string     `json:"reason,omitempty"`
	Actor   string     `json:"actor,omitempty"`
	Live    bool       `json:"live"`
	Stored  time.Time  `json:"stored"`
	Subject string     `json:"subject"`
	Error   string     `json:"error,omitempty"` // an event that does not decode
}

// Limits of GET /admin/events.
const (
	eventsDefault = 50
	eventsMax     = 1000
	eventsScan    = 20000 // stream sequences read at most per request
)

// handleAdminEvents lists the latest events on the stream, newest first:
// GET /admin/events?limit=N&kind=K (N default 50, at most 1000; kind
// optional). It reads backwards from the last sequence, skipping the gaps
// that per-key replacement and expiry leave, and stops after reading
// eventsScan sequences.
func (s *service) handleAdminEvents(w http.ResponseWriter, r *http.Request) {
	limit := eventsDefault
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > eventsMax {
			httpjson.Error(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("limit must be 1 to %d", eventsMax))
			return
		}
		limit = n
	}
	var kindFilter string
	if v := r.URL.Query().Get("kind"); v != "" {
		k, err := jwtrevoke.ParseKind(v)
		if err != nil {
			httpjson.Error(w, http.StatusBadRequest, "invalid_request", "kind must be one of sub, sid, kid, all, jti")
			return
		}
		kindFilter = "." + k.String() + "."
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	info, err := s.stream.Info(ctx)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "reading the stream's state: "+err.Error())
		return
	}
	now := s.now()
	dec := s.contract.Decoder(nil)
	events := []event{}
	scanned := 0
	for seq := info.State.LastSeq; seq >= max(info.State.FirstSeq, 1) && len(events) < limit && scanned < eventsScan; seq-- {
		scanned++
		m, err := s.stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // replaced by a later event of its key, or expired
		}
		if err != nil {
			httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "reading the stream: "+err.Error())
			return
		}
		if kindFilter != "" && !strings.Contains(m.Subject, kindFilter) {
			continue
		}
		ev := event{Seq: m.Sequence, Stored: m.Time, Subject: m.Subject}
		// Decode as of when the event was stored, so an event that has
		// expired since still shows what it was.
		rev, err := dec.Decode(m.Data, m.Time)
		if err != nil {
			ev.Error = err.Error()
		} else {
			b, e, i := rev.Before, rev.Expires, rev.Issued
			ev.Kind, ev.Key, ev.Before, ev.Expires, ev.Issued = rev.Kind.String(), rev.Key, &b, &e, &i
			ev.Reason, ev.Actor, ev.Live = rev.Reason, rev.Actor, rev.Expires.After(now)
		}
		events = append(events, ev)
	}
	httpjson.Write(w, http.StatusOK, map[string]any{
		"events":   events,
		"count":    len(events),
		"last_seq": info.State.LastSeq,
		"complete": len(events) == limit || scanned < eventsScan,
	})
}
