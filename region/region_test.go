package region_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/freeport"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/region"
	"github.com/jwtrevoke/jwtrevoke/snapshot"
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
	if res.Region != "region-a" || res.Consumer != region.DurableName(jwtrevoke.DefaultStream, "region-a") {
		t.Fatalf("first Ensure: region %q, consumer %q", res.Region, res.Consumer)
	}
	hubNC := testkit.Connect(t, hub.ClientURL())
	hubJS := testkit.JetStream(t, hubNC)
	// A push consumer, which nats.go's jetstream package does not look up.
	consumer := func() (deliver, ack string, err error) {
		m, err := hubNC.Request("$JS.API.CONSUMER.INFO."+jwtrevoke.DefaultStream+"."+res.Consumer, nil, testkit.Patience)
		if err != nil {
			return "", "", err
		}
		var ci struct {
			Config struct {
				DeliverSubject string `json:"deliver_subject"`
				AckPolicy      string `json:"ack_policy"`
			} `json:"config"`
			Error *struct{ Description string } `json:"error"`
		}
		if err := json.Unmarshal(m.Data, &ci); err != nil {
			return "", "", err
		}
		if ci.Error != nil {
			return "", "", errors.New(ci.Error.Description)
		}
		return ci.Config.DeliverSubject, ci.Config.AckPolicy, nil
	}
	if deliver, ack, err := consumer(); err != nil || deliver != region.DeliverSubject(jwtrevoke.DefaultStream, "region-a") || ack != "flow_control" {
		t.Fatalf("the mirror's consumer at the hub: deliver %q, ack %q, %v", deliver, ack, err)
	}
	again, err := region.Ensure(ctx, regionNC, region.Config{})
	if err != nil || again.Created || again.Consumer != res.Consumer {
		t.Fatalf("second Ensure: created %v, consumer %q, %v; want found, the same consumer", again.Created, again.Consumer, err)
	}
	// The hub's consumer removed (an operator's mistake): made again.
	if err := hubJS.DeleteConsumer(ctx, jwtrevoke.DefaultStream, res.Consumer); err != nil {
		t.Fatal(err)
	}
	if _, err := region.Ensure(ctx, regionNC, region.Config{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := consumer(); err != nil {
		t.Fatalf("the mirror's consumer at the hub after Ensure made it again: %v", err)
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
	// create makes a region stream. Right after a stream of the same name
	// was deleted, the server may still be removing its store and answer
	// "error creating store for stream" (10049): that one is retried until
	// the store is gone.
	create := func(what string, cfg jetstream.StreamConfig) {
		t.Helper()
		var err error
		testkit.Eventually(t, what+" created", func() bool {
			_, err = regionJS.CreateStream(ctx, cfg)
			var ae *jetstream.APIError
			return err == nil || !errors.As(err, &ae) || ae.ErrorCode != 10049
		})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	del := func(js jetstream.JetStream, name string) {
		t.Helper()
		if err := js.DeleteStream(ctx, name); err != nil {
			t.Fatal(err)
		}
	}

	refused("no stream at the hub yet", "does the hub's stream exist", region.Config{})
	refused("a hub domain of two tokens", "not a JetStream domain", region.Config{HubDomain: "hub.x"})

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

	refused("connected to the hub itself", "hub's JetStream domain", region.Config{}, hub)

	create("a region stream of its own", jetstream.StreamConfig{Name: jwtrevoke.DefaultStream, Subjects: []string{"jwtrevoke.v1.>"}, Metadata: oc.Metadata})
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
		create("a mirror "+want, c)
		refused("a mirror "+want, want, region.Config{})
		// DenyDelete keeps a stream, not its removal by the API.
		del(regionJS, jwtrevoke.DefaultStream)
	}

	// A mirror made by hand with an ephemeral consumer serves (more slowly
	// after a cut), and Ensure says so.
	create("a mirror with an ephemeral consumer", region.MirrorConfig(oc, region.DefaultHubDomain, 1))
	if res, err := region.Ensure(ctx, regionNC, region.Config{}); err != nil || res.Consumer != "" {
		t.Errorf("a mirror with an ephemeral consumer: consumer %q, %v; want accepted, no consumer", res.Consumer, err)
	}
	del(regionJS, jwtrevoke.DefaultStream)
	// A consumer of the durable's name at the hub that is something else.
	name := region.DurableName(jwtrevoke.DefaultStream, "region-a")
	if _, err := hubJS.CreateConsumer(ctx, jwtrevoke.DefaultStream, jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	refused("another consumer of the mirror's name at the hub", "not this region's mirror consumer", region.Config{})
	if err := hubJS.DeleteConsumer(ctx, jwtrevoke.DefaultStream, name); err != nil {
		t.Fatal(err)
	}

	if _, err := hubJS.CreateStream(ctx, jetstream.StreamConfig{Name: "COPY", Metadata: oc.Metadata, Mirror: &jetstream.StreamSource{Name: jwtrevoke.DefaultStream}}); err != nil {
		t.Fatal(err)
	}
	refused("the hub's stream a mirror", "itself a mirror", region.Config{Stream: "COPY"})

	alone := testkit.Server(t, &server.Options{ServerName: "alone", JetStreamDomain: "region-x"})
	// Ensure waits for a link until its context ends, then says so.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := region.Ensure(short, testkit.Connect(t, alone.ClientURL()), region.Config{}); !errors.Is(err, region.ErrMirror) || !strings.Contains(err.Error(), "is this leaf node connected") {
		t.Errorf("a leaf node not connected to the hub: %v, want ErrMirror asking whether it is connected", err)
	}

	// The region's real mirror is made once all of that is gone.
	if _, err := region.Ensure(ctx, regionNC, region.Config{}); err != nil {
		t.Fatal(err)
	}
}

// TestEnsureWaitsForTheLink: Ensure, and a publisher writing through the
// hub's domain, run on a region's leaf node before its link to the hub is
// up (a bring-up starting them at once) wait for the link instead of
// failing on "no responders".
func TestEnsureWaitsForTheLink(t *testing.T) {
	ports, err := freeport.Take(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { freeport.Release(ports...) })
	store := t.TempDir()
	hubOptions := func() *server.Options {
		return &server.Options{ServerName: "hub", JetStreamDomain: testkit.HubDomain, StoreDir: store,
			LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: ports[0]}}
	}
	hub := testkit.Server(t, hubOptions())
	testkit.NewPublisher(t, testkit.Connect(t, hub.ClientURL())) // the hub's stream
	hub.Shutdown()
	hub.WaitForShutdown()

	remote, err := url.Parse("nats-leaf://127.0.0.1:" + strconv.Itoa(ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	leaf := testkit.Server(t, &server.Options{ServerName: "region-a", JetStreamDomain: "region-a",
		LeafNode: server.LeafNodeOpts{ReconnectInterval: 100 * time.Millisecond, Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{remote}}}}})
	regionNC := testkit.Connect(t, leaf.ClientURL())
	ensured, published := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := region.Ensure(ctxT(t), regionNC, region.Config{})
		ensured <- err
	}()
	// A region's publisher (serve or revoke --hub-domain) started as well.
	go func() {
		_, err := publisher.New(ctxT(t), testkit.Connect(t, leaf.ClientURL()), publisher.WithDomain(testkit.HubDomain))
		published <- err
	}()
	// Both first requests have reached the leaf node, which has no link.
	testkit.Eventually(t, "the first requests at the leaf node", func() bool {
		v, err := leaf.Varz(nil)
		return err == nil && v.InMsgs >= 2
	})
	select {
	case err := <-ensured:
		t.Fatalf("Ensure ended before the hub was up: %v", err)
	case err := <-published:
		t.Fatalf("publisher.New through the hub's domain ended before the hub was up: %v", err)
	default:
	}
	testkit.Server(t, hubOptions())
	if err := <-ensured; err != nil {
		t.Fatal(err)
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotInARegion: a snapshot taken from a region's mirror (what
// serve --snapshot-every or jwtrevoke snapshot does there) is written to
// the region's own bucket under the hub's sequence numbers, and a new
// agent in the region starts from it and applies only what came after.
func TestSnapshotInARegion(t *testing.T) {
	hub, leaf := testkit.HubAndRegion(t)
	ctx := ctxT(t)
	pub := testkit.NewPublisher(t, testkit.Connect(t, hub.ClientURL()))
	revoke := func(prefix string, n int) uint64 {
		t.Helper()
		now := time.Now()
		revs := make([]jwtrevoke.Revocation, n)
		for i := range revs {
			revs[i] = jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("%s-%d", prefix, i), Before: now, Expires: now.Add(time.Hour)}
		}
		rcs, err := pub.RevokeBatch(ctx, revs)
		if err != nil {
			t.Fatal(err)
		}
		return rcs[len(rcs)-1].Seq
	}
	before := revoke("before", 30)
	regionNC := testkit.Connect(t, leaf.ClientURL())
	if _, err := region.Ensure(ctx, regionNC, region.Config{}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitApplied(t, testkit.NewAgent(t, regionNC), before) // the mirror holds them

	e, err := snapshot.Take(ctx, testkit.JetStream(t, regionNC))
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != before || e.Count != 30 {
		t.Fatalf("snapshot of the mirror at seq %d with %d revocations, want the hub's seq %d and 30", e.Seq, e.Count, before)
	}
	after := revoke("after", 5)
	a := testkit.NewAgent(t, testkit.Connect(t, leaf.ClientURL()))
	if st := a.Stats(); st.SnapshotSeq != e.Seq || st.SnapshotLoads[agent.SnapshotLoaded] == 0 {
		t.Fatalf("region agent started from snapshot %d, loads %v; want %d, loaded", st.SnapshotSeq, st.SnapshotLoads, e.Seq)
	}
	testkit.WaitApplied(t, a, after)
	if st := a.Stats(); st.EventsApplied != 5 {
		t.Errorf("region agent applied %d events, want the 5 after the snapshot", st.EventsApplied)
	}
	for _, k := range []string{"before-0", "before-29", "after-0", "after-4"} {
		tok := jwtrevoke.Token{JTI: k, IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if a.Check(&tok).Allowed {
			t.Errorf("region agent allows %s", k)
		}
	}
}

// TestLeafCluster: a region run as a leaf cluster of three with the
// mirror replicated three times (docs/regions.md) keeps serving its
// agents when the node leading the mirror dies: a revocation made at the
// hub afterwards reaches the agents on the two nodes left.
func TestLeafCluster(t *testing.T) {
	ports, err := freeport.Take(4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { freeport.Release(ports...) })
	hub := testkit.Server(t, &server.Options{ServerName: "hub", JetStreamDomain: testkit.HubDomain,
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: ports[0]}})
	ctx := ctxT(t)
	pub := testkit.NewPublisher(t, testkit.Connect(t, hub.ClientURL()))
	hubURL, err := url.Parse("nats-leaf://127.0.0.1:" + strconv.Itoa(ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	routes := make([]*url.URL, 3)
	for i := range routes {
		if routes[i], err = url.Parse("nats-route://127.0.0.1:" + strconv.Itoa(ports[1+i])); err != nil {
			t.Fatal(err)
		}
	}
	nodes := make([]*server.Server, 3)
	for i := range nodes {
		// Each is ready for clients at once; their JetStream cluster forms
		// once all three are up (waited for below).
		nodes[i] = testkit.Server(t, &server.Options{ServerName: fmt.Sprintf("region-a-%d", i), JetStreamDomain: "region-a",
			Cluster:  server.ClusterOpts{Name: "region-a", Host: "127.0.0.1", Port: ports[1+i]},
			Routes:   routes,
			LeafNode: server.LeafNodeOpts{ReconnectInterval: 100 * time.Millisecond, Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{hubURL}}}}})
	}
	for _, nd := range nodes {
		testkit.WaitLinked(t, nd, testkit.HubDomain)
	}
	regionNC := testkit.Connect(t, nodes[0].ClientURL())
	testkit.Eventually(t, "the region's JetStream cluster ready", func() bool {
		// Each try bounded: a request sent before the cluster has a
		// leader goes unanswered.
		actx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := testkit.JetStream(t, regionNC).AccountInfo(actx)
		return err == nil
	})
	res, err := region.Ensure(ctx, regionNC, region.Config{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mirror.Config.Replicas != 3 {
		t.Fatalf("mirror replicas %d, want 3", res.Mirror.Config.Replicas)
	}
	agents := make([]*agent.Agent, 3)
	for i, nd := range nodes {
		agents[i] = testkit.NewAgent(t, testkit.Connect(t, nd.ClientURL()))
	}
	revoke := func(key string) uint64 {
		t.Helper()
		rc, err := pub.RevokeJTI(ctx, key, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return rc.Seq
	}
	seq := revoke("before-failover")
	for _, a := range agents {
		testkit.WaitApplied(t, a, seq)
	}

	var leader string
	testkit.Eventually(t, "the mirror's leader known", func() bool {
		st, err := testkit.JetStream(t, regionNC).Stream(ctx, jwtrevoke.DefaultStream)
		if err != nil || st.CachedInfo().Cluster == nil {
			return false
		}
		leader = st.CachedInfo().Cluster.Leader
		return leader != ""
	})
	var left []*agent.Agent
	killed := time.Now()
	for i, nd := range nodes {
		if nd.Name() == leader {
			nd.Shutdown()
			nd.WaitForShutdown()
			continue
		}
		left = append(left, agents[i])
	}
	if len(left) != 2 {
		t.Fatalf("the mirror's leader %q is none of the region's nodes", leader)
	}
	seq = revoke("after-failover")
	tok := jwtrevoke.Token{JTI: "after-failover", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	clean := jwtrevoke.Token{JTI: "never-revoked", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	for _, a := range left {
		testkit.WaitApplied(t, a, seq)
		if a.Check(&tok).Allowed {
			t.Error("an agent on a surviving node allows a token the hub revoked after the failover")
		}
		testkit.Eventually(t, "a surviving agent fresh again", func() bool { return a.Check(&clean).Allowed })
	}
	t.Logf("the mirror's leader %s killed: the next revocation applied and both other agents fresh %v later", leader, time.Since(killed).Round(time.Millisecond))
}
