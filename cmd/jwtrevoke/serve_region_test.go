package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/region"
)

// TestServeInARegion: serve connected to a region's leaf node with
// --hub-domain hub writes its revocations to the hub's stream and checks
// tokens with an agent on the region's mirror: the sequence it answers is
// the hub's, an agent at the hub applies it, and serve's own agent refuses
// the token once the mirror has it.
func TestServeInARegion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), serveWait)
	defer cancel()
	hub, leaf := testkit.HubAndRegion(t)
	testkit.NewPublisher(t, testkit.Connect(t, hub.ClientURL())) // the hub's stream, 1h contract
	if _, err := region.Ensure(ctx, testkit.Connect(t, leaf.ClientURL()), region.Config{}); err != nil {
		t.Fatal(err)
	}
	hubAgent := testkit.NewAgent(t, testkit.Connect(t, hub.ClientURL()))
	p := startServe(t, "--server", leaf.ClientURL(), "--hub-domain", region.DefaultHubDomain)

	raw := serveToken(t, serveTestSecret, "in-region", "carol", time.Now().Add(-time.Minute))
	if !p.active(t, raw) {
		t.Fatal("a fresh token is inactive at the region's serve")
	}
	status, body := p.admin(t, `{"kind":"sub","key":"carol"}`)
	if status != http.StatusOK {
		t.Fatalf("POST /admin/revoke: %d %s", status, body)
	}
	var rc struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(body, &rc); err != nil || rc.Seq == 0 {
		t.Fatalf("POST /admin/revoke: %s (%v), want its sequence", body, err)
	}
	testkit.WaitApplied(t, hubAgent, rc.Seq) // written to the hub
	p.eventuallyInactive(t, "carol's token at the region's serve", raw)
	if !strings.Contains(p.out.String(), "mirror") {
		t.Errorf("serve's log does not say its stream is a mirror:\n%s", p.out.String())
	}
}
