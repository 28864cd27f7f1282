package filter

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestExactEntryBytes checks that exactEntryBytes, which the filter uses to
// turn its memory budget into a number of exact entries, is not below the
// measured heap cost of one entry at any fill of the table (it moves as the
// slot array is rebuilt and the write order compacted), and not far above
// the average.
func TestExactEntryBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const n = 200_000
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	tab := newExactTable(n, func(uint64, entry) {})
	worst, sum, samples := 0.0, 0.0, 0
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		tab.Add(r.Uint64(), entry{cutoff: int64(i), expSec: 1, kind: 1})
		if i%5000 == 4999 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			per := float64(ms.HeapAlloc-before) / float64(tab.Len())
			worst, sum, samples = max(worst, per), sum+per, samples+1
		}
	}
	runtime.KeepAlive(tab)
	mean := sum / float64(samples)
	t.Logf("measured %.1f bytes per exact entry at worst, %.1f on average (table's own count at the end: %d); the filter assumes %d", worst, mean, tab.bytes()/int64(tab.Len()), exactEntryBytes)
	if worst > exactEntryBytes*1.05 {
		t.Errorf("measured %.1f bytes per exact entry at worst, exactEntryBytes = %d: raise it", worst, exactEntryBytes)
	}
	if mean < exactEntryBytes*0.5 {
		t.Errorf("measured %.1f bytes per exact entry on average, exactEntryBytes = %d: lower it", mean, exactEntryBytes)
	}
}

// TestExactTableMatchesModel drives the table with random adds, updates,
// removals and capacity changes beside a model (a map and the write order)
// and compares what each holds and which entries each evicts.
func TestExactTableMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(20261201, 99))
	type rec struct {
		e     entry
		stamp int
	}
	model := map[uint64]rec{}
	type evicted struct {
		h uint64
		e entry
	}
	var evictedModel, evictedTable []evicted
	tab := newExactTable(3000, func(h uint64, e entry) { evictedTable = append(evictedTable, evicted{h, e}) })
	capacity, stamp := 3000, 0
	evictModel := func() {
		for len(model) > capacity {
			var oldest uint64
			best := -1
			for h, v := range model {
				if best < 0 || v.stamp < best {
					oldest, best = h, v.stamp
				}
			}
			evictedModel = append(evictedModel, evicted{oldest, model[oldest].e})
			delete(model, oldest)
		}
	}
	keys := make([]uint64, 8000)
	for i := range keys {
		keys[i] = r.Uint64()
	}
	keys[0] = 0 // a hash of zero is a key like any other
	for step := range 60_000 {
		h := keys[r.IntN(len(keys))]
		switch op := r.IntN(100); {
		case op < 70:
			e := entry{cutoff: int64(step), expSec: uint32(step), kind: uint8(1 + step%4), flags: uint8(step % 3)}
			stamp++
			model[h] = rec{e, stamp}
			evictModel() // the model evicts after the write, as the table does
			tab.Add(h, e)
		case op < 85:
			delete(model, h)
			tab.Remove(h)
		case op < 87:
			capacity = 500 + r.IntN(4000)
			evictModel()
			tab.Resize(capacity)
		default:
			got, ok := tab.Peek(h)
			want, held := model[h]
			if ok != held || (ok && got != want.e) {
				t.Fatalf("step %d: Peek(%x) = %+v, %v; model %+v, %v", step, h, got, ok, want.e, held)
			}
		}
		if tab.Len() != len(model) {
			t.Fatalf("step %d: table holds %d, model %d", step, tab.Len(), len(model))
		}
	}
	if len(evictedModel) != len(evictedTable) {
		t.Fatalf("evictions: table %d, model %d", len(evictedTable), len(evictedModel))
	}
	for i := range evictedModel {
		if evictedModel[i] != evictedTable[i] {
			t.Fatalf("eviction %d: table %+v, model %+v", i, evictedTable[i], evictedModel[i])
		}
	}
	for h, v := range model {
		if got, ok := tab.Peek(h); !ok || got != v.e {
			t.Fatalf("Peek(%x) = %+v, %v at the end; model %+v", h, got, ok, v.e)
		}
	}
	order := tab.Keys()
	if len(order) != len(model) {
		t.Fatalf("Keys() lists %d, model holds %d", len(order), len(model))
	}
	for i := 1; i < len(order); i++ {
		if model[order[i-1]].stamp > model[order[i]].stamp {
			t.Fatalf("Keys() not oldest write first at %d", i)
		}
	}
	if len(evictedTable) == 0 {
		t.Fatal("no evictions: the case proves nothing about them")
	}
	t.Logf("%d evictions, %d held at the end, %d slots", len(evictedTable), tab.Len(), len(tab.slots.Load().s))
}

// TestExactTableConcurrentReaders: while the writer churns (adds, updates,
// removals, evictions, rebuilds), readers looking up keys held throughout
// always find them with their one value.
func TestExactTableConcurrentReaders(t *testing.T) {
	const stable = 2000
	tab := newExactTable(1<<20, func(uint64, entry) {})
	var mu sync.Mutex // the writer's lock, as Filter.mu
	r := rand.New(rand.NewPCG(5, 6))
	stableKeys := make([]uint64, stable)
	for i := range stableKeys {
		stableKeys[i] = r.Uint64()
		tab.Add(stableKeys[i], entry{cutoff: int64(i), expSec: 7, kind: 1})
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var lookups atomic.Int64
	for w := range 2 {
		wg.Go(func() {
			rr := rand.New(rand.NewPCG(uint64(w), 1))
			for !stop.Load() {
				i := rr.IntN(stable)
				e, ok := tab.Peek(stableKeys[i])
				if !ok || e.cutoff != int64(i) || e.expSec != 7 {
					t.Errorf("Peek(stable key %d) = %+v, %v", i, e, ok)
					return
				}
				lookups.Add(1)
			}
		})
	}
	churn := make([]uint64, 0, 1<<16)
	for step := range 100_000 {
		mu.Lock()
		switch {
		case step%3 != 0 || len(churn) == 0:
			h := r.Uint64()
			churn = append(churn, h)
			tab.Add(h, entry{cutoff: int64(step), expSec: 9, kind: 2})
		default:
			j := r.IntN(len(churn))
			tab.Remove(churn[j])
			churn[j] = churn[len(churn)-1]
			churn = churn[:len(churn)-1]
		}
		mu.Unlock()
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d lookups during 100000 writes; %d slots at the end", lookups.Load(), len(tab.slots.Load().s))
}
