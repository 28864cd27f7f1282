package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Row is one line of the table: one of our figures beside one comparison,
// their ratio, and the target that ratio must meet, if any.
type Row struct {
	Scenario   string `json:"scenario"`
	Figure     string `json:"figure"`
	Ours       Value  `json:"ours"`
	Comparison *Value `json:"comparison,omitempty"`
	// Ratio is the figure the target is judged on (see RatioText for its
	// sense: "× faster", "× the map", "ms over raw", …). Absent when the
	// comparison was skipped.
	Ratio     *float64 `json:"ratio,omitempty"`
	RatioText string   `json:"ratio_text"`
	Target    string   `json:"target,omitempty"`
	// Status is "met", "missed", "skipped" (the target could not be judged:
	// a comparison was not available) or "" (no target).
	Status string `json:"status"`
	Met    *bool  `json:"met"`
}

// Value is one measured figure.
type Value struct {
	Label  string             `json:"label,omitempty"`
	Value  float64            `json:"value"`
	Unit   string             `json:"unit"`
	Text   string             `json:"text"`
	Detail map[string]float64 `json:"detail,omitempty"`
}

// judge sets the row's target, status and met flag.
func (r *Row) judge(target string, met bool) {
	r.Target = target
	r.Met = &met
	if met {
		r.Status = "met"
	} else {
		r.Status = "missed"
	}
}

// skip marks a row whose target could not be judged.
func (r *Row) skip(target string) {
	r.Target = target
	r.Status = "skipped"
	r.Met = nil
	r.Ratio = nil
	if r.RatioText == "" {
		r.RatioText = "—"
	}
}

func (r *Row) ratio(v float64, text string) {
	r.Ratio = &v
	r.RatioText = text
}

type timing struct {
	Scenario string  `json:"scenario"`
	Seconds  float64 `json:"seconds"`
}

type report struct {
	Mode     string    `json:"mode"`
	Command  string    `json:"command"`
	Seed     uint64    `json:"seed"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_seconds"`
	Machine  machine   `json:"machine"`
	Rows     []Row     `json:"rows"`
	Timings  []timing  `json:"timings"`
	Notes    []string  `json:"notes"`
	Errors   []string  `json:"errors"`
	Summary  struct {
		Targets int `json:"targets"`
		Met     int `json:"met"`
		Missed  int `json:"missed"`
		Skipped int `json:"skipped"`
	} `json:"summary"`
}

func (r *report) finish() {
	r.Duration = time.Since(r.Started).Seconds()
	r.Machine.LoadEnd = loadAverage()
	for _, row := range r.Rows {
		switch row.Status {
		case "met":
			r.Summary.Met++
		case "missed":
			r.Summary.Missed++
		case "skipped":
			r.Summary.Skipped++
		}
		if row.Target != "" {
			r.Summary.Targets++
		}
	}
}

func (r *report) writeJSON(path string) error {
	// JSON has no NaN or infinity: a ratio that came out so (a division
	// by a zero measurement) is left out, a value is written as 0 and a
	// detail dropped; the row's text still says what it was.
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.Ratio != nil && !finite(*row.Ratio) {
			row.Ratio = nil
		}
		sanitize(&row.Ours)
		if row.Comparison != nil {
			sanitize(row.Comparison)
		}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func (r *report) markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# jwtrevoke benchmark — %s run\n\n", r.Mode)
	fmt.Fprintf(&b, "- Command: `cd bench && %s`\n", strings.TrimSpace(r.Command))
	fmt.Fprintf(&b, "- Date: %s; ran for %s\n", r.Started.Format("2006-01-02 15:04 MST"), time.Duration(r.Duration*1e9).Round(time.Second).String())
	fmt.Fprintf(&b, "- Machine: %s, %d cores, GOMAXPROCS %d, %s memory; %s; %s\n", m.CPU, m.Cores, m.GOMAXPROCS, m.MemTotal, m.Go, m.OS)
	fmt.Fprintf(&b, "- Load average (1/5/15 min, /proc/loadavg): %s at start, %s at end — the machine is shared, so read ratios, not absolute times\n", m.LoadStart, m.LoadEnd)
	fmt.Fprintf(&b, "- Seed: %d (fixed; `--seed` changes it)\n", r.Seed)
	redis := m.Redis
	if redis == "" {
		redis = "not used"
	}
	fmt.Fprintf(&b, "- Servers, all on loopback: nats-server %s embedded (nats.go %s); redis-server: %s (go-redis %s)\n", m.NATSServer, m.NATSClient, redis, m.GoRedis)
	if m.Jwtrevoke != "" {
		fmt.Fprintf(&b, "- jwtrevoke: %s\n", m.Jwtrevoke)
	}
	b.WriteString("\n| # | scenario | figure | ours | comparison | ratio | target | met? |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for i, row := range r.Rows {
		comp := "—"
		if row.Comparison != nil {
			comp = row.Comparison.Text
			if row.Comparison.Label != "" {
				comp = row.Comparison.Label + ": " + comp
			}
		}
		ours := row.Ours.Text
		if row.Ours.Label != "" {
			ours = row.Ours.Label + ": " + ours
		}
		met := ""
		switch row.Status {
		case "met":
			met = "✓"
		case "missed":
			met = "✗ missed"
		case "skipped":
			met = "skipped"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s |\n", i+1, row.Scenario, esc(row.Figure), esc(ours), esc(comp), esc(row.RatioText), esc(row.Target), met)
	}
	s := r.Summary
	fmt.Fprintf(&b, "\nTargets: %d of %d met, %d missed, %d skipped.\n", s.Met, s.Targets, s.Missed, s.Skipped)
	var missed []string
	for i, row := range r.Rows {
		if row.Status == "missed" {
			missed = append(missed, fmt.Sprintf("- row %d (%s, %s): %s against target %s", i+1, row.Scenario, row.Figure, row.RatioText, row.Target))
		}
	}
	if len(missed) > 0 {
		b.WriteString("\nMissed:\n" + strings.Join(missed, "\n") + "\n")
	}
	if len(r.Errors) > 0 {
		b.WriteString("\nErrors (these scenarios did not finish):\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	if len(r.Timings) > 0 {
		b.WriteString("\nTime per scenario:")
		for _, t := range r.Timings {
			fmt.Fprintf(&b, " %s %.0fs;", t.Scenario, t.Seconds)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func esc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// Formatting of figures.

// group formats n with thousands separators.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var out []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// num formats a figure with three significant digits, grouping large ones.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprint(v)
	case a >= 1000:
		return group(int64(math.Round(v)))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 0.1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case a == 0:
		return "0"
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func nsText(ns float64) string { return num(ns) + " ns" }

// durText formats a duration in µs below 1 ms, in ms below 1 s, else in s.
func durText(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return num(float64(d)/1e3) + " µs"
	case d < time.Second:
		return num(float64(d)/1e6) + " ms"
	default:
		return num(d.Seconds()) + " s"
	}
}

func rateText(perSec float64) string { return num(perSec) + "/s" }

func countText(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return group(int64(n))
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func sanitize(v *Value) {
	if !finite(v.Value) {
		v.Value = 0
	}
	for k, x := range v.Detail {
		if !finite(x) {
			delete(v.Detail, k)
		}
	}
}
