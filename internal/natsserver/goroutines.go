package natsserver

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Goroutines returns the stacks of every goroutine, other than the caller's,
// that an in-process nats-server did not start: those of the NATS clients,
// the code under test and the test framework. A test takes them before and
// after the code under test, to find the goroutines it leaked.
func Goroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range bytes.Split(buf, []byte("\n\n"))[1:] { // the caller's comes first
		if s := string(g); !strings.Contains(s, "nats-io/nats-server/") {
			out = append(out, s)
		}
	}
	return out
}

// NoNewGoroutines fails the test unless, within d, no more goroutines run
// outside the server than in baseline, as Goroutines returned it before.
func NoNewGoroutines(t testing.TB, baseline []string, d time.Duration) {
	t.Helper()
	var now []string
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		if now = Goroutines(); len(now) <= len(baseline) {
			return
		}
		if time.Now().After(deadline) {
			break
		}
	}
	t.Errorf("%d goroutines, want at most %d as before; now running:\n\n%s",
		len(now), len(baseline), strings.Join(now, "\n\n"))
}
