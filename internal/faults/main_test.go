package faults

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
)

// full is set by JWTREVOKE_FULL=1: full counts, sequential cases, and the
// results table printed at the end.
var full = os.Getenv("JWTREVOKE_FULL") == "1"

// runBugs is set by JWTREVOKE_BUGS=1: cases that show a known product bug
// run (and fail) instead of skipping.
var runBugs = os.Getenv("JWTREVOKE_BUGS") == "1"

// pick returns quick in the default run and long under JWTREVOKE_FULL=1.
func pick[T any](quick, long T) T {
	if full {
		return long
	}
	return quick
}

// parallel lets quick cases overlap (most of their time is spent waiting on
// a cut, a restart or an election); full runs keep them apart so their
// figures are not skewed by each other.
func parallel(t *testing.T) {
	if !full {
		t.Parallel()
	}
}

// bug records a check that fails because of a product bug. When the case
// ends (done), it skips with the reasons unless JWTREVOKE_BUGS=1, in which
// case it fails; either way the table says BUG.
func (r *row) bug(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bugs = append(r.bugs, fmt.Sprintf(format, args...))
}

// done ends a case: it skips (or, with JWTREVOKE_BUGS=1, fails) if a bug
// was recorded. Call it last.
func (r *row) done(t *testing.T) {
	t.Helper()
	if len(r.bugs) == 0 {
		return
	}
	msg := "BUG: " + strings.Join(r.bugs, "; BUG: ")
	if runBugs {
		t.Error(msg)
		return
	}
	t.Skip(msg + " (JWTREVOKE_BUGS=1 makes this fail)")
}

// row is one line of the results table. Cases fill it in as they go; its
// verdict is set from the test's outcome when the test ends.
type row struct {
	id, name string
	injected string
	acked    int
	lost     int
	// exposure: time from the publisher's ack until the probe's token is
	// refused at an agent, over every probe at every agent.
	exposure []time.Duration
	// recovery is the case's recovery figure (catch-up, convergence after
	// heal, publish outage, election gap …); what it measures is in notes.
	recovery time.Duration
	hasRecov bool
	notes    []string
	bugs     []string
	verdict  string
	mu       sync.Mutex // guards notes while a case runs goroutines
}

func (r *row) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *row) setRecovery(d time.Duration) { r.recovery, r.hasRecov = d, true }

var results struct {
	mu   sync.Mutex
	rows []*row
}

// report registers the case's row; the verdict is read from t when the
// test ends.
func report(t *testing.T, id, name, injected string) *row {
	r := &row{id: id, name: name, injected: injected}
	t.Cleanup(func() {
		switch {
		case len(r.bugs) > 0 && t.Failed() && !runBugs:
			r.verdict = "FAIL + BUG"
		case len(r.bugs) > 0:
			r.verdict = "BUG"
		case t.Failed():
			r.verdict = "FAIL"
		case t.Skipped():
			r.verdict = "skipped"
		case r.lost > 0:
			r.verdict = "FAIL"
		default:
			r.verdict = "pass"
		}
		results.mu.Lock()
		results.rows = append(results.rows, r)
		results.mu.Unlock()
		t.Logf("%s %s: acked %d, lost %d, exposure %s, recovery %s, %s; %s", r.id, r.name, r.acked, r.lost,
			r.exposureCell(), r.recoveryCell(), r.verdict, strings.Join(r.notes, "; "))
	})
	return r
}

func (r *row) exposureCell() string {
	if len(r.exposure) == 0 {
		return "–"
	}
	p := percentiles(r.exposure, 0.5, 0.99, 1)
	return fmt.Sprintf("%s / %s / %s", ms(p[0]), ms(p[1]), ms(p[2]))
}

func (r *row) recoveryCell() string {
	if !r.hasRecov {
		return "–"
	}
	return fmt.Sprintf("%.2f", r.recovery.Seconds())
}

// ms formats a duration in milliseconds with a precision that suits it.
func ms(d time.Duration) string {
	switch f := float64(d) / float64(time.Millisecond); {
	case f < 10:
		return fmt.Sprintf("%.2f ms", f)
	case f < 1000:
		return fmt.Sprintf("%.0f ms", f)
	default:
		return fmt.Sprintf("%.2f s", f/1000)
	}
}

// percentiles returns the q-quantiles of ds (nearest rank), sorting a copy.
func percentiles(ds []time.Duration, qs ...float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	if len(ds) == 0 {
		return out
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	for i, q := range qs {
		k := int(q*float64(len(s))+0.5) - 1
		out[i] = s[min(max(k, 0), len(s)-1)]
	}
	return out
}

func writeTable(w io.Writer) {
	results.mu.Lock()
	rows := slices.Clone(results.rows)
	results.mu.Unlock()
	slices.SortFunc(rows, func(a, b *row) int { return cmp.Compare(a.id, b.id) })
	fmt.Fprintf(w, "\n| case | injected | acked | lost | exposure p50 / p99 / max | recovery s | verdict |\n")
	fmt.Fprintf(w, "| --- | --- | ---: | ---: | --- | ---: | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s %s | %s | %d | %d | %s | %s | %s |\n", r.id, r.name, r.injected, r.acked, r.lost,
			r.exposureCell(), r.recoveryCell(), r.verdict)
	}
	fmt.Fprintf(w, "\nNotes:\n\n")
	for _, r := range rows {
		notes := r.notes
		for _, b := range r.bugs {
			notes = append(notes, "BUG: "+b)
		}
		fmt.Fprintf(w, "- **%s %s**: %s\n", r.id, r.name, strings.Join(notes, "; "))
	}
}

func TestMain(m *testing.M) {
	start := time.Now()
	code := m.Run()
	if full || os.Getenv("JWTREVOKE_TABLE") == "1" {
		mode := "quick"
		if full {
			mode = "full (JWTREVOKE_FULL=1)"
		}
		fmt.Printf("\n## jwtrevoke fault suite, %s\n\n%s, %s/%s, %d CPUs, GOMAXPROCS %d; nats-server built in %v; suite took %v\n",
			mode, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0),
			natsproc.BuildTime().Round(time.Millisecond), time.Since(start).Round(time.Second))
		if b, err := os.ReadFile("/proc/loadavg"); err == nil {
			fmt.Printf("load average at the end: %s", b)
		}
		writeTable(os.Stdout)
		if p := os.Getenv("JWTREVOKE_REPORT"); p != "" {
			if f, err := os.Create(p); err == nil {
				writeTable(f)
				f.Close()
			}
		}
	}
	natsproc.RemoveBinary()
	os.Exit(code)
}
