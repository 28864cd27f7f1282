package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/jwtrevoke/jwtrevoke/internal/freeport"
)

// natsEnv is an embedded nats-server with JetStream on a free loopback
// port and a temporary store, started for one scenario (the same pattern as
// the main module's internal/natsserver, which another module may not
// import).
type natsEnv struct {
	srv   *server.Server
	dir   string
	conns []*nats.Conn
}

// startNATS starts a server; the scenario stops it when it ends.
func (s *scenarioRun) startNATS() (*natsEnv, error) {
	dir, err := os.MkdirTemp("", "jwtrevoke-bench-nats-")
	if err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: "jwtrevoke-bench",
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
		// Many agents each hold a connection; the defaults are far above
		// what any scenario opens.
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		os.RemoveAll(dir)
		return nil, errors.New("nats-server: not ready after 10s")
	}
	n := &natsEnv{srv: srv, dir: dir}
	s.defer_(n.close)
	return n, nil
}

// connect opens a client connection, closed with the server.
func (n *natsEnv) connect() (*nats.Conn, error) {
	nc, err := nats.Connect(n.srv.ClientURL(), nats.Name("jwtrevoke-bench"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, err
	}
	n.conns = append(n.conns, nc)
	return nc, nil
}

func (n *natsEnv) close() {
	for _, nc := range n.conns {
		nc.Close()
	}
	n.conns = nil
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	os.RemoveAll(n.dir)
}

// redisServer is a redis-server child process on a free loopback port,
// with no persistence, started by the harness and killed when it exits.
type redisServer struct {
	cmd     *exec.Cmd
	dir     string
	addr    string
	version string
	client  *redis.Client
}

// errNoRedis is reported (not failed on) when there is no redis-server.
var errNoRedis = errors.New("redis-server not installed: Redis columns skipped")

// startRedis starts redis-server if bin ("redis-server" by default) is
// found; "none" disables it. Without it, e.redis stays nil and the Redis
// columns say so.
func (e *env) startRedis(bin string) error {
	if bin == "none" || bin == "" {
		return errors.New("redis-server disabled (--redis-server=none): Redis columns skipped")
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return errNoRedis
	}
	ver, _ := exec.Command(path, "--version").Output()
	dir, err := os.MkdirTemp("", "jwtrevoke-bench-redis-")
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(path,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--dir", dir, "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--protected-mode", "yes",
		"--loglevel", "warning", "--logfile", filepath.Join(dir, "redis.log"),
	)
	// If the harness dies, the server goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("starting %s: %w", path, err)
	}
	r := &redisServer{cmd: cmd, dir: dir, addr: addr, version: redisVersion(string(ver))}
	r.client = redis.NewClient(&redis.Options{
		Addr:                     addr,
		Protocol:                 2,
		DisableIdentity:          true,
		PoolSize:                 16,
		ReadTimeout:              10 * time.Second,
		WriteTimeout:             10 * time.Second,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := r.client.Ping(ctx).Err()
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			r.stop()
			return fmt.Errorf("redis-server on %s did not answer PING: %v %s", addr, err, strings.TrimSpace(stderr.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.redis = r
	e.log.printf("redis-server %s on %s (pid %d, --save '' --appendonly no)", r.version, addr, cmd.Process.Pid)
	return nil
}

func (r *redisServer) stop() {
	if r.client != nil {
		r.client.Close()
	}
	if r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
	os.RemoveAll(r.dir)
}

// usedMemory reads used_memory from INFO memory, once incremental
// rehashing has settled (two equal readings 100 ms apart, at most 3 s).
func (r *redisServer) usedMemory(ctx context.Context) (int64, error) {
	var last int64 = -1
	for range 30 {
		s, err := r.client.Info(ctx, "memory").Result()
		if err != nil {
			return 0, err
		}
		v, err := infoField(s, "used_memory")
		if err != nil {
			return 0, err
		}
		if v == last {
			return v, nil
		}
		last = v
		time.Sleep(100 * time.Millisecond)
	}
	return last, nil
}

func infoField(info, name string) (int64, error) {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO has no %s", name)
}

// redisVersion turns "Redis server v=7.0.15 sha=…" into "7.0.15".
func redisVersion(s string) string {
	for _, f := range strings.Fields(s) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return v
		}
	}
	return strings.TrimSpace(s)
}

// freePort reserves a loopback port for the Redis child (internal/freeport):
// it cannot be taken by another process's :0 listener or outgoing
// connection before Redis binds it.
func freePort() (int, error) {
	ports, err := freeport.Take(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}
