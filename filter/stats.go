package filter

import (
	"sync/atomic"

	"github.com/jwtrevoke/jwtrevoke"
)

// sampleMask selects the checks counted for the observed false-positive
// rate: one in 64 by key hash, so the hot path pays a branch, not a shared
// atomic add, and the sample is unbiased.
const sampleMask = 63

// striped is a counter that checks on every goroutine add to: spread over
// cache lines by the key's hash, so that checks of different keys do not
// contend on one line.
type striped struct {
	s [8]struct {
		n atomic.Uint64
		_ [56]byte
	}
}

func (c *striped) add(h uint64) { c.s[h>>61].n.Add(1) }

func (c *striped) load() uint64 {
	var n uint64
	for i := range c.s {
		n += c.s[i].n.Load()
	}
	return n
}

type counters struct {
	sampled        [numKeyed]atomic.Uint64
	maybe          [numKeyed]atomic.Uint64
	falsePositive  [numKeyed]atomic.Uint64
	added          [numKeyed + 1]atomic.Uint64
	revoked        striped
	unknown        striped
	evicted        atomic.Uint64
	ignoredExpired atomic.Uint64
	overBudget     atomic.Uint64
	compactions    atomic.Uint64
	compactBuilds  atomic.Uint64
	compactOff     atomic.Uint64
	compactFailed  atomic.Uint64
}

// KindStats describes one kind's entries.
type KindStats struct {
	Kind jwtrevoke.Kind
	// Entries is the number of entries in live generations (for "all",
	// live revocations). It may include entries that have expired but
	// whose generation has not yet been dropped.
	Entries int64
	// Generations and Segments count the Bloom filters a check probes.
	Generations, Segments int
	BloomBytes            int64
	// Fill is the fraction of Bloom bits set, over all segments.
	Fill float64
	// EstimatedFPRate is the chance that one lookup of a key that was
	// never revoked gets a Bloom "maybe", from the fill of each block of
	// each segment.
	EstimatedFPRate float64
	// ObservedFPRate is Bloom "maybe" answers the exact entries showed to
	// be false, per lookup (lookups are sampled 1 in 64).
	ObservedFPRate float64
	Added          uint64 // revocations added since New
	Maybe          uint64 // Bloom "maybe" answers
	FalsePositives uint64 // of which the key was not revoked
	// CompactKeys is how many distinct keys the kind's compact layer
	// (a binary fuse filter checked before the generations) was last
	// built from, and CompactBytes what the layer holds: the fuse filter,
	// the Bloom part for keys added since, and 8 bytes per live key for
	// the next build. Both are zero while the layer is off.
	CompactKeys  int
	CompactBytes int64
	// CompactOn reports whether the layer answers checks.
	CompactOn bool
}

// Stats is a snapshot of a Filter's state and counters.
type Stats struct {
	Kinds         []KindStats // jti, sub, sid, kid, all
	ExactEntries  int         // entries held by the LRU
	ExactCapacity int         // entries the LRU may hold in the budget
	BloomBytes    int64
	// CompactBytes is the compact layers' share of the budget, at most a
	// quarter of it.
	CompactBytes int64
	// Bytes estimates the filter's heap use: Bloom bits, compact layers
	// and exact entries.
	Bytes  int64
	Budget int64
	// Evictions counts live exact entries the LRU evicted. While evicted
	// entries are live, Bloom "maybe" answers in their generations are
	// Unknown.
	Evictions uint64
	Revoked   uint64 // checks answered Revoked
	Unknown   uint64 // checks answered Unknown
	// IgnoredExpired counts revocations that had expired when added.
	IgnoredExpired uint64
	// OverBudget counts Bloom segments made smaller than their target,
	// and entries put into a full segment, because the budget was spent:
	// the false-positive rate rises above its target, never the
	// false-negative rate.
	OverBudget uint64
	// Compactions counts generations rebuilt as one segment after a burst
	// outgrew their predicted size.
	Compactions uint64
	// CompactBuilds counts fuse filters built; CompactOff counts kinds
	// whose compact layer was dropped because its keys outgrew its share
	// of the budget (checks then probe the generations alone).
	CompactBuilds, CompactOff uint64
}

// Stats returns a snapshot. It reads every Bloom bit to compute the fill,
// so it costs a pass over the filters' memory: call it for metrics, not per
// request.
func (f *Filter) Stats() Stats {
	f.mu.Lock()
	vw := f.view.Load()
	st := Stats{
		ExactEntries:  f.exact.Len(),
		ExactCapacity: f.exactCap,
		BloomBytes:    f.bloomBytes,
		CompactBytes:  f.compactBytes,
		Budget:        f.cfg.budget,
	}
	var compactBytes [numKeyed]int64
	for i := range compactBytes {
		compactBytes[i] = f.cs[i].bytes
	}
	f.mu.Unlock()
	st.Bytes = st.BloomBytes + st.CompactBytes + int64(st.ExactEntries)*exactEntryBytes
	for i := range numKeyed {
		k := jwtrevoke.Kind(i + 1)
		ks := KindStats{Kind: k, Generations: len(vw.gens[i])}
		var ones, bitsTotal float64
		miss := 1.0
		for _, g := range vw.gens[i] {
			ks.Entries += g.count.Load()
			for _, s := range g.segments() {
				ks.Segments++
				ks.BloomBytes += s.bytes()
				fill, fp := s.fill()
				ones += fill * float64(s.m)
				bitsTotal += float64(s.m)
				miss *= 1 - fp
			}
		}
		if bitsTotal > 0 {
			ks.Fill = ones / bitsTotal
		}
		ks.EstimatedFPRate = 1 - miss
		if p := vw.pre[i]; p != nil {
			ks.CompactOn, ks.CompactKeys, ks.CompactBytes = true, p.keys, compactBytes[i]
		}
		ks.Added = f.stats.added[i].Load()
		ks.Maybe = f.stats.maybe[i].Load()
		ks.FalsePositives = f.stats.falsePositive[i].Load()
		if s := f.stats.sampled[i].Load(); s > 0 {
			ks.ObservedFPRate = float64(ks.FalsePositives) / float64(s*(sampleMask+1))
		}
		st.Kinds = append(st.Kinds, ks)
	}
	st.Kinds = append(st.Kinds, KindStats{
		Kind:    jwtrevoke.KindAll,
		Entries: int64(len(vw.all)),
		Added:   f.stats.added[jwtrevoke.KindAll-1].Load(),
	})
	st.Evictions = f.stats.evicted.Load()
	st.Revoked = f.stats.revoked.load()
	st.Unknown = f.stats.unknown.load()
	st.IgnoredExpired = f.stats.ignoredExpired.Load()
	st.OverBudget = f.stats.overBudget.Load()
	st.Compactions = f.stats.compactions.Load()
	st.CompactBuilds = f.stats.compactBuilds.Load()
	st.CompactOff = f.stats.compactOff.Load()
	return st
}
