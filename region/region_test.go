package region_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/region"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	t.Cleanup(cancel)
	return ctx
}

// TestEnsure: the mirror is made with the hub stream's contract, a second
// Ensure finds it good, a region publisher writes to the hub through its
// leaf node and the region's agent applies the event under the hub's
// sequence number.
func TestEnsure(t *testing.T) {
	hub, leaf := testkit.HubAndRegion(t)
	ctx := ctxT(t)
	testkit.NewPublisher(t, testkit.Connect(t, hub.ClientURL()), publisher.WithMaxTokenLifetime(2*time.Hour))
	regionNC := testkit.Connect(t, leaf.ClientURL())

	res, err := region.Ensure(ctx, regionNC, region.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Contract.MaxTokenLifetime != 2*time.Hour {
		t.Fatalf("first Ensure: created %v, contract %+v; want created, 2h", res.Created, res.Contract)
	}
	m := res.Mirror.Config
	if m.Mirror == nil || m.Mirror.External == nil || m.Mirror.External.APIPrefix != "$JS.hub.API" || !m.DenyDelete || !m.DenyPurge || m.MaxAge != res.Origin.Config.MaxAge {
		t.Fatalf("mirror config %+v", m)
	}
	again, err := region.Ensure(ctx, regionNC, region.Config{})
	if err != nil || again.Created {
		t.Fatalf("second Ensure: created %v, %v; want found, nil", again.Created, err)
	}

	// A publisher in the region without the hub's domain finds the mirror
	// and is refused, saying where to write.
	if _, err := publisher.New(ctx, regionNC); err == nil || !strings.Contains(err.Error(), "mirror") || !strings.Contains(err.Error(), "WithDomain") {
		t.Fatalf("publisher on the region's mirror: %v, want a refusal naming WithDomain", err)
	}
	// Both follow the contract they find: the hub's, read at the hub by
	// the publisher and in the mirror by the agent.
	pub, err := publisher.New(ctx, regionNC, publisher.WithDomain(region.DefaultHubDomain))
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(ctx, regionNC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	rc, err := pub.RevokeJTI(ctx, "from-region", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitApplied(t, a, rc.Seq)
	tok := jwtrevoke.Token{JTI: "from-region", IssuedAt: time.Now().Add(-time.Minute), ExpiresAt: time.Now().Add(time.Hour)}
	if a.Check(&tok).Allowed {
		t.Fatal("the region's agent allows a token revoked in the region")
	}
	hubJS := testkit.JetStream(t, testkit.Connect(t, hub.ClientURL()))
	st, err := hubJS.Stream(ctx, jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := st.GetMsg(ctx, rc.Seq); err != nil || !strings.Contains(msg.Subject, "jti") {
		t.Fatalf("event %d at the hub: %v %v", rc.Seq, msg, err)
	}
}

// TestEnsureRefuses: every region stream or hub stream that cannot serve
// is refused with ErrMirror, saying why.
func TestEnsureRefuses(t *testing.T) {
	hub, leaf := testkit.HubAndRegion(t)
	ctx := ctxT(t)
	hubNC := testkit.Connect(t, hub.ClientURL())
	hubJS := testkit.JetStream(t, hubNC)
	regionNC := testkit.Connect(t, leaf.ClientURL())
	regionJS := testkit.JetStream(t, regionNC)
	refused := func(what, want string, c region.Config, on ...*server.Server) {
		t.Helper()
		nc := regionNC
		if len(on) > 0 {
			nc = testkit.Connect(t, on[0].ClientURL())
		}
		_, err := region.Ensure(ctx, nc, c)
		if !errors.Is(err, region.ErrMirror) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrMirror saying %q", what, err, want)
		}
	}
	del := func(js jetstream.JetStream, name string) {
		t.Helper()
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Fatal(err)
		}
	}

	refused("no stream at the hub yet", "does the hub's stream exist", region.Config{})

	if _, err := hubJS.CreateStream(ctx, jetstream.StreamConfig{Name: jwtrevoke.DefaultStream, Subjects: []string{"jwtrevoke.v1.>"}}); err != nil {
		t.Fatal(err)
	}
	refused("hub stream made by hand", "no contract", region.Config{})
	del(hubJS, jwtrevoke.DefaultStream)
	testkit.NewPublisher(t, hubNC)
	origin, err := hubJS.Stream(ctx, jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	oc := origin.CachedInfo().Config

	refused("connected to the hub itself", "not a mirror", region.Config{}, hub)

	if _, err := regionJS.CreateStream(ctx, jetstream.StreamConfig{Name: jwtrevoke.DefaultStream, Subjects: []string{"jwtrevoke.v1.>"}, Metadata: oc.Metadata}); err != nil {
		t.Fatal(err)
	}
	refused("a region stream of its own", "not a mirror", region.Config{})
	del(regionJS, jwtrevoke.DefaultStream)

	bad := map[string]func(*jetstream.StreamConfig){
		"filtered":           func(c *jetstream.StreamConfig) { c.Mirror.FilterSubject = "jwtrevoke.v1.jti.>" },
		"shorter":            func(c *jetstream.StreamConfig) { c.MaxAge = time.Hour },
		"another contract":   func(c *jetstream.StreamConfig) { c.Metadata = map[string]string{} },
		"through API prefix": func(c *jetstream.StreamConfig) { c.Mirror.External.APIPrefix = "$JS.elsewhere.API" },
		"append-only":        func(c *jetstream.StreamConfig) { c.DenyDelete, c.DenyPurge = false, false },
		"direct get":         func(c *jetstream.StreamConfig) { c.AllowDirect = false },
	}
	for want, change := range bad {
		c := region.MirrorConfig(oc, region.DefaultHubDomain, 1)
		change(&c)
		c.DenyDelete, c.DenyPurge = false, false // so that the test can remove it
		if want != "append-only" {
			c.DenyDelete, c.DenyPurge = true, true
		}
		if _, err := regionJS.CreateStream(ctx, c); err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		refused("a mirror "+want, want, region.Config{})
		// DenyDelete keeps a stream, not its removal by the API.
		del(regionJS, jwtrevoke.DefaultStream)
	}

	if _, err := hubJS.CreateStream(ctx, jetstream.StreamConfig{Name: "COPY", Metadata: oc.Metadata, Mirror: &jetstream.StreamSource{Name: jwtrevoke.DefaultStream}}); err != nil {
		t.Fatal(err)
	}
	refused("the hub's stream a mirror", "itself a mirror", region.Config{Stream: "COPY"})

	alone := testkit.Server(t, &server.Options{ServerName: "alone", JetStreamDomain: "region-x"})
	refused("a leaf node not connected to the hub", "is this leaf node connected", region.Config{}, alone)

	// The region's real mirror is made once all of that is gone.
	if _, err := region.Ensure(ctx, regionNC, region.Config{}); err != nil {
		t.Fatal(err)
	}
}
