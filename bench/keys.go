package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// lifetime is the max token lifetime every publisher, agent and filter in
// the harness is configured with; revocations expire within it.
const lifetime = time.Hour

// keyGen makes 36-byte UUID-shaped keys (the usual jti) from a seeded
// generator: the same seed gives the same keys, so a set of millions can be
// regenerated instead of kept.
type keyGen struct{ r *rand.Rand }

func newKeyGen(seed1, seed2 uint64) *keyGen { return &keyGen{rand.New(rand.NewPCG(seed1, seed2))} }

const hexDigits = "0123456789abcdef"

func (g *keyGen) next() string {
	var b [36]byte
	a, c := g.r.Uint64(), g.r.Uint64()
	j := 0
	for i := range 32 {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			b[j] = '-'
			j++
		}
		var nib uint64
		if i < 16 {
			nib = a >> (60 - 4*i) & 0xf
		} else {
			nib = c >> (60 - 4*(i-16)) & 0xf
		}
		b[j] = hexDigits[nib]
		j++
	}
	return string(b[:])
}

func (g *keyGen) keys(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = g.next()
	}
	return ks
}

// tokenRevocation is the i-th live revocation of the harness: a token
// revocation whose expiry is spread over the token lifetime, as a steady
// stream of logouts would leave them: evenly from 5 to 60 minutes ahead
// (not from 0, so that no entry, and no Redis key with the same TTL,
// expires while a scenario runs).
func tokenRevocation(key string, i int, now time.Time) jwtrevoke.Revocation {
	return jwtrevoke.Revocation{
		Kind:    jwtrevoke.KindToken,
		Key:     key,
		Before:  now,
		Expires: now.Add(5*time.Minute + time.Duration(i%3300)*time.Second),
		Issued:  now,
	}
}

// newPublisher returns a publisher on a fresh connection.
func newPublisher(ctx context.Context, n *natsEnv, opts ...publisher.Option) (*publisher.Publisher, error) {
	nc, err := n.connect()
	if err != nil {
		return nil, err
	}
	return publisher.New(ctx, nc, append([]publisher.Option{publisher.WithMaxTokenLifetime(lifetime)}, opts...)...)
}

// fill writes one live token revocation per key with RevokeBatch, in
// chunks, and returns the last stream sequence.
func (s *scenarioRun) fill(ctx context.Context, pub *publisher.Publisher, keys []string, offset int, now time.Time) (uint64, error) {
	const chunk = 20_000
	var last uint64
	t0 := time.Now()
	revs := make([]jwtrevoke.Revocation, 0, chunk)
	for start := 0; start < len(keys); start += chunk {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		revs = revs[:0]
		for i := start; i < min(start+chunk, len(keys)); i++ {
			revs = append(revs, tokenRevocation(keys[i], offset+i, now))
		}
		rcs, err := pub.RevokeBatch(ctx, revs)
		if err != nil {
			return 0, fmt.Errorf("filling the stream: %w", err)
		}
		for _, rc := range rcs {
			last = max(last, rc.Seq)
		}
		if len(keys) >= 200_000 && (start/chunk)%10 == 9 {
			s.log.printf("filled %s of %s revocations", countText(start+chunk), countText(len(keys)))
		}
	}
	s.log.printf("filled %s revocations in %.1fs (RevokeBatch)", countText(len(keys)), time.Since(t0).Seconds())
	return last, nil
}

// newAgent starts an agent on a fresh connection and waits until it is
// ready.
func newAgent(ctx context.Context, n *natsEnv, opts ...agent.Option) (*agent.Agent, *nats.Conn, error) {
	nc, err := n.connect()
	if err != nil {
		return nil, nil, err
	}
	a, err := agent.New(ctx, nc, append([]agent.Option{agent.WithMaxTokenLifetime(lifetime)}, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := a.WaitReady(wctx); err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, nc, nil
}

// quantile returns the q-quantile (nearest rank) of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortedCopy(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianRatio is the median of a[i]/b[i]: for contenders measured in
// pairs, back to back, it cancels what the machine's load did to both.
func medianRatio(a, b []float64) float64 {
	r := make([]float64, min(len(a), len(b)))
	for i := range r {
		r[i] = a[i] / b[i]
	}
	return median(r)
}
