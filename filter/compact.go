package filter

import "github.com/jwtrevoke/jwtrevoke"

// compactAt is the number of segments at which a generation that grew
// past its prediction is rebuilt as one.
const compactAt = 3

// compactLocked rebuilds g's segments as one segment sized for twice its
// entries, from the exact entries' hashes, so that a burst that outgrew the
// prediction costs one probe per check again, not one per segment. It is
// possible only while none of g's entries has been evicted; it returns nil
// otherwise. Checks keep using the old segments until the new view is
// published, so the old and new bits coexist only for the rebuild.
func (f *Filter) compactLocked(k jwtrevoke.Kind, g *generation) *segment {
	if g.evicted.Load() != 0 || f.pending.Load() != 0 {
		return nil
	}
	var hs []uint64
	for _, h := range f.exact.Keys() {
		e, ok := f.exact.Peek(h)
		if ok && e.kind == uint8(k) && e.flags&flagNegative == 0 && f.genEnd(e.expiresNanos()) == g.end {
			hs = append(hs, h)
		}
	}
	if g.evicted.Load() != 0 {
		return nil
	}
	for _, s := range g.segments() {
		f.bloomBytes -= s.bytes()
	}
	s := f.newSegmentLocked(max(2*int64(len(hs)), 1024), 0)
	for _, h := range hs {
		s.add(h)
	}
	g.segs.Store(&[]*segment{s})
	nv := *f.view.Load()
	f.publishLocked(&nv)
	f.stats.compactions.Add(1)
	return s
}
