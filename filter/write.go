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
	if old, ok := f.exact.Peek(h); ok && old.live(n) && old.flags&flagNegative == 0 {
		// A revocation arrived since the check; it is authoritative.
		old.flags &^= flagPartial
		e = old
	}
	f.putExactLocked(h, e, n)
	return nil
}

// AddBatchAt adds rs at now as AddAt would add each in turn, under one
// lock. following is how many revocations of other keys the caller adds
// right after rs (the rest of a snapshot): an entry that so many later
// ones would push out of the exact entries anyway is not made exact, only
// counted as evicted, which is how the adds one by one would leave it, so
// a bulk load does not pay for exact entries it cannot keep. A following
// that is too large only makes more entries Unknown, never one NotRevoked.
// It stops at the first revocation AddAt would refuse and returns its
// error; the ones before it are added.
func (f *Filter) AddBatchAt(rs []jwtrevoke.Revocation, now time.Time, following int) error {
	n := now.UnixNano()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range rs {
		if err := validate(&rs[i]); err != nil {
			return fmt.Errorf("revocation %d of %d: %w", i, len(rs), err)
		}
		later := len(rs) - 1 - i + max(following, 0)
		f.addLocked(&rs[i], n, 0, later < f.exactCap)
	}
	return nil
}

func (f *Filter) add(r jwtrevoke.Revocation, now time.Time, flags uint8) error {
	if err := validate(&r); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addLocked(&r, now.UnixNano(), flags, true)
	return nil
}

func validate(r *jwtrevoke.Revocation) error {
	if !r.Kind.Valid() {
		return fmt.Errorf("%w: kind %v", ErrBadRevocation, r.Kind)
	}
	if r.Kind != jwtrevoke.KindAll && r.Key == "" {
		return fmt.Errorf("%w: %v revocation with an empty key", ErrBadRevocation, r.Kind)
	}
	if r.Expires.IsZero() {
		return fmt.Errorf("%w: no expiry", ErrBadRevocation)
	}
	return nil
}

// addLocked adds a valid revocation at now (Unix ns). With exact false the
// entry is not held exactly, unless its key already has an entry that must
// take the merge: it is counted as evicted at once.
func (f *Filter) addLocked(r *jwtrevoke.Revocation, n int64, flags uint8, exact bool) {
	exp := r.Expires.UnixNano() + int64(f.cfg.grace)
	if n >= f.nextExpiry {
		f.expireLocked(n)
	}
	if exp <= n {
		f.stats.ignoredExpired.Add(1)
		return
	}
	cutoff := nanos(r.Before)
	if r.Kind == jwtrevoke.KindAll {
		f.addAllLocked(allEntry{cutoff: cutoff, expires: exp}, n)
		f.stats.added[jwtrevoke.KindAll-1].Add(1)
		return
	}
	h := f.hash(r.Kind, r.Key)
	e := entry{cutoff: cutoff, expSec: expSeconds(exp), kind: uint8(r.Kind), flags: flags}
	if old, ok := f.exact.Peek(h); ok && old.live(n) {
		if old.flags&flagNegative == 0 {
			e.cutoff = max(e.cutoff, old.cutoff)
			e.expSec = max(e.expSec, old.expSec)
			e.flags |= old.flags &^ flagNegative
		}
		if flags&flagSettled != 0 {
			e.flags &^= flagPartial
		}
		// The held entry must take the merge: left alone, its earlier
		// cut-off would clear tokens this revocation covers.
		exact = true
	} else if exact && flags&flagSettled == 0 && f.mayHoldEvictedLocked(r.Kind, h, n) {
		// An older entry for this key may have been evicted with a later
		// cut-off than this one: this entry alone cannot clear a token.
		e.flags |= flagPartial
	}
	e.flags &^= flagSettled
	// The exact entry (or the eviction mark) first, Bloom bits second: a
	// check that sees the bits finds the entry, or the mark.
	if exact {
		f.putExactLocked(h, e, n)
	}
	g := f.generationLocked(r.Kind, e.expiresNanos(), n)
	if !exact {
		f.stats.evicted.Add(1)
		g.evicted.Add(1)
	}
	f.segmentLocked(r.Kind, g).add(h)
	f.compactAddLocked(r.Kind, g, h)
	g.count.Add(1)
	f.stats.added[r.Kind-1].Add(1)
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
	if f.exact.Len() >= f.exactCap {
		f.pending.Add(1)
		defer f.pending.Add(-1)
	}
	f.exact.Add(h, e)
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
