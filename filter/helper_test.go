package filter_test

import (
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
)

// epoch is the fixed "now" of the external tests: every add and check takes
// its time explicitly, so nothing depends on the real clock.
var epoch = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func mustNew(t testing.TB, opts ...filter.Option) *filter.Filter {
	t.Helper()
	f, err := filter.New(opts...)
	if err != nil {
		t.Fatalf("filter.New() error = %v", err)
	}
	return f
}

func mustAddAt(t testing.TB, f *filter.Filter, r jwtrevoke.Revocation, now time.Time) {
	t.Helper()
	if err := f.AddAt(r, now); err != nil {
		t.Fatalf("AddAt(%+v) error = %v", r, err)
	}
}

// revocation returns a revocation of kind k for key with cut-off before,
// forgotten lifetime later.
func revocation(k jwtrevoke.Kind, key string, before time.Time, lifetime time.Duration) jwtrevoke.Revocation {
	return jwtrevoke.Revocation{Kind: k, Key: key, Before: before, Expires: before.Add(lifetime), Issued: before}
}

// kindStats returns the Stats entry of kind k.
func kindStats(t testing.TB, st filter.Stats, k jwtrevoke.Kind) filter.KindStats {
	t.Helper()
	for _, ks := range st.Kinds {
		if ks.Kind == k {
			return ks
		}
	}
	t.Fatalf("Stats().Kinds has no %v", k)
	return filter.KindStats{}
}
