package clitool

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestLockStore: a store held by this process is refused to a second
// taker, which names the holder's PID; once released it can be taken again.
func TestLockStore(t *testing.T) {
	dir := t.TempDir()
	release, err := lockStore(dir)
	if err != nil {
		t.Fatalf("lockStore(%s) = %v", dir, err)
	}
	_, err = lockStore(dir)
	if !errors.Is(err, ErrStoreInUse) || !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Errorf("lockStore of a held store = %v, want ErrStoreInUse naming process %d", err, os.Getpid())
	}
	release()
	again, err := lockStore(dir)
	if err != nil {
		t.Fatalf("lockStore after release = %v", err)
	}
	again()
}
