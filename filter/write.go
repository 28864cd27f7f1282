package filter

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
)

// Add records a revocation at the filter's clock. It returns an error only
// for a revocation that could never be checked (bad kind, empty key); an
// already-expired revocation is ignored.
func (f *Filter) Add(r jwtrevoke.Revocation) error { return f.AddAt(r, f.cfg.clock()) }

// AddAt is Add at an explicit time.
func (f *Filter) AddAt(r jwtrevoke.Revocation, now time.Time) error {
	return f.add(r, now, 0)
}

// Settle records what the revocation log holds for one key after a check
// answered Unknown: r is that key's latest revocation, or nil if the log has
// none (the Bloom "maybe" was a false positive). Either way the answer is
// cached in the LRU as authoritative, so the next check of that key is
// settled locally. A revocation that has already expired (with the grace)
// is ignored like any expired one, and the key stays Unknown: pass nil for
// a log that holds nothing live.
func (f *Filter) Settle(k jwtrevoke.Kind, key string, r *jwtrevoke.Revocation, now time.Time) error {
	if r != nil {
		if r.Kind != k || r.Key != key {
			return fmt.Errorf("%w: settling %v %q with a revocation of %v %q", ErrBadRevocation, k, key, r.Kind, r.Key)
		}
		return f.add(*r, now, flagSettled)
	}
	if k < jwtrevoke.KindToken || k > jwtrevoke.KindKey || key == "" {
		return fmt.Errorf("%w: cannot settle kind %v key %q", ErrBadRevocation, k, key)
	}
	n := now.UnixNano()
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.hash(k, key)
	e := entry{cutoff: math.MinInt64, expSec: expSeconds(n + int64(f.cfg.maxLifetime)), kind: uint8(k), flags: flagNegative}
	if old, ok := f.exact.Load().Peek(h); ok && old.live(n) && old.flags&flagNegative == 0 {
		// A revocation arrived since the check; it is authoritative.
		old.flags &^= flagPartial
		e = old
	}
	f.putExactLocked(h, e, n)
	return nil
}

func (f *Filter) add(r jwtrevoke.Revocation, now time.Time, flags uint8) error {
	if !r.Kind.Valid() {
		return fmt.Errorf("%w: kind %v", ErrBadRevocation, r.Kind)
	}
	if r.Kind != jwtrevoke.KindAll && r.Key == "" {
		return fmt.Errorf("%w: %v revocation with an empty key", ErrBadRevocation, r.Kind)
	}
	if r.Expires.IsZero() {
		return fmt.Errorf("%w: no expiry", ErrBadRevocation)
	}
	n := now.UnixNano()
	exp := r.Expires.UnixNano() + int64(f.cfg.grace)
	f.mu.Lock()
	defer f.mu.Unlock()
	if n >= f.nextExpiry {
		f.expireLocked(n)
	}
	if exp <= n {
		f.stats.ignoredExpired.Add(1)
		return nil
	}
	cutoff := nanos(r.Before)
	if r.Kind == jwtrevoke.KindAll {
		f.addAllLocked(allEntry{cutoff: cutoff, expires: exp}, n)
		f.stats.added[jwtrevoke.KindAll-1].Add(1)
		return nil
	}
	h := f.hash(r.Kind, r.Key)
	e := entry{cutoff: cutoff, expSec: expSeconds(exp), kind: uint8(r.Kind), flags: flags}
	if old, ok := f.exact.Load().Peek(h); ok && old.live(n) {
		if old.flags&flagNegative == 0 {
			e.cutoff = max(e.cutoff, old.cutoff)
			e.expSec = max(e.expSec, old.expSec)
			e.flags |= old.flags &^ flagNegative
		}
		if flags&flagSettled != 0 {
			e.flags &^= flagPartial
		}
	} else if flags&flagSettled == 0 && f.mayHoldEvictedLocked(r.Kind, h, n) {
		// An older entry for this key may have been evicted with a later
		// cut-off than this one: this entry alone cannot clear a token.
		e.flags |= flagPartial
	}
	e.flags &^= flagSettled
	// Exact entry first, Bloom bits second: a check that sees the bits
	// finds the entry.
	f.putExactLocked(h, e, n)
	g := f.generationLocked(r.Kind, e.expiresNanos(), n)
	f.segmentLocked(r.Kind, g).add(h)
	g.count.Add(1)
	f.stats.added[r.Kind-1].Add(1)
	return nil
}

// mayHoldEvictedLocked reports whether h's Bloom bits are set in a
// generation that has lost entries to eviction.
func (f *Filter) mayHoldEvictedLocked(k jwtrevoke.Kind, h uint64, now int64) bool {
	for _, g := range f.view.Load().gens[k-1] {
		if g.end > now && g.evicted.Load() != 0 && g.test(h) {
			return true
		}
	}
	return false
}

func (f *Filter) putExactLocked(h uint64, e entry, now int64) {
	f.evictNow = now
	if f.exact.Load().Len() >= f.exactCap {
		f.pending.Add(1)
		defer f.pending.Add(-1)
	}
	f.exact.Load().Add(h, e)
}

// onEvict runs inside an LRU call made by a writer holding f.mu.
func (f *Filter) onEvict(h uint64, e entry) {
	if !e.live(f.evictNow) || e.flags&flagNegative != 0 {
		return
	}
	f.stats.evicted.Add(1)
	k := jwtrevoke.Kind(e.kind)
	end := f.genEnd(e.expiresNanos())
	for _, g := range f.view.Load().gens[k-1] {
		if g.end == end {
			g.evicted.Add(1)
			return
		}
	}
	// Its generation is gone, so the entry was expired after all.
}
func (f *Filter) addAllLocked(e allEntry, now int64) {
	old := f.view.Load()
	all := make([]allEntry, 0, len(old.all)+1)
	for _, a := range old.all {
		if a.expires > now {
			all = append(all, a)
		}
	}
	all = append(all, e)
	// Newest cut-off first: it is the one most likely to match.
	sort.Slice(all, func(i, j int) bool { return all[i].cutoff > all[j].cutoff })
	// An entry whose cut-off and expiry are both covered by another's is
	// redundant.
	kept := all[:0]
	var maxExp int64 = math.MinInt64
	for _, a := range all {
		if a.expires > maxExp {
			kept = append(kept, a)
			maxExp = a.expires
		}
	}
	nv := *old
	nv.all = kept
	f.publishLocked(&nv)
	for _, a := range kept {
		f.nextExpiry = min(f.nextExpiry, a.expires)
	}
}
