package filter

import (
	"math"

	"github.com/jwtrevoke/jwtrevoke"
)

// entry is the exact record of one key's revocation, held in the LRU under
// the key's 64-bit hash. 16 bytes.
type entry struct {
	cutoff int64  // Unix ns: tokens issued before it are revoked (sub, sid)
	expSec uint32 // Unix seconds, rounded up, grace included
	kind   uint8  // jwtrevoke.Kind
	flags  uint8
}

const (
	// flagPartial: an older entry for the key may have been evicted, so
	// this one cannot clear a token on its own (it can still revoke one).
	flagPartial uint8 = 1 << iota
	// flagNegative: the log holds no revocation for the key (a settled
	// Bloom false positive).
	flagNegative
	// flagSettled: internal to add; the entry comes from the log itself.
	flagSettled
)

func expSeconds(ns int64) uint32 {
	s := ns / 1e9
	if ns%1e9 > 0 {
		s++
	}
	switch {
	case s < 0:
		return 0
	case s > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(s)
}

func (e entry) expiresNanos() int64 { return int64(e.expSec) * 1e9 }

func (e entry) live(now int64) bool { return e.expiresNanos() > now }

// revokes applies the rule of the entry's kind to a token issued at iat.
func (e entry) revokes(k jwtrevoke.Kind, iat int64) bool {
	if e.flags&flagNegative != 0 {
		return false
	}
	if k.HasCutoff() {
		return iat < e.cutoff
	}
	return true
}
