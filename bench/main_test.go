package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runSmoke runs the harness in its tiny mode and returns the report as
// written to JSON and the markdown printed.
func runSmoke(t *testing.T, extra ...string) (report, string) {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "results.json")
	md := filepath.Join(dir, "results.md")
	args := append([]string{"--smoke", "--out", out, "--md", md}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(ctx, args, &stdout, &stderr)
	t.Logf("run(%q) took %v; progress:\n%s", args, time.Since(start).Round(time.Millisecond), stderr.String())
	if code != 0 {
		t.Fatalf("run(%q) = %d, want 0; stdout:\n%s", args, code, stdout.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("results.json does not parse: %v", err)
	}
	written, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if string(written) != stdout.String() {
		t.Errorf("--md file differs from the markdown printed")
	}
	return rep, stdout.String()
}

// TestSmoke runs every scenario with tiny counts: it proves the harness
// works (servers start and stop, every scenario yields rows, the table and
// the JSON agree), not that any target is met. With redis-server
// installed the Redis comparisons run too.
func TestSmoke(t *testing.T) {
	rep, md := runSmoke(t)
	if len(rep.Errors) != 0 {
		t.Errorf("errors = %q, want none", rep.Errors)
	}
	for _, key := range scenarioKeys() {
		n := 0
		for _, r := range rep.Rows {
			if r.Scenario == key {
				n++
			}
		}
		if n == 0 {
			t.Errorf("scenario %s produced no rows", key)
		}
	}
	for _, want := range []string{
		"# jwtrevoke benchmark — smoke run",
		"| # | scenario | figure | ours | comparison | ratio | target | met? |",
		"Load average", "Seed: 20260101", "GOMAXPROCS",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	for i, r := range rep.Rows {
		if r.Figure == "" || r.Ours.Text == "" {
			t.Errorf("row %d = %+v: empty figure or value", i+1, r)
		}
		switch r.Status {
		case "met", "missed":
			if r.Met == nil || *r.Met != (r.Status == "met") || r.Target == "" {
				t.Errorf("row %d (%s): status %q, met %v, target %q: inconsistent", i+1, r.Figure, r.Status, r.Met, r.Target)
			}
		case "skipped":
			if rep.Machine.Redis != "" {
				t.Errorf("row %d (%s) skipped although redis-server %s ran", i+1, r.Figure, rep.Machine.Redis)
			}
		case "":
			if r.Target != "" {
				t.Errorf("row %d (%s): target %q but no status", i+1, r.Figure, r.Target)
			}
		default:
			t.Errorf("row %d: status %q", i+1, r.Status)
		}
	}
	if rep.Machine.Redis == "" && !strings.Contains(md, "Redis columns skipped") {
		t.Errorf("no redis-server, and the report does not say the Redis columns were skipped")
	}
	// The 0-allocation rows must be judged even in the tiny mode: they do
	// not depend on the machine.
	for _, r := range rep.Rows {
		if strings.Contains(r.Figure, "allocations per check") && r.Status != "met" {
			t.Errorf("%s: %s, want 0 allocs", r.Figure, r.Ours.Text)
		}
	}
}

// TestSmokeWithoutRedis proves the harness runs, and says so plainly, when
// there is no redis-server.
func TestSmokeWithoutRedis(t *testing.T) {
	rep, md := runSmoke(t, "--redis-server=none", "--only=check,memory")
	if len(rep.Errors) != 0 {
		t.Errorf("errors = %q, want none", rep.Errors)
	}
	if !strings.Contains(md, "Redis columns skipped") {
		t.Errorf("markdown does not say the Redis columns were skipped:\n%s", md)
	}
	skipped := 0
	for _, r := range rep.Rows {
		if r.Status == "skipped" {
			skipped++
			if r.Met != nil || r.Ratio != nil {
				t.Errorf("skipped row %q has met %v, ratio %v; want neither", r.Figure, r.Met, r.Ratio)
			}
		}
		if r.Scenario != "check" && r.Scenario != "memory" {
			t.Errorf("row from scenario %q, want only check and memory", r.Scenario)
		}
	}
	if skipped == 0 {
		t.Error("no row marked skipped without redis-server")
	}
}

func TestArgs(t *testing.T) {
	for _, args := range [][]string{
		{"--quick", "--smoke"},
		{"--only", "nosuch"},
		{"extra"},
		{"--bogus"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}

func TestMedianRatio(t *testing.T) {
	for _, c := range []struct {
		a, b []float64
		want float64
	}{
		{[]float64{10}, []float64{5}, 2},
		{[]float64{10, 30, 8}, []float64{10, 10, 1}, 3},
		{[]float64{1, 2}, []float64{1, 1}, 1.5},
	} {
		if got := medianRatio(c.a, c.b); got != c.want {
			t.Errorf("medianRatio(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{group(1234567), "1,234,567"},
		{group(-1000), "-1,000"},
		{num(66900.4), "66,900"},
		{num(12.345), "12.3"},
		{num(0.5), "0.500"},
		{num(0.99999), "1.000"},
		{num(0.0613), "0.0613"},
		{durText(1500 * time.Microsecond), "1.50 ms"},
		{durText(250 * time.Microsecond), "250 µs"},
		{countText(1_000_000), "1M"},
		{countText(100_000), "100k"},
		{countText(1500), "1,500"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestWriteJSONNonFinite(t *testing.T) {
	r := &report{Rows: []Row{{Figure: "x", Ours: Value{Value: math.Inf(1), Text: "+Inf", Detail: map[string]float64{"a": math.NaN(), "b": 1}}}}}
	r.Rows[0].ratio(math.NaN(), "NaN×")
	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.writeJSON(path); err != nil {
		t.Fatalf("writeJSON with non-finite figures: %v", err)
	}
	if r.Rows[0].Ratio != nil || r.Rows[0].Ours.Value != 0 || len(r.Rows[0].Ours.Detail) != 1 {
		t.Errorf("row after writeJSON = %+v, want ratio nil, value 0, one detail", r.Rows[0])
	}
}
