package testkit

import (
	"fmt"
	"testing"
	"time"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}

// TestNoNewGoroutines: a goroutine started after the baseline that never
// returns is reported, one whose stack names an exception is not, and once
// it returns the check passes. The blocked goroutine cannot return before
// the channel is closed, so the short bound decides nothing.
func TestNoNewGoroutines(t *testing.T) {
	baseline := Goroutines()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); leakedForTest(stop) }()

	r := &recorder{TB: t}
	NoNewGoroutines(r, baseline, 50*time.Millisecond)
	if len(r.failed) != 1 {
		t.Errorf("NoNewGoroutines with a blocked goroutine reported %d failures, want 1", len(r.failed))
	}
	r = &recorder{TB: t}
	NoNewGoroutines(r, baseline, 50*time.Millisecond, "leakedForTest")
	if len(r.failed) != 0 {
		t.Errorf("NoNewGoroutines excepting the blocked goroutine's function reported %v, want nothing", r.failed)
	}
	close(stop)
	<-done
	NoNewGoroutines(t, baseline, time.Minute)
}

func leakedForTest(stop chan struct{}) { <-stop }
