// Package flock takes exclusive advisory locks on files (flock(2)), for
// what two processes must never share: a store directory, a reserved test
// port. A lock lasts until its file is closed or the process exits — the
// kernel drops it even on SIGKILL, so a crashed holder never leaves a stale
// lock behind.
//
// The functions are safe for use by multiple goroutines.
package flock

import (
	"errors"
	"os"
)

// ErrLocked is returned by TryLock when another open file holds the lock
// (another process, or another TryLock of this one).
var ErrLocked = errors.New("flock: locked by another holder")

// TryLock opens path, creating it if needed, and takes an exclusive lock
// on it without waiting. Close the file to release the lock.
func TryLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := lock(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
