package main

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// leakWait bounds how long a leak check waits for the goroutines of what
// was closed to return. They return within milliseconds once their
// connections close; the bound is only there so that a real leak fails
// the test instead of hanging it, and is generous so that a starved
// machine does not look like a leak.
const leakWait = 60 * time.Second

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
		// "goroutine 123 [select]:"
		f := strings.Fields(string(g))
		if len(f) < 2 || f[0] != "goroutine" {
			continue
		}
		id, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		out[id] = string(g)
	}
	return out
}

// goroutineSet is the goroutines running at one moment, by ID. Goroutine
// IDs are never reused, so a goroutine that is not in the set started
// after it was taken. Comparing sets, not counts, means that goroutines of
// earlier tests that happen to end meanwhile cannot hide a leak.
type goroutineSet map[uint64]bool

func runningGoroutines() goroutineSet {
	s := goroutineSet{}
	for id := range goroutineStacks() {
		s[id] = true
	}
	return s
}

// noGoroutinesSince fails the test unless, within leakWait, every goroutine
// started since before was taken has returned, except those whose stack
// contains one of the strings in except.
func noGoroutinesSince(t *testing.T, before goroutineSet, except ...string) {
	t.Helper()
	var left []string
	deadline := time.Now().Add(leakWait)
	for {
		left = left[:0]
		for id, stack := range goroutineStacks() {
			if before[id] || containsAny(stack, except) {
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
	t.Errorf("%d goroutines started by the test still run %v after it closed everything:\n\n%s",
		len(left), leakWait, strings.Join(left, "\n\n"))
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
