// Package topology boots the NATS topology of deploy/nats from its files:
// the hub's three nodes (nats-*.conf with cluster.conf and accounts.conf)
// and the leaf node of each region asked for (region-<name>.conf with
// region.conf and region-accounts.conf), each a nats-server child process
// (internal/natsproc) on free loopback ports. It is internal: the deploy
// tests and the bench use it.
//
// Every setting is the files' own (accounts, users, permissions, limits,
// JetStream domains, sync, leaf node links) but the addresses and stores:
// each server gets a copy of the files in a directory of its own, where
// the listen ports, the store directory and the host names of the routes
// and of the regions' remotes are rewritten to loopback ports. A rewrite
// that does not find exactly what it expects fails the boot, so a changed
// file is noticed rather than booted half rewritten.
package topology

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
)

// Options say what to boot.
type Options struct {
	// Dir is deploy/nats, where the files are.
	Dir string
	// Work holds each server's directory (config copies, store, log).
	Work string
	// Regions are the regions to boot beside the hub, by the name of
	// their file without .conf ("region-a" for region-a.conf).
	Regions []string
	// Via, when set, returns the address a region dials for the hub node
	// whose leaf node port is at addr (a proxy in front of it, to degrade
	// or cut the region's link); nil dials addr.
	Via func(region string, node int, addr string) (string, error)
	// Profile gives every server a prof_port (Server.ProfURL).
	Profile bool
}

// Server is one booted server.
type Server struct {
	*natsproc.Server
	// LeafPort is the hub node's leaf node port (0 for a region).
	LeafPort int
	// ProfPort is the pprof port with Options.Profile, else 0.
	ProfPort int
}

// ProfURL is the server's pprof base URL (with Options.Profile).
func (s *Server) ProfURL() string { return fmt.Sprintf("http://127.0.0.1:%d/debug/pprof", s.ProfPort) }

// Topology is the booted hub and regions.
type Topology struct {
	Hub     []*Server
	Regions map[string]*Server
	// Users holds every user's password, by the file that defines them:
	// Users["hub"] (accounts.conf) and Users[region] (region-accounts.conf).
	Users map[string]map[string]string
}

// Boot starts the hub, waits until it is healthy (a JetStream meta
// leader), then the regions, and waits until each has its link to the hub.
// On error it stops what it started.
func Boot(ctx context.Context, o Options) (_ *Topology, err error) {
	nodes, err := filepath.Glob(filepath.Join(o.Dir, "nats-*.conf"))
	if err != nil {
		return nil, err
	}
	slices.Sort(nodes)
	if len(nodes) == 0 {
		return nil, fmt.Errorf("topology: no nats-*.conf in %s", o.Dir)
	}
	t := &Topology{Regions: map[string]*Server{}, Users: map[string]map[string]string{}}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if t.Users["hub"], err = Passwords(nodes[0]); err != nil {
		return nil, err
	}
	n := len(nodes)
	per := 4 // client, http, cluster, leaf
	if o.Profile {
		per++
	}
	ports, err := natsproc.FreePorts(n*per + len(o.Regions)*(per-2))
	if err != nil {
		return nil, err
	}
	take := func() int { p := ports[0]; ports = ports[1:]; return p }
	type hubPorts struct{ client, http, cluster, leaf, prof int }
	hp := make([]hubPorts, n)
	for i := range hp {
		hp[i] = hubPorts{client: take(), http: take(), cluster: take(), leaf: take()}
		if o.Profile {
			hp[i].prof = take()
		}
	}
	for i, f := range nodes {
		name := strings.TrimSuffix(filepath.Base(f), ".conf")
		dir := filepath.Join(o.Work, name)
		r := rewrites{
			"cluster.conf": {
				{"\nport: 4222\n", fmt.Sprintf("\nhost: \"127.0.0.1\"\nport: %d\n", hp[i].client)},
				{"\nhttp_port: 8222\n", fmt.Sprintf("\nhttp: \"127.0.0.1:%d\"\n", hp[i].http)},
				{`store_dir: "/data"`, "store_dir: " + strconv.Quote(filepath.Join(dir, "store"))},
				{"\n  port: 6222\n", fmt.Sprintf("\n  host: \"127.0.0.1\"\n  port: %d\n", hp[i].cluster)},
				{"\n  port: 7422\n", fmt.Sprintf("\n  host: \"127.0.0.1\"\n  port: %d\n", hp[i].leaf)},
			},
		}
		for j, g := range nodes {
			host := strings.TrimSuffix(filepath.Base(g), ".conf")
			r["cluster.conf"] = append(r["cluster.conf"], rewrite{"@" + host + ":6222", fmt.Sprintf("@127.0.0.1:%d", hp[j].cluster)})
		}
		if o.Profile {
			r[filepath.Base(f)] = []rewrite{{appendText, fmt.Sprintf("prof_port: %d\n", hp[i].prof)}}
		}
		if err := copyRewritten(o.Dir, dir, []string{filepath.Base(f), "cluster.conf", "accounts.conf"}, r); err != nil {
			return nil, fmt.Errorf("topology: %s: %w", name, err)
		}
		s, err := natsproc.New(natsproc.Options{Name: name, Dir: dir, ConfigFile: filepath.Join(dir, filepath.Base(f)), Port: hp[i].client, HTTPPort: hp[i].http})
		if err != nil {
			return nil, err
		}
		t.Hub = append(t.Hub, &Server{Server: s, LeafPort: hp[i].leaf, ProfPort: hp[i].prof})
	}
	if err := startAll(ctx, t.Hub); err != nil {
		return nil, err
	}

	for _, region := range o.Regions {
		file := region + ".conf"
		if t.Users[region], err = Passwords(filepath.Join(o.Dir, file)); err != nil {
			return nil, err
		}
		dir := filepath.Join(o.Work, region)
		client, http := take(), take()
		prof := 0
		r := rewrites{
			"region.conf": {
				{"\nport: 4222\n", fmt.Sprintf("\nhost: \"127.0.0.1\"\nport: %d\n", client)},
				{"\nhttp_port: 8222\n", fmt.Sprintf("\nhttp: \"127.0.0.1:%d\"\n", http)},
			},
			file: {{`store_dir: "/data"`, "store_dir: " + strconv.Quote(filepath.Join(dir, "store"))}},
		}
		for j, g := range nodes {
			host := strings.TrimSuffix(filepath.Base(g), ".conf")
			addr := fmt.Sprintf("127.0.0.1:%d", hp[j].leaf)
			if o.Via != nil {
				if addr, err = o.Via(region, j, addr); err != nil {
					return nil, err
				}
			}
			r[file] = append(r[file], rewrite{"@" + host + ":7422", "@" + addr})
		}
		if o.Profile {
			prof = take()
			r[file] = append(r[file], rewrite{appendText, fmt.Sprintf("prof_port: %d\n", prof)})
		}
		if err := copyRewritten(o.Dir, dir, []string{file, "region.conf", "region-accounts.conf"}, r); err != nil {
			return nil, fmt.Errorf("topology: %s: %w", region, err)
		}
		s, err := natsproc.New(natsproc.Options{Name: region, Dir: dir, ConfigFile: filepath.Join(dir, file), Port: client, HTTPPort: http})
		if err != nil {
			return nil, err
		}
		t.Regions[region] = &Server{Server: s, ProfPort: prof}
	}
	var regions []*Server
	for _, region := range o.Regions {
		regions = append(regions, t.Regions[region])
	}
	if err := startAll(ctx, regions); err != nil {
		return nil, err
	}
	for _, region := range o.Regions {
		if err := t.Regions[region].WaitLinked(ctx); err != nil {
			return nil, fmt.Errorf("topology: %s: %w", region, err)
		}
	}
	return t, nil
}

// startAll starts the servers and waits until each is healthy.
func startAll(ctx context.Context, ss []*Server) error {
	for _, s := range ss {
		if err := s.Start(); err != nil {
			return err
		}
	}
	errs := make([]error, len(ss))
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.WaitReady(ctx) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close kills every server.
func (t *Topology) Close() {
	for _, s := range t.Hub {
		s.Close()
	}
	for _, s := range t.Regions {
		s.Close()
	}
}

// HubURLs returns the hub nodes' client URLs with user's credentials, comma
// separated.
func (t *Topology) HubURLs(user string) string {
	var u []string
	for _, s := range t.Hub {
		u = append(u, withUser(s.URL(), user, t.Users["hub"][user]))
	}
	return strings.Join(u, ",")
}

// HubURL returns hub node i's client URL with user's credentials.
func (t *Topology) HubURL(i int, user string) string {
	return withUser(t.Hub[i].URL(), user, t.Users["hub"][user])
}

// RegionURL returns region's client URL with user's credentials there.
func (t *Topology) RegionURL(region, user string) string {
	return withUser(t.Regions[region].URL(), user, t.Users[region][user])
}

func withUser(url, user, password string) string {
	return strings.Replace(url, "nats://", "nats://"+user+":"+password+"@", 1)
}

// WaitLinked waits until the server has a leaf node connection (a region's
// link to the hub).
func (s *Server) WaitLinked(ctx context.Context) error {
	return s.waitLeafs(ctx, func(n int) bool { return n > 0 })
}

// Leafs returns how many leaf node connections the server has.
func (s *Server) Leafs(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.HTTPURL()+"/leafz", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var lz struct {
		Leafs int `json:"leafnodes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&lz); err != nil {
		return 0, err
	}
	return lz.Leafs, nil
}

func (s *Server) waitLeafs(ctx context.Context, ok func(int) bool) error {
	for {
		n, err := s.Leafs(ctx)
		if err == nil && ok(n) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("leaf node connections %d (%v): %w", n, err, ctx.Err())
		case <-tick():
		}
	}
}

// Passwords returns the users and passwords of a config file (and what it
// includes), as nats-server parses it.
func Passwords(file string) (map[string]string, error) {
	o, err := server.ProcessConfigFile(file)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	users := map[string]string{}
	for _, u := range o.Users {
		users[u.Username] = u.Password
	}
	return users, nil
}

// appendText as the old text of a rewrite appends the new text.
const appendText = "\x00append"

type rewrite struct{ old, new string }

// rewrites are the rewrites of each file, by base name.
type rewrites map[string][]rewrite

// copyRewritten copies files from src to dst, rewriting them: each old
// text must occur exactly once.
func copyRewritten(src, dst string, files []string, r rewrites) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for f := range r {
		if !slices.Contains(files, f) {
			return fmt.Errorf("rewrite of %s, which is not copied", f)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return err
		}
		s := string(b)
		for _, rw := range r[f] {
			if rw.old == appendText {
				s += "\n" + rw.new
				continue
			}
			if n := strings.Count(s, rw.old); n != 1 {
				return fmt.Errorf("%s: %q occurs %d times, want once (the file changed: change internal/topology with it)", f, rw.old, n)
			}
			s = strings.Replace(s, rw.old, rw.new, 1)
		}
		if err := os.WriteFile(filepath.Join(dst, f), []byte(s), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// tick paces the polls of a wait.
func tick() <-chan time.Time { return time.After(20 * time.Millisecond) }
