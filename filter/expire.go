package filter

import (
	"math"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
)

// Expire drops every generation and entry that has expired at now. Add
// calls it as time passes, so callers need not; an agent may also call it
// from a ticker to release memory when no revocations arrive.
func (f *Filter) Expire(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expireLocked(now.UnixNano())
}

func (f *Filter) expireLocked(now int64) {
	old := f.view.Load()
	nv := *old
	next := int64(math.MaxInt64)
	dropped := false
	var freed [numKeyed]int64 // hash bytes of dropped generations, per kind
	var droppedKind [numKeyed]bool
	for k := range nv.gens {
		var keep []*generation
		for _, g := range old.gens[k] {
			if g.end > now {
				keep = append(keep, g)
				next = min(next, g.end)
				continue
			}
			dropped = true
			droppedKind[k] = true
			freed[k] += g.hashes.bytes()
			f.bloomBytes -= g.bytes()
		}
		nv.gens[k] = keep
	}
	all := make([]allEntry, 0, len(old.all))
	for _, a := range old.all {
		if a.expires > now {
			all = append(all, a)
			next = min(next, a.expires)
		}
	}
	nv.all = all
	f.publishLocked(&nv)
	f.nextExpiry = next
	if !dropped {
		return
	}
	for k, d := range droppedKind {
		if d {
			f.compactExpiredLocked(jwtrevoke.Kind(k+1), freed[k])
		}
	}
	f.resizeExactLocked()
	// Drop expired exact entries so the LRU's room goes to live ones.
	f.evictNow = now
	for _, h := range f.exact.Keys() {
		if e, ok := f.exact.Peek(h); ok && !e.live(now) {
			f.exact.Remove(h)
		}
	}
}
