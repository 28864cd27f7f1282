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
	// Confirmed of Agents (the replicas and the issuer's agent) reported
	// applying the revocation, ConfirmedMS after the logout request
	// arrived; Confirmed < Agents when they had not within confirmWithin.
	Confirmed   int      `json:"confirmed"`
	Agents      int      `json:"agents"`
	ConfirmedMS *float64 `json:"confirmed_ms,omitempty"`
}

// confirmWithin bounds how long a logout waits for its confirmation.
const confirmWithin = 2 * time.Second

// confirm is the Confirm option of a logout's last revocation.
func (is *issuer) confirm() []publisher.RevokeOption {
	if is.agents == 0 {
		return nil
	}
	return []publisher.RevokeOption{publisher.Confirm(is.agents, confirmWithin)}
}

// confirmed fills in res's confirmation from the receipt of the logout's
// last revocation and its error; a ConfirmError is no failure (the
// revocation is stored), any other error is returned.
func (is *issuer) confirmed(res *revokeResult, rc publisher.Receipt, err error, began time.Time) error {
	var ce *publisher.ConfirmError
	if err != nil && !errors.As(err, &ce) {
		return err
	}
	res.Confirmed, res.Agents = rc.Confirmed, is.agents
	if is.agents > 0 && err == nil {
		ms := float64(time.Since(began).Microseconds()) / 1000
		res.ConfirmedMS = &ms
	}
	return nil
}

// handleLogout revokes the bearer token and its session, and ends the
// session's refresh tokens. A token already revoked is refused (401).
func (is *issuer) handleLogout(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	t, ok := is.bearer(w, r)
	if !ok {
		return
	}
	is.endSession(t.Session)
	// The last revocation of the two waits for the agents' confirmation.
	var tokenOpts []publisher.RevokeOption
	if t.Session == "" {
		tokenOpts = is.confirm()
	}
	rc, err := is.pub.RevokeToken(r.Context(), t, append(tokenOpts, publisher.Reason("logout"))...)
	res := revokeResult{Subject: t.Subject, JTI: t.JTI, Seq: rc.Seq, Cutoff: rc.Revocation.Before.UTC().Format(time.RFC3339Nano)}
	if t.Session == "" {
		err = is.confirmed(&res, rc, err, began)
	}
	if err != nil {
		is.log.Error("revoking a token at logout", "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "temporarily_unavailable", "could not revoke the token")
		return
	}
	if t.Session != "" {
		rs, err := is.pub.RevokeSession(r.Context(), t.Session, time.Time{}, append(is.confirm(), publisher.Reason("logout"))...)
		if err = is.confirmed(&res, rs, err, began); err != nil {
			is.log.Error("revoking a session at logout", "err", err)
			httpjson.Error(w, http.StatusServiceUnavailable, "temporarily_unavailable", "could not revoke the session")
			return
		}
		res.Session, res.Seq = t.Session, max(res.Seq, rs.Seq)
		res.Cutoff = rs.Revocation.Before.UTC().Format(time.RFC3339Nano)
	}
	is.log.Info("logout", "sub", t.Subject, "sid", t.Session, "seq", res.Seq, "confirmed", res.Confirmed, "agents", res.Agents)
	w.Header().Set(jwtrevoke.SeqHeader, strconv.FormatUint(res.Seq, 10))
	httpjson.Write(w, http.StatusOK, res)
}

// handleLogoutAll revokes every token of the bearer's subject issued so
// far and ends all its sessions. The token must still be good (bearer
// checks it): a revoked token cannot log its user out everywhere.
func (is *issuer) handleLogoutAll(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	t, ok := is.bearer(w, r)
	if !ok {
		return
	}
	// Record the cut-off before publishing it, so that a login racing
	// with this request already waits for its second to end.
	cutoff := is.now()
	is.noteCutoff(t.Subject, cutoff)
	n := is.endSubject(t.Subject)
	rc, err := is.pub.RevokeSubject(r.Context(), t.Subject, cutoff, append(is.confirm(), publisher.Reason("logout everywhere"))...)
	res := revokeResult{Subject: t.Subject, Cutoff: rc.Revocation.Before.UTC().Format(time.RFC3339Nano), Seq: rc.Seq}
	if err = is.confirmed(&res, rc, err, began); err != nil {
		is.log.Error("revoking a subject", "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "temporarily_unavailable", "could not revoke the subject")
		return
	}
	// The stored event keeps the later of this and any earlier cut-off.
	is.noteCutoff(t.Subject, rc.Revocation.Before)
	is.log.Info("logout everywhere", "sub", t.Subject, "sessions", n, "cutoff", rc.Revocation.Before.Format(time.RFC3339Nano), "seq", rc.Seq)
	w.Header().Set(jwtrevoke.SeqHeader, strconv.FormatUint(rc.Seq, 10))
	httpjson.Write(w, http.StatusOK, res)
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
