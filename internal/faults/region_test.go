package faults

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/freeport"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/region"
)

// TestRegionMirror: a region's leaf node holds a mirror of the hub's
// revocation stream and its agent reads the mirror. It applies what the
// hub is sent; when the region's link to the hub is cut, the agent goes
// stale within its bound, although it still hears its own leaf node (the
// mirror alone cannot know what the hub holds); a revocation acknowledged
// by the hub meanwhile is applied once the link is back, and the agent is
// fresh again. The same holds for a region stream that sources the hub's
// (made by hand; region.Ensure makes mirrors): fed from elsewhere, it is
// only as fresh as its origin.
func TestRegionMirror(t *testing.T) {
	parallel(t)
	for _, tc := range []struct {
		name string
		make func(t *testing.T, ctx context.Context, regionNC, hubNC *nats.Conn)
	}{
		{"mirror", func(t *testing.T, ctx context.Context, regionNC, _ *nats.Conn) {
			// The mirror carries the origin's contract, so that agents
			// reading it follow the same one.
			if _, err := region.Ensure(ctx, regionNC, region.Config{HubDomain: "hub"}); err != nil {
				t.Fatalf("creating the region's mirror: %v", err)
			}
		}},
		{"sources", func(t *testing.T, ctx context.Context, regionNC, hubNC *nats.Conn) {
			origin, err := testkit.JetStream(t, hubNC).Stream(ctx, jwtrevoke.DefaultStream)
			if err != nil {
				t.Fatal(err)
			}
			oc := origin.CachedInfo().Config
			if _, err := testkit.JetStream(t, regionNC).CreateStream(ctx, jetstream.StreamConfig{
				Name: jwtrevoke.DefaultStream, Metadata: oc.Metadata, MaxAge: oc.MaxAge, AllowDirect: true,
				Sources: []*jetstream.StreamSource{{Name: jwtrevoke.DefaultStream, External: &jetstream.ExternalStream{APIPrefix: region.APIPrefix("hub")}}},
			}); err != nil {
				t.Fatalf("creating a region stream sourcing the hub's: %v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { regionCut(t, tc.make) })
	}
}

func regionCut(t *testing.T, makeStream func(t *testing.T, ctx context.Context, regionNC, hubNC *nats.Conn)) {
	// Well above the mirror's heartbeat to its origin (about a second), as a
	// deployment's must be: an idle, healthy link must not look cut.
	const staleness = 3 * time.Second
	ports, err := freeport.Take(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { freeport.Release(ports...) })
	hub := testkit.Server(t, &natsserver.Options{ServerName: "hub", JetStreamDomain: "hub",
		LeafNode: natsserver.LeafNodeOpts{Host: "127.0.0.1", Port: ports[0]}})
	l := newLink(t, "region-a", "127.0.0.1:"+strconv.Itoa(ports[0]))
	remote, err := url.Parse("nats-leaf://" + l.proxy.Listen)
	if err != nil {
		t.Fatal(err)
	}
	leaf := testkit.Server(t, &natsserver.Options{ServerName: "region-a", JetStreamDomain: "region-a",
		LeafNode: natsserver.LeafNodeOpts{ReconnectInterval: 100 * time.Millisecond, Remotes: []*natsserver.RemoteLeafOpts{{URLs: []*url.URL{remote}}}}})
	testkit.WaitLinked(t, leaf, "hub")

	hubNC := dial(t, hub.ClientURL())
	pub := testkit.NewPublisher(t, hubNC)
	ctx := context.Background()
	regionNC := dial(t, leaf.ClientURL())
	makeStream(t, ctx, regionNC, hubNC)
	a := testkit.NewAgent(t, regionNC, agent.WithStaleness(staleness))

	tok := func(i int) jwtrevoke.Token { return jtiToken(fmt.Sprintf("region-%d", i)) }
	rc, err := pub.RevokeJTI(ctx, "region-1", tokenExp)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	testkit.WaitApplied(t, a, rc.Seq)
	t.Logf("hub → region agent: %v", time.Since(start).Round(time.Microsecond))
	t1 := tok(1)
	if a.Check(&t1).Allowed {
		t.Fatal("the region's agent allows a token the hub revoked")
	}
	testkit.Eventually(t, "the region's agent fresh", func() bool { return !a.Health().Stale })
	idleUntil := time.Now().Add(2 * staleness)
	for time.Now().Before(idleUntil) {
		if h := a.Health(); h.Stale {
			t.Fatalf("the region's agent went stale on an idle, healthy link: %+v", h)
		}
		time.Sleep(50 * time.Millisecond)
	}

	l.cut(t)
	cut := time.Now()
	rc2, err := pub.RevokeJTI(ctx, "region-2", tokenExp)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the cut-off region's agent stale", func() bool { return a.Health().Stale })
	t.Logf("region cut off: its agent stale %v after the cut (bound %v)", time.Since(cut).Round(time.Millisecond), staleness)
	t2 := tok(2)
	if res := a.Check(&t2); res.Allowed {
		t.Error("the cut-off region's agent (fail closed) allows a token while it cannot know the hub's revocations")
	}
	if a.LastApplied() >= rc2.Seq {
		t.Fatal("the revocation made during the cut crossed the cut link")
	}

	l.heal(t)
	healed := time.Now()
	testkit.WaitApplied(t, a, rc2.Seq)
	t.Logf("link back: the revocation acknowledged during the cut applied %v later", time.Since(healed).Round(time.Millisecond))
	testkit.Eventually(t, "the region's agent fresh again", func() bool { return !a.Health().Stale })
	if res := a.Check(&t2); res.Allowed || res.Reason() != jwtrevoke.ReasonRevoked {
		t.Errorf("after the link is back: %+v, want revoked", res)
	}
}
