package filter

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
)

// batchHistory is n revocations of distinct keys of every keyed kind, with
// cut-offs and expiries spread so that tokens on both sides of each
// cut-off exist, and the tokens to ask about: one per key issued before its
// cut-off (revoked), one issued after it (revoked only for a jti), and
// clean ones.
func batchHistory(r *rand.Rand, n int) (rs []jwtrevoke.Revocation, revoked, after, clean []jwtrevoke.Token) {
	kinds := []jwtrevoke.Kind{jwtrevoke.KindToken, jwtrevoke.KindSubject, jwtrevoke.KindSession, jwtrevoke.KindKey}
	for i := range n {
		k := kinds[r.IntN(len(kinds))]
		key := fmt.Sprintf("%v-%d-%x", k, i, r.Uint64())
		before := t0.Add(-time.Duration(r.IntN(3600)) * time.Second)
		rs = append(rs, jwtrevoke.Revocation{Kind: k, Key: key, Before: before, Expires: t0.Add(time.Duration(1+r.IntN(3600)) * time.Second)})
		tok := func(iat time.Time) jwtrevoke.Token {
			t := tokenFor(k, key, iat)
			if k != jwtrevoke.KindToken {
				t.JTI = fmt.Sprintf("jti-of-%d-%v", i, iat.Unix())
			}
			return t
		}
		revoked = append(revoked, tok(before.Add(-time.Second)))
		if k.HasCutoff() {
			after = append(after, tok(before.Add(time.Second)))
		}
		clean = append(clean, jwtrevoke.Token{JTI: fmt.Sprintf("clean-%d", i), Subject: fmt.Sprintf("clean-sub-%d", i), IssuedAt: t0})
	}
	return rs, revoked, after, clean
}

// addInBatches adds rs through AddBatchAt in batches of random sizes, each
// told how many follow.
func addInBatches(t *testing.T, r *rand.Rand, f *Filter, rs []jwtrevoke.Revocation) {
	t.Helper()
	for i := 0; i < len(rs); {
		j := min(len(rs), i+1+r.IntN(700))
		if err := f.AddBatchAt(rs[i:j], t0, len(rs)-j); err != nil {
			t.Fatalf("AddBatchAt(%d:%d) error = %v", i, j, err)
		}
		i = j
	}
}

// TestAddBatchMatchesAdds: a batch load answers every check as the same
// revocations added one by one do, with a budget that keeps them all exact
// (identical answers) and with one that keeps a small share of them (the
// same evictions; never NotRevoked for a revoked token; Unknown where the
// adds answer it, and NotRevoked only where they do too).
func TestAddBatchMatchesAdds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		budget int64
	}{{"all exact", 64 << 20}, {"evicting", 1 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(20261201, uint64(tc.budget)))
			rs, revoked, after, clean := batchHistory(r, 30_000)
			// Without the compact layer: its size follows when its
			// background builds finish, and with it the room left for exact
			// entries, so two filters would evict differently.
			// TestCompactMatchesGenerations compares the layer's answers.
			opts := []Option{WithMaxTokenLifetime(time.Hour), WithMemoryBudget(tc.budget), withoutCompact()}
			one, batch := newFilter(t, opts...), newFilter(t, opts...)
			one.Expect(int64(len(rs)))
			batch.Expect(int64(len(rs)))
			for i := range rs {
				if err := one.AddAt(rs[i], t0); err != nil {
					t.Fatal(err)
				}
			}
			addInBatches(t, r, batch, rs)
			so, sb := one.Stats(), batch.Stats()
			if so.Evictions != sb.Evictions || so.ExactEntries != sb.ExactEntries {
				t.Errorf("batch: %d evictions, %d exact; one by one: %d, %d", sb.Evictions, sb.ExactEntries, so.Evictions, so.ExactEntries)
			}
			if sb.Bytes > tc.budget {
				t.Errorf("batch load holds %d bytes, over its %d-byte budget", sb.Bytes, tc.budget)
			}
			if tc.budget == 1<<20 && sb.Evictions == 0 {
				t.Fatal("no evictions with a 1 MiB budget: the case proves nothing about skipped entries")
			}
			var unknown int
			for _, set := range []struct {
				name string
				toks []jwtrevoke.Token
				want Verdict
			}{{"revoked", revoked, Revoked}, {"issued after the cut-off", after, NotRevoked}, {"clean", clean, NotRevoked}} {
				for i := range set.toks {
					vo, _ := one.CheckAt(&set.toks[i], t0)
					vb, _ := batch.CheckAt(&set.toks[i], t0)
					switch {
					case tc.budget == 64<<20 && (vb != vo || vb != set.want):
						t.Fatalf("%s token %d: batch %v, one by one %v, want %v", set.name, i, vb, vo, set.want)
					case set.want == Revoked && vb == NotRevoked:
						t.Fatalf("revoked token %d: batch says NotRevoked (one by one %v)", i, vo)
					case vb == NotRevoked && vo != NotRevoked, vb == Revoked && vo != Revoked:
						t.Fatalf("%s token %d: batch %v where one by one says %v", set.name, i, vb, vo)
					}
					if vb == Unknown {
						unknown++
					}
				}
			}
			t.Logf("%d revocations, %d evictions, %d exact, %d Unknown answers", len(rs), sb.Evictions, sb.ExactEntries, unknown)
		})
	}
}

// TestAddBatchMergesHeldEntry: a batch entry that would be skipped (many
// follow) for a key the filter already holds exactly must still raise the
// held entry's cut-off, or the earlier cut-off would clear tokens the new
// one covers. And a key whose first entry was skipped and whose second is
// held answers Revoked or Unknown between the cut-offs, never NotRevoked.
func TestAddBatchMergesHeldEntry(t *testing.T) {
	f := newFilter(t, WithMaxTokenLifetime(time.Hour), WithMemoryBudget(1<<20))
	early, late := t0.Add(-time.Hour), t0.Add(-time.Minute)
	between := jwtrevoke.Token{JTI: "j", Subject: "alice", IssuedAt: t0.Add(-30 * time.Minute)}
	mustAdd(t, f, rev(jwtrevoke.KindSubject, "alice", early, 2*time.Hour), t0)
	if v, _ := f.CheckAt(&between, t0); v != NotRevoked {
		t.Fatalf("before the second revocation: %v, want not_revoked", v)
	}
	if err := f.AddBatchAt([]jwtrevoke.Revocation{rev(jwtrevoke.KindSubject, "alice", late, time.Hour)}, t0, 1<<30); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.CheckAt(&between, t0); v != Revoked {
		t.Errorf("held entry after a skipped merge: %v, want revoked", v)
	}

	g := newFilter(t, WithMaxTokenLifetime(time.Hour), WithMemoryBudget(1<<20))
	if err := g.AddBatchAt([]jwtrevoke.Revocation{rev(jwtrevoke.KindSubject, "alice", late, time.Hour)}, t0, 1<<30); err != nil {
		t.Fatal(err)
	}
	if err := g.AddBatchAt([]jwtrevoke.Revocation{rev(jwtrevoke.KindSubject, "alice", early, 2*time.Hour)}, t0, 0); err != nil {
		t.Fatal(err)
	}
	if v, _ := g.CheckAt(&between, t0); v == NotRevoked {
		t.Errorf("skipped later cut-off, held earlier one: not_revoked, want revoked or unknown")
	}
}

// TestAddBatchRejects: the first invalid revocation stops the batch with
// ErrBadRevocation and its index; the ones before it are added.
func TestAddBatchRejects(t *testing.T) {
	f := newFilter(t)
	rs := []jwtrevoke.Revocation{rev(jwtrevoke.KindToken, "a", t0, time.Hour), rev(jwtrevoke.KindToken, "", t0, time.Hour), rev(jwtrevoke.KindToken, "c", t0, time.Hour)}
	err := f.AddBatchAt(rs, t0, 0)
	if !errors.Is(err, ErrBadRevocation) {
		t.Fatalf("AddBatchAt error = %v, want ErrBadRevocation", err)
	}
	for key, want := range map[string]Verdict{"a": Revoked, "c": NotRevoked} {
		if v := f.CheckKeyAt(jwtrevoke.KindToken, key, t0, t0); v != want {
			t.Errorf("%q: %v, want %v", key, v, want)
		}
	}
}
