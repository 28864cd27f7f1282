// Package freeport hands out loopback TCP ports that stay free until the
// process that took them uses them, for tests and tools that must name a
// port before the program that listens on it starts (a nats-server child
// and its routes, the demo's block of replica ports, a Redis child).
//
// Picking a port by listening on 127.0.0.1:0, closing the listener and
// handing the number to another program races with every other process on
// the machine: the kernel hands the same ephemeral port to the next :0
// listener or outgoing connection, and under `go test ./...` several test
// binaries do exactly that at once. This package avoids both kinds of
// thief:
//
//   - ports come from below the kernel's ephemeral range
//     (/proc/sys/net/ipv4/ip_local_port_range on Linux), which the kernel
//     never assigns on its own;
//   - each port is reserved by an exclusive flock(2) on a lock file in a
//     directory shared by every process that uses this package, held until
//     Release or until the process exits (the kernel drops the lock even on
//     SIGKILL), so two test binaries never get the same port;
//   - a port is handed out only if it can be bound at that moment, so a
//     program that already listens there is skipped.
//
// A port stays reserved across a child's kill and restart, so a restarted
// server finds its port free. What this cannot stop is an unrelated
// program that binds the same fixed port on purpose.
//
// The functions are safe for use by multiple goroutines.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/jwtrevoke/jwtrevoke/internal/flock"
)

// ErrExhausted is returned when no run of free ports of the asked length
// could be reserved.
var ErrExhausted = errors.New("freeport: no free loopback ports left to reserve")

const (
	// floor is the lowest port handed out: above the well-known and
	// registered ports that development servers default to (4222, 6222,
	// 6379, 8080, 8222, …).
	floor = 15000
	// defaultEphemeralLow is the start of the ephemeral range when the
	// system does not say (Linux's default; IANA's is 49152).
	defaultEphemeralLow = 32768
)

var state struct {
	mu   sync.Mutex       // guards held
	held map[int]*os.File // port → its locked file
}

// Take reserves n distinct loopback ports and returns them.
func Take(n int) ([]int, error) {
	var out []int
	for range n {
		p, err := Block(1)
		if err != nil {
			Release(out...)
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Block reserves n consecutive loopback ports and returns the first.
func Block(n int) (int, error) {
	if n < 1 {
		return 0, fmt.Errorf("freeport: block of %d ports", n)
	}
	lo, hi := bounds()
	if hi-lo < n {
		return 0, ErrExhausted
	}
	dir := filepath.Join(os.TempDir(), "jwtrevoke-freeport")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return 0, fmt.Errorf("freeport: %w", err)
	}
	span := hi - lo - n + 1
	start := rand.IntN(span)
	for i := 0; i < span; i++ {
		p := lo + (start+i)%span
		if reserve(dir, p, n) {
			return p, nil
		}
	}
	return 0, ErrExhausted
}

// reserve locks and checks the ports p..p+n-1; it keeps all or none.
func reserve(dir string, p, n int) bool {
	state.mu.Lock()
	defer state.mu.Unlock()
	var files []*os.File
	ok := true
	for q := p; q < p+n; q++ {
		if _, mine := state.held[q]; mine {
			ok = false
			break
		}
		f, err := flock.TryLock(filepath.Join(dir, strconv.Itoa(q)+".lock"))
		if err != nil {
			ok = false
			break
		}
		files = append(files, f)
		if !bindable(q) {
			ok = false
			break
		}
	}
	if !ok {
		for _, f := range files {
			f.Close() // closing the file drops its lock
		}
		return false
	}
	if state.held == nil {
		state.held = map[int]*os.File{}
	}
	for i, f := range files {
		state.held[p+i] = f
	}
	return true
}

// bindable reports whether a listener can be opened on 127.0.0.1:p now.
func bindable(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Release gives reserved ports back. Ports not reserved by this process
// are ignored. Nothing needs releasing before the process exits.
func Release(ports ...int) {
	state.mu.Lock()
	defer state.mu.Unlock()
	for _, p := range ports {
		if f, ok := state.held[p]; ok {
			f.Close()
			delete(state.held, p)
		}
	}
}

// bounds is the range [lo, hi) ports are taken from: from floor up to
// the start of the kernel's ephemeral range or, if that leaves too few,
// from above its end.
func bounds() (lo, hi int) {
	elo, ehi := ephemeralRange()
	switch {
	case elo-floor >= 1000:
		return floor, elo
	case 65536-(ehi+1) >= 1000:
		return ehi + 1, 65536
	default:
		return floor, 65536 // no room outside it: the lock and bind check still hold
	}
}

// ephemeralRange is the kernel's range for automatically assigned ports,
// inclusive.
func ephemeralRange() (lo, hi int) {
	lo, hi = defaultEphemeralLow, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return lo, hi
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || l > h {
		return lo, hi
	}
	return l, h
}
