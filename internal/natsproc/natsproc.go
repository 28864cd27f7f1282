// Package natsproc runs nats-server as a child process, for tests that must
// kill it with SIGKILL, restart it on the same store, or run a cluster of
// several: the faults the in-process server of internal/natsserver cannot
// suffer. It is internal: only the project's tests use it.
//
// The binary is built once per process from the
// github.com/nats-io/nats-server/v2 version in the project's go.mod (so the
// child runs exactly the server the library is tested against, never a
// system package) into a temporary directory; Go's build cache makes later
// builds a link step.
//
// A Server is configured by a generated config file: loopback ports reserved
// once (internal/freeport) and kept across restarts, JetStream with its store directory,
// optionally a cluster with routes and sync_interval: always, and an
// optional accounts block for least-privilege users.
//
// A Server is safe for use by multiple goroutines.
package natsproc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jwtrevoke/jwtrevoke/internal/freeport"
)

// ErrNotRunning is returned by calls that need a running server.
var ErrNotRunning = errors.New("natsproc: server is not running")

// FreePorts returns n distinct loopback TCP ports reserved for this process
// (see internal/freeport): no other process of the suite and no
// kernel-assigned port can take them, so a child can bind them later, and
// again after a restart.
func FreePorts(n int) ([]int, error) {
	ports, err := freeport.Take(n)
	if err != nil {
		return nil, fmt.Errorf("natsproc: free port: %w", err)
	}
	return ports, nil
}

// Options configure one server. Zero ports are picked free at Start and kept
// for every restart.
type Options struct {
	// Name is the server_name; required, unique within a cluster.
	Name string
	// Dir holds the config file, the log and (unless StoreDir is set) the
	// JetStream store. Required.
	Dir      string
	StoreDir string
	// Port for clients, HTTPPort for monitoring (/healthz, /jsz),
	// ClusterPort for routes (only with Cluster).
	Port, HTTPPort, ClusterPort int
	// Cluster names the cluster; Routes are the cluster ports of every
	// member (this one's may be included).
	Cluster string
	Routes  []int
	// SyncAlways sets jetstream.sync_interval: always (fsync before every
	// ack).
	SyncAlways bool
	// Accounts is a raw accounts { … } block (or any other top-level
	// config) appended to the config file.
	Accounts string
	// Extra is appended to the config file verbatim.
	Extra string
	// ConfigFile, when set, is the config the server runs, as it is: none
	// is generated and every field above but Name, Dir, Port and HTTPPort
	// is ignored. Port and HTTPPort must be where that file has the server
	// listen (on 127.0.0.1); the log goes to Dir.
	ConfigFile string
}

// Server is one nats-server child process, restartable on its store.
type Server struct {
	opts    Options
	bin     string
	cfgPath string
	logPath string

	mu      sync.Mutex // guards cmd, exited, starts
	cmd     *exec.Cmd
	exited  chan struct{}
	starts  int
	logFile *os.File
}

// New writes the config of a server and returns it, not started.
func New(o Options) (*Server, error) {
	if o.Name == "" || o.Dir == "" {
		return nil, errors.New("natsproc: Name and Dir are required")
	}
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if o.ConfigFile != "" {
		if o.Port == 0 || o.HTTPPort == 0 {
			return nil, errors.New("natsproc: a ConfigFile needs the Port and HTTPPort it listens on")
		}
		return &Server{opts: o, bin: bin, cfgPath: o.ConfigFile, logPath: filepath.Join(o.Dir, o.Name+".log")}, nil
	}
	if o.StoreDir == "" {
		o.StoreDir = filepath.Join(o.Dir, "store")
	}
	need := 0
	for _, p := range []int{o.Port, o.HTTPPort} {
		if p == 0 {
			need++
		}
	}
	if o.Cluster != "" && o.ClusterPort == 0 {
		need++
	}
	ports, err := FreePorts(need)
	if err != nil {
		return nil, err
	}
	take := func(p *int) {
		if *p == 0 {
			*p, ports = ports[0], ports[1:]
		}
	}
	take(&o.Port)
	take(&o.HTTPPort)
	if o.Cluster != "" {
		take(&o.ClusterPort)
	}
	if err := os.MkdirAll(o.StoreDir, 0o755); err != nil {
		return nil, err
	}
	s := &Server{opts: o, bin: bin, cfgPath: filepath.Join(o.Dir, o.Name+".conf"), logPath: filepath.Join(o.Dir, o.Name+".log")}
	if err := os.WriteFile(s.cfgPath, []byte(s.Config()), 0o644); err != nil {
		return nil, err
	}
	return s, nil
}

// Config returns the server's config file text.
func (s *Server) Config() string { return configText(s.opts) }

// configText renders the config file of o, whose ports are set.
func configText(o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %q\n", o.Name)
	fmt.Fprintf(&b, "listen: \"127.0.0.1:%d\"\n", o.Port)
	fmt.Fprintf(&b, "http: \"127.0.0.1:%d\"\n", o.HTTPPort)
	b.WriteString("jetstream {\n")
	fmt.Fprintf(&b, "  store_dir: %q\n", o.StoreDir)
	if o.SyncAlways {
		b.WriteString("  sync_interval: always\n")
	}
	b.WriteString("}\n")
	if o.Cluster != "" {
		b.WriteString("cluster {\n")
		fmt.Fprintf(&b, "  name: %q\n", o.Cluster)
		fmt.Fprintf(&b, "  listen: \"127.0.0.1:%d\"\n", o.ClusterPort)
		var routes []string
		for _, p := range o.Routes {
			if p != o.ClusterPort {
				routes = append(routes, fmt.Sprintf("\"nats-route://127.0.0.1:%d\"", p))
			}
		}
		fmt.Fprintf(&b, "  routes: [%s]\n", strings.Join(routes, ", "))
		b.WriteString("}\n")
	}
	if o.Accounts != "" {
		b.WriteString(o.Accounts)
		b.WriteString("\n")
	}
	if o.Extra != "" {
		b.WriteString(o.Extra)
		b.WriteString("\n")
	}
	return b.String()
}

// Name returns the server_name.
func (s *Server) Name() string { return s.opts.Name }

// URL is the client URL, nats://127.0.0.1:port.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.opts.Port) }

// Port is the client port.
func (s *Server) Port() int { return s.opts.Port }

// HTTPURL is the monitoring base URL.
func (s *Server) HTTPURL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.opts.HTTPPort) }

// StoreDir is the JetStream store directory.
func (s *Server) StoreDir() string { return s.opts.StoreDir }

// LogPath is the file the server logs to (appended across restarts).
func (s *Server) LogPath() string { return s.logPath }

// Start starts the process without waiting for it to be ready (see
// WaitReady). Starting a running server is an error.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("natsproc: %s already running (pid %d)", s.opts.Name, s.cmd.Process.Pid)
	}
	if s.logFile == nil {
		f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		s.logFile = f
	}
	s.starts++
	fmt.Fprintf(s.logFile, "=== natsproc: start %d of %s at %s\n", s.starts, s.opts.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, "-c", s.cfgPath)
	cmd.Stdout, cmd.Stderr = s.logFile, s.logFile
	setDeathSignal(cmd)
	if err := startCmd(cmd); err != nil {
		return fmt.Errorf("natsproc: start %s: %w", s.opts.Name, err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited = cmd, exited
	go func() {
		cmd.Wait()
		close(exited)
	}()
	return nil
}

// Running reports whether the process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// PID is the running process's id, 0 if none.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// WaitReady waits until the server's /healthz answers ok: it accepts
// clients and JetStream is up (for a cluster member: its streams are
// current).
func (s *Server) WaitReady(ctx context.Context) error {
	return s.waitHealth(ctx, "/healthz")
}

// WaitListening waits until the server answers /healthz?js-enabled-only=true:
// it accepts clients and JetStream is enabled, whether or not its cluster
// has a leader yet.
func (s *Server) WaitListening(ctx context.Context) error {
	return s.waitHealth(ctx, "/healthz?js-enabled-only=true")
}

func (s *Server) waitHealth(ctx context.Context, path string) error {
	client := &http.Client{Timeout: time.Second}
	var last string
	for {
		s.mu.Lock()
		exited := s.exited
		running := s.cmd != nil
		s.mu.Unlock()
		if !running {
			return ErrNotRunning
		}
		select {
		case <-exited:
			return fmt.Errorf("natsproc: %s exited while starting; log:\n%s", s.opts.Name, s.LogTail(30))
		default:
		}
		resp, err := client.Get(s.HTTPURL() + path)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsproc: %s not healthy (%s): %w", s.opts.Name, last, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Kill sends SIGKILL and waits for the process to exit: no shutdown, no
// flush, as a crash or an OOM kill would.
func (s *Server) Kill() error { return s.signal(syscall.SIGKILL) }

// Stop sends SIGTERM and waits for a clean shutdown.
func (s *Server) Stop() error { return s.signal(syscall.SIGTERM) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return ErrNotRunning
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("natsproc: %v %s: %w", sig, s.opts.Name, err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
	s.mu.Lock()
	if s.cmd == cmd {
		s.cmd, s.exited = nil, nil
	}
	s.mu.Unlock()
	return nil
}

// Restart starts a stopped or killed server again, on the same ports and
// store, and waits until it is ready.
func (s *Server) Restart(ctx context.Context) error {
	// The client port is free as soon as the process is gone; retry the
	// start for a moment in case the kernel is slow to release it.
	var err error
	for range 50 {
		if err = s.Start(); err != nil {
			return err
		}
		if err = s.WaitReady(ctx); err == nil || ctx.Err() != nil {
			return err
		}
		if s.Running() {
			return err
		}
		s.mu.Lock()
		s.cmd, s.exited = nil, nil
		s.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Close kills the server if it runs and closes its log.
func (s *Server) Close() {
	if s.Running() {
		s.Kill()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logFile != nil {
		s.logFile.Close()
		s.logFile = nil
	}
}

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 4*n {
			lines = lines[len(lines)-n:]
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
