package snapshot

import (
	"iter"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
)

// Set is the live revocation set as a snapshot holds it: one merged
// revocation per key, with the latest cut-off and the latest expiry of the
// key's events, which is how the agents' filter merges them. A Set is not
// safe for concurrent use.
type Set struct {
	m map[setKey]span
}

type setKey struct {
	kind jwtrevoke.Kind
	key  string
}

type span struct{ before, expires int64 }

// NewSet returns an empty set.
func NewSet() *Set { return &Set{m: map[setKey]span{}} }

// Add merges r into the set.
func (s *Set) Add(r jwtrevoke.Revocation) {
	k := setKey{r.Kind, r.Key}
	b, e := r.Before.UnixNano(), r.Expires.UnixNano()
	if old, ok := s.m[k]; ok {
		b, e = max(b, old.before), max(e, old.expires)
	}
	s.m[k] = span{b, e}
}

// Len is the number of keys in the set.
func (s *Set) Len() int { return len(s.m) }

// Expire drops every revocation that has expired at now.
func (s *Set) Expire(now time.Time) {
	n := now.UnixNano()
	for k, v := range s.m {
		if v.expires <= n {
			delete(s.m, k)
		}
	}
}

// All yields the set's revocations in no particular order, as Write takes
// them. The set must not change while it is iterated.
func (s *Set) All() iter.Seq[jwtrevoke.Revocation] {
	return func(yield func(jwtrevoke.Revocation) bool) {
		for k, v := range s.m {
			before := time.Unix(0, v.before).UTC()
			if !yield(jwtrevoke.Revocation{Kind: k.kind, Key: k.key, Before: before, Expires: time.Unix(0, v.expires).UTC(), Issued: before}) {
				return
			}
		}
	}
}
