package main

// Scenario 3: how long a revocation takes to reach every agent, beside a
// raw core-NATS message reaching as many subscribers.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// arrival is one agent's (or subscriber's) receipt of message key.
type arrival struct {
	key string
	at  time.Time
}

// propTimeout bounds the wait for one revocation to reach every agent.
const propTimeout = 10 * time.Second

// propTargetAgents is the agent count the propagation target applies to.
const propTargetAgents = 16

func runPropagation(ctx context.Context, s *scenarioRun) error {
	ns, err := s.startNATS()
	if err != nil {
		return err
	}
	pub, err := newPublisher(ctx, ns)
	if err != nil {
		return err
	}
	pnc, err := ns.connect()
	if err != nil {
		return err
	}
	for _, n := range s.plan.propAgents {
		if err := s.propagationAt(ctx, ns, pub, pnc, n); err != nil {
			return fmt.Errorf("%d agents: %w", n, err)
		}
	}
	s.note("each revocation is timed from just before publisher.RevokeJTI (one guarded publish, then its ack) to the moment the last agent's WithOnApply hook ran; the raw floor is the same encoded event published with core NATS (no JetStream, no ack) until the last subscriber's handler ran. Every agent and subscriber has its own connection; one revocation at a time, ours and raw alternating; %d revocations per agent count", s.plan.propCount)
	return nil
}

func (s *scenarioRun) propagationAt(ctx context.Context, ns *natsEnv, pub *publisher.Publisher, pnc *nats.Conn, n int) error {
	prefix := fmt.Sprintf("prop-%d-", n)
	applied := make(chan arrival, 4*n)
	var conns []*nats.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for range n {
		a, nc, err := newAgent(ctx, ns, agent.WithOnApply(func(r jwtrevoke.Revocation, _ uint64) {
			// Replays of earlier rounds' events pass by; only this
			// round's are timed.
			if strings.HasPrefix(r.Key, prefix) {
				applied <- arrival{r.Key, time.Now()}
			}
		}))
		if err != nil {
			return err
		}
		defer a.Close()
		conns = append(conns, nc)
	}
	subj := fmt.Sprintf("bench.raw.%d", n)
	received := make(chan arrival, 4*n)
	for range n {
		nc, err := ns.connect()
		if err != nil {
			return err
		}
		conns = append(conns, nc)
		if _, err := nc.Subscribe(subj, func(m *nats.Msg) { received <- arrival{string(m.Header.Get("k")), time.Now()} }); err != nil {
			return err
		}
		if err := nc.Flush(); err != nil {
			return err
		}
	}
	s.log.printf("%d agents and %d raw subscribers up; timing %d revocations", n, n, s.plan.propCount)

	// waitAll returns the latest arrival of key at n receivers.
	waitAll := func(ch chan arrival, key string) (time.Time, error) {
		var last time.Time
		timer := time.NewTimer(propTimeout)
		defer timer.Stop()
		for got := 0; got < n; {
			select {
			case a := <-ch:
				if a.key != key {
					continue // a straggler from an earlier, timed-out round
				}
				got++
				if a.at.After(last) {
					last = a.at
				}
			case <-timer.C:
				return last, fmt.Errorf("%q reached fewer than %d receivers within %v", key, n, propTimeout)
			case <-ctx.Done():
				return last, ctx.Err()
			}
		}
		return last, nil
	}
	ours := make([]time.Duration, 0, s.plan.propCount)
	acks := make([]time.Duration, 0, s.plan.propCount)
	raw := make([]time.Duration, 0, s.plan.propCount)
	for i := range s.plan.propCount {
		key := fmt.Sprintf("%s%06d", prefix, i)
		exp := time.Now().Add(10 * time.Minute)
		t0 := time.Now()
		if _, err := pub.RevokeJTI(ctx, key, exp); err != nil {
			return err
		}
		ack := time.Since(t0)
		last, err := waitAll(applied, key)
		if err != nil {
			return err
		}
		ours = append(ours, last.Sub(t0))
		acks = append(acks, ack)

		data, err := jwtrevoke.Encode(jwtrevoke.Revocation{Kind: jwtrevoke.KindToken, Key: key, Before: t0, Expires: exp, Issued: t0}, nil)
		if err != nil {
			return err
		}
		msg := nats.NewMsg(subj)
		msg.Header.Set("k", key)
		msg.Data = data
		t1 := time.Now()
		if err := pnc.PublishMsg(msg); err != nil {
			return err
		}
		last, err = waitAll(received, key)
		if err != nil {
			return err
		}
		raw = append(raw, last.Sub(t1))
	}
	o, r, ak := sortedCopy(ours), sortedCopy(raw), sortedCopy(acks)
	oursV := latencyValue(o)
	oursV.Detail["ack_p50_us"] = us(quantile(ak, 0.5))
	oursV.Detail["ack_p99_us"] = us(quantile(ak, 0.99))
	row := Row{
		Figure:     fmt.Sprintf("publish → applied at all %d agent(s), p50 · p99 · max", n),
		Ours:       oursV,
		Comparison: ptr(latencyValue(r)),
	}
	row.Comparison.Label = fmt.Sprintf("raw core NATS → %d subscriber(s)", n)
	diff := quantile(o, 0.99) - quantile(r, 0.99)
	row.ratio(float64(diff)/1e6, fmt.Sprintf("p99 %+.3f ms over raw", float64(diff)/1e6))
	if n == propTargetAgents {
		row.judge("p99 ≤ raw p99 + 1 ms", diff <= time.Millisecond)
	}
	s.add(row)
	s.log.printf("%d agents: p50 %s p99 %s max %s; raw p50 %s p99 %s max %s; RevokeJTI ack p50 %s",
		n, durText(quantile(o, 0.5)), durText(quantile(o, 0.99)), durText(quantile(o, 1)),
		durText(quantile(r, 0.5)), durText(quantile(r, 0.99)), durText(quantile(r, 1)), durText(quantile(ak, 0.5)))
	return nil
}

func latencyValue(sorted []time.Duration) Value {
	p50, p99, mx := quantile(sorted, 0.5), quantile(sorted, 0.99), quantile(sorted, 1)
	return Value{
		Value:  us(p99),
		Unit:   "µs (p99)",
		Text:   fmt.Sprintf("%s · %s · %s", durText(p50), durText(p99), durText(mx)),
		Detail: map[string]float64{"p50_us": us(p50), "p99_us": us(p99), "max_us": us(mx), "count": float64(len(sorted))},
	}
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

func ptr[T any](v T) *T { return &v }
