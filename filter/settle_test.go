package filter_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
)

// Keys of newEvicted: revoked first, so the LRU evicts them first.
const (
	evictedSub = "sub-0"
	evictedJTI = "jti-0"
	otherSub   = "sub-1" // evicted too, never settled
)

// newEvicted returns a filter whose LRU has evicted the revocations of
// evictedSub, otherSub and evictedJTI (cut-off epoch, live for an hour) to
// keep within a 1 MiB budget, so that checks of them answer Unknown.
func newEvicted(t *testing.T) *filter.Filter {
	t.Helper()
	f := mustNew(t, filter.WithMemoryBudget(1<<20), filter.WithMaxTokenLifetime(time.Hour), filter.WithGrace(0))
	for i := range 10 {
		mustAddAt(t, f, revocation(jwtrevoke.KindSubject, fmt.Sprint("sub-", i), epoch, time.Hour), epoch)
		mustAddAt(t, f, revocation(jwtrevoke.KindToken, fmt.Sprint("jti-", i), epoch, time.Hour), epoch)
	}
	const fillers = 12_000 // half as many again as the budget's exact entries
	for i := range fillers {
		mustAddAt(t, f, revocation(jwtrevoke.KindToken, fmt.Sprint("filler-", i), epoch, time.Hour), epoch)
	}
	if st := f.Stats(); st.Evictions == 0 {
		t.Fatalf("Stats().Evictions = 0 after %d adds into %d exact entries, want evictions", fillers+20, st.ExactCapacity)
	}
	for _, c := range []struct {
		k   jwtrevoke.Kind
		key string
	}{{jwtrevoke.KindSubject, evictedSub}, {jwtrevoke.KindSubject, otherSub}, {jwtrevoke.KindToken, evictedJTI}} {
		if v := f.CheckKeyAt(c.k, c.key, epoch.Add(-time.Second), settleNow); v != filter.Unknown {
			t.Fatalf("setup: CheckKeyAt(%v, %q) = %v, want unknown (evicted)", c.k, c.key, v)
		}
	}
	return f
}

// settleNow is when the tests settle and check: after epoch, inside every
// revocation's life.
var settleNow = epoch.Add(time.Minute)

// Tokens of the evicted subject, by when they were issued relative to the
// cut-offs the steps use (epoch and epoch+20s).
var (
	issuedBefore  = epoch.Add(-time.Second)     // before both cut-offs
	issuedBetween = epoch.Add(10 * time.Second) // after epoch, before epoch+20s
	issuedAfter   = epoch.Add(30 * time.Second) // after both
)

func subAt(before time.Time) *jwtrevoke.Revocation {
	r := revocation(jwtrevoke.KindSubject, evictedSub, before, time.Hour)
	return &r
}

// TestSettle settles the Unknown verdict of an evicted subject with what the
// log might hold, and checks tokens issued before, between and after the
// cut-offs. A settled answer is authoritative: a cut-off alone clears a
// token issued after it, where an Add of the same event for an evicted key
// cannot (it may be older than the entry that was evicted).
func TestSettle(t *testing.T) {
	later := epoch.Add(20 * time.Second)
	tests := []struct {
		name string
		// arrived is added (as by the live tail) after the Unknown check and
		// before the settlement; nil if nothing arrived.
		arrived *jwtrevoke.Revocation
		settled *jwtrevoke.Revocation // what the log holds; nil for nothing
		add     bool                  // Add settled instead of Settle (the contrast)
		// want is the verdict for tokens issued before, between and after.
		want [3]filter.Verdict
	}{
		{name: "log holds nothing", want: [3]filter.Verdict{filter.NotRevoked, filter.NotRevoked, filter.NotRevoked}},
		{name: "log holds the evicted revocation", settled: subAt(epoch), want: [3]filter.Verdict{filter.Revoked, filter.NotRevoked, filter.NotRevoked}},
		{name: "Add instead of Settle is not authoritative", settled: subAt(epoch), add: true, want: [3]filter.Verdict{filter.Revoked, filter.Unknown, filter.Unknown}},
		{name: "log holds a stronger revocation", settled: subAt(later), want: [3]filter.Verdict{filter.Revoked, filter.Revoked, filter.NotRevoked}},
		{name: "stronger one arrived, log answers weaker", arrived: subAt(later), settled: subAt(epoch), want: [3]filter.Verdict{filter.Revoked, filter.Revoked, filter.NotRevoked}},
		{name: "weaker one arrived, log answers stronger", arrived: subAt(epoch), settled: subAt(later), want: [3]filter.Verdict{filter.Revoked, filter.Revoked, filter.NotRevoked}},
		{name: "one arrived, log answers nothing", arrived: subAt(later), want: [3]filter.Verdict{filter.Revoked, filter.Revoked, filter.NotRevoked}},
		// An expired event is ignored like an expired Add: it settles
		// nothing. (The agent drops expired events before settling, so it
		// hands Settle nil instead.)
		{name: "log holds an expired revocation", settled: subAt(epoch.Add(-2 * time.Hour)), want: [3]filter.Verdict{filter.Unknown, filter.Unknown, filter.Unknown}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEvicted(t)
			if tt.arrived != nil {
				mustAddAt(t, f, *tt.arrived, settleNow)
			}
			var err error
			if tt.add {
				err = f.AddAt(*tt.settled, settleNow)
			} else {
				err = f.Settle(jwtrevoke.KindSubject, evictedSub, tt.settled, settleNow)
			}
			if err != nil {
				t.Fatalf("step %d: Settle(subject, %q, %+v) error = %v", i, evictedSub, tt.settled, err)
			}
			for j, iat := range []time.Time{issuedBefore, issuedBetween, issuedAfter} {
				if got := f.CheckKeyAt(jwtrevoke.KindSubject, evictedSub, iat, settleNow); got != tt.want[j] {
					t.Errorf("step %d: CheckKeyAt(subject, %q, iat %v) = %v, want %v", i, evictedSub, iat.Sub(epoch), got, tt.want[j])
				}
			}
			// Settling is per key: the other evicted key stays Unknown.
			if got := f.CheckKeyAt(jwtrevoke.KindSubject, otherSub, issuedAfter, settleNow); got != filter.Unknown {
				t.Errorf("step %d: CheckKeyAt(subject, %q) = %v after settling %q, want unknown", i, otherSub, got, evictedSub)
			}
		})
	}
}

// TestSettleToken settles an evicted jti both ways, then checks that a
// "not revoked" settlement does not mask a revocation that arrives later.
func TestSettleToken(t *testing.T) {
	jti := revocation(jwtrevoke.KindToken, evictedJTI, epoch, time.Hour)
	steps := []struct {
		name    string
		do      func(f *filter.Filter) error
		want    filter.Verdict
		unknown uint64 // growth of Stats().Unknown over the step's check
	}{
		{"evicted", func(*filter.Filter) error { return nil }, filter.Unknown, 1},
		{"settled not revoked", func(f *filter.Filter) error { return f.Settle(jwtrevoke.KindToken, evictedJTI, nil, settleNow) }, filter.NotRevoked, 0},
		{"revocation arrives later", func(f *filter.Filter) error { return f.AddAt(jti, settleNow) }, filter.Revoked, 0},
	}
	f := newEvicted(t)
	for i, s := range steps {
		if err := s.do(f); err != nil {
			t.Fatalf("step %d (%s): error = %v", i, s.name, err)
		}
		u0 := f.Stats().Unknown
		tok := jwtrevoke.Token{JTI: evictedJTI, IssuedAt: issuedAfter}
		if got, _ := f.CheckAt(&tok, settleNow); got != s.want {
			t.Errorf("step %d (%s): CheckAt(jti %q) = %v, want %v", i, s.name, evictedJTI, got, s.want)
		}
		if du := f.Stats().Unknown - u0; du != s.unknown {
			t.Errorf("step %d (%s): Stats().Unknown grew by %d, want %d", i, s.name, du, s.unknown)
		}
	}

	f = newEvicted(t)
	if err := f.Settle(jwtrevoke.KindToken, evictedJTI, &jti, settleNow); err != nil {
		t.Fatalf("Settle(token, %q, %+v) error = %v", evictedJTI, jti, err)
	}
	if got := f.CheckKeyAt(jwtrevoke.KindToken, evictedJTI, issuedAfter, settleNow); got != filter.Revoked {
		t.Errorf("CheckKeyAt(token, %q) = %v after settling it revoked, want revoked", evictedJTI, got)
	}
}

// TestSettleRejects hands Settle revocations that do not answer for the key
// it settles, or a key that cannot be settled: each is ErrBadRevocation, and
// the verdict stays Unknown.
func TestSettleRejects(t *testing.T) {
	good := revocation(jwtrevoke.KindToken, evictedJTI, epoch, time.Hour)
	with := func(edit func(*jwtrevoke.Revocation)) *jwtrevoke.Revocation {
		r := good
		edit(&r)
		return &r
	}
	tests := []struct {
		name string
		k    jwtrevoke.Kind
		key  string
		r    *jwtrevoke.Revocation
	}{
		{"kind mismatch", jwtrevoke.KindToken, evictedJTI, with(func(r *jwtrevoke.Revocation) { r.Kind = jwtrevoke.KindSubject })},
		{"key mismatch", jwtrevoke.KindToken, evictedJTI, with(func(r *jwtrevoke.Revocation) { r.Key = "jti-1" })},
		{"no expiry", jwtrevoke.KindToken, evictedJTI, with(func(r *jwtrevoke.Revocation) { r.Expires = time.Time{} })},
		{"empty key", jwtrevoke.KindToken, "", nil},
		{"no kind", 0, evictedJTI, nil},
		{"kind all has no key to settle", jwtrevoke.KindAll, "", nil},
	}
	f := newEvicted(t)
	for i, tt := range tests {
		if err := f.Settle(tt.k, tt.key, tt.r, settleNow); !errors.Is(err, filter.ErrBadRevocation) {
			t.Errorf("step %d (%s): Settle(%v, %q, %+v) = %v, want ErrBadRevocation", i, tt.name, tt.k, tt.key, tt.r, err)
		}
		if got := f.CheckKeyAt(jwtrevoke.KindToken, evictedJTI, issuedAfter, settleNow); got != filter.Unknown {
			t.Fatalf("step %d (%s): CheckKeyAt(token, %q) = %v after a refused Settle, want unknown", i, tt.name, evictedJTI, got)
		}
	}
}
