package deploy_test

// Booting the cluster of deploy/nats/ in this process: every node from its
// own config file, parsed by nats-server's own parser, with only the
// addresses and the store moved to free loopback ports and a temporary
// directory. Accounts, users, permissions, limits, cluster name, route
// credentials and JetStream settings are the files' own.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke/internal/freeport"
)

// natsDir is where the cluster's configuration lives, relative to this
// package.
const natsDir = "nats"

// nodeFiles returns the node configs, deploy/nats/nats-*.conf, in name
// order.
func nodeFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(natsDir, "nats-*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if len(files) != 3 {
		t.Fatalf("deploy/nats has %d node configs (%v), want 3", len(files), files)
	}
	return files
}

// user is one account user of the configs.
type user struct {
	name, password, account string
}

// cluster is a running three-node cluster booted from the configs.
type cluster struct {
	servers []*server.Server
	opts    []*server.Options
	users   map[string]user
}

// bootCluster parses each node file and starts the nodes. rewrite may
// change the parsed options of each node further (the TLS test points the
// certificate paths at generated files). The servers are shut down when the
// test ends.
func bootCluster(t *testing.T, files []string) *cluster {
	t.Helper()
	c := &cluster{users: map[string]user{}}
	names := map[string]int{} // server_name → node index
	for i, f := range files {
		o, err := server.ProcessConfigFile(f)
		if err != nil {
			t.Fatalf("server.ProcessConfigFile(%s): %v", f, err)
		}
		if o.ServerName == "" {
			t.Fatalf("%s: no server_name", f)
		}
		if j, dup := names[o.ServerName]; dup {
			t.Fatalf("%s and %s: both have server_name %q", files[j], f, o.ServerName)
		}
		names[o.ServerName] = i
		c.opts = append(c.opts, o)
	}
	for _, u := range c.opts[0].Users {
		acc := ""
		if u.Account != nil {
			acc = u.Account.Name
		}
		c.users[u.Username] = user{u.Username, u.Password, acc}
	}

	ports := freePorts(t, len(files))
	for i, o := range c.opts {
		// Every route names a node by its server_name (the compose service
		// name); point it at that node's test port, keeping its credentials.
		var routes []*url.URL
		for _, r := range o.Routes {
			j, ok := names[r.Hostname()]
			if !ok {
				t.Fatalf("%s: route %s names no node (server names: %v)", files[i], r.Redacted(), keys(names))
			}
			nr := *r
			nr.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[j]))
			routes = append(routes, &nr)
		}
		if len(routes) != len(files) {
			t.Fatalf("%s: %d routes, want one per node (%d)", files[i], len(routes), len(files))
		}
		o.Routes = routes
		o.Host, o.Port = "127.0.0.1", -1
		o.HTTPHost, o.HTTPPort = "127.0.0.1", -1
		o.Cluster.Host, o.Cluster.Port = "127.0.0.1", ports[i]
		o.LeafNode.Host, o.LeafNode.Port = "127.0.0.1", -1 // regions: region_test.go
		o.StoreDir = t.TempDir()
		o.NoSigs = true
		o.NoLog = !testing.Verbose() || os.Getenv("DEPLOY_TEST_NATS_LOG") == ""
		o.LameDuckDuration, o.LameDuckGracePeriod = 0, 0
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.opts))
	c.servers = make([]*server.Server, len(c.opts))
	for i, o := range c.opts {
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatalf("server.NewServer(%s): %v", files[i], err)
		}
		if !o.NoLog {
			s.ConfigureLogger()
		}
		c.servers[i] = s
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Start()
			if !s.ReadyForConnections(bootWait) {
				errs[i] = fmt.Errorf("%s: not ready for connections after %v", files[i], bootWait)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c.waitMetaLeader(t, bootWait)
	return c
}

// bootWait bounds each node's wait for its listeners and then the wait for
// a JetStream meta leader. Both end at their event: a node listens within
// milliseconds and the nodes elect a leader within a second or two when
// idle, though an election that fails (a vote lost to a starved node) is
// retried only after a randomized timeout of several seconds. Two minutes
// leave room for several such rounds on a loaded machine; the bound only
// turns a cluster that never forms into a failure.
const bootWait = 2 * time.Minute

// waitMetaLeader waits until the JetStream meta group has a leader that
// every node follows.
func (c *cluster) waitMetaLeader(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		leaders, current := 0, 0
		for _, s := range c.servers {
			if s.JetStreamIsLeader() {
				leaders++
			}
			if s.JetStreamIsCurrent() {
				current++
			}
		}
		if leaders == 1 && current == len(c.servers) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no JetStream meta leader followed by all %d nodes after %v", len(c.servers), d)
}

// clientURLs returns the nodes' client URLs, comma separated, with scheme
// (nats or tls).
func (c *cluster) clientURLs(scheme string) string {
	var u []string
	for _, s := range c.servers {
		u = append(u, fmt.Sprintf("%s://%s", scheme, s.Addr().String()))
	}
	return strings.Join(u, ",")
}

// conn is a client connection that records every asynchronous error the
// server sends it (permission violations arrive that way).
type conn struct {
	*nats.Conn
	mu   sync.Mutex // guards errs
	errs []error
}

func (c *conn) asyncErrors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.errs)
}

// connect dials the cluster as the named user of the configs.
func (c *cluster) connect(t *testing.T, name string, opts ...nats.Option) *conn {
	t.Helper()
	u, ok := c.users[name]
	if !ok {
		t.Fatalf("deploy/nats has no user %q (users: %v)", name, keys(c.users))
	}
	return c.connectAs(t, u.name, u.password, "nats", opts...)
}

func (c *cluster) connectAs(t *testing.T, name, password, scheme string, opts ...nats.Option) *conn {
	t.Helper()
	return dialAs(t, c.clientURLs(scheme), name, password, opts...)
}

// dialAs connects to urls as the user name, recording the asynchronous
// errors the server sends.
func dialAs(t *testing.T, urls, name, password string, opts ...nats.Option) *conn {
	t.Helper()
	cn := &conn{}
	opts = append([]nats.Option{
		nats.Name("deploy test " + name),
		nats.UserInfo(name, password),
		nats.Timeout(time.Minute), // a dial takes milliseconds; a hang guard
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			cn.mu.Lock()
			cn.errs = append(cn.errs, err)
			cn.mu.Unlock()
		}),
	}, opts...)
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		t.Fatalf("connecting as %s: %v", name, err)
	}
	cn.Conn = nc
	t.Cleanup(nc.Close)
	return cn
}

// healthz asks a node's monitoring port for /healthz with the query q.
func healthz(ctx context.Context, s *server.Server, q string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.MonitorAddr().String()+"/healthz"+q, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// freePorts returns n loopback ports reserved for this process (see
// internal/freeport): the route ports must be known before the nodes
// start, and a port picked by listening on :0 and closing could be taken
// by another test binary before the node binds it.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports, err := freeport.Take(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { freeport.Release(ports...) })
	return ports
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
