package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jwtrevoke/jwtrevoke/examples/internal/testbed"
)

// TestExampleAPI runs the API as compose runs it — demo login, HMAC keys —
// against a NATS server with the revocation stream: ready once replayed,
// /hello answers a logged-in user, and refuses the token once revoked.
func TestExampleAPI(t *testing.T) {
	b := testbed.New(t)
	env := map[string]string{
		"NATS_URL":               b.URL,
		"JWTREVOKE_HMAC_SECRET":  string(testbed.Secret),
		"JWTREVOKE_MAX_LIFETIME": "1h",
		"LISTEN":                 "127.0.0.1:0",
		"EXAMPLE_API_DEMO_LOGIN": "true",
		// Staleness is the agent package's to test. Here a bound of a
		// minute, a large multiple of the probe round trip, keeps the API
		// fresh (ready, answering 200) however slow the machine is
		// between two requests.
		"JWTREVOKE_STALENESS": "1m",
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return env[k] }, slog.New(slog.DiscardHandler), func(a string) { addr <- a })
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("run = %v before listening", err)
	case <-time.After(testbed.Patience):
		t.Fatalf("not listening after %v", testbed.Patience)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run after cancel = %v, want nil", err)
		}
	}()

	call := func(method, path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	deadline := time.Now().Add(testbed.Patience)
	for {
		code, _ := call(http.MethodGet, "/readyz", "")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d after %v, want 200", code, testbed.Patience)
		}
		time.Sleep(20 * time.Millisecond)
	}

	code, body := call(http.MethodPost, "/login?sub=alice", "")
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &login); code != http.StatusOK || err != nil {
		t.Fatalf("POST /login = %d %s", code, body)
	}
	if code, body := call(http.MethodGet, "/hello", login.AccessToken); code != http.StatusOK || !strings.Contains(body, `"hello":"alice"`) {
		t.Fatalf("GET /hello = %d %s, want 200 hello alice", code, body)
	}

	// Log out: revoke the token's session, as a logout handler would.
	tok, _, err := jwt.NewParser().ParseUnverified(login.AccessToken, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	sid, _ := tok.Claims.(jwt.MapClaims)["sid"].(string)
	rctx, rcancel := context.WithTimeout(ctx, testbed.Patience)
	defer rcancel()
	if _, err := b.Pub.RevokeSession(rctx, sid, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// The API's agent is its own, inside run: poll its answer until the
	// revocation reaches it (milliseconds), for at most Patience.
	for deadline := time.Now().Add(testbed.Patience); ; time.Sleep(10 * time.Millisecond) {
		code, body := call(http.MethodGet, "/hello", login.AccessToken)
		if code == http.StatusUnauthorized && strings.Contains(body, `"reason":"revoked"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /hello after the session was revoked = %d %s, want 401 revoked", code, body)
		}
	}
	if code, body := call(http.MethodGet, "/metrics", ""); code != http.StatusOK || !strings.Contains(body, "jwtrevoke_checks_total") {
		t.Errorf("GET /metrics = %d, without jwtrevoke_checks_total", code)
	}
}

func TestLoadConfig(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // error substring, "" for none
	}{
		{map[string]string{}, "NATS_URL"},
		{map[string]string{"NATS_URL": "nats://x"}, "no keys"},
		{map[string]string{"NATS_URL": "nats://x", "JWTREVOKE_HMAC_SECRET": "short"}, "32"},
		{map[string]string{"NATS_URL": "nats://x", "JWTREVOKE_HMAC_SECRET": string(testbed.Secret), "JWTREVOKE_JWKS_URL": "https://id/jwks"}, "not both"},
		{map[string]string{"NATS_URL": "nats://x", "JWTREVOKE_JWKS_URL": "https://id/jwks", "EXAMPLE_API_DEMO_LOGIN": "true"}, "DEMO_LOGIN"},
		{map[string]string{"NATS_URL": "nats://x", "JWTREVOKE_HMAC_SECRET": string(testbed.Secret), "JWTREVOKE_STALENESS": "soon"}, "STALENESS"},
		{map[string]string{"NATS_URL": "nats://x", "JWTREVOKE_HMAC_SECRET": string(testbed.Secret)}, ""},
	} {
		_, err := loadConfig(func(k string) string { return tc.env[k] })
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("loadConfig(%v) = %v, want nil", tc.env, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("loadConfig(%v) = %v, want an error about %s", tc.env, err, tc.want)
		}
	}
}
