package flock

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	f, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock() error = %v", err)
	}
	if g, err := TryLock(path); !errors.Is(err, ErrLocked) {
		if g != nil {
			g.Close()
		}
		t.Fatalf("second TryLock() error = %v, want ErrLocked", err)
	}
	f.Close()
	g, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock() after Close error = %v", err)
	}
	g.Close()
	if _, err := TryLock(filepath.Join(t.TempDir(), "no", "such", "dir", "x.lock")); err == nil || errors.Is(err, ErrLocked) {
		t.Errorf("TryLock(missing dir) error = %v, want an open error", err)
	}
}
