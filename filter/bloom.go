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
	m        uint64   // bits in use: a whole number of 512-bit blocks
	blocks   uint64   // m / 512 (≤ 2^32)
	k        uint32   // probes per key
	capacity int64    // entries the segment was sized for
	n        int64    // entries added; guarded by Filter.mu
	bf       *bloom.BloomFilter
}

// maxSegmentBits bounds one segment (2^32 blocks would be the limit of the
// block mapping; this is far below it).
const maxSegmentBits = 1 << 34

// blockedOverhead is the extra room a blocked filter gets over the size
// bloom.EstimateParameters gives a classic one for the same target; see
// TestFalsePositiveRate.
const blockedOverhead = 1.2

func newSegment(capacity int64, fp float64, maxBytes int64) *segment {
	if capacity < 1 {
		capacity = 1
	}
	m, k := bloom.EstimateParameters(uint(capacity), fp)
	// Blocking costs some accuracy: give it a little more room.
	m = uint(float64(m) * blockedOverhead)
	if maxBytes > 0 && int64(m)/8 > maxBytes {
		// Over budget: keep the entries (no false negatives) at a higher
		// false-positive rate rather than grow memory.
		m = uint(maxBytes * 8)
		k = uint(math.Max(1, math.Round(float64(m)/float64(capacity)*math.Ln2)))
	}
	m = (m + 511) &^ 511
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
		blocks:   uint64(m) / 512,
		k:        uint32(k),
		capacity: capacity,
		bf:       bf,
	}
}

// test reports whether every probe bit of h is set.
func (s *segment) test(h uint64) bool { return testBits(s.words, s.blocks, s.k, h) }

// testBits reports whether the k probe bits of h are all set in words.
//
// The filter is cache-line blocked, two blocks per key: the low and high
// halves of h each pick one 512-bit block (a multiply-shift onto
// [0, blocks)); the first half of the probes fall in the first block, the
// rest in the second, at the top 9 bits of successive steps of a 64-bit
// linear congruential sequence seeded with h. A miss nearly always stops
// inside the first block, so a check touches one cache line per segment;
// the second block keeps the false-positive rate close to a classic Bloom
// filter's, which one block alone does not at rates near 1e-6.
func testBits(words []uint64, blocks uint64, k uint32, h uint64) bool {
	b1 := ((uint64(uint32(h)) * blocks) >> 32) << 3
	b2 := ((uint64(uint32(h>>32)) * blocks) >> 32) << 3
	blk := words[b1 : b1+8 : b1+8]
	x := h
	for i := range k {
		if i == k/2 {
			blk = words[b2 : b2+8 : b2+8]
		}
		x = x*lcgMul + lcgAdd
		pos := x >> 55
		if atomic.LoadUint64(&blk[pos>>6])&(1<<(pos&63)) == 0 {
			return false
		}
	}
	return true
}

// Knuth's MMIX linear congruential constants.
const (
	lcgMul = 6364136223846793005
	lcgAdd = 1442695040888963407
)

// setBits sets the k probe bits of h; see testBits.
func setBits(words []uint64, blocks uint64, k uint32, h uint64) {
	b1 := ((uint64(uint32(h)) * blocks) >> 32) << 3
	b2 := ((uint64(uint32(h>>32)) * blocks) >> 32) << 3
	blk := words[b1 : b1+8 : b1+8]
	x := h
	for i := range k {
		if i == k/2 {
			blk = words[b2 : b2+8 : b2+8]
		}
		x = x*lcgMul + lcgAdd
		pos := x >> 55
		atomic.OrUint64(&blk[pos>>6], 1<<(pos&63))
	}
}

// add sets every probe bit of h. Callers hold Filter.mu.
func (s *segment) add(h uint64) {
	setBits(s.words, s.blocks, s.k, h)
	s.n++
}

func (s *segment) bytes() int64 { return int64(len(s.words)) * 8 }

// fill returns the fraction of bits set and the false-positive rate that
// follows from it: a key that was never added picks two blocks at random
// and passes if its probes all land on set bits of them.
func (s *segment) fill() (fill, fp float64) {
	var ones int
	var first, second float64
	k1, k2 := float64(s.k/2), float64(s.k-s.k/2)
	for b := 0; b+8 <= len(s.words); b += 8 {
		n := 0
		for i := b; i < b+8; i++ {
			n += bits.OnesCount64(atomic.LoadUint64(&s.words[i]))
		}
		ones += n
		f := float64(n) / 512
		first += math.Pow(f, k1)
		second += math.Pow(f, k2)
	}
	nb := float64(s.blocks)
	return float64(ones) / float64(s.m), (first / nb) * (second / nb)
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
	// hashes is every key hash added, while the kind's compact layer is
	// on. Guarded by Filter.mu.
	hashes hashList
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
