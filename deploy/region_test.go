package deploy_test

// The hub and two regions of deploy/nats, booted from the files as child
// processes (internal/topology): the regions' mirrors made with the built
// jwtrevoke mirror, agents at the hub and in each region, a region's link
// cut for 30 s.

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/gobuild"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/internal/topology"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/region"
)

// cutFor is how long TestRegions keeps region-a's link cut.
const cutFor = 30 * time.Second

// place is where agents run: the hub or a region.
type place struct {
	name   string
	agents []*agent.Agent
}

// TestRegions: every agent, at the hub and in both regions, applies what
// the hub is sent and what a region's publisher sends through its leaf
// node, and reports back to a confirming publisher across the links. Cut
// off for 30 s, region-a's agents go stale within their bound (fail closed:
// every token refused) while its leaf node and the other region carry on;
// every revocation the hub acknowledged meanwhile reaches them once the link
// is back, and nothing acknowledged is missing anywhere.
func TestRegions(t *testing.T) {
	if testing.Short() {
		t.Skip("boots five nats-server processes and cuts a link for 30 s")
	}
	t.Parallel()
	bin, err := gobuild.Binary("github.com/jwtrevoke/jwtrevoke/cmd/jwtrevoke")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	link := topology.NewLink("region-a")
	t.Cleanup(link.Close)
	top, err := topology.Boot(ctx, topology.Options{Dir: natsDir, Work: t.TempDir(), Regions: []string{"region-a", "region-b"}, Via: link.Via})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(top.Close)

	hubPub := dialAs(t, top.HubURLs("publisher"), "publisher", top.Users["hub"]["publisher"])
	pub, err := publisher.New(ctx, hubPub.Conn, publisher.WithReplicas(3), publisher.WithMaxTokenLifetime(time.Hour), publisher.WithActor("hub"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"region-a", "region-b"} {
		out, err := exec.CommandContext(ctx, bin, "mirror", "--server", top.RegionURL(r, "admin"), "--json").CombinedOutput()
		var rep struct {
			Created  bool   `json:"created"`
			Consumer string `json:"consumer"`
		}
		if err != nil || json.Unmarshal(out, &rep) != nil || !rep.Created || rep.Consumer != region.DurableName(jwtrevoke.DefaultStream, r) {
			t.Fatalf("jwtrevoke mirror in %s: %v\n%s", r, err, out)
		}
		// status in the region, as its admin, checks the mirror against
		// the hub's stream.
		out, err = exec.CommandContext(ctx, bin, "status", "--server", top.RegionURL(r, "admin"), "--json", "--agents-wait", "0").CombinedOutput()
		var st struct {
			Safe   bool            `json:"safe"`
			Mirror json.RawMessage `json:"mirror"`
		}
		if err != nil || json.Unmarshal(out, &st) != nil || !st.Safe || st.Mirror == nil {
			t.Fatalf("jwtrevoke status in %s: %v\n%s", r, err, out)
		}
	}

	places := []*place{{name: "hub"}, {name: "region-a"}, {name: "region-b"}}
	for _, p := range places {
		url := top.HubURLs("agent")
		pw := top.Users["hub"]["agent"]
		if p.name != "hub" {
			url, pw = top.RegionURL(p.name, "agent"), top.Users[p.name]["agent"]
		}
		for i := range 2 {
			nc := dialAs(t, url, "agent", pw)
			a, err := agent.New(ctx, nc.Conn, agent.WithName(fmt.Sprintf("%s-%d", p.name, i)))
			if err != nil {
				t.Fatalf("agent in %s: %v", p.name, err)
			}
			t.Cleanup(func() { a.Close() })
			if err := a.WaitReady(ctx); err != nil {
				t.Fatal(err)
			}
			p.agents = append(p.agents, a)
		}
	}
	all := func(f func(p *place, a *agent.Agent)) {
		for _, p := range places {
			for _, a := range p.agents {
				f(p, a)
			}
		}
	}
	var acked []jwtrevoke.Token // every token whose revocation the hub acknowledged
	revoke := func(p *publisher.Publisher, jti string, opts ...publisher.RevokeOption) uint64 {
		t.Helper()
		exp := time.Now().Add(30 * time.Minute)
		rc, err := p.RevokeJTI(ctx, jti, exp, opts...)
		if err != nil {
			t.Fatalf("revoking %s: %v", jti, err)
		}
		acked = append(acked, jwtrevoke.Token{JTI: jti, IssuedAt: time.Now().Add(-time.Minute), ExpiresAt: exp})
		return rc.Seq
	}

	// Hub → every agent, one event at a time.
	took := map[string][]time.Duration{}
	for i := range 20 {
		start := time.Now()
		seq := revoke(pub, fmt.Sprintf("prop-%d", i))
		all(func(p *place, a *agent.Agent) {
			testkit.WaitApplied(t, a, seq)
			took[p.name] = append(took[p.name], time.Since(start))
		})
	}
	for _, p := range places {
		d := took[p.name]
		slices.Sort(d)
		t.Logf("hub → %s agents: median %v, slowest %v (publish included; %d samples)", p.name, d[len(d)/2].Round(time.Microsecond), d[len(d)-1].Round(time.Microsecond), len(d))
	}

	// Confirmed by all six agents: the regions' reports cross their links.
	if _, err := pub.RevokeJTI(ctx, "confirmed", time.Now().Add(time.Hour), publisher.Confirm(6, time.Minute)); err != nil {
		t.Fatalf("a revocation confirmed by the six agents: %v", err)
	}
	acked = append(acked, jwtrevoke.Token{JTI: "confirmed", IssuedAt: time.Now().Add(-time.Minute), ExpiresAt: time.Now().Add(time.Hour)})

	// A region's publisher writes to the hub through its leaf node.
	bPub := dialAs(t, top.RegionURL("region-b", "publisher"), "publisher", top.Users["region-b"]["publisher"])
	rpub, err := publisher.New(ctx, bPub.Conn, publisher.WithDomain(region.DefaultHubDomain), publisher.WithActor("region-b"))
	if err != nil {
		t.Fatal(err)
	}
	seq := revoke(rpub, "from-region-b")
	all(func(_ *place, a *agent.Agent) { testkit.WaitApplied(t, a, seq) })

	regionPermissions(t, ctx, top)

	// Region-a cut off.
	cutA := places[1]
	before := cutA.agents[0].LastApplied()
	if err := link.Cut(); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	var during uint64
	for i := range 200 {
		during = revoke(pub, fmt.Sprintf("during-cut-%d", i))
	}
	for _, p := range []*place{places[0], places[2]} {
		for _, a := range p.agents {
			testkit.WaitApplied(t, a, during)
		}
	}
	for _, a := range cutA.agents {
		testkit.Eventually(t, "region-a's agent stale", func() bool { return a.Health().Stale })
	}
	t.Logf("region-a cut off: its agents stale %v after the cut (their bound: the default 5 s)", time.Since(cut).Round(time.Millisecond))
	cutTok := acked[len(acked)-1]
	for time.Since(cut) < cutFor {
		for _, a := range cutA.agents {
			if h := a.Health(); !h.Stale {
				t.Fatalf("region-a's agent fresh again while cut off: %+v", h)
			}
			if a.Check(&cutTok).Allowed {
				t.Fatal("region-a's agent allows a token revoked at the hub during the cut")
			}
			if a.LastApplied() != before {
				t.Fatalf("region-a's agent applied %d, past %d, across a cut link", a.LastApplied(), before)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Region-b carried on: it has every revocation of the cut (above) and
	// is fresh.
	for _, a := range places[2].agents {
		testkit.Eventually(t, "region-b's agent fresh while region-a is cut off", func() bool { return !a.Health().Stale })
	}
	if err := link.Heal(); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	for _, a := range cutA.agents {
		testkit.WaitApplied(t, a, during)
	}
	t.Logf("link back after %v: region-a's agents applied the %d revocations of the cut %v later", cutFor, 200, time.Since(healed).Round(time.Millisecond))
	for _, a := range cutA.agents {
		testkit.Eventually(t, "region-a's agent fresh again", func() bool { return !a.Health().Stale })
	}

	// Nothing acknowledged is missing: every token refused as revoked by
	// every agent, and each region's mirror holds what the hub holds.
	all(func(p *place, a *agent.Agent) {
		for _, tok := range acked {
			if res := a.Check(&tok); res.Allowed || res.Reason() != jwtrevoke.ReasonRevoked {
				t.Errorf("%s agent, token %s: %+v, want revoked", p.name, tok.JTI, res)
			}
		}
	})
	hubJS, err := jetstream.New(hubPub.Conn)
	if err != nil {
		t.Fatal(err)
	}
	hubInfo, err := hubJS.Stream(ctx, jwtrevoke.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"region-a", "region-b"} {
		nc := dialAs(t, top.RegionURL(r, "admin"), "admin", top.Users[r]["admin"])
		js, err := jetstream.New(nc.Conn)
		if err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, r+"'s mirror holding the hub's events", func() bool {
			st, err := js.Stream(ctx, jwtrevoke.DefaultStream)
			if err != nil {
				return false
			}
			m, h := st.CachedInfo().State, hubInfo.CachedInfo().State
			return m.Msgs == h.Msgs && m.LastSeq == h.LastSeq
		})
	}
}

// regionPermissions: in a region, the agent publishes nothing and reaches
// nothing of the hub, the publisher and the admin cannot remove or replace
// the stream here or at the hub, and what a region's leaf node may do at
// the hub (its user there) cannot either. The regions' agents have exactly
// the hub agents' permissions.
func regionPermissions(t *testing.T, ctx context.Context, top *topology.Topology) {
	t.Helper()
	perms := func(file string) *server.Permissions {
		o, err := server.ProcessConfigFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range o.Users {
			if u.Username == "agent" {
				return u.Permissions
			}
		}
		t.Fatalf("%s: no agent user", file)
		return nil
	}
	hubAgent := perms(natsDir + "/nats-1.conf")
	if o, err := server.ProcessConfigFile(natsDir + "/nats-1.conf"); err != nil || o.JetStreamDomain != region.DefaultHubDomain {
		t.Errorf("the hub's JetStream domain: %v %v, want %q, which the regions' permissions name", o.JetStreamDomain, err, region.DefaultHubDomain)
	}
	for _, r := range []string{"region-a", "region-b"} {
		if got := perms(natsDir + "/" + r + ".conf"); !reflect.DeepEqual(got, hubAgent) {
			t.Errorf("%s's agent permissions %+v differ from the hub's %+v (region-accounts.conf and accounts.conf)", r, got, hubAgent)
		}
	}

	request := func(c *conn, subj string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.RequestWithContext(ctx, subj, []byte("{}"))
			return err
		}
	}
	publish := func(c *conn, subj string) func(context.Context) error {
		return func(ctx context.Context) error {
			js, err := jetstream.New(c.Conn)
			if err != nil {
				return err
			}
			_, err = js.Publish(ctx, subj, []byte("x"))
			return err
		}
	}
	type attempt struct {
		subject string
		do      func(*conn, string) func(context.Context) error
	}
	for _, tc := range []struct {
		who, url, user string
		attempts       []attempt
	}{
		{"region-a agent", top.RegionURL("region-a", "agent"), "agent", []attempt{
			{"jwtrevoke.v1.all", publish},
			{"jwtrevoke.v1.jti.x", publish},
			{"$JS.hub.API.STREAM.DELETE.JWTREVOKE", request},
			{"$JS.hub.API.STREAM.INFO.JWTREVOKE", request},
			{"$JS.hub.API.CONSUMER.CREATE.JWTREVOKE", request},
			{"$JS.hub.API.CONSUMER.RESET.JWTREVOKE.JWTREVOKE_MIRROR_region-a", request},
			{"$JS.API.STREAM.DELETE.JWTREVOKE", request},
			{"$JS.API.STREAM.CREATE.JWTREVOKE", request},
			{"$O.JWTREVOKE_SNAPSHOTS.x", publish},
		}},
		{"region-a publisher", top.RegionURL("region-a", "publisher"), "publisher", []attempt{
			{"$JS.API.STREAM.CREATE.JWTREVOKE", request},
			{"$JS.API.STREAM.UPDATE.JWTREVOKE", request},
			{"$JS.API.STREAM.DELETE.JWTREVOKE", request},
			{"$JS.hub.API.STREAM.CREATE.JWTREVOKE", request},
			{"$JS.hub.API.STREAM.UPDATE.JWTREVOKE", request},
			{"$JS.hub.API.STREAM.PURGE.JWTREVOKE", request},
			{"$JS.hub.API.STREAM.MSG.DELETE.JWTREVOKE", request},
		}},
		{"region-a admin", top.RegionURL("region-a", "admin"), "admin", []attempt{
			{"jwtrevoke.v1.all", publish},
			{"$JS.API.STREAM.DELETE.JWTREVOKE", request},
			{"$JS.API.STREAM.PURGE.JWTREVOKE", request},
			{"$JS.hub.API.STREAM.DELETE.JWTREVOKE", request},
			{"$JS.hub.API.STREAM.UPDATE.JWTREVOKE", request},
			{"$JS.hub.API.CONSUMER.CREATE.JWTREVOKE", request},
			{"$JS.hub.API.CONSUMER.DELETE.JWTREVOKE.JWTREVOKE_MIRROR_region-b", request},
		}},
		// What region-a's leaf node itself may do at the hub.
		{"region-a's user at the hub", top.HubURLs("region-a"), "region-a", []attempt{
			{"$JS.hub.API.STREAM.DELETE.JWTREVOKE", request},
			{"$JS.hub.API.STREAM.PURGE.JWTREVOKE", request},
			{"$JS.hub.API.STREAM.UPDATE.JWTREVOKE", request},
			{"$JS.hub.API.STREAM.CREATE.ELSEWHERE", request},
			{"$JS.hub.API.STREAM.MSG.DELETE.JWTREVOKE", request},
			{"$JS.API.STREAM.DELETE.JWTREVOKE", request},
			{"$JS.hub.API.CONSUMER.CREATE.OBJ_JWTREVOKE_SNAPSHOTS", request},
			{"$JS.hub.API.CONSUMER.DELETE.JWTREVOKE.JWTREVOKE_MIRROR_region-b", request},
			{"$JS.hub.API.DIRECT.GET.OBJ_JWTREVOKE_SNAPSHOTS.x", request},
			{"$O.JWTREVOKE_SNAPSHOTS.x", publish},
		}},
	} {
		pw := top.Users["region-a"][tc.user]
		if tc.user == "region-a" {
			pw = top.Users["hub"][tc.user]
		}
		c := dialAs(t, tc.url, tc.user, pw)
		for _, a := range tc.attempts {
			// A client of the hub's own nodes has $JS.hub.API.> mapped to
			// $JS.API.> before its permissions are checked, so the
			// violation names the mapped subject.
			violation := a.subject
			if tc.user == "region-a" {
				violation = strings.Replace(violation, "$JS.hub.API.", "$JS.API.", 1)
			}
			// The violation comes within milliseconds; the bound only
			// keeps one that never comes from holding up the rest.
			actx, cancel := context.WithTimeout(ctx, 30*time.Second)
			refused(t, actx, c, tc.who+": "+a.subject, `Publish to "`+violation+`"`, a.do(c, a.subject))
			cancel()
		}
	}
}
