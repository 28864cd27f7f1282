package filter

import (
	"errors"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
)

// Errors returned by this package.
var (
	ErrBadOption     = errors.New("jwtrevoke/filter: bad option")
	ErrBadRevocation = errors.New("jwtrevoke/filter: bad revocation")
)

// keyed kinds, indexed 0..3 (jwtrevoke.Kind - 1).
const numKeyed = 4

// view is the immutable structure a check walks. Writers build a new view
// when generations appear or go and publish it with one atomic store.
type view struct {
	gens [numKeyed][]*generation // per keyed kind, sorted by end
	all  []allEntry              // live "all before T" revocations
	// probes flattens every segment of every generation, per kind, so a
	// check walks one slice: no pointer chasing on the request path.
	probes [numKeyed][]probeRef
	// pre is each kind's compact layer (fuse.go), nil where it is off.
	pre [numKeyed]*prefilter
}

// probeRef is one segment as a check sees it.
type probeRef struct {
	words  []uint64
	blocks uint64
	k      uint32
	gi     int32 // index of its generation in view.gens
	end    int64 // its generation's end, Unix ns
}

// publishLocked rebuilds the probe lists of nv and makes it the view.
func (f *Filter) publishLocked(nv *view) {
	for k := range nv.gens {
		var refs []probeRef
		for gi, g := range nv.gens[k] {
			for _, s := range g.segments() {
				refs = append(refs, probeRef{words: s.words, blocks: s.blocks, k: s.k, gi: int32(gi), end: g.end})
			}
		}
		nv.probes[k] = refs
	}
	f.view.Store(nv)
}

type allEntry struct {
	cutoff  int64 // Unix ns
	expires int64 // Unix ns, grace included
}

// Filter is the set of live revocations. See the package documentation for
// the model. A Filter is safe for use by multiple goroutines.
type Filter struct {
	cfg   config
	width int64 // generation width, ns
	seeds [numKeyed]maphash.Seed

	view atomic.Pointer[view]
	// exact holds the exact entries (table.go); checks read it without a
	// lock, writers change it holding mu.
	exact *exactTable

	// pending is non-zero while a write may be evicting live entries whose
	// generation is not yet marked; see (*Filter).lookup.
	pending atomic.Int64
	// expected is the caller's hint of how many entries will be added.
	expected atomic.Int64

	mu         sync.Mutex // guards the fields below and serializes writes
	evictNow   int64      // the writer's "now" during an LRU call
	nextExpiry int64      // earliest generation end, Unix ns
	bloomBytes int64
	exactCap   int
	// cs and compactBytes are the compact layer's writer state and size.
	cs           [numKeyed]compactState
	compactBytes int64
	builds       sync.WaitGroup // compact-layer builds in flight

	stats counters
}

// New returns an empty Filter.
func New(opts ...Option) (*Filter, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.genWidth == 0 {
		cfg.genWidth = max(cfg.maxLifetime/2, time.Second)
	}
	f := &Filter{cfg: cfg, width: int64(cfg.genWidth), nextExpiry: math.MaxInt64}
	for i := range f.seeds {
		f.seeds[i] = maphash.MakeSeed()
	}
	f.exactCap = f.exactCapacity()
	f.exact = newExactTable(f.exactCap, f.onEvict)
	f.view.Store(&view{})
	return f, nil
}

func (f *Filter) hash(k jwtrevoke.Kind, key string) uint64 {
	return maphash.String(f.seeds[k-1], key)
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}
