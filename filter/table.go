package filter

import (
	"math/bits"
	"runtime"
	"sync/atomic"
)

// exactTable holds the exact entries, keyed by the key's 64-bit hash: an
// open-addressing table with linear probing over 32-byte slots, so a
// lookup costs about one cache miss. Checks read it without a lock; the
// one writer (holding Filter.mu) inserts, updates, removes and evicts.
//
// Readers never miss an entry that is held throughout their lookup:
// entries never move within a slot array (a removal leaves a tombstone),
// each slot is read under its sequence word (odd while the writer changes
// it), and a rebuild fills a new array that replaces the old one in one
// atomic store, the old one frozen from then on.
//
// Eviction takes the oldest write first, as an LRU that is written but
// only peeked at: an update moves the key to the newest end.
type exactTable struct {
	slots atomic.Pointer[slotArray]

	// The writer's side (Filter.mu).
	live, used int // entries held; held + tombstones
	capacity   int
	order      []orderRecord // writes, oldest first, from head
	head       int
	stamp      uint32
	onEvict    func(h uint64, e entry)
	// want is how many entries a load announced (Filter.Expect): the
	// first rebuild sizes the slots for them at once.
	want int
}

type slotArray struct{ s []slot }

// home is h's first slot: a multiply-shift onto [0, len), so the array
// need not be a power of two.
func (a *slotArray) home(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(a.s)))
	return int(hi)
}

func (a *slotArray) next(i int) int {
	if i++; i == len(a.s) {
		return 0
	}
	return i
}

// slot is one entry. seq is the sequence word (low 32 bits; the writer's
// write stamp in the high 32, which readers ignore); meta packs the
// state, kind, flags and expiry.
type slot struct {
	seq    atomic.Uint64
	key    atomic.Uint64
	cutoff atomic.Int64
	meta   atomic.Uint64
}

// orderRecord is one write: it is current while the slot holding key
// still carries stamp.
type orderRecord struct {
	key   uint64
	stamp uint32
}

const (
	slotEmpty = iota
	slotLive
	slotTombstone
)

// tableMinSlots is the smallest slot array; maxLoad, in eighths, is how
// full (entries and tombstones) an array may get before a rebuild, which
// leaves it half full: 43 to 64 bytes of slots an entry.
const (
	tableMinSlots = 1 << 10
	maxLoad       = 6
)

func packMeta(e entry, state uint64) uint64 {
	return uint64(e.expSec)<<32 | uint64(e.kind)<<16 | uint64(e.flags)<<8 | state
}

func unpackMeta(m uint64) (entry, uint64) {
	return entry{expSec: uint32(m >> 32), kind: uint8(m >> 16), flags: uint8(m >> 8)}, m & 0xff
}

func newExactTable(capacity int, onEvict func(uint64, entry)) *exactTable {
	t := &exactTable{capacity: capacity, onEvict: onEvict}
	t.slots.Store(newSlotArray(tableMinSlots))
	return t
}

func newSlotArray(n int) *slotArray { return &slotArray{s: make([]slot, n)} }

// read returns slot s's key, cutoff and meta as of one moment.
func (s *slot) read() (key uint64, cutoff int64, meta uint64) {
	for spins := 0; ; spins++ {
		q := s.seq.Load()
		if uint32(q)&1 == 0 {
			key, cutoff, meta = s.key.Load(), s.cutoff.Load(), s.meta.Load()
			if s.seq.Load() == q {
				return key, cutoff, meta
			}
		}
		if spins&63 == 63 {
			runtime.Gosched() // the writer was preempted mid-change
		}
	}
}

// write stores an entry in s. Writer only.
func (s *slot) write(key uint64, cutoff int64, meta uint64, stamp uint32) {
	q := uint32(s.seq.Load())
	s.seq.Store(uint64(stamp)<<32 | uint64(q+1))
	s.key.Store(key)
	s.cutoff.Store(cutoff)
	s.meta.Store(meta)
	s.seq.Store(uint64(stamp)<<32 | uint64(q+2))
}

func (s *slot) writerStamp() uint32 { return uint32(s.seq.Load() >> 32) }

// Peek returns the entry held for h. It takes no lock.
func (t *exactTable) Peek(h uint64) (entry, bool) {
	a := t.slots.Load()
	i := a.home(h)
	for range len(a.s) {
		key, cutoff, meta := a.s[i].read()
		e, state := unpackMeta(meta)
		switch {
		case state == slotEmpty:
			return entry{}, false
		case state == slotLive && key == h:
			e.cutoff = cutoff
			return e, true
		}
		i = a.next(i)
	}
	return entry{}, false
}

// find returns the index of h's live slot in a, or -1, and the first slot
// where h could be inserted. Writer only: no other goroutine changes a
// slot, so it reads without the sequence word.
func (a *slotArray) find(h uint64) (at, free int) {
	free = -1
	i := a.home(h)
	for range len(a.s) {
		key, meta := a.s[i].key.Load(), a.s[i].meta.Load()
		_, state := unpackMeta(meta)
		switch {
		case state == slotEmpty:
			if free < 0 {
				free = i
			}
			return -1, free
		case state == slotLive && key == h:
			return i, free
		case state == slotTombstone && free < 0:
			free = i
		}
		i = a.next(i)
	}
	return -1, free
}

// Len is the number of entries held. Writer only (or under Filter.mu).
func (t *exactTable) Len() int { return t.live }

// Add stores e for h as the newest write, evicting the oldest entries while
// more than the capacity are held. Writer only.
func (t *exactTable) Add(h uint64, e entry) {
	a := t.slots.Load()
	at, free := a.find(h)
	if at < 0 && (t.used+1)*8 > len(a.s)*maxLoad {
		a = t.rebuild(t.live + 1)
		at, free = a.find(h)
	}
	t.stamp++
	meta := packMeta(e, slotLive)
	switch {
	case at >= 0:
		a.s[at].write(h, e.cutoff, meta, t.stamp)
	default:
		if _, state := unpackMeta(a.s[free].meta.Load()); state == slotEmpty {
			t.used++
		}
		a.s[free].write(h, e.cutoff, meta, t.stamp)
		t.live++
	}
	t.order = append(t.order, orderRecord{key: h, stamp: t.stamp})
	t.evictOver(t.capacity)
	t.compactOrder()
}

// Remove drops h's entry, without calling onEvict. Writer only.
func (t *exactTable) Remove(h uint64) {
	a := t.slots.Load()
	if at, _ := a.find(h); at >= 0 {
		a.s[at].write(0, 0, packMeta(entry{}, slotTombstone), 0)
		t.live--
	}
}

// Resize sets the capacity, evicting the oldest entries past it. Writer only.
func (t *exactTable) Resize(c int) {
	t.capacity = c
	t.evictOver(c)
	t.compactOrder()
	if a := t.slots.Load(); len(a.s) > 2*t.slotsFor(t.live) {
		// Mostly empty after a shrink: give the memory back.
		t.rebuild(t.live)
	}
}

func (t *exactTable) evictOver(c int) {
	a := t.slots.Load()
	for t.live > c && t.head < len(t.order) {
		r := t.order[t.head]
		t.head++
		at, _ := a.find(r.key)
		if at < 0 || a.s[at].writerStamp() != r.stamp {
			continue // removed or written again since
		}
		e, _ := unpackMeta(a.s[at].meta.Load())
		e.cutoff = a.s[at].cutoff.Load()
		a.s[at].write(0, 0, packMeta(entry{}, slotTombstone), 0)
		t.live--
		t.onEvict(r.key, e)
	}
}

// compactOrder drops the records that are no longer current once they
// outnumber the entries by half, so the order costs at most 1.5 records
// an entry (16 bytes each).
func (t *exactTable) compactOrder() {
	if n := len(t.order) - t.head; n <= t.live+t.live/2+64 {
		return
	}
	a := t.slots.Load()
	kept := make([]orderRecord, 0, t.live+t.live/4+64)
	for _, r := range t.order[t.head:] {
		if at, _ := a.find(r.key); at >= 0 && a.s[at].writerStamp() == r.stamp {
			kept = append(kept, r)
		}
	}
	t.order, t.head = kept, 0
}

// slotsFor is the slot array a rebuild makes for n entries: half full, or
// sized for the announced load if that is larger.
func (t *exactTable) slotsFor(n int) int {
	return max(tableMinSlots, 2*max(n, min(t.want, t.capacity)))
}

// rebuild copies the live entries into a new slot array sized for n
// entries (slotsFor), and publishes it.
func (t *exactTable) rebuild(n int) *slotArray {
	size := t.slotsFor(n)
	old := t.slots.Load()
	a := newSlotArray(size)
	for i := range old.s {
		key, cutoff, meta := old.s[i].key.Load(), old.s[i].cutoff.Load(), old.s[i].meta.Load()
		if _, state := unpackMeta(meta); state != slotLive {
			continue
		}
		_, free := a.find(key)
		a.s[free].write(key, cutoff, meta, old.s[i].writerStamp())
	}
	t.used = t.live
	t.slots.Store(a)
	return a
}

// Keys returns the held keys, oldest write first. Writer only.
func (t *exactTable) Keys() []uint64 {
	a := t.slots.Load()
	keys := make([]uint64, 0, t.live)
	for _, r := range t.order[t.head:] {
		if at, _ := a.find(r.key); at >= 0 && a.s[at].writerStamp() == r.stamp {
			keys = append(keys, r.key)
		}
	}
	return keys
}

// bytes is the table's heap size. Writer only.
func (t *exactTable) bytes() int64 {
	return int64(len(t.slots.Load().s))*32 + int64(cap(t.order))*16
}
