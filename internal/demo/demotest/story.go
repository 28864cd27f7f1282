package demotest

// The demo's contract, as a story its Client walks through.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Story is the whole demo contract, step by step: login, refresh, reuse
// of a refresh token, logout, logout everywhere and logging straight back
// in, RFC 7009 and RFC 7662, the page and its status feed.
func (dc *Client) Story(ctx context.Context) {
	dc.t.Helper()
	dc.sessionStory(ctx)
	p3b := dc.logoutStory(ctx)
	p4, p5 := dc.logoutAllStory(ctx, p3b)
	dc.revocationStory(ctx, p5)
	dc.introspectionStory(p4, p5)
	dc.pageStory()
}

// sessionStory signs in, calls every replica, refreshes, and reuses a
// spent refresh token, which revokes the whole session.
func (dc *Client) sessionStory(ctx context.Context) {
	t := dc.t
	t.Helper()
	// Sign in and call every replica.
	if status, body, _ := dc.PostJSON("/login", map[string]string{"username": "alice", "password": "bob"}, ""); status != http.StatusUnauthorized || body["error"] != "invalid_grant" {
		t.Fatalf("login with a wrong password = %d %v, want 401 invalid_grant", status, body)
	}
	p1 := dc.Login("alice")
	dc.accepted("after login", p1)

	// CORS for the page: a preflight from the issuer's origin is answered.
	req, _ := http.NewRequest(http.MethodOptions, dc.Replicas[0]+"/api/whoami", nil)
	req.Header.Set("Origin", dc.Issuer)
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	if status, _, h := dc.do(req); status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != dc.Issuer ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight = %d %v, want 204 allowing %s and Authorization", status, h, dc.Issuer)
	}

	// Refresh rotates the refresh token within the session.
	status, body, h := dc.PostJSON("/refresh", map[string]string{"refresh_token": p1.Refresh}, "")
	p2 := dc.pair("refresh", status, body, h)
	if p2.Refresh == p1.Refresh || p2.sid() != p1.sid() || p2.jti() == p1.jti() {
		t.Fatalf("refresh: got sid %s jti %s, want the same sid %s, a new jti and a new refresh token", p2.sid(), p2.jti(), p1.sid())
	}
	dc.accepted("after refresh", p2)

	// Reusing the spent refresh token revokes the whole session.
	dc.refreshRefused("reuse of a spent refresh token", p1.Refresh)
	dc.Refused(ctx, "after refresh token reuse (first token)", p1)
	dc.Refused(ctx, "after refresh token reuse (refreshed token)", p2)
	dc.refreshRefused("the current refresh token after reuse", p2.Refresh)
}

// logoutStory logs out, which revokes the token and its session, and logs
// straight back in; it returns that new login.
func (dc *Client) logoutStory(ctx context.Context) Pair {
	t := dc.t
	t.Helper()
	// Logout revokes the token and its session; a new login works at once.
	p3 := dc.Login("alice")
	dc.accepted("new login after reuse", p3)
	if status, body, _ := dc.PostJSON("/logout", nil, p3.Access); status != http.StatusOK || body["sid"] != p3.sid() || body["jti"] != p3.jti() {
		t.Fatalf("logout = %d %v, want 200 naming the token and session", status, body)
	}
	dc.Refused(ctx, "after logout", p3)
	dc.refreshRefused("refresh after logout", p3.Refresh)
	p3b := dc.Login("alice")
	dc.accepted("login straight after logout", p3b)
	if status, body, _ := dc.PostJSON("/logout", nil, ""); status != http.StatusUnauthorized || body["reason"] != "missing" {
		t.Fatalf("logout without a token = %d %v, want 401 missing", status, body)
	}
	return p3b
}

// logoutAllStory logs alice out everywhere, which refuses earlier (an
// earlier login, and the one logoutStory returned) and leaves another user
// alone, and logs her straight back in; it returns her token from before
// and the one from after.
func (dc *Client) logoutAllStory(ctx context.Context, p3b Pair) (Pair, Pair) {
	t := dc.t
	t.Helper()
	// Log out everywhere, then log straight back in.
	bob := dc.Login("bob")
	p4 := dc.Login("alice")
	if frac := time.Duration(time.Now().Nanosecond()); frac > 600*time.Millisecond {
		// Start early in a second, so that the new login is likely to fall
		// in the cut-off's second and the issuer has to wait it out. No
		// assertion depends on where it falls: on a slow machine it may be
		// the next second, and the checks below hold either way.
		// TestIssuerMintWaitsOutCutoffSecond covers the wait with a clock
		// of its own.
		time.Sleep(time.Second - frac + 20*time.Millisecond)
	}
	status, body, _ := dc.PostJSON("/logout-all", nil, p4.Access)
	if status != http.StatusOK || body["sub"] != "alice" {
		t.Fatalf("logout-all = %d %v, want 200 for alice", status, body)
	}
	cutoff, err := time.Parse(time.RFC3339Nano, body["cutoff"].(string))
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	p5 := dc.Login("alice")
	received := time.Now()
	// Its whole-second iat is not before the cut-off (so every replica
	// accepts it, below), and not after the answer arrived (the issuer
	// waited rather than dating the token ahead).
	if p5.iat().Before(cutoff) || p5.iat().After(received) {
		t.Fatalf("login after logout-all: iat %v, want from the cut-off %v until the answer at %v", p5.iat(), cutoff, received)
	}
	// The issuer reads its clock after the login was sent: if that was
	// after the cut-off's second, it had nothing to wait for. (Sent within
	// that second, the test cannot tell whether the issuer read its clock
	// before the second ended, so it asserts nothing about that delay.)
	if !sent.Before(ceilSecond(cutoff)) && p5.issueDelay > 0 {
		t.Errorf("login sent at %s, after the cut-off's second (cut-off %s), reported an issue delay of %v",
			sent.Format("15:04:05.000"), cutoff.Format("15:04:05.000"), p5.issueDelay)
	}
	t.Logf("logout-all cut-off %s; re-login sent %s; issuer waited %v", cutoff.Format("15:04:05.000"), sent.Format("15:04:05.000"), p5.issueDelay)
	dc.accepted("login straight after logout-all", p5)
	for _, p := range []Pair{p4, p3b} {
		dc.Refused(ctx, "earlier token after logout-all", p)
	}
	dc.refreshRefused("earlier refresh token after logout-all", p4.Refresh)
	dc.accepted("the new token, once the cut-off is applied everywhere", p5)
	dc.accepted("another user is untouched by alice's logout-all", bob)
	// The issuer asks its own agent, which may apply the cut-off after the
	// replicas did: wait for it, then a revoked token cannot log out
	// everywhere.
	dc.inactive(ctx, "earlier token after logout-all, at the issuer", p4)
	if status, body, _ := dc.PostJSON("/logout-all", nil, p4.Access); status != http.StatusUnauthorized || body["reason"] != "revoked" {
		t.Fatalf("logout-all with a revoked token = %d %v, want 401 revoked", status, body)
	}
	return p4, p5
}

// revocationStory revokes tokens at RFC 7009 /revoke: an access token, a
// refresh token (which ends its session), tokens that are none, and with
// a wrong client secret p5, which stays good.
func (dc *Client) revocationStory(ctx context.Context, p5 Pair) {
	t := dc.t
	t.Helper()
	// RFC 7009.
	p6 := dc.Login("carol")
	dc.accepted("carol", p6)
	if status, body := dc.PostForm("/revoke", url.Values{"token": {p6.Access}}, ClientID, dc.Secret); status != http.StatusOK {
		t.Fatalf("/revoke a good token = %d %v, want 200", status, body)
	}
	dc.Refused(ctx, "after /revoke", p6)
	for _, tok := range []string{"not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ4In0.c2lnbmF0dXJl", "unknown-refresh-token"} {
		if status, body := dc.PostForm("/revoke", url.Values{"token": {tok}}, ClientID, dc.Secret); status != http.StatusOK {
			t.Fatalf("/revoke %q = %d %v, want 200", tok, status, body)
		}
	}
	if status, body := dc.PostForm("/revoke", url.Values{"token": {p5.Access}}, ClientID, "wrong"); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("/revoke with a bad client secret = %d %v, want 401 invalid_client", status, body)
	}
	dc.accepted("a token whose revocation was refused", p5)
	// A refresh token revoked through RFC 7009 ends its session.
	p7 := dc.Login("carol")
	if status, body := dc.PostForm("/revoke", url.Values{"token": {p7.Refresh}, "token_type_hint": {"refresh_token"}}, ClientID, dc.Secret); status != http.StatusOK {
		t.Fatalf("/revoke a refresh token = %d %v, want 200", status, body)
	}
	dc.refreshRefused("a refresh token revoked through /revoke", p7.Refresh)
	dc.Refused(ctx, "the session of a refresh token revoked through /revoke", p7)
}

// introspectionStory asks RFC 7662 /introspect about the good p5, the
// revoked p4 and a token that is none.
func (dc *Client) introspectionStory(p4, p5 Pair) {
	t := dc.t
	t.Helper()
	// RFC 7662.
	if status, body := dc.PostForm("/introspect", url.Values{"token": {p5.Access}}, ClientID, dc.Secret); status != http.StatusOK || body["active"] != true || body["sub"] != "alice" || body["jti"] != p5.jti() {
		t.Fatalf("/introspect a good token = %d %v, want active true for alice", status, body)
	}
	for _, tok := range []string{p4.Access, "not-a-jwt"} {
		if status, body := dc.PostForm("/introspect", url.Values{"token": {tok}}, ClientID, dc.Secret); status != http.StatusOK || body["active"] != false || len(body) != 1 {
			t.Fatalf("/introspect a revoked or bad token = %d %v, want {\"active\":false}", status, body)
		}
	}
}

// pageStory loads the page and its status feed.
func (dc *Client) pageStory() {
	t := dc.t
	t.Helper()
	// The page and its feed.
	req, _ := http.NewRequest(http.MethodGet, dc.Issuer+"/", nil)
	if status, page, h := dc.do(req); status != http.StatusOK || !bytes.Contains(page, []byte(`id="login"`)) || h.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET / = %d, want the page with a CSP", status)
	}
	req, _ = http.NewRequest(http.MethodGet, dc.Issuer+"/api/status", nil)
	status, raw, _ := dc.do(req)
	var st struct {
		Stream   string `json:"stream"`
		LastSeq  uint64 `json:"last_seq"`
		Replicas []struct {
			Replica       int     `json:"replica"`
			URL           string  `json:"url"`
			Ready         bool    `json:"ready"`
			Stale         bool    `json:"stale"`
			LastApplied   uint64  `json:"last_applied"`
			EventsApplied uint64  `json:"events_applied"`
			LagP50        float64 `json:"lag_p50_ms"`
			LagP99        float64 `json:"lag_p99_ms"`
		} `json:"replicas"`
	}
	if err := json.Unmarshal(raw, &st); status != http.StatusOK || err != nil {
		t.Fatalf("GET /api/status = %d %s (%v)", status, raw, err)
	}
	if st.Stream != "JWTREVOKE" || st.LastSeq == 0 || len(st.Replicas) != len(dc.Replicas) {
		t.Fatalf("/api/status = %s, want the stream, its last seq and every replica", raw)
	}
	for i, r := range st.Replicas {
		if r.Replica != i+1 || r.URL != dc.Replicas[i] || !r.Ready || r.Stale || r.LastApplied != st.LastSeq || r.EventsApplied == 0 || r.LagP99 < r.LagP50 {
			t.Fatalf("/api/status replica %d = %+v, want ready, fresh, caught up to %d, with lag figures", i+1, r, st.LastSeq)
		}
	}
}
