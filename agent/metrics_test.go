package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAgentCollector(t *testing.T) {
	s := testkit.NATS(t, "")
	e := struct {
		pub *publisher.Publisher
		a   *agent.Agent
	}{testkit.NewPublisher(t, testkit.Connect(t, s.ClientURL())), nil}
	e.a = testkit.NewAgent(t, testkit.Connect(t, s.ClientURL()), testkit.StillClock())
	c := e.a.Collector()
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("CollectAndLint() = %v, %v; want no problems", problems, err)
	}
	ctx := context.Background()
	now := time.Now()
	if _, err := e.pub.RevokeJTI(ctx, "m-1", now.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	rc, err := e.pub.RevokeSubject(ctx, "alice", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitApplied(t, e.a, rc.Seq) // and the one before
	revoked := jwtrevoke.Token{JTI: "m-1", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(5 * time.Minute)}
	allowed := jwtrevoke.Token{JTI: "m-2", Subject: "bob", IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(5 * time.Minute)}
	if r := e.a.Check(&revoked); r.Verdict != filter.Revoked {
		t.Fatalf("Check(m-1) = %+v, want revoked", r)
	}
	for range 3 {
		e.a.Check(&allowed)
	}

	mfs := testkit.Gather(t, c)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"jwtrevoke_checks_total", []string{"outcome", "revoked"}, 1},
		{"jwtrevoke_checks_total", []string{"outcome", "allowed"}, 3},
		{"jwtrevoke_checks_total", []string{"outcome", "stale"}, 0},
		{"jwtrevoke_events_applied_total", nil, 2},
		{"jwtrevoke_events_rejected_total", []string{"reason", "bad_signature"}, 0},
		{"jwtrevoke_live_entries", []string{"kind", "jti"}, 1},
		{"jwtrevoke_live_entries", []string{"kind", "sub"}, 1},
		{"jwtrevoke_live_entries", []string{"kind", "all"}, 0},
		{"jwtrevoke_ready", nil, 1},
		{"jwtrevoke_last_applied_sequence", nil, float64(rc.Seq)},
		{"jwtrevoke_propagation_lag_seconds", nil, 2},
		{"jwtrevoke_evictions_total", nil, 0},
	} {
		if got, ok := testkit.MetricValue(mfs, tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	for _, name := range []string{"jwtrevoke_filter_bytes", "jwtrevoke_filter_budget_bytes", "jwtrevoke_bloom_false_positive_estimate",
		"jwtrevoke_unknown_settlements_total", "jwtrevoke_settle_errors_total", "jwtrevoke_stale_seconds",
		"jwtrevoke_rewinds_total", "jwtrevoke_probe_errors_total", "jwtrevoke_exact_entries", "jwtrevoke_consumer_errors_total"} {
		if n := testutil.CollectAndCount(c, name); n == 0 {
			t.Errorf("CollectAndCount(%s) = 0, want at least 1", name)
		}
	}
	if b, _ := testkit.MetricValue(mfs, "jwtrevoke_filter_budget_bytes"); b <= 0 {
		t.Errorf("jwtrevoke_filter_budget_bytes = %v, want > 0", b)
	}
	// Two agents in one registry, told apart by a label.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(prometheus.WrapCollectorWith(prometheus.Labels{"replica": "0"}, e.a.Collector()),
		prometheus.WrapCollectorWith(prometheus.Labels{"replica": "1"}, e.a.Collector()))
	if _, err := reg.Gather(); err != nil {
		t.Errorf("Gather() of two wrapped collectors: %v", err)
	}
}
