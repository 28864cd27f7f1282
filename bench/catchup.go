package main

// Scenario 4: a new agent joining a stream of live revocations: time from
// agent.New to ready, beside a bare ordered consumer reading the same
// stream to its end.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
)

// catchupTimeout bounds one replay.
const catchupTimeout = 5 * time.Minute

func runCatchup(ctx context.Context, s *scenarioRun) error {
	ns, err := s.startNATS()
	if err != nil {
		return err
	}
	pub, err := newPublisher(ctx, ns)
	if err != nil {
		return err
	}
	g := newKeyGen(s.seedFor("keys"))
	now := time.Now()
	filled := 0
	var evictions []string
	for _, size := range s.plan.catchup {
		if _, err := s.fill(ctx, pub, g.keys(size-filled), filled, now); err != nil {
			return err
		}
		filled = size
		nc, err := ns.connect()
		if err != nil {
			return err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		st, err := js.Stream(ctx, jwtrevoke.DefaultStream)
		if err != nil {
			return err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		last := info.State.LastSeq
		if info.State.Msgs != uint64(size) {
			return fmt.Errorf("stream holds %d events, want %d", info.State.Msgs, size)
		}
		// One unmeasured read first, so both contenders find the server's
		// caches in the same state.
		if _, err := bareRead(ctx, ns, last); err != nil {
			return err
		}
		var ours, bare []float64
		var evicted uint64
		for rep := range s.plan.catchupReps {
			order := []bool{true, false} // agent first on even reps
			if rep%2 == 1 {
				order = []bool{false, true}
			}
			for _, isAgent := range order {
				if isAgent {
					d, ev, err := agentReady(ctx, ns, size)
					if err != nil {
						return err
					}
					ours = append(ours, d.Seconds())
					evicted = ev
				} else {
					d, err := bareRead(ctx, ns, last)
					if err != nil {
						return err
					}
					bare = append(bare, d.Seconds())
				}
			}
			s.log.printf("%s events, rep %d: agent %.3fs, bare consumer %.3fs", countText(size), rep+1, ours[len(ours)-1], bare[len(bare)-1])
		}
		mo, mb := median(ours), median(bare)
		row := Row{
			Figure:     fmt.Sprintf("catch-up: %s live revocations, agent.New → WaitReady (median of %d)", countText(size), len(ours)),
			Ours:       Value{Value: mo, Unit: "s", Text: durText(time.Duration(mo * 1e9)), Detail: repsDetail(ours)},
			Comparison: &Value{Label: "bare ordered consumer to the stream's end", Value: mb, Unit: "s", Text: durText(time.Duration(mb * 1e9)), Detail: repsDetail(bare)},
		}
		// Judged on the median of the per-repetition ratios (see
		// medianRatio).
		x := medianRatio(ours, bare)
		row.ratio(x, num(x)+"× the bare consumer (median of per-repetition ratios)")
		row.judge("≤ 1.5× the bare consumer", x <= 1.5)
		s.add(row)
		evictions = append(evictions, fmt.Sprintf("%s: %d evictions", countText(size), evicted))
	}
	s.note("agents use the default options (64 MiB memory budget: %v); each run has its own new connection, made before the clock starts; the bare consumer (jetstream.OrderedConsumer + Consume, same subject filter, default pull settings) does nothing but read each message's metadata; contenders alternate, first one then the other", evictions)
	return nil
}

func repsDetail(v []float64) map[string]float64 {
	d := map[string]float64{}
	for i, x := range v {
		d[fmt.Sprintf("rep%d_s", i+1)] = x
	}
	return d
}

// agentReady times agent.New → WaitReady on a fresh connection and
// returns the filter's evictions.
func agentReady(ctx context.Context, ns *natsEnv, want int) (time.Duration, uint64, error) {
	nc, err := ns.connect()
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, catchupTimeout)
	defer cancel()
	t0 := time.Now()
	a, err := agent.New(ctx, nc, agent.WithMaxTokenLifetime(lifetime), agent.WithSnapshots(""))
	if err != nil {
		return 0, 0, err
	}
	defer a.Close()
	if err := a.WaitReady(ctx); err != nil {
		return 0, 0, err
	}
	d := time.Since(t0)
	st := a.Stats()
	if st.EventsApplied < uint64(want) {
		return 0, 0, fmt.Errorf("agent ready after applying %d of %d events", st.EventsApplied, want)
	}
	return d, st.Filter.Evictions, nil
}

// bareRead times a bare ordered consumer reading the revocation stream
// from its first message to last.
func bareRead(ctx context.Context, ns *natsEnv, last uint64) (time.Duration, error) {
	nc, err := ns.connect()
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, catchupTimeout)
	defer cancel()
	t0 := time.Now()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	st, err := js.Stream(ctx, jwtrevoke.DefaultStream)
	if err != nil {
		return 0, err
	}
	// The consumer the agent makes: unfiltered on a stream of revocations only.
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: jwtrevoke.ConsumerFilter(st.CachedInfo().Config.Subjects, ""),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return 0, err
	}
	done := make(chan struct{})
	var once sync.Once
	cc, err := cons.Consume(func(m jetstream.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			return
		}
		if meta.Sequence.Stream >= last || meta.NumPending == 0 {
			once.Do(func() { close(done) })
		}
	})
	if err != nil {
		return 0, err
	}
	defer cc.Stop()
	select {
	case <-done:
	case <-ctx.Done():
		return 0, errors.New("bare consumer did not reach the end of the stream in time")
	}
	return time.Since(t0), nil
}
