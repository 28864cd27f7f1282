package filter

import (
	"math"
	"math/bits"
	"sync/atomic"

	"github.com/bits-and-blooms/bloom/v3"
)

// segment is one Bloom bit array sized for capacity entries at its own
// false-positive target. Bits are set and read atomically, so a check may run
// while an Add sets bits; once Add has returned, every check sees its bits.
type segment struct {
	words    []uint64 // the bit array of bf, accessed only atomically
	m        uint64   // bits in use (≤ 2^32)
	k        uint32   // probes per key
	capacity int64    // entries the segment was sized for
	n        int64    // entries added; guarded by Filter.mu
	bf       *bloom.BloomFilter
}

// maxSegmentBits bounds one segment so that a 32-bit position maps onto it.
const maxSegmentBits = 1 << 32

func newSegment(capacity int64, fp float64, maxBytes int64) *segment {
	if capacity < 1 {
		capacity = 1
	}
	m, k := bloom.EstimateParameters(uint(capacity), fp)
	if maxBytes > 0 && int64(m)/8 > maxBytes {
		// Over budget: keep the entries (no false negatives) at a higher
		// false-positive rate rather than grow memory.
		m = uint(maxBytes * 8)
		k = uint(math.Max(1, math.Round(float64(m)/float64(capacity)*math.Ln2)))
	}
	if m < 512 {
		m = 512
	}
	if m > maxSegmentBits {
		m = maxSegmentBits
	}
	if k > 32 {
		k = 32
	}
	bf := bloom.New(m, k)
	return &segment{
		words:    bf.BitSet().Words(),
		m:        uint64(m),
		k:        uint32(k),
		capacity: capacity,
		bf:       bf,
	}
}

// test reports whether every probe bit of h is set. It stops at the first
// zero bit, so a miss usually costs one or two memory reads.
func (s *segment) test(h uint64) bool {
	a, b := uint32(h), uint32(h>>32)|1
	for i := uint32(0); i < s.k; i++ {
		pos := (uint64(a) * s.m) >> 32
		if atomic.LoadUint64(&s.words[pos>>6])&(1<<(pos&63)) == 0 {
			return false
		}
		a += b
	}
	return true
}

// add sets every probe bit of h. Callers hold Filter.mu.
func (s *segment) add(h uint64) {
	a, b := uint32(h), uint32(h>>32)|1
	for i := uint32(0); i < s.k; i++ {
		pos := (uint64(a) * s.m) >> 32
		atomic.OrUint64(&s.words[pos>>6], 1<<(pos&63))
		a += b
	}
	s.n++
}

func (s *segment) bytes() int64 { return int64(len(s.words)) * 8 }

// fill returns the fraction of bits set, read atomically.
func (s *segment) fill() float64 {
	var ones int
	for i := range s.words {
		ones += bits.OnesCount64(atomic.LoadUint64(&s.words[i]))
	}
	return float64(ones) / float64(s.m)
}

// generation holds the Bloom segments of one kind's entries whose expiry
// (plus grace) falls in [end-width, end). It is dropped whole at end.
type generation struct {
	end  int64                      // Unix ns; immutable
	segs atomic.Pointer[[]*segment] // replaced (never mutated) when growing
	// evicted counts live exact entries of this generation that the LRU
	// evicted. While it is non-zero, a Bloom "maybe" here that the LRU cannot
	// settle is Unknown.
	evicted atomic.Int64
	count   atomic.Int64 // entries added
}

func (g *generation) segments() []*segment { return *g.segs.Load() }

// test reports whether any segment may hold h.
func (g *generation) test(h uint64) bool {
	for _, s := range *g.segs.Load() {
		if s.test(h) {
			return true
		}
	}
	return false
}

func (g *generation) bytes() int64 {
	var n int64
	for _, s := range g.segments() {
		n += s.bytes()
	}
	return n
}
