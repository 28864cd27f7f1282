package agent_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/filter"
	"github.com/jwtrevoke/jwtrevoke/internal/testkit"
)

// BenchmarkCheck is the agent's check alone, for a token that is not
// revoked and one that is, with 100k live revocations.
func BenchmarkCheck(b *testing.B) {
	s := testkit.NATS(b, "")
	pub := testkit.NewPublisher(b, testkit.Connect(b, s.ClientURL()))
	a := testkit.NewAgent(b, testkit.Connect(b, s.ClientURL()))
	revs := make([]jwtrevoke.Revocation, 100_000)
	now := time.Now()
	for i := range revs {
		revs[i] = jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: fmt.Sprintf("revoked-%d", i), Before: now, Expires: now.Add(30 * time.Minute)}
	}
	if _, err := pub.RevokeBatch(context.Background(), revs); err != nil {
		b.Fatal(err)
	}
	testkit.Eventually(b, "agent applied the batch", func() bool { return a.Stats().EventsApplied >= uint64(len(revs)) })
	clean := jwtrevoke.Token{JTI: "live-token", Subject: "alice", Session: "s-1", KeyID: "k1", IssuedAt: now}
	revoked := jwtrevoke.Token{JTI: "revoked-7", Subject: "alice", IssuedAt: now}
	for _, c := range []struct {
		name string
		tok  *jwtrevoke.Token
		want filter.Verdict
	}{{"not-revoked", &clean, filter.NotRevoked}, {"revoked", &revoked, filter.Revoked}} {
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := a.Check(c.tok); r.Verdict != c.want {
					b.Fatalf("Check = %+v", r)
				}
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if r := a.Check(c.tok); r.Verdict != c.want {
						b.Errorf("Check = %+v", r)
						return
					}
				}
			})
		})
	}
}

// BenchmarkPropagation measures publish → applied at 3 agents over 1,000
// revocations, beside a raw core-NATS publish → received by 3 subscribers
// in the same run, and reports p50/p99/max of each:
//
//	go test -run '^$' -bench Propagation -benchtime 1x ./agent
func BenchmarkPropagation(b *testing.B) {
	const n, agents = 1000, 3
	s := testkit.NATS(b, "")
	for b.Loop() {
		pub := testkit.NewPublisher(b, testkit.Connect(b, s.ClientURL()))
		applied := make(chan string, agents*4)
		for range agents {
			testkit.NewAgent(b, testkit.Connect(b, s.ClientURL()), agent.WithOnApply(func(r jwtrevoke.Revocation, _ uint64) { applied <- r.Key }))
		}
		ctx := context.Background()
		lat := make([]time.Duration, 0, n)
		for i := range n {
			tok := jwtrevoke.Token{JTI: fmt.Sprintf("prop-%d", i)}
			start := time.Now()
			if _, err := pub.RevokeJTI(ctx, tok.JTI, time.Now().Add(10*time.Minute)); err != nil {
				b.Fatal(err)
			}
			for range agents {
				select {
				case key := <-applied:
					if key != tok.JTI {
						b.Fatalf("applied %q, want %q", key, tok.JTI)
					}
				case <-time.After(5 * time.Second):
					b.Fatalf("revocation %d not applied after 5s", i)
				}
			}
			lat = append(lat, time.Since(start))
		}
		// Raw core NATS: one publisher, three subscribers on their own
		// connections, publish → all three received.
		subj := "bench.raw"
		got := make(chan struct{}, agents*4)
		for range agents {
			nc := testkit.Connect(b, s.ClientURL())
			if _, err := nc.Subscribe(subj, func(*nats.Msg) { got <- struct{}{} }); err != nil {
				b.Fatal(err)
			}
			nc.Flush()
		}
		pnc := testkit.Connect(b, s.ClientURL())
		raw := make([]time.Duration, 0, n)
		for range n {
			start := time.Now()
			if err := pnc.Publish(subj, []byte("0123456789abcdef0123456789abcdef0123")); err != nil {
				b.Fatal(err)
			}
			for range agents {
				select {
				case <-got:
				case <-time.After(5 * time.Second):
					b.Fatal("raw message lost")
				}
			}
			raw = append(raw, time.Since(start))
		}
		q := func(d []time.Duration, p float64) float64 {
			s := slices.Clone(d)
			slices.Sort(s)
			return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds())
		}
		b.ReportMetric(q(lat, 0.5), "p50-µs")
		b.ReportMetric(q(lat, 0.99), "p99-µs")
		b.ReportMetric(q(lat, 1), "max-µs")
		b.ReportMetric(q(raw, 0.5), "raw-p50-µs")
		b.ReportMetric(q(raw, 0.99), "raw-p99-µs")
		b.ReportMetric(q(raw, 1), "raw-max-µs")
		b.ReportMetric(q(lat, 0.99)-q(raw, 0.99), "p99-over-raw-µs")
	}
}
