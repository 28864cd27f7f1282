package filter

import (
	"slices"
	"unsafe"

	"github.com/FastFilter/xorfilter"

	"github.com/jwtrevoke/jwtrevoke"
)

// The compact layer answers most negative checks before the generations
// are probed. Per keyed kind it is an immutable binary fuse filter of every
// live key, built in the background from key hashes the generations keep,
// and a small mutable Bloom part ("recent") that takes what arrived since
// the fuse filter's keys were taken. A key both reject was never added, so
// the check answers NotRevoked after three loads and one cache line instead
// of one cache line per generation; anything else goes on to the
// generations exactly as without the layer. It can only turn a "maybe"
// into a quicker "no" for keys it never held, so it changes no verdict.
//
// The hashes cost 8 bytes a key. The layer is kept while everything it
// holds fits a quarter of the budget; past that a kind runs on its
// generations alone until they have all expired (its hashes are gone, and
// a fuse filter cannot be built without every key).

// prefilter is the compact layer of one kind as a check sees it. It is
// immutable; writers publish a new one in the view.
type prefilter struct {
	fuse *xorfilter.BinaryFuse[uint8] // nil before the first build
	keys int                          // distinct keys in fuse
	// recent holds every key added since fuse's keys were taken; the last
	// segment takes new ones.
	recent []*segment
}

// mayHold reports whether h may have been added. False is certain.
func (p *prefilter) mayHold(h uint64) bool {
	if p.fuse != nil && p.fuse.Contains(h) {
		return true
	}
	for _, s := range p.recent {
		if s.test(h) {
			return true
		}
	}
	return false
}

func fuseBytes(fz *xorfilter.BinaryFuse[uint8]) int64 {
	if fz == nil {
		return 0
	}
	return int64(len(fz.Fingerprints)) + int64(unsafe.Sizeof(*fz))
}

const (
	// hashChunk is how many hashes one chunk of a hashList holds (8 KiB).
	hashChunk = 1 << 10
	// minRecent is the smallest recent segment, in entries.
	minRecent = 1 << 14
	// recentFP is a recent segment's false-positive target: a recent
	// "maybe" only sends the check on to the generations.
	recentFP = 1e-3
)

// hashList is the key hashes of one generation, in fixed chunks so that it
// grows without copying and a build can read a prefix while a writer
// appends past it. Guarded by Filter.mu.
type hashList struct{ chunks [][]uint64 }

// add appends h and reports whether a chunk was allocated for it.
func (l *hashList) add(h uint64) (grew bool) {
	if n := len(l.chunks); n == 0 || len(l.chunks[n-1]) == hashChunk {
		l.chunks = append(l.chunks, make([]uint64, 0, hashChunk))
		grew = true
	}
	last := &l.chunks[len(l.chunks)-1]
	*last = append(*last, h)
	return grew
}

func (l *hashList) bytes() int64 { return int64(len(l.chunks)) * hashChunk * 8 }

// compactState is the writer's side of one kind's layer. Guarded by
// Filter.mu.
type compactState struct {
	off      bool // hashes not recorded; on again once no generation is live
	building bool
	again    bool   // a build was asked for while one ran
	epoch    uint64 // bumped when the layer is dropped: a build in flight is discarded
	bytes    int64  // hash chunks, fuse filter and recent segments
}

// compactShare is how many bytes the layer may hold, all kinds together.
func (f *Filter) compactShare() int64 { return f.cfg.budget / 4 }

// chargeLocked accounts n more (or fewer) bytes to k's layer.
func (f *Filter) chargeLocked(k jwtrevoke.Kind, n int64) {
	f.cs[k-1].bytes += n
	f.compactBytes += n
	f.resizeExactLocked()
}

func (f *Filter) publishPreLocked(k jwtrevoke.Kind, p *prefilter) {
	nv := *f.view.Load()
	nv.pre[k-1] = p
	f.view.Store(&nv)
}

// compactAddLocked records h, just added to g's Bloom bits, in k's layer.
func (f *Filter) compactAddLocked(k jwtrevoke.Kind, g *generation, h uint64) {
	cs := &f.cs[k-1]
	if cs.off || f.cfg.noCompact {
		return
	}
	if f.expected.Load()*8 > f.compactShare() {
		// A replay announced more keys than the hashes can hold: do not
		// build what would be dropped before the replay ends.
		f.compactOffLocked(k)
		return
	}
	if g.hashes.add(h) {
		f.chargeLocked(k, hashChunk*8)
		if f.compactBytes > f.compactShare() {
			f.compactOffLocked(k)
			return
		}
	}
	p := f.view.Load().pre[k-1]
	if p == nil {
		p = &prefilter{recent: []*segment{f.newRecentLocked(k, minRecent)}}
		f.publishPreLocked(k, p)
	}
	if last := p.recent[len(p.recent)-1]; last.n >= last.capacity {
		switch {
		case f.replayingLocked():
			// A replay announced by Expect is still arriving: grow the
			// recent part and build once, when the agent says it is
			// done (Compact), not again and again on the way.
			p = f.growRecentLocked(k, p)
		case cs.building:
			// Keys arrive faster than builds finish: grow the recent part
			// and build again as soon as this build is done.
			cs.again = true
			p = f.growRecentLocked(k, p)
		default:
			p = f.startBuildLocked(k)
		}
	}
	p.recent[len(p.recent)-1].add(h)
}

// growRecentLocked publishes p with one more recent segment, twice the
// size of its last.
func (f *Filter) growRecentLocked(k jwtrevoke.Kind, p *prefilter) *prefilter {
	last := p.recent[len(p.recent)-1]
	np := &prefilter{fuse: p.fuse, keys: p.keys, recent: append(slices.Clone(p.recent), f.newRecentLocked(k, 2*last.capacity))}
	f.publishPreLocked(k, np)
	return np
}

// replayingLocked reports whether fewer entries are live than an Expect
// hint announced: a replay is still arriving.
func (f *Filter) replayingLocked() bool {
	hint := f.expected.Load()
	if hint <= 0 {
		return false
	}
	var live int64
	for _, gens := range f.view.Load().gens {
		for _, g := range gens {
			live += g.count.Load()
		}
	}
	return live < hint
}

// Compact folds every key added so far into the compact layers' fuse
// filters, in the background, and returns at once; WaitCompact waits for
// the builds. Adds build the layers as they go; an agent calls Compact
// (after Expect(0)) once a replay is applied, so that the replay's keys
// leave the recent Bloom part it grew while they arrived.
func (f *Filter) Compact() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.cs {
		k := jwtrevoke.Kind(i + 1)
		p := f.view.Load().pre[i]
		if p == nil || f.cs[i].off || !slices.ContainsFunc(p.recent, func(s *segment) bool { return s.n > 0 }) {
			continue
		}
		if f.cs[i].building {
			f.cs[i].again = true
			continue
		}
		f.startBuildLocked(k)
	}
}

func (f *Filter) newRecentLocked(k jwtrevoke.Kind, capacity int64) *segment {
	s := newSegment(capacity, recentFP, 0)
	f.chargeLocked(k, s.bytes())
	return s
}

// compactOffLocked drops k's layer and stops recording its hashes.
func (f *Filter) compactOffLocked(k jwtrevoke.Kind) {
	cs := &f.cs[k-1]
	cs.off, cs.again = true, false
	cs.epoch++
	for _, g := range f.view.Load().gens[k-1] {
		g.hashes = hashList{}
	}
	f.publishPreLocked(k, nil)
	f.chargeLocked(k, -cs.bytes)
	f.stats.compactOff.Add(1)
}

// compactResetLocked drops k's layer once none of its generations is live,
// and records hashes again from the next add.
func (f *Filter) compactResetLocked(k jwtrevoke.Kind) {
	cs := &f.cs[k-1]
	cs.off, cs.again = false, false
	cs.epoch++
	if f.view.Load().pre[k-1] != nil {
		f.publishPreLocked(k, nil)
	}
	f.chargeLocked(k, -cs.bytes)
}

// compactExpiredLocked follows the expiry of some of k's generations
// (freed: the bytes of their hashes): the fuse filter is built again
// without their keys.
func (f *Filter) compactExpiredLocked(k jwtrevoke.Kind, freed int64) {
	if len(f.view.Load().gens[k-1]) == 0 {
		f.compactResetLocked(k)
		return
	}
	f.chargeLocked(k, -freed)
	cs := &f.cs[k-1]
	switch {
	case cs.off || f.view.Load().pre[k-1] == nil:
	case cs.building:
		cs.again = true
	default:
		f.startBuildLocked(k)
	}
}

// startBuildLocked takes the hashes of k's live generations, publishes a
// new recent segment for the keys that come after them, and builds the
// fuse filter of the taken keys in the background. It returns the
// published prefilter.
func (f *Filter) startBuildLocked(k jwtrevoke.Kind) *prefilter {
	cs := &f.cs[k-1]
	vw := f.view.Load()
	var parts [][]uint64
	total := 0
	for _, g := range vw.gens[k-1] {
		for _, c := range g.hashes.chunks {
			parts = append(parts, c) // the slice header: the prefix written so far
			total += len(c)
		}
	}
	old := vw.pre[k-1]
	// An eighth of the keys: a build folds the recent part in once it
	// holds that many, so it stays small enough to sit in cache.
	from := f.newRecentLocked(k, max(int64(total)/8, minRecent))
	p := &prefilter{fuse: old.fuse, keys: old.keys, recent: append(slices.Clone(old.recent), from)}
	f.publishPreLocked(k, p)
	cs.building, cs.again = true, false
	f.builds.Add(1)
	go f.build(k, cs.epoch, parts, total, from)
	return p
}

// build makes the fuse filter of the keys in parts and publishes it in
// place of the old one and of the recent segments before from, whose keys
// it holds.
func (f *Filter) build(k jwtrevoke.Kind, epoch uint64, parts [][]uint64, total int, from *segment) {
	defer f.builds.Done()
	keys := make([]uint64, 0, total)
	for _, c := range parts {
		keys = append(keys, c...)
	}
	var fz *xorfilter.BinaryFuse[uint8]
	var err error
	if len(keys) > 0 {
		// NewBinaryFuse removes duplicates in keys, so len(keys) after it
		// is the number of distinct keys.
		fz, err = xorfilter.NewBinaryFuse[uint8](keys)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cs := &f.cs[k-1]
	cs.building = false
	p := f.view.Load().pre[k-1]
	if err != nil {
		// Keep every recent segment: they hold what the old fuse filter
		// lacks. The next trigger tries again.
		f.stats.compactFailed.Add(1)
	}
	if i := slicesIndex(p, from); err == nil && cs.epoch == epoch && i >= 0 {
		freed := fuseBytes(p.fuse)
		for _, s := range p.recent[:i] {
			freed += s.bytes()
		}
		f.publishPreLocked(k, &prefilter{fuse: fz, keys: len(keys), recent: slices.Clone(p.recent[i:])})
		f.chargeLocked(k, fuseBytes(fz)-freed)
		f.stats.compactBuilds.Add(1)
		if f.compactBytes > f.compactShare() {
			f.compactOffLocked(k)
		}
	}
	if cs.again && !cs.off && f.view.Load().pre[k-1] != nil {
		f.startBuildLocked(k)
	}
}

// slicesIndex is the index of s among p's recent segments, or -1.
func slicesIndex(p *prefilter, s *segment) int {
	if p == nil {
		return -1
	}
	return slices.Index(p.recent, s)
}

// WaitCompact waits until no build of the compact layer is running. Checks
// never wait for one; tests and benchmarks that measure the built layer do.
func (f *Filter) WaitCompact() { f.builds.Wait() }
