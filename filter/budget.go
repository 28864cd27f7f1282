package filter

import (
	"github.com/bits-and-blooms/bloom/v3"
	lru "github.com/hashicorp/golang-lru/v2"
)

// exactEntryBytes is the measured heap cost of one exact entry in the LRU
// (list element, map slot and value), rounded up: Go maps grow in steps, so
// the measured cost moves between about 100 and 120 bytes; see
// TestExactEntryBytes.
const exactEntryBytes = 128

// minExact is the fewest exact entries the budget always leaves room for.
const minExact = 1024

// bloomRoomLocked is how many bytes new Bloom segments may still take:
// the budget less the Bloom bits already held, the smallest exact side,
// and a reserve from which a generation that appears after the budget is
// spent gets its one minimal segment.
func (f *Filter) bloomRoomLocked() int64 {
	return f.cfg.budget - f.bloomBytes - f.compactBytes - minExact*exactEntryBytes - newGenerationReserve
}

// newGenerationReserve covers the minimal segments (64 bytes each) of the
// generations that can appear once the budget is spent: at most
// maxGenerations per keyed kind are live at once.
const newGenerationReserve = 16 << 10

func (f *Filter) newSegmentLocked(capacity int64, j int) *segment {
	fp := f.segmentFP(j)
	// Over budget a segment shrinks to what is left, down to one block:
	// it keeps every entry, at a higher false-positive rate.
	room := max(f.bloomRoomLocked(), 64)
	want, _ := bloom.EstimateParameters(uint(capacity), fp)
	s := newSegment(capacity, fp, room)
	if s.m < uint64(want) {
		f.stats.overBudget.Add(1)
	}
	f.bloomBytes += s.bytes()
	f.resizeExactLocked()
	return s
}

// exactCapacity is how many exact entries fit beside the Bloom filters.
func (f *Filter) exactCapacity() int {
	return int(max((f.cfg.budget-f.bloomBytes-f.compactBytes)/exactEntryBytes, minExact))
}

func (f *Filter) resizeExactLocked() {
	c := f.exactCapacity()
	if c == f.exactCap {
		return
	}
	old := f.exactCap
	f.exactCap = c
	cache := f.exact.Load()
	if cache == nil {
		return
	}
	if cache.Len() > c {
		f.pending.Add(1)
		defer f.pending.Add(-1)
	}
	cache.Resize(c)
	if c < old/2 && cache.Len() > 0 {
		// A Go map keeps the memory of its largest size: after a large
		// shrink, copy the entries (oldest first, so the order is kept)
		// into a fresh cache so the budget holds. Checks keep using the
		// old one until the swap; both hold the same entries.
		fresh, err := lru.NewWithEvict(c, f.onEvict)
		if err != nil {
			return
		}
		for _, h := range cache.Keys() {
			if e, ok := cache.Peek(h); ok {
				fresh.Add(h, e)
			}
		}
		f.exact.Store(fresh)
	}
}
