package main

// Scenario 8: compact filters, measured before choosing. The filter's
// prefilter (cache-line blocked Bloom generations) beside the immutable
// binary fuse filters of FastFilter/xorfilter with 8, 16 and 32-bit
// fingerprints and a map under RWMutex, over the same keys: bits per key,
// the cost of a negative lookup (the keyed hash included for all), the
// false-positive rate, and the build cost per key.

import (
	"context"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/FastFilter/xorfilter"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/filter"
)

// compactClean is how many clean keys the lookups cycle over, and
// compactFPKeys how many more measure the false-positive rates.
const (
	compactClean  = 1 << 16
	compactFPKeys = 1_000_000
)

func runCompact(ctx context.Context, s *scenarioRun) error {
	for _, n := range s.plan.compact {
		if err := s.compactAt(ctx, n); err != nil {
			return err
		}
	}
	s.note("every structure holds the same n 36-byte jtis; the filter's expiries are spread over its %v lifetime (its steady state; the generations and segments a check probes are in the log), every entry exact; a fuse filter is built from the keys' 64-bit keyed hashes (maphash, as the filter hashes), and its lookups hash the key first, so every lookup starts from the string; false-positive rates over %s clean keys; build is the wall time of filter.AddBatchAt or xorfilter.NewBinaryFuse over all keys", lifetime, group(compactFPKeys))
	return nil
}

type compactSet struct {
	name    string
	bytes   float64 // the structure's own bytes (for the filter, its Bloom bits and compact layer)
	build   time.Duration
	contain func(string) bool
}

func (s *scenarioRun) compactAt(ctx context.Context, n int) error {
	g := newKeyGen(s.seedFor(fmt.Sprintf("keys-%d", n)))
	keys := g.keys(n)
	clean := g.keys(compactClean)
	seed := maphash.MakeSeed()
	hashes := make([]uint64, n)
	for i, k := range keys {
		hashes[i] = maphash.String(seed, k)
	}
	now := memoryClock
	var sets []compactSet

	f, err := filter.New(filter.WithMaxTokenLifetime(lifetime), filter.WithMemoryBudget(exactBudget(n)))
	if err != nil {
		return err
	}
	f.Expect(int64(n))
	t0 := time.Now()
	const batch = 4096
	rs := make([]jwtrevoke.Revocation, 0, batch)
	for i, k := range keys {
		rs = append(rs, jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: k, Before: now, Expires: now.Add(time.Duration(1+i%3600) * time.Second)})
		if len(rs) == batch || i == n-1 {
			if err := f.AddBatchAt(rs, now, n-1-i); err != nil {
				return err
			}
			rs = rs[:0]
		}
	}
	// As an agent does once its replay is in: fold the keys into the
	// compact layer (a binary fuse filter checked before the generations).
	f.Expect(0)
	f.Compact()
	f.WaitCompact()
	st0 := f.Stats()
	sets = append(sets, compactSet{"filter (compact layer + Bloom generations)", float64(st0.BloomBytes + st0.CompactBytes), time.Since(t0), func(k string) bool {
		return f.CheckKeyAt(jwtrevoke.KindToken, k, now, now) != filter.NotRevoked
	}})
	st := f.Stats()
	if st.Evictions != 0 {
		return fmt.Errorf("filter evicted %d entries; the comparison needs them exact", st.Evictions)
	}
	for _, ks := range st.Kinds {
		if ks.Kind == jwtrevoke.KindToken {
			s.log.printf("compact, %s keys: the filter holds them in %d generations, %d segments", countText(n), ks.Generations, ks.Segments)
		}
	}

	fuse8, d8, err := buildFuse[uint8](hashes)
	if err != nil {
		return err
	}
	sets = append(sets, compactSet{"binary fuse 8", float64(len(fuse8.Fingerprints)), d8, func(k string) bool { return fuse8.Contains(maphash.String(seed, k)) }})
	fuse16, d16, err := buildFuse[uint16](hashes)
	if err != nil {
		return err
	}
	sets = append(sets, compactSet{"binary fuse 16", float64(2 * len(fuse16.Fingerprints)), d16, func(k string) bool { return fuse16.Contains(maphash.String(seed, k)) }})
	fuse32, d32, err := buildFuse[uint32](hashes)
	if err != nil {
		return err
	}
	sets = append(sets, compactSet{"binary fuse 32", float64(4 * len(fuse32.Fingerprints)), d32, func(k string) bool { return fuse32.Contains(maphash.String(seed, k)) }})
	hashes = nil

	m := &rwMap{m: make(map[string]struct{}, n)}
	t0 = time.Now()
	for _, k := range keys {
		m.m[k] = struct{}{}
	}
	mapBuild := time.Since(t0)

	// No false negatives, or the figures mean nothing.
	for i := 0; i < n; i += max(1, n/100_000) {
		for _, c := range sets {
			if !c.contain(keys[i]) {
				return fmt.Errorf("%s: key %d not found", c.name, i)
			}
		}
	}
	fps := make([]int, len(sets))
	for range compactFPKeys {
		k := g.next()
		for j, c := range sets {
			if c.contain(k) {
				fps[j]++
			}
		}
	}

	mask := compactClean - 1
	var vs []*variant
	for _, c := range sets {
		vs = append(vs, &variant{name: c.name, body: func(i int) bool { return !c.contain(clean[i&mask]) }})
	}
	vs = append(vs, &variant{name: "map", body: func(i int) bool { return !m.has(clean[i&mask]) }})
	s.log.printf("compact, %s keys: benchmarking %d structures × %d rounds", countText(n), len(vs), s.plan.rounds)
	res, err := s.runRounds(ctx, vs)
	if err != nil {
		return err
	}
	mapNS := res["map"].ns
	for j, c := range sets {
		fp := float64(fps[j]) / compactFPKeys
		bits := c.bytes * 8 / float64(n)
		ns := res[c.name].ns
		row := Row{
			Figure: fmt.Sprintf("compact, %s keys: %s, negative lookup, 1 goroutine", countText(n), c.name),
			Ours: Value{Value: ns, Unit: "ns/op", Text: fmt.Sprintf("%s (%s bits/key, false positives %s, build %s/key)", nsText(ns), num(bits), num(fp), nsText(float64(c.build.Nanoseconds())/float64(n))), Detail: map[string]float64{
				"bits_per_key": bits, "false_positive_rate": fp, "build_ns_per_key": float64(c.build.Nanoseconds()) / float64(n),
			}},
			Comparison: &Value{Label: "map+RWMutex", Value: mapNS, Unit: "ns/op", Text: fmt.Sprintf("%s (build %s/key)", nsText(mapNS), nsText(float64(mapBuild.Nanoseconds())/float64(n)))},
		}
		row.ratio(ns/mapNS, num(ns/mapNS)+"× the map")
		s.add(row)
	}
	return nil
}

func buildFuse[T xorfilter.Unsigned](hashes []uint64) (*xorfilter.BinaryFuse[T], time.Duration, error) {
	keys := append([]uint64(nil), hashes...) // the builder may reorder its input
	t0 := time.Now()
	f, err := xorfilter.NewBinaryFuse[T](keys)
	return f, time.Since(t0), err
}
