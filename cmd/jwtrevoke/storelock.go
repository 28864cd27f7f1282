package main

// One process per store: two embedded servers on one JetStream store
// directory overwrite each other's files, and revocations one of them
// acknowledged are gone after the next restart.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jwtrevoke/jwtrevoke/internal/flock"
)

// storeLockName is the lock file in a store directory. It holds the PID of
// the process that has the store.
const storeLockName = "jwtrevoke.lock"

// errStoreInUse is returned when another process holds the store.
var errStoreInUse = errors.New("the store directory is in use")

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
		return nil, fmt.Errorf("%w: %s is held by %s (another jwtrevoke serve or demo?); give each process its own --data, or stop that one first", errStoreInUse, dir, holder)
	}
	if err != nil {
		return nil, fmt.Errorf("locking the store directory %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}
