package demo

// The issuer's HTTP side: login, refresh, logout and logout everywhere.

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/internal/httpjson"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// tokenPair is the issuer's answer to a login or refresh.
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// routes adds the issuer's token endpoints to mux.
func (is *issuer) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /login", is.handleLogin)
	mux.HandleFunc("POST /refresh", is.handleRefresh)
	mux.HandleFunc("POST /logout", is.handleLogout)
	mux.HandleFunc("POST /logout-all", is.handleLogoutAll)
}

func (is *issuer) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if !userOK(req.Username, req.Password) {
		httpjson.Error(w, http.StatusUnauthorized, "invalid_grant", "unknown user or wrong password")
		return
	}
	sid, refresh := is.newSession(req.Username)
	is.issue(w, r, req.Username, sid, refresh, "login")
}

// issue mints an access token and writes the pair.
func (is *issuer) issue(w http.ResponseWriter, r *http.Request, sub, sid, refresh, why string) {
	raw, _, waited, err := is.mint(r.Context(), sub, sid)
	var ge *grantError
	if errors.As(err, &ge) {
		httpjson.Error(w, http.StatusUnauthorized, "invalid_grant", ge.desc)
		return
	}
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "temporarily_unavailable", "could not issue a token")
		return
	}
	// Rounded up, so that any wait at all shows as one (never as 0s).
	waitedMS := int64((waited + time.Millisecond - 1) / time.Millisecond)
	if waited > 0 {
		// Only a login or refresh right after a cut-off for its user waits.
		is.log.Info("waited for a cut-off's second to end before issuing", "sub", sub, "waited", time.Duration(waitedMS)*time.Millisecond)
	}
	is.log.Debug("issued", "sub", sub, "sid", sid, "why", why)
	w.Header().Set(issueDelayHeader, strconv.FormatInt(waitedMS, 10))
	httpjson.Write(w, http.StatusOK, tokenPair{AccessToken: raw, RefreshToken: refresh, TokenType: "Bearer", ExpiresIn: int(accessLifetime / time.Second)})
}

func (is *issuer) handleRefresh(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.RefreshToken == "" {
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", "refresh_token is required")
		return
	}
	sid, sub, next, reuse, err := is.rotate(req.RefreshToken)
	if reuse {
		// The whole family is compromised: every token of the session
		// issued so far is refused from now on.
		rc, rerr := is.pub.RevokeSession(r.Context(), sid, time.Time{}, publisher.Reason("refresh token reuse"))
		if rerr != nil {
			is.log.Error("revoking a session after refresh token reuse", "sid", sid, "err", rerr)
			httpjson.Error(w, http.StatusServiceUnavailable, "temporarily_unavailable", "could not revoke the session")
			return
		}
		is.log.Warn("refresh token reuse: session revoked", "sub", sub, "sid", sid, "seq", rc.Seq)
	}
	var ge *grantError
	if errors.As(err, &ge) {
		httpjson.Error(w, http.StatusUnauthorized, "invalid_grant", ge.desc)
		return
	}
	is.issue(w, r, sub, sid, next, "refresh")
}

// bearer verifies the request's bearer token and checks it against the
// issuer's agent, as the replicas' middleware does, or writes the
// middleware's refusal: a revoked token cannot log out again (and publish
// new events) any more than it can call the API.
func (is *issuer) bearer(w http.ResponseWriter, r *http.Request) (jwtrevoke.Token, bool) {
	raw, err := verify.BearerToken(r)
	if err != nil {
		verify.DefaultErrorHandler(w, r, &verify.Error{Reason: jwtrevoke.ReasonMalformed, Err: err})
		return jwtrevoke.Token{}, false
	}
	_, t, aerr := is.verifier.Verify(raw)
	if aerr != nil {
		verify.DefaultErrorHandler(w, r, verify.AsError(aerr))
		return jwtrevoke.Token{}, false
	}
	if res := is.agent.Check(&t); !res.Allowed {
		verify.DefaultErrorHandler(w, r, &verify.Error{Reason: res.Reason()})
		return jwtrevoke.Token{}, false
	}
	return t, true
}

// revokeResult is the answer of /logout and /logout-all: what was revoked
// and the stream sequence to wait for on the replicas.
type revokeResult struct {
	Subject string `json:"sub"`
	Session string `json:"sid,omitempty"`
	JTI     string `json:"jti,omitempty"`
	Cutoff  string `json:"cutoff"`
	Seq     uint64 `json:"seq"`
}

// handleLogout revokes the bearer token and its session, and ends the
// session's refresh tokens. A token already revoked is refused (401).
func (is *issuer) handleLogout(w http.ResponseWriter, r *http.Request) {
	t, ok := is.bearer(w, r)
	if !ok {
		return
	}
	is.endSession(t.Session)
	rc, err := is.pub.RevokeToken(r.Context(), t, publisher.Reason("logout"))
	if err != nil {
		is.log.Error("revoking a token at logout", "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "temporarily_unavailable", "could not revoke the token")
		return
	}
	res := revokeResult{Subject: t.Subject, JTI: t.JTI, Seq: rc.Seq, Cutoff: rc.Revocation.Before.UTC().Format(time.RFC3339Nano)}
	if t.Session != "" {
		rs, err := is.pub.RevokeSession(r.Context(), t.Session, time.Time{}, publisher.Reason("logout"))
		if err != nil {
			is.log.Error("revoking a session at logout", "err", err)
			httpjson.Error(w, http.StatusServiceUnavailable, "temporarily_unavailable", "could not revoke the session")
			return
		}
		res.Session, res.Seq = t.Session, max(res.Seq, rs.Seq)
		res.Cutoff = rs.Revocation.Before.UTC().Format(time.RFC3339Nano)
	}
	is.log.Info("logout", "sub", t.Subject, "sid", t.Session, "seq", res.Seq)
	httpjson.Write(w, http.StatusOK, res)
}

// handleLogoutAll revokes every token of the bearer's subject issued so
// far and ends all its sessions. The token must still be good (bearer
// checks it): a revoked token cannot log its user out everywhere.
func (is *issuer) handleLogoutAll(w http.ResponseWriter, r *http.Request) {
	t, ok := is.bearer(w, r)
	if !ok {
		return
	}
	// Record the cut-off before publishing it, so that a login racing
	// with this request already waits for its second to end.
	cutoff := is.now()
	is.noteCutoff(t.Subject, cutoff)
	n := is.endSubject(t.Subject)
	rc, err := is.pub.RevokeSubject(r.Context(), t.Subject, cutoff, publisher.Reason("logout everywhere"))
	if err != nil {
		is.log.Error("revoking a subject", "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "temporarily_unavailable", "could not revoke the subject")
		return
	}
	// The stored event keeps the later of this and any earlier cut-off.
	is.noteCutoff(t.Subject, rc.Revocation.Before)
	is.log.Info("logout everywhere", "sub", t.Subject, "sessions", n, "cutoff", rc.Revocation.Before.Format(time.RFC3339Nano), "seq", rc.Seq)
	httpjson.Write(w, http.StatusOK, revokeResult{Subject: t.Subject, Cutoff: rc.Revocation.Before.UTC().Format(time.RFC3339Nano), Seq: rc.Seq})
}

func userOK(user, password string) bool {
	for _, u := range users {
		if subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1 {
			return subtle.ConstantTimeCompare([]byte(u), []byte(password)) == 1
		}
	}
	return false
}

// readJSON decodes a small JSON request body or writes a 400.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "invalid_request", "the body must be a JSON object")
		return false
	}
	return true
}
