package testkit

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// GoroutineSet is the goroutines running at one moment, by ID. Goroutine
// IDs are never reused, so a goroutine that is not in the set started after
// it was taken. Comparing sets, not counts, means that goroutines of
// earlier steps that happen to end meanwhile cannot hide a leak.
type GoroutineSet map[uint64]bool

// Goroutines returns the goroutines running now, other than the caller's.
// A test takes them before the code under test, and NoNewGoroutines after.
func Goroutines() GoroutineSet {
	s := GoroutineSet{}
	for id := range goroutineStacks() {
		s[id] = true
	}
	return s
}

// goroutineStacks returns the stack of every goroutine (other than the
// caller's) by goroutine ID.
func goroutineStacks() map[uint64]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[uint64]string{}
	for i, g := range bytes.Split(buf, []byte("\n\n")) {
		if i == 0 {
			continue // the caller's comes first
		}
		f := strings.Fields(string(g)) // "goroutine 123 [select]:"
		if len(f) < 2 || f[0] != "goroutine" {
			continue
		}
		if id, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			out[id] = string(g)
		}
	}
	return out
}

// NoNewGoroutines fails the test unless, within d, every goroutine started
// since baseline was taken has returned, except those whose stack contains
// one of the strings in except (such as "nats-io/nats-server/" for an
// in-process server the test still runs). d is a hang guard: the
// goroutines of what was closed return within milliseconds.
func NoNewGoroutines(t testing.TB, baseline GoroutineSet, d time.Duration, except ...string) {
	t.Helper()
	var left []string
	deadline := time.Now().Add(d)
	for {
		left = left[:0]
		for id, stack := range goroutineStacks() {
			if baseline[id] || containsAny(stack, except) {
				continue
			}
			left = append(left, stack)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("%d goroutines started since the baseline still run %v later:\n\n%s",
		len(left), d, strings.Join(left, "\n\n"))
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
