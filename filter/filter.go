package filter

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/jwtrevoke/jwtrevoke"
)

// Verdict is the answer to "is this token revoked?".
type Verdict uint8

const (
	// NotRevoked: no live revocation matches the token.
	NotRevoked Verdict = iota
	// Revoked: a live revocation matches the token.
	Revoked
	// Unknown: a Bloom filter says a revocation may match, and the exact
	// entry that would settle it was evicted to keep within the memory
	// budget. Never treat Unknown as NotRevoked; settle it (Settle) or
	// apply a policy.
	Unknown
)

func (v Verdict) String() string {
	switch v {
	case NotRevoked:
		return "not_revoked"
	case Revoked:
		return "revoked"
	case Unknown:
		return "unknown"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Errors returned by this package.
var (
	ErrBadOption     = errors.New("jwtrevoke/filter: bad option")
	ErrBadRevocation = errors.New("jwtrevoke/filter: bad revocation")
)

// keyed kinds, indexed 0..3 (jwtrevoke.Kind - 1).
const numKeyed = 4

// exactEntryBytes is the measured heap cost of one exact entry in the LRU
// (list element, map slot and value), rounded up: Go maps grow in steps, so
// the measured cost moves between about 100 and 120 bytes; see
// TestExactEntryBytes.
const exactEntryBytes = 128

// minExact is the fewest exact entries the budget always leaves room for.
const minExact = 1024

// view is the immutable structure a check walks. Writers build a new view
// when generations appear or go and publish it with one atomic store.
type view struct {
	gens [numKeyed][]*generation // per keyed kind, sorted by end
	all  []allEntry              // live "all before T" revocations
	// probes flattens every segment of every generation, per kind, so a
	// check walks one slice: no pointer chasing on the request path.
	probes [numKeyed][]probeRef
}

// probeRef is one segment as a check sees it.
type probeRef struct {
	words  []uint64
	blocks uint64
	k      uint32
	gi     int32 // index of its generation in view.gens
	end    int64 // its generation's end, Unix ns
}

// publishLocked rebuilds the probe lists of nv and makes it the view.
func (f *Filter) publishLocked(nv *view) {
	for k := range nv.gens {
		var refs []probeRef
		for gi, g := range nv.gens[k] {
			for _, s := range g.segments() {
				refs = append(refs, probeRef{words: s.words, blocks: s.blocks, k: s.k, gi: int32(gi), end: g.end})
			}
		}
		nv.probes[k] = refs
	}
	f.view.Store(nv)
}

type allEntry struct {
	cutoff  int64 // Unix ns
	expires int64 // Unix ns, grace included
}

// Filter is the set of live revocations. See the package documentation for
// the model. A Filter is safe for use by multiple goroutines.
type Filter struct {
	cfg   config
	width int64 // generation width, ns
	seeds [numKeyed]maphash.Seed

	view atomic.Pointer[view]
	// exact holds the exact entries. Writers replace the cache (holding mu)
	// only to give memory back after it shrank; readers load it.
	exact atomic.Pointer[lru.Cache[uint64, entry]]

	// pending is non-zero while a write may be evicting live entries whose
	// generation is not yet marked; see (*Filter).lookup.
	pending atomic.Int64
	// expected is the caller's hint of how many entries will be added.
	expected atomic.Int64

	mu         sync.Mutex // guards the fields below and serializes writes
	evictNow   int64      // the writer's "now" during an LRU call
	nextExpiry int64      // earliest generation end, Unix ns
	bloomBytes int64
	exactCap   int

	stats counters
}

// New returns an empty Filter.
func New(opts ...Option) (*Filter, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.genWidth == 0 {
		cfg.genWidth = max(cfg.maxLifetime/2, time.Second)
	}
	f := &Filter{cfg: cfg, width: int64(cfg.genWidth), nextExpiry: math.MaxInt64}
	for i := range f.seeds {
		f.seeds[i] = maphash.MakeSeed()
	}
	f.exactCap = f.exactCapacity()
	c, err := lru.NewWithEvict(f.exactCap, f.onEvict)
	if err != nil {
		return nil, err
	}
	f.exact.Store(c)
	f.view.Store(&view{})
	return f, nil
}

func (f *Filter) hash(k jwtrevoke.Kind, key string) uint64 {
	return maphash.String(f.seeds[k-1], key)
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// Check answers whether the token is revoked at the filter's clock. When the
// verdict is Revoked or Unknown, kind names the revocation kind that decided
// it; otherwise it is zero. Check does not allocate.
func (f *Filter) Check(t *jwtrevoke.Token) (v Verdict, kind jwtrevoke.Kind) {
	return f.CheckAt(t, f.cfg.clock())
}

// CheckAt is Check at an explicit time.
func (f *Filter) CheckAt(t *jwtrevoke.Token, now time.Time) (v Verdict, kind jwtrevoke.Kind) {
	vw := f.view.Load()
	n := now.UnixNano()
	iat := nanos(t.IssuedAt)
	for i := range vw.all {
		if e := &vw.all[i]; e.expires > n && iat < e.cutoff {
			return Revoked, jwtrevoke.KindAll
		}
	}
	for _, c := range [...]struct {
		k   jwtrevoke.Kind
		key string
	}{{jwtrevoke.KindToken, t.JTI}, {jwtrevoke.KindSubject, t.Subject}, {jwtrevoke.KindSession, t.Session}, {jwtrevoke.KindKey, t.KeyID}} {
		switch f.check(vw, c.k, c.key, iat, n) {
		case Revoked:
			return Revoked, c.k
		case Unknown:
			if v == NotRevoked {
				v, kind = Unknown, c.k
			}
		}
	}
	return v, kind
}

// CheckKeyAt answers for one keyed kind: whether a token with this key
// (jti, sub, sid or kid, per k) and issued at iat is revoked at now. The
// agent uses it to find which key of an Unknown verdict needs settling.
func (f *Filter) CheckKeyAt(k jwtrevoke.Kind, key string, iat, now time.Time) Verdict {
	if k < jwtrevoke.KindToken || k > jwtrevoke.KindKey {
		return NotRevoked
	}
	return f.check(f.view.Load(), k, key, nanos(iat), now.UnixNano())
}

func (f *Filter) check(vw *view, k jwtrevoke.Kind, key string, iat, now int64) Verdict {
	refs := vw.probes[k-1]
	if len(refs) == 0 || key == "" {
		return NotRevoked
	}
	h := f.hash(k, key)
	if h&sampleMask == 0 {
		f.stats.sampled[k-1].Add(1)
	}
	var maybe uint64 // bit i: generation i may hold h (the 64th stands for the rest)
	for i := range refs {
		r := &refs[i]
		if r.end > now && testBits(r.words, r.blocks, r.k, h) {
			maybe |= 1 << min(r.gi, 63)
		}
	}
	if maybe == 0 {
		return NotRevoked
	}
	f.stats.maybe[k-1].Add(1)
	return f.lookup(vw.gens[k-1], k, h, maybe, iat, now)
}

// lookup settles a Bloom "maybe" from the exact entries.
func (f *Filter) lookup(gens []*generation, k jwtrevoke.Kind, h uint64, maybe uint64, iat, now int64) Verdict {
	e, ok := f.exact.Load().Get(h)
	if ok && e.live(now) {
		if e.revokes(k, iat) {
			f.stats.revoked.Add(1)
			return Revoked
		}
		if e.flags&flagPartial == 0 {
			return NotRevoked
		}
		f.stats.unknown.Add(1)
		return Unknown
	}
	// Not held. The entry was never added (a Bloom false positive) unless it
	// was evicted. An eviction marks the entry's generation after the LRU
	// dropped it; pending covers the moment in between and is raised
	// before the LRU call, so read it first.
	evicting := f.pending.Load() != 0
	for i, g := range gens {
		if maybe&(1<<min(i, 63)) != 0 && (evicting || g.evicted.Load() != 0) {
			f.stats.unknown.Add(1)
			return Unknown
		}
	}
	f.stats.falsePositive[k-1].Add(1)
	return NotRevoked
}

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
// settled locally.
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
// sized for them at once instead of growing segment by segment.
func (f *Filter) Expect(n int64) { f.expected.Store(max(n, 0)) }

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

// bloomRoomLocked is how many bytes new Bloom segments may still take:
// the budget less the Bloom bits already held, the smallest exact side,
// and a reserve from which a generation that appears after the budget is
// spent gets its one minimal segment.
func (f *Filter) bloomRoomLocked() int64 {
	return f.cfg.budget - f.bloomBytes - minExact*exactEntryBytes - newGenerationReserve
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
	for _, h := range f.exact.Load().Keys() {
		e, ok := f.exact.Load().Peek(h)
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
	for k := range nv.gens {
		var keep []*generation
		for _, g := range old.gens[k] {
			if g.end > now {
				keep = append(keep, g)
				next = min(next, g.end)
				continue
			}
			dropped = true
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
	f.resizeExactLocked()
	// Drop expired exact entries so the LRU's room goes to live ones.
	f.evictNow = now
	for _, h := range f.exact.Load().Keys() {
		if e, ok := f.exact.Load().Peek(h); ok && !e.live(now) {
			f.exact.Load().Remove(h)
		}
	}
}

// exactCapacity is how many exact entries fit beside the Bloom filters.
func (f *Filter) exactCapacity() int {
	return int(max((f.cfg.budget-f.bloomBytes)/exactEntryBytes, minExact))
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
