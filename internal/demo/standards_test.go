package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/cli/clitool"
	"github.com/jwtrevoke/jwtrevoke/internal/demo/demotest"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// TestDemoStandards: the demo's OAuth endpoints as RFC 7662 and RFC 7009
// ask, and a revoked token refused at /logout.
func TestDemoStandards(t *testing.T) {
	port := demotest.PortBlock(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := start(ctx, &clitool.Globals{Stream: "JWTREVOKE", MaxLifetime: time.Hour}, config{
		listen:     fmt.Sprintf("127.0.0.1:%d", port),
		replicas:   1,
		natsListen: fmt.Sprintf("127.0.0.1:%d", demotest.Port(t)),
		data:       t.TempDir(),
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dc := demotest.NewClient(t, port, 1, d.clientSecret)
	dc.WaitReady(ctx)
	// Every /readyz answers from its agent's health; a replica says which
	// it is.
	for _, base := range append([]string{dc.Issuer}, dc.Replicas...) {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var ready map[string]any
		err = json.NewDecoder(res.Body).Decode(&ready)
		res.Body.Close()
		_, hasReplica := ready["replica"]
		if err != nil || res.StatusCode != http.StatusOK || ready["ready"] != true || ready["stale"] != false ||
			ready["staleness_ms"] == nil || ready["last_applied"] == nil || hasReplica != (base != dc.Issuer) {
			t.Errorf("GET %s/readyz = %d %v (%v), want 200 with the agent's health", base, res.StatusCode, ready, err)
		}
	}
	p := dc.Login("alice")
	form := url.Values{"token": {p.Access}}

	// RFC 7662 §2.1/§4: introspection requires client authentication.
	if status, body := dc.PostForm("/introspect", form, "", ""); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("/introspect without client authentication = %d %v, want 401 invalid_client", status, body)
	}
	if status, body := dc.PostForm("/introspect", form, demotest.ClientID, "wrong"); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("/introspect with a wrong client secret = %d %v, want 401 invalid_client", status, body)
	}
	if status, body := dc.PostForm("/introspect", form, demotest.ClientID, dc.Secret); status != http.StatusOK || body["active"] != true {
		t.Errorf("/introspect as the client = %d %v, want active", status, body)
	}
	// RFC 7009: anyone holding a token may revoke it (a public client), but
	// wrong credentials are still invalid_client; an unknown hint is ignored.
	if status, body := dc.PostForm("/revoke", url.Values{"token": {"not-a-token"}}, demotest.ClientID, "wrong"); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("/revoke with a wrong client secret = %d %v, want 401 invalid_client", status, body)
	}
	if status, body := dc.PostForm("/revoke", url.Values{"token": {"not-a-token"}, "token_type_hint": {"id_token"}}, "", ""); status != http.StatusOK {
		t.Errorf("/revoke with an unknown token_type_hint = %d %v, want 200 (RFC 7009 §2.2: ignored)", status, body)
	}

	// /logout works once; the revoked token is refused after that.
	status, body, hdr := dc.PostJSON("/logout", nil, p.Access)
	if status != http.StatusOK {
		t.Fatalf("/logout = %d %v, want 200", status, body)
	}
	// Confirmed by every agent (the replicas and the issuer's), with the
	// sequence to carry in Jwtrevoke-Seq.
	if body["confirmed"] != body["agents"] || body["agents"] == float64(0) || body["confirmed_ms"] == nil || hdr.Get("Jwtrevoke-Seq") == "" {
		t.Errorf("/logout = %v (Jwtrevoke-Seq %q), want confirmed by all agents", body, hdr.Get("Jwtrevoke-Seq"))
	}
	testkit.Eventually(t, "the logged-out token inactive at /introspect", func() bool {
		_, body := dc.PostForm("/introspect", form, demotest.ClientID, dc.Secret)
		return body["active"] == false
	})
	for _, path := range []string{"/logout", "/logout-all"} {
		if status, body, h := dc.PostJSON(path, nil, p.Access); status != http.StatusUnauthorized || body["reason"] != "revoked" || h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s with the revoked token = %d %v, want 401 revoked with WWW-Authenticate", path, status, body)
		}
	}
}
