package agent_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/natsserver"
)

// TestIntrospectionStaleFailsOpenSaysSo: under FailOpen a stale agent still
// answers active, and the answer says it came from a stale agent — the
// "stale" member and the Jwtrevoke-Stale header — as Result.Stale does in
// Go. A fresh answer carries neither.
func TestIntrospectionStaleFailsOpenSaysSo(t *testing.T) {
	// The agent's clock moves only when the test moves it (see
	// TestIntrospectionStaleFailsClosed).
	const bound = 100 * time.Millisecond
	s := natsserver.Run(t, "")
	newPublisher(t, connect(t, s.ClientURL())) // creates the stream
	clk := newManualClock()
	a := newAgent(t, connect(t, s.ClientURL()), agent.WithStaleness(bound), agent.WithClock(clk.Now), agent.WithPolicy(agent.FailOpen))
	v, err := agent.NewVerifier(agent.Keyfunc(hmacKeyfunc), []string{"HS256"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := agent.NewIntrospectionHandler(a, v, agent.WithPublicClient())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	raw := hs256(t, claims("open-1", "alice", "s", time.Now()), "")
	if _, hdr, body := introspect(t, srv.URL, introReq{body: tokenForm(raw)}); !strings.HasPrefix(body, `{"active":true`) || strings.Contains(body, `"stale"`) || hdr.Get(agent.StaleHeader) != "" {
		t.Fatalf("fresh agent: body %s, %s %q; want active, neither marked stale", body, agent.StaleHeader, hdr.Get(agent.StaleHeader))
	}
	s.Shutdown()
	s.WaitForShutdown()
	clk.Advance(bound + time.Nanosecond)
	if r := a.Check(&jwtrevoke.Token{JTI: "probe"}); !r.Stale || !r.Allowed {
		t.Fatalf("Check() past the bound with the server down, failing open = %+v, want stale, allowed", r)
	}
	_, hdr, body := introspect(t, srv.URL, introReq{body: tokenForm(raw)})
	if !strings.HasPrefix(body, `{"active":true`) || !strings.Contains(body, `"stale":true`) || hdr.Get(agent.StaleHeader) != "stale" {
		t.Errorf("stale agent under FailOpen: body %s, %s %q; want active with \"stale\":true and the header \"stale\"", body, agent.StaleHeader, hdr.Get(agent.StaleHeader))
	}
}
