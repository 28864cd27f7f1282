package filter

import (
	"math"
	"sort"

	"github.com/jwtrevoke/jwtrevoke"
)

func (f *Filter) genEnd(exp int64) int64 {
	return (floorDiv(exp, f.width) + 1) * f.width
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// generationLocked returns the generation for an expiry, creating it.
func (f *Filter) generationLocked(k jwtrevoke.Kind, exp, now int64) *generation {
	end := f.genEnd(exp)
	old := f.view.Load()
	gens := old.gens[k-1]
	i := sort.Search(len(gens), func(i int) bool { return gens[i].end >= end })
	if i < len(gens) && gens[i].end == end {
		return gens[i]
	}
	g := &generation{end: end}
	seg := f.newSegmentLocked(f.predictLocked(gens, end, now), 0)
	g.segs.Store(&[]*segment{seg})
	nv := *old
	ng := make([]*generation, 0, len(gens)+1)
	ng = append(ng, gens[:i]...)
	ng = append(ng, g)
	ng = append(ng, gens[i:]...)
	nv.gens[k-1] = ng
	f.publishLocked(&nv)
	f.nextExpiry = min(f.nextExpiry, end)
	return g
}

// predictLocked sizes a new generation ending at end. Without a hint, from
// the largest live generation of its kind: in steady state each window sees
// about as many entries as the last. With a hint (Expect), by the share of
// the hinted entries whose expiry falls in the window, taking expiries as
// spread evenly over one token lifetime after now plus the grace, so a bulk
// replay does not grow segment by segment.
func (f *Filter) predictLocked(gens []*generation, end, now int64) int64 {
	c := int64(1024)
	for _, g := range gens {
		c = max(c, g.count.Load())
	}
	c += c / 4 // slack: the next window is rarely much larger
	if hint := f.expected.Load(); hint > 0 {
		lo, hi := now+int64(f.cfg.grace), now+int64(f.cfg.grace)+int64(f.cfg.maxLifetime)
		overlap := min(end, hi) - max(end-f.width, lo)
		if overlap > 0 {
			share := float64(hint) * float64(overlap) / float64(f.cfg.maxLifetime)
			c = max(c, int64(share*1.05)+1024)
		}
	}
	return c
}

// Expect tells the filter that about n revocations are coming (an agent
// knows how many events it is about to replay), so that new generations are
// sized for them at once instead of growing segment by segment, and the
// compact layers are built once the replay is in (Compact) rather than on
// the way. Expect(0) says the replay is done.
func (f *Filter) Expect(n int64) {
	f.expected.Store(max(n, 0))
	f.mu.Lock()
	f.exact.want = int(min(max(n, 0), int64(f.exactCap)))
	f.mu.Unlock()
}

// maxGenerations is how many generations of one kind can be live at once.
func (f *Filter) maxGenerations() int {
	return int((int64(f.cfg.maxLifetime)+int64(f.cfg.grace))/f.width) + 2
}

// segmentFP is the target of segment j: the kind's target is shared by
// its generations, and a generation's by its segments (halving each time,
// while each segment holds twice as many entries as the one before).
func (f *Filter) segmentFP(j int) float64 {
	return f.cfg.fpRate / float64(f.maxGenerations()) / math.Pow(2, float64(j+1))
}

// segmentLocked returns the segment of g that takes the next entry, adding
// a larger one when the current one is full.
func (f *Filter) segmentLocked(k jwtrevoke.Kind, g *generation) *segment {
	segs := g.segments()
	last := segs[len(segs)-1]
	if last.n < last.capacity {
		return last
	}
	if len(segs) >= compactAt {
		if s := f.compactLocked(k, g); s != nil {
			return s
		}
	}
	if f.bloomRoomLocked() < 4<<10 {
		// The budget is spent: fill the last segment past its capacity
		// rather than grow. No entry is lost; its false-positive rate
		// rises, and with it the Unknown verdicts the agent settles.
		f.stats.overBudget.Add(1)
		return last
	}
	s := f.newSegmentLocked(f.growthLocked(k, last.capacity), len(segs))
	ns := make([]*segment, len(segs), len(segs)+1)
	copy(ns, segs)
	ns = append(ns, s)
	g.segs.Store(&ns)
	nv := *f.view.Load()
	f.publishLocked(&nv)
	return s
}

// growthLocked sizes the segment that extends a full one of capacity c.
// While a hinted replay is still arriving (Expect), it is sized for the
// entries still expected, since a generation overflows when expiries are
// bunched more than the even spread predictLocked assumes; otherwise it
// doubles.
func (f *Filter) growthLocked(k jwtrevoke.Kind, c int64) int64 {
	if hint := f.expected.Load(); hint > 0 {
		var total int64
		for _, g := range f.view.Load().gens[k-1] {
			total += g.count.Load()
		}
		if rem := hint - total; rem > 0 {
			return max(rem+rem/20, c/4, 1024)
		}
	}
	return 2 * c
}
