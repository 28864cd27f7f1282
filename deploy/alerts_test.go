package deploy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/oauth"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/verify"
)

// exported collects, from a real agent and publisher registered in a
// registry of their own, each metric family's labels and the values each
// label takes.
func exported(t *testing.T) map[string]map[string][]string {
	t.Helper()
	s := testkit.NATS(t, "")
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a few requests; a hang guard
	defer cancel()
	pub, err := publisher.New(ctx, nc, publisher.WithMaxTokenLifetime(lifetime))
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(ctx, nc, agent.WithMaxTokenLifetime(lifetime))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := pub.RevokeJTI(ctx, "metrics", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	a.Check(&jwtrevoke.Token{JTI: "metrics"})

	v, err := verify.New(testkit.HMACKeys(), []string{"HS256"})
	if err != nil {
		t.Fatal(err)
	}
	revoke, err := oauth.NewRevocationHandler(pub, v, oauth.WithPublicClient())
	if err != nil {
		t.Fatal(err)
	}
	introspect, err := oauth.NewIntrospectionHandler(a, v, oauth.WithPublicClient())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(a.Collector(), pub.Collector(), revoke.Collector(), introspect.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	for _, mf := range mfs {
		labels := map[string][]string{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels[l.GetName()], l.GetValue()) {
					labels[l.GetName()] = append(labels[l.GetName()], l.GetValue())
				}
			}
		}
		names := []string{mf.GetName()}
		if mf.GetType().String() == "HISTOGRAM" {
			names = []string{mf.GetName() + "_bucket", mf.GetName() + "_sum", mf.GetName() + "_count"}
			labels["le"] = nil // any bucket bound
		}
		for _, n := range names {
			out[n] = labels
		}
	}
	return out
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var (
	// A metric name followed by its label matchers, if any.
	metricRef = regexp.MustCompile(`\b(jwtrevoke_[a-z0-9_]+)(\{[^}]*\})?`)
	matcher   = regexp.MustCompile(`([a-z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	grouping  = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	// Every identifier that could be a metric: words not followed by "(".
	identifier = regexp.MustCompile(`\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?`)
)

// TestAlertRules checks deploy/prometheus/alerts.yaml: it parses, every
// rule says how severe it is and where its runbook is, and every metric,
// label and label value it uses is one the collectors export.
func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	metrics := exported(t)
	promQL := map[string]bool{ // functions, keywords and target labels the rules may name
		"sum": true, "rate": true, "increase": true, "histogram_quantile": true, "by": true, "without": true,
		"and": true, "or": true, "unless": true, "on": true, "ignoring": true, "max": true, "min": true,
		"job": true, "instance": true, "le": true, "up": true, "humanizeDuration": true,
	}
	seen := map[string]bool{}
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			n++
			where := g.Name + "/" + r.Alert
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("%s: a rule without alert or expr", where)
				continue
			}
			if seen[r.Alert] {
				t.Errorf("%s: alert name used twice", where)
			}
			seen[r.Alert] = true
			if s := r.Labels["severity"]; s != "page" && s != "ticket" {
				t.Errorf("%s: severity %q, want page or ticket", where, s)
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", where, r.For, err)
				}
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no summary", where)
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook"], "deploy/README.md#")
			if !ok {
				t.Errorf("%s: runbook %q, want deploy/README.md#<section>", where, r.Annotations["runbook"])
			}
			if !regexp.MustCompile(`(?mi)^#+ ` + regexp.QuoteMeta(anchor) + `\s*$`).Match(readme) {
				t.Errorf("%s: deploy/README.md has no section %q for its runbook", where, anchor)
			}

			// Metrics, labels and values.
			var used []string
			for _, m := range metricRef.FindAllStringSubmatch(r.Expr, -1) {
				labels, ok := metrics[m[1]]
				if !ok {
					t.Errorf("%s: metric %s is not exported by the agent, publisher or oauth collectors", where, m[1])
					continue
				}
				used = append(used, m[1])
				for _, mm := range matcher.FindAllStringSubmatch(m[2], -1) {
					values, ok := labels[mm[1]]
					if !ok {
						t.Errorf("%s: %s has no label %q", where, m[1], mm[1])
					} else if mm[2] == "=" && mm[1] != "le" && !slices.Contains(values, mm[3]) {
						t.Errorf("%s: %s{%s} is never %q (values: %v)", where, m[1], mm[1], mm[3], values)
					}
				}
			}
			for _, gm := range grouping.FindAllStringSubmatch(r.Expr, -1) {
				for _, l := range strings.Split(gm[1], ",") {
					l = strings.TrimSpace(l)
					if l == "job" || l == "instance" || l == "le" {
						continue
					}
					found := false
					for _, m := range used {
						_, found = metrics[m][l]
						if found {
							break
						}
					}
					if !found {
						t.Errorf("%s: groups by %q, a label none of %v has", where, l, used)
					}
				}
			}
			// Nothing else that looks like a metric.
			expr := grouping.ReplaceAllString(r.Expr, " ")
			expr = regexp.MustCompile(`"[^"]*"|\[[^]]*\]|\{[^}]*\}|\b[0-9.]+[smhd]?\b`).ReplaceAllString(expr, " ")
			for _, id := range identifier.FindAllStringSubmatch(expr, -1) {
				if id[2] != "" || promQL[id[1]] || strings.HasPrefix(id[1], "jwtrevoke_") {
					continue
				}
				t.Errorf("%s: expr uses %q, neither a jwtrevoke metric nor a known PromQL word", where, id[1])
			}
		}
	}
	for _, want := range []string{"JwtrevokeAgentStale", "JwtrevokeAgentNotReady", "JwtrevokePropagationSlow", "JwtrevokeEventsRejected"} {
		if !seen[want] {
			t.Errorf("alerts.yaml has no %s alert", want)
		}
	}
	t.Logf("%d rules checked against %d exported series names", n, len(metrics))

	// promtool's own checks and the rule unit tests, where promtool is
	// installed (go install github.com/prometheus/prometheus/cmd/promtool@v0.316.0).
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not on PATH: skipping promtool check rules and test rules")
		return
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts.test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
