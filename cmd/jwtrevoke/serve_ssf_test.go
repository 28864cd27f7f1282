package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// testTransmitter is a Shared Signals transmitter: its SSF configuration
// (found by discovery), its JWKS, and an RFC 8936 poll endpoint.
type testTransmitter struct {
	srv    *httptest.Server
	issuer string
	key    *rsa.PrivateKey
	mu     sync.Mutex
	queue  map[string]string
}

func newTestTransmitter(t *testing.T) *testTransmitter {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tx := &testTransmitter{key: k, queue: map[string]string{}}
	mux := http.NewServeMux()
	// The address is known before it serves, so its handlers read the
	// issuer only after it is set.
	tx.srv = httptest.NewUnstartedServer(mux)
	base := "http://" + tx.srv.Listener.Addr().String()
	tx.issuer = base + "/tenant-1"
	mux.HandleFunc("GET /.well-known/ssf-configuration/tenant-1", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": tx.issuer, "jwks_uri": base + "/jwks", "spec_version": "1_0"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		b64 := base64.RawURLEncoding.EncodeToString
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{
			"kty": "RSA", "kid": "tx-1", "use": "sig", "alg": "RS256",
			"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}}})
	})
	mux.HandleFunc("POST /poll", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Ack []string `json:"ack"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		tx.mu.Lock()
		defer tx.mu.Unlock()
		for _, a := range req.Ack {
			delete(tx.queue, a)
		}
		json.NewEncoder(w).Encode(map[string]any{"sets": tx.queue, "moreAvailable": false})
	})
	tx.srv.Start()
	t.Cleanup(tx.srv.Close)
	return tx
}

// set is a CAEP credential-change SET for sub, signed by the transmitter.
func (tx *testTransmitter) set(t *testing.T, jti, sub string) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": tx.issuer, "aud": "https://api.example/ssf", "iat": now.Unix(), "jti": jti,
		"sub_id": map[string]any{"format": "iss_sub", "iss": tx.issuer, "sub": sub},
		"events": map[string]any{"https://schemas.openid.net/secevent/caep/event-type/credential-change": map[string]any{
			"credential_type": "password", "change_type": "update", "event_timestamp": now.Unix()}},
	})
	tok.Header["kid"], tok.Header["typ"] = "tx-1", "secevent+jwt"
	s, err := tok.SignedString(tx.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestServeSharedSignals: serve takes a transmitter's SETs pushed to
// /ssf/events (with the push token only) and polled from its endpoint,
// finding its keys by SSF discovery; each cuts its subject off.
func TestServeSharedSignals(t *testing.T) {
	tx := newTestTransmitter(t)
	const push = "ssf-push-token-0123456789abcdef"
	p := startServe(t, "--ssf-issuer", tx.issuer, "--ssf-audience", "https://api.example/ssf",
		"--ssf-push-token", push, "--ssf-poll-url", tx.srv.URL+"/poll", "--ssf-poll-interval", "20ms")
	old := time.Now().Add(-time.Minute)
	alice := serveToken(t, serveTestSecret, "jti-ssf-1", "alice", old)
	bob := serveToken(t, serveTestSecret, "jti-ssf-2", "bob", old)

	send := func(auth, set string) int {
		req, _ := http.NewRequest(http.MethodPost, p.base+"/ssf/events", strings.NewReader(set))
		req.Header.Set("Content-Type", "application/secevent+jwt")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		st, _ := p.do(t, req)
		return st
	}
	if st := send("", tx.set(t, "set-1", "alice")); st != http.StatusUnauthorized {
		t.Errorf("a push without the token: %d, want 401", st)
	}
	if !p.active(t, alice) {
		t.Fatal("a push without the token revoked")
	}
	if st := send(push, tx.set(t, "set-1", "alice")); st != http.StatusAccepted {
		t.Fatalf("a pushed SET: %d, want 202", st)
	}
	testkit.Eventually(t, "alice cut off by the pushed SET", func() bool { return !p.active(t, alice) })

	tx.mu.Lock()
	tx.queue["set-2"] = tx.set(t, "set-2", "bob")
	tx.mu.Unlock()
	testkit.Eventually(t, "bob cut off by the polled SET", func() bool { return !p.active(t, bob) })
	testkit.Eventually(t, "the polled SET acknowledged", func() bool {
		tx.mu.Lock()
		defer tx.mu.Unlock()
		return len(tx.queue) == 0
	})
	if !p.active(t, serveToken(t, serveTestSecret, "jti-ssf-3", "carol", old)) {
		t.Error("an unnamed subject's token is inactive")
	}
}

// TestServeAdminAgents: /admin/agents lists the live agents, serve's own
// among them, caught up with the stream; a revocation there carries its
// sequence in Jwtrevoke-Seq; /metrics counts the live agents.
func TestServeAdminAgents(t *testing.T) {
	p := startServe(t)
	st, _ := p.admin(t, `{"kind":"sub","key":"alice"}`)
	if st != http.StatusOK {
		t.Fatalf("admin revoke: %d", st)
	}
	var out struct {
		LastSeq uint64 `json:"last_seq"`
		Agents  []struct {
			ID      string `json:"id"`
			Applied uint64 `json:"applied"`
			Ready   bool   `json:"ready"`
		} `json:"agents"`
	}
	testkit.Eventually(t, "serve's agent listed at the last sequence", func() bool {
		req, _ := http.NewRequest(http.MethodGet, p.base+"/admin/agents", nil)
		req.Header.Set("Authorization", "Bearer "+serveTestAdmin)
		st, b := p.do(t, req)
		if st != http.StatusOK || json.Unmarshal(b, &out) != nil {
			t.Fatalf("/admin/agents: %d %s", st, b)
		}
		return len(out.Agents) == 1 && out.Agents[0].Ready && out.Agents[0].Applied == out.LastSeq && out.LastSeq == 1
	})
	req, _ := http.NewRequest(http.MethodPost, p.base+"/admin/revoke", strings.NewReader(`{"kind":"sub","key":"bob"}`))
	req.Header.Set("Authorization", "Bearer "+serveTestAdmin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Jwtrevoke-Seq"); got != "2" {
		t.Errorf("Jwtrevoke-Seq = %q, want 2", got)
	}
	mresp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(b), "jwtrevoke_agents_live 1") {
		t.Error("/metrics has no jwtrevoke_agents_live 1")
	}
}
