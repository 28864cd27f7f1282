package filter

import (
	"runtime"
	"testing"

	lru "github.com/hashicorp/golang-lru/v2"
)

// TestExactEntryBytes checks that exactEntryBytes, which the filter uses to
// turn its memory budget into an LRU size, is not below the measured heap
// cost of one exact entry.
func TestExactEntryBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const n = 200_000
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	c, err := lru.New[uint64, entry](n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(n) {
		c.Add(i*0x9E3779B97F4A7C15, entry{cutoff: int64(i)})
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	per := float64(ms.HeapAlloc-before) / n
	runtime.KeepAlive(c)
	t.Logf("measured %.1f bytes per exact entry; the filter assumes %d", per, exactEntryBytes)
	if per > exactEntryBytes*1.05 {
		t.Errorf("measured %.1f bytes per exact entry, exactEntryBytes = %d: raise it", per, exactEntryBytes)
	}
	if per < exactEntryBytes*0.6 {
		t.Errorf("measured %.1f bytes per exact entry, exactEntryBytes = %d: lower it", per, exactEntryBytes)
	}
}
