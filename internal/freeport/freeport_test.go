package freeport

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func lockDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "jwtrevoke-freeport")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTakeDistinctOutsideEphemeralRange(t *testing.T) {
	ports, err := Take(50)
	if err != nil {
		t.Fatalf("Take(50) error = %v", err)
	}
	defer Release(ports...)
	lo, hi := bounds()
	elo, ehi := ephemeralRange()
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Errorf("Take(50) returned %d twice", p)
		}
		seen[p] = true
		if p < lo || p >= hi {
			t.Errorf("port %d outside [%d, %d)", p, lo, hi)
		}
		if p >= elo && p <= ehi {
			t.Errorf("port %d inside the ephemeral range %d-%d", p, elo, ehi)
		}
		// Reserved means usable: the caller can listen on it.
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("listen on reserved port %d: %v", p, err)
			continue
		}
		l.Close()
	}
}

func TestBlockIsConsecutiveAndExclusive(t *testing.T) {
	p, err := Block(4)
	if err != nil {
		t.Fatalf("Block(4) error = %v", err)
	}
	dir := lockDir(t)
	for q := p; q < p+4; q++ {
		if reserve(dir, q, 1) {
			t.Errorf("reserve(%d) = true while Block(4) = %d holds it", q, p)
		}
	}
	Release(p, p+1, p+2, p+3)
	if !reserve(dir, p+2, 1) {
		t.Errorf("reserve(%d) = false after Release", p+2)
	}
	Release(p + 2)
}

func TestBoundPortSkipped(t *testing.T) {
	ports, err := Take(1)
	if err != nil {
		t.Fatal(err)
	}
	p := ports[0]
	// Listen while the reservation keeps other users of this package
	// away, then give the reservation up: the port is bound but unlocked.
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	Release(p)
	if err != nil {
		t.Fatalf("listen on reserved port %d: %v", p, err)
	}
	defer l.Close()
	if reserve(lockDir(t), p, 1) {
		Release(p)
		t.Errorf("reserve(%d) = true while a listener is bound to it", p)
	}
}

// TestHeldAcrossProcesses runs this test binary again as a child that
// takes a port and holds it; this process must not get that port until
// the child has exited.
func TestHeldAcrossProcesses(t *testing.T) {
	if os.Getenv("FREEPORT_CHILD") == "1" {
		p, err := Block(1)
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(strconv.Itoa(p) + "\n")
		bufio.NewReader(os.Stdin).ReadString('\n') // hold until told to exit
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHeldAcrossProcesses$")
	cmd.Env = append(os.Environ(), "FREEPORT_CHILD=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("reading the child's port: %v", err)
	}
	p, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child printed %q, want a port", line)
	}
	dir := lockDir(t)
	if reserve(dir, p, 1) {
		Release(p)
		t.Errorf("reserve(%d) = true while another process holds it", p)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	// The child is gone, so its lock is too.
	if !reserve(dir, p, 1) {
		t.Errorf("reserve(%d) = false after the holding process exited", p)
	}
	Release(p)
}
