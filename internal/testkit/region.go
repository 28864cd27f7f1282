package testkit

import (
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/jwtrevoke/jwtrevoke/internal/freeport"
)

// HubDomain is the JetStream domain of the hub HubAndRegion starts.
const HubDomain = "hub"

// Server starts an in-process server with JetStream as o says (its
// domain, leaf node settings), on a free loopback port with its store in a
// temporary directory unless o names one, and shuts it down when the test
// ends.
func Server(t testing.TB, o *server.Options) *server.Server {
	t.Helper()
	o.Host, o.Port, o.JetStream, o.NoSigs, o.NoLog = "127.0.0.1", -1, true, true, true
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(Patience) {
		t.Fatalf("server %s not ready", o.ServerName)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// HubAndRegion starts a hub (JetStream domain HubDomain, with a leaf node
// listener) and a region's leaf node (domain "region-a") connected to it,
// and waits for the leaf node's link (WaitLinked).
func HubAndRegion(t testing.TB) (hub, leaf *server.Server) {
	t.Helper()
	ports, err := freeport.Take(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { freeport.Release(ports...) })
	hub = Server(t, &server.Options{ServerName: "hub", JetStreamDomain: HubDomain,
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: ports[0]}})
	remote, err := url.Parse("nats-leaf://127.0.0.1:" + strconv.Itoa(ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	leaf = Server(t, &server.Options{ServerName: "region-a", JetStreamDomain: "region-a",
		LeafNode: server.LeafNodeOpts{Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{remote}}}}})
	WaitLinked(t, leaf, HubDomain)
	return hub, leaf
}

// WaitLinked waits until leaf is linked to the hub and carries its
// interest: the leaf node counts its link, and the hub's JetStream API
// answers through domain from a client of the leaf node. (A link counts a
// moment before the leaf node has the hub's subscriptions: a request sent
// then finds no responders.)
func WaitLinked(t testing.TB, leaf *server.Server, domain string) {
	t.Helper()
	Eventually(t, "the region's leaf node linked to the hub", func() bool { return leaf.NumLeafNodes() > 0 })
	nc := Connect(t, leaf.ClientURL())
	defer nc.Close()
	Eventually(t, "the hub's JetStream API answering through the leaf node", func() bool {
		_, err := nc.Request("$JS."+domain+".API.INFO", nil, time.Second)
		return err == nil
	})
}
