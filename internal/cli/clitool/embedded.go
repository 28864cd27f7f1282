package clitool

// The development NATS server of serve and demo, and its store's lock: two
// embedded servers on one JetStream store directory overwrite each other's
// files, and revocations one of them acknowledged are gone after the next
// restart. So one process holds a store at a time.

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/jwtrevoke/jwtrevoke/internal/flock"
	"github.com/jwtrevoke/jwtrevoke/internal/natsserver"
)

// storeLockName is the lock file in a store directory. It holds the PID of
// the process that has the store.
const storeLockName = "jwtrevoke.lock"

// ErrStoreInUse is returned when another process holds the store.
var ErrStoreInUse = errors.New("the store directory is in use")

// StartNATS starts the development default: a nats-server with JetStream
// in this process, storing under dir and listening for other clients on
// listen (host:port). It holds the store's lock while the server runs, so
// a second process on the same store refuses to start (ErrStoreInUse).
// The caller shuts the server down.
func StartNATS(dir, listen string, log *slog.Logger) (*server.Server, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("--nats-listen %q: %w", listen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("--nats-listen %q: bad port", listen)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	release, err := lockStore(dir)
	if err != nil {
		return nil, err
	}
	s, err := natsserver.Start(natsserver.Config{StoreDir: dir, Host: host, Port: p, Name: "jwtrevoke"})
	if err != nil {
		release()
		return nil, err
	}
	// The store is this process's until the server has shut down.
	go func() { s.WaitForShutdown(); release() }()
	log.Info("embedded NATS server with JetStream", "url", s.ClientURL(), "store", dir)
	return s, nil
}

// lockStore takes the exclusive lock on the store directory dir for this
// process and returns the function that gives it up. The lock also ends
// when the process exits, however it exits (kill -9 included), so a
// crashed holder never blocks the next start.
func lockStore(dir string) (release func(), _ error) {
	path := filepath.Join(dir, storeLockName)
	f, err := flock.TryLock(path)
	if errors.Is(err, flock.ErrLocked) {
		holder := "another process"
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = fmt.Sprintf("process %d", pid)
			}
		}
		return nil, fmt.Errorf("%w: %s is held by %s (another jwtrevoke serve or demo?); give each process its own --data, or stop that one first", ErrStoreInUse, dir, holder)
	}
	if err != nil {
		return nil, fmt.Errorf("locking the store directory %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}
