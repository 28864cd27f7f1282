package serve

// The admin API of `jwtrevoke serve`, behind the admin bearer token: its
// routes and POST /admin/revoke. The reads of the stream, GET /admin/live
// and GET /admin/events, are in admin_stream.go.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/httpjson"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// maxAdminBody bounds an admin request body.
const maxAdminBody = 16 << 10

// adminRoutes adds the admin API to mux.
func (s *service) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/revoke", s.admin(s.handleAdminRevoke))
	mux.HandleFunc("GET /admin/live", s.admin(s.handleAdminLive))
	mux.HandleFunc("GET /admin/events", s.admin(s.handleAdminEvents))
	mux.HandleFunc("GET /admin/agents", s.admin(s.handleAdminAgents))
	mux.HandleFunc("/admin/", s.admin(func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Error(w, http.StatusNotFound, "not_found", "admin routes: POST /admin/revoke, GET /admin/live, GET /admin/events, GET /admin/agents")
	}))
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

// adminRevocation is a POST /admin/revoke that has been checked.
type adminRevocation struct {
	kind          jwtrevoke.Kind
	key           string
	before, exp   time.Time // zero: now, and unknown
	reason, actor string
}

func (s *service) handleAdminRevoke(w http.ResponseWriter, r *http.Request) {
	if s.pub == nil {
		checkOnly(w, r)
		return
	}
	rev, err := readAdminRevoke(w, r)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	out := adminReceipt{Kind: rev.kind.String(), Key: rev.key}
	if rev.kind.HasCutoff() && !rev.before.IsZero() && !rev.before.Add(s.contract.MaxTokenLifetime).After(s.now()) {
		// Every token issued before the cut-off has expired.
		out.Note = "nothing to revoke: every token issued before that time has expired"
		httpjson.Write(w, http.StatusOK, out)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	rc, err := s.publish(ctx, rev)
	switch {
	case invalidRevocation(err):
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	case err != nil:
		s.log.Error("admin revocation failed", "kind", rev.kind, "key", rev.key, "err", err)
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
	s.log.Info("revoked (admin API)", "kind", rev.kind, "key", rev.key, "actor", rev.actor, "reason", rev.reason, "seq", rc.Seq)
	w.Header().Set(jwtrevoke.SeqHeader, strconv.FormatUint(rc.Seq, 10))
	httpjson.Write(w, http.StatusOK, out)
}

// readAdminRevoke reads and checks the body of POST /admin/revoke. Its
// error is the caller's fault, and says what is wrong.
func readAdminRevoke(w http.ResponseWriter, r *http.Request) (adminRevocation, error) {
	var req adminRevokeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return adminRevocation{}, errors.New("the body must be one JSON object {kind, key, before, exp, reason, actor}: " + err.Error())
	}
	if dec.More() {
		return adminRevocation{}, errors.New("the body must be one JSON object")
	}
	kind, err := jwtrevoke.ParseKind(req.Kind)
	if err != nil {
		return adminRevocation{}, errors.New(`kind must be one of sub, sid, kid, all, jti`)
	}
	before, err := parseTime(req.Before)
	if err != nil {
		return adminRevocation{}, errors.New("before: " + err.Error())
	}
	exp, err := parseTime(req.Exp)
	if err != nil {
		return adminRevocation{}, errors.New("exp: " + err.Error())
	}
	rev := adminRevocation{kind: kind, key: req.Key, before: before, exp: exp, reason: req.Reason, actor: req.Actor}
	if rev.actor == "" {
		rev.actor = "admin-api"
	}
	return rev, rev.check()
}

// check refuses a key, cut-off or expiry that the kind does not take.
func (rev adminRevocation) check() error {
	switch {
	case rev.kind == jwtrevoke.KindAll && rev.key != "":
		return errors.New("kind all takes no key")
	case rev.kind != jwtrevoke.KindAll && rev.key == "":
		return errors.New("key is required for kind " + rev.kind.String())
	case !rev.before.IsZero() && !rev.kind.HasCutoff():
		return errors.New("before applies to sub, sid and all; a " + rev.kind.String() + " revocation takes effect now")
	case !rev.exp.IsZero() && rev.kind != jwtrevoke.KindToken:
		return errors.New("exp applies to jti only")
	}
	return nil
}

// publish stores the revocation.
func (s *service) publish(ctx context.Context, rev adminRevocation) (publisher.Receipt, error) {
	opts := []publisher.RevokeOption{publisher.Actor(rev.actor)}
	if rev.reason != "" {
		opts = append(opts, publisher.Reason(rev.reason))
	}
	switch rev.kind {
	case jwtrevoke.KindToken:
		return s.pub.RevokeJTI(ctx, rev.key, rev.exp, opts...)
	case jwtrevoke.KindSubject:
		return s.pub.RevokeSubject(ctx, rev.key, rev.before, opts...)
	case jwtrevoke.KindSession:
		return s.pub.RevokeSession(ctx, rev.key, rev.before, opts...)
	case jwtrevoke.KindKey:
		return s.pub.RevokeKey(ctx, rev.key, opts...)
	}
	return s.pub.RevokeAll(ctx, rev.before, opts...)
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
