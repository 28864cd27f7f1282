package natsproc

// Reading a server's state from its monitoring endpoints.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StreamState is one server's own view of a stream, from its /jsz.
type StreamState struct {
	Server   string
	Messages uint64 `json:"messages"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Deleted  int    `json:"num_deleted"`
}

// StreamState returns what this server's store holds of the stream in
// account acc ("$G" without accounts): on a cluster, each replica answers
// for itself, so comparing them shows whether the replicas agree.
func (s *Server) StreamState(ctx context.Context, acc, stream string) (StreamState, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.HTTPURL()+"/jsz?accounts=true&streams=true", nil)
	if err != nil {
		return StreamState{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return StreamState{}, err
	}
	defer resp.Body.Close()
	var jsz struct {
		Accounts []struct {
			Name    string `json:"name"`
			Streams []struct {
				Name  string      `json:"name"`
				State StreamState `json:"state"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		return StreamState{}, fmt.Errorf("natsproc: %s /jsz: %w", s.opts.Name, err)
	}
	for _, a := range jsz.Accounts {
		if a.Name != acc {
			continue
		}
		for _, st := range a.Streams {
			if st.Name == stream {
				st.State.Server = s.opts.Name
				return st.State, nil
			}
		}
	}
	return StreamState{}, fmt.Errorf("natsproc: %s holds no stream %s in account %s", s.opts.Name, stream, acc)
}

// NewCluster writes the configs of an n-node cluster named name, each node
// in its own subdirectory of dir, with sync_interval: always. extra, if
// set, adds to each node's options (accounts, …). The nodes are not
// started.
func NewCluster(dir, name string, n int, extra func(*Options)) ([]*Server, error) {
	ports, err := FreePorts(3 * n)
	if err != nil {
		return nil, err
	}
	routes := ports[2*n:]
	var out []*Server
	for i := range n {
		o := Options{
			Name:        fmt.Sprintf("%s-%d", name, i+1),
			Dir:         filepath.Join(dir, "n"+strconv.Itoa(i+1)),
			Port:        ports[i],
			HTTPPort:    ports[n+i],
			ClusterPort: routes[i],
			Cluster:     name,
			Routes:      routes,
			SyncAlways:  true,
		}
		if extra != nil {
			extra(&o)
		}
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return nil, err
		}
		s, err := New(o)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Run starts a server for a test, waits until it is ready and kills it when
// the test ends. Dir defaults to t.TempDir(), Name to "n1".
func Run(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Name == "" {
		o.Name = "n1"
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// RunCluster starts an n-node cluster for a test (see NewCluster), waits
// until every node is ready and kills them when the test ends.
func RunCluster(t testing.TB, n int, extra func(*Options)) []*Server {
	t.Helper()
	nodes, err := NewCluster(t.TempDir(), "jwtrevoke", n, extra)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range nodes {
		t.Cleanup(s.Close)
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, s := range nodes {
		if err := s.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// URLs joins the client URLs of servers with commas, as nats.Connect
// accepts them.
func URLs(servers []*Server) string {
	var u []string
	for _, s := range servers {
		u = append(u, s.URL())
	}
	return strings.Join(u, ",")
}
