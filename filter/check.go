package filter

import (
	"fmt"
	"time"

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
	// The keyed kinds in the order of jwtrevoke.Kind (index = kind - 1);
	// a kind with no live revocation costs one length test.
	for i, key := range [numKeyed]string{t.JTI, t.Subject, t.Session, t.KeyID} {
		if len(vw.probes[i]) == 0 || key == "" {
			continue
		}
		k := jwtrevoke.Kind(i + 1)
		switch f.check(vw, k, key, iat, n) {
		case Revoked:
			return Revoked, k
		case Unknown:
			if v == NotRevoked {
				v, kind = Unknown, k
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
	if p := vw.pre[k-1]; p != nil {
		if !p.mayHold(h) {
			return NotRevoked
		}
		// A revoked key, or a rare false positive of the layer: the exact
		// entry settles the first without probing the generations.
		if v, held := f.heldVerdict(k, h, iat, now); held {
			return v
		}
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

// lookup settles a Bloom "maybe" from the exact entries. It peeks (a
// shared lock) rather than gets (an exclusive one, to move the entry to
// the front): checks of revoked tokens on every goroutine must not
// serialize on the LRU, so eviction follows the order entries were
// written, not read.
func (f *Filter) lookup(gens []*generation, k jwtrevoke.Kind, h uint64, maybe uint64, iat, now int64) Verdict {
	if v, held := f.heldVerdict(k, h, iat, now); held {
		return v
	}
	// Not held. The entry was never added (a Bloom false positive) unless it
	// was evicted. An eviction marks the entry's generation after the LRU
	// dropped it; pending covers the moment in between and is raised
	// before the LRU call, so read it first.
	evicting := f.pending.Load() != 0
	for i, g := range gens {
		if maybe&(1<<min(i, 63)) != 0 && (evicting || g.evicted.Load() != 0) {
			f.stats.unknown.add(h)
			return Unknown
		}
	}
	f.stats.falsePositive[k-1].Add(1)
	return NotRevoked
}

// heldVerdict is the verdict of h's live exact entry, if it has one.
func (f *Filter) heldVerdict(k jwtrevoke.Kind, h uint64, iat, now int64) (v Verdict, held bool) {
	e, ok := f.exact.Peek(h)
	if !ok || !e.live(now) || e.kind != uint8(k) {
		return NotRevoked, false
	}
	if e.revokes(k, iat) {
		f.stats.revoked.add(h)
		return Revoked, true
	}
	if e.flags&flagPartial == 0 {
		return NotRevoked, true
	}
	f.stats.unknown.add(h)
	return Unknown, true
}
