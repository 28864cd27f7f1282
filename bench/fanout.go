package main

// Scenario 10: a revocation's fan-out to hundreds of agents on a 3-node
// cluster with the stream replicated three times, and what it costs the
// servers.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/natsproc"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// fanoutGoal is the p99 the issue asks of the fan-out to every agent.
const fanoutGoal = 10 * time.Millisecond

func runFanout(ctx context.Context, s *scenarioRun) error {
	n, count := s.plan.fanoutAgents, s.plan.fanoutCount
	dir, err := os.MkdirTemp("", "jwtrevoke-bench-cluster-")
	if err != nil {
		return err
	}
	s.defer_(func() { os.RemoveAll(dir) })
	nodes, err := natsproc.NewCluster(dir, "jwtrevoke", 3, func(o *natsproc.Options) {
		o.Extra = "max_connections: 4096\n"
	})
	if err != nil {
		return err
	}
	for _, nd := range nodes {
		s.defer_(nd.Close)
		if err := nd.Start(); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, nd := range nodes {
		if err := nd.WaitReady(wctx); err != nil {
			return err
		}
	}
	connect := func(i int, name string) (*nats.Conn, error) {
		return nats.Connect(nodes[i%3].URL(), nats.Name(name), nats.MaxReconnects(-1))
	}
	pnc, err := connect(0, "bench fanout publisher")
	if err != nil {
		return err
	}
	s.defer_(pnc.Close)
	pub, err := publisher.New(ctx, pnc, publisher.WithReplicas(3), publisher.WithMaxTokenLifetime(lifetime))
	if err != nil {
		return err
	}
	prefix := "fanout-"
	applied := make(chan arrival, 4*n)
	t0 := time.Now()
	for i := range n {
		nc, err := connect(i, fmt.Sprintf("bench fanout agent %d", i))
		if err != nil {
			return err
		}
		s.defer_(nc.Close)
		a, err := agent.New(ctx, nc, agent.WithStatus(fanoutStatus), agent.WithMaxTokenLifetime(lifetime), agent.WithOnApply(func(r jwtrevoke.Revocation, _ uint64) {
			if strings.HasPrefix(r.Key, prefix) {
				applied <- arrival{r.Key, time.Now()}
			}
		}))
		if err != nil {
			return fmt.Errorf("agent %d: %w", i, err)
		}
		s.defer_(func() { a.Close() })
		if err := a.WaitReady(wctx); err != nil {
			return fmt.Errorf("agent %d: %w", i, err)
		}
	}
	s.log.printf("%d agents ready on 3 nodes in %.1fs; timing %d revocations", n, time.Since(t0).Seconds(), count)
	cpuBefore := clusterCPU(nodes)
	var lat []time.Duration
	start := time.Now()
	for i := range count {
		key := fmt.Sprintf("%s%06d", prefix, i)
		t0 := time.Now()
		if _, err := pub.RevokeJTI(ctx, key, time.Now().Add(10*time.Minute)); err != nil {
			return err
		}
		var last time.Time
		timer := time.NewTimer(propTimeout)
		for got := 0; got < n; {
			select {
			case a := <-applied:
				if a.key != key {
					continue
				}
				got++
				if a.at.After(last) {
					last = a.at
				}
			case <-timer.C:
				return fmt.Errorf("%q reached fewer than %d agents within %v", key, n, propTimeout)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		timer.Stop()
		lat = append(lat, last.Sub(t0))
	}
	elapsed := time.Since(start)
	cpu := clusterCPU(nodes) - cpuBefore
	sorted := sortedCopy(lat)
	v := latencyValue(sorted)
	v.Detail["servers_cpu_s"] = cpu.Seconds()
	row := Row{
		Figure: fmt.Sprintf("fan-out: publish → applied at all %d agents on a 3-node cluster, stream R3, p50 · p99 · max", n),
		Ours:   v,
		Comparison: &Value{Label: "the three servers' CPU over the run", Value: cpu.Seconds(), Unit: "s",
			Text: fmt.Sprintf("%.2f s in %.1f s (%.0f%% of one core)", cpu.Seconds(), elapsed.Seconds(), 100*cpu.Seconds()/elapsed.Seconds())},
	}
	p99 := quantile(sorted, 0.99)
	row.ratio(float64(p99)/1e6, fmt.Sprintf("p99 %.2f ms", float64(p99)/1e6))
	row.judge("p99 ≤ 10 ms", p99 <= fanoutGoal)
	s.add(row)
	s.note("scenario 10: %d agents, each on its own connection, spread over three nats-server child processes (a cluster built from the module, sync_interval always, stream R3); %d revocations one at a time, each timed from before RevokeJTI to the last agent's OnApply; every agent also reports its status (issue 16); the load generator, the agents and the servers share this machine's cores", n, count)
	return nil
}

// clusterCPU is the CPU time the nodes' processes have used (Linux
// /proc; zero elsewhere).
func clusterCPU(nodes []*natsproc.Server) time.Duration {
	var total time.Duration
	for _, nd := range nodes {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(nd.PID()), "stat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * time.Second / 100 // USER_HZ
	}
	return total
}

// fanoutStatus is the agents' status interval in scenario 10 (a variable
// for diagnostics: 0 turns the reports off).
var fanoutStatus = time.Second
