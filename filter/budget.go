package filter

import (
	"github.com/bits-and-blooms/bloom/v3"
)

// exactEntryBytes is the heap cost of one exact entry (table.go): 32-byte
// slots kept between half and three quarters full, and up to 1.5 write
// records of 16 bytes. It moves between about 60 and 84 bytes as the table
// is rebuilt; this is the measured worst, rounded up (TestExactEntryBytes).
const exactEntryBytes = 88

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
	f.exactCap = c
	if f.exact == nil {
		return
	}
	if f.exact.Len() > c {
		f.pending.Add(1)
		defer f.pending.Add(-1)
	}
	f.exact.Resize(c)
}
