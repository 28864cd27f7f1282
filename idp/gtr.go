package idp

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/httpjson"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// GlobalTokenRevocation is the handler of a Global Token Revocation
// endpoint (draft-parecki-oauth-global-token-revocation): POST, JSON
// {"sub_id": <RFC 9493 subject identifier>} ("subject", the member's name
// in drafts before -05, is read too), from a caller authenticate accepts.
// It cuts the subject off at the time of the request (or revokes the
// session an identifier maps to "sid") and answers 204. Errors are the
// draft's: 400 a malformed request or an unsupported identifier, 401 a
// caller authenticate refuses, 404 an iss_sub of an issuer not configured,
// 422 a revocation that could not be written (retry).
//
// It is safe for use by multiple goroutines.
type GlobalTokenRevocation struct {
	pub          *publisher.Publisher
	subjects     SubjectMap
	authenticate func(*http.Request) bool
	now          func() time.Time
	log          *slog.Logger
	metrics      *counter
}

// Outcomes of a global token revocation request.
const (
	OutcomeRevoked      = "revoked"
	OutcomeUnauthorized = "unauthorized"
	OutcomeUnsupported  = "unsupported"
	OutcomeUnknownUser  = "unknown_issuer"
)

// NewGlobalTokenRevocation returns the handler revoking through pub what
// subjects maps; authenticate says whether a request's caller may revoke
// (jwtrevoke serve: its admin token). now and log may be nil.
func NewGlobalTokenRevocation(pub *publisher.Publisher, subjects SubjectMap, authenticate func(*http.Request) bool, now func() time.Time, log *slog.Logger) (*GlobalTokenRevocation, error) {
	if pub == nil || authenticate == nil {
		return nil, fmt.Errorf("%w: NewGlobalTokenRevocation needs a publisher and a way to authenticate callers", ErrBadOption)
	}
	for f, c := range subjects.Claims {
		if _, _, err := ParseSubjectClaim(f + "=" + c); err != nil {
			return nil, err
		}
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &GlobalTokenRevocation{pub: pub, subjects: subjects, authenticate: authenticate, now: now, log: log,
		metrics: newCounter("jwtrevoke_global_token_revocation_total", "Global token revocation requests, by outcome.",
			OutcomeRevoked, OutcomeUnauthorized, OutcomeMalformed, OutcomeUnsupported, OutcomeUnknownUser, OutcomeUnavailable)}, nil
}

func (h *GlobalTokenRevocation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, OutcomeMalformed, "invalid_request", "POST a JSON object with sub_id")
		return
	}
	if !h.authenticate(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="jwtrevoke-admin"`)
		h.fail(w, http.StatusUnauthorized, OutcomeUnauthorized, "invalid_token", "the request's credentials are missing or wrong")
		return
	}
	ts, status, outcome, err := h.read(w, r)
	if err != nil {
		code := "invalid_request"
		if status == http.StatusNotFound {
			code = "user_not_found"
		}
		h.fail(w, status, outcome, code, err.Error())
		return
	}
	before := h.now()
	for _, t := range ts {
		opts := []publisher.RevokeOption{publisher.Reason("global-token-revocation"), publisher.Actor("global-token-revocation")}
		var err error
		if t.kind == jwtrevoke.KindSession {
			_, err = h.pub.RevokeSession(r.Context(), t.key, before, opts...)
		} else {
			_, err = h.pub.RevokeSubject(r.Context(), t.key, before, opts...)
		}
		if err != nil {
			h.log.Error("global token revocation not written", "kind", t.kind.String(), "key", t.key, "err", err)
			w.Header().Set("Retry-After", "1")
			h.fail(w, http.StatusUnprocessableEntity, OutcomeUnavailable, "temporarily_unavailable", "the revocation could not be written; retry")
			return
		}
		h.log.Info("global token revocation", "kind", t.kind.String(), "key", t.key, "before", before)
	}
	h.metrics.add(OutcomeRevoked)
	w.WriteHeader(http.StatusNoContent)
}

// read decodes the request's subject identifier into revocations.
func (h *GlobalTokenRevocation) read(w http.ResponseWriter, r *http.Request) ([]target, int, string, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, http.StatusBadRequest, OutcomeMalformed, errors.New("want Content-Type application/json")
	}
	var body struct {
		SubID   json.RawMessage `json:"sub_id"`
		Subject json.RawMessage `json:"subject"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err := dec.Decode(&body); err != nil {
		return nil, http.StatusBadRequest, OutcomeMalformed, fmt.Errorf("the body is not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, http.StatusBadRequest, OutcomeMalformed, errors.New("more than one JSON value in the body")
	}
	id := body.SubID
	switch {
	case len(id) > 0 && len(body.Subject) > 0:
		return nil, http.StatusBadRequest, OutcomeMalformed, errors.New("both sub_id and subject: send one")
	case len(id) == 0:
		id = body.Subject
	}
	if len(id) == 0 {
		return nil, http.StatusBadRequest, OutcomeMalformed, errors.New("no sub_id")
	}
	ts, err := h.subjects.resolve(id)
	switch {
	case errors.Is(err, ErrUnknownIssuer):
		return nil, http.StatusNotFound, OutcomeUnknownUser, err
	case err != nil:
		return nil, http.StatusBadRequest, OutcomeUnsupported, err
	}
	return ts, 0, "", nil
}

func (h *GlobalTokenRevocation) fail(w http.ResponseWriter, status int, outcome, code, desc string) {
	h.metrics.add(outcome)
	h.log.Warn("global token revocation refused", "outcome", outcome, "err", desc)
	httpjson.Error(w, status, code, desc)
}

// Collector returns the handler's metric,
// jwtrevoke_global_token_revocation_total{outcome}.
func (h *GlobalTokenRevocation) Collector() prometheus.Collector { return h.metrics }
