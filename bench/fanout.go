package main

// Scenario 10: a revocation's fan-out to hundreds of agents on a 3-node
// cluster with the stream replicated three times, and what it costs the
// servers.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/topology"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

// fanoutGoal is the p99 the issue asks of the fan-out to every agent.
const fanoutGoal = 10 * time.Millisecond

func runFanout(ctx context.Context, s *scenarioRun) error {
	n, count := s.plan.fanoutAgents, s.plan.fanoutCount
	top, err := bootDeploy(ctx, s, topology.Options{Profile: s.profiles != ""})
	if err != nil {
		return err
	}
	nodes := top.Hub
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	pnc, err := dialUser(s, top.HubURLs("publisher"), "bench fanout publisher")
	if err != nil {
		return err
	}
	pub, err := publisher.New(ctx, pnc, publisher.WithReplicas(3), publisher.WithMaxTokenLifetime(lifetime))
	if err != nil {
		return err
	}
	prefix := "fanout-"
	applied := make(chan arrival, 4*n)
	t0 := time.Now()
	for i := range n {
		nc, err := dialUser(s, top.HubURL(i%len(nodes), "agent"), fmt.Sprintf("bench fanout agent %d", i))
		if err != nil {
			return err
		}
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
	// once revokes key and returns how long until the last agent applied
	// it, noting when the publish was acknowledged and the first agent
	// applied it.
	var acks, firsts []time.Duration
	once := func(key string) (time.Duration, error) {
		t0 := time.Now()
		if _, err := pub.RevokeJTI(ctx, key, time.Now().Add(10*time.Minute)); err != nil {
			return 0, err
		}
		acks = append(acks, time.Since(t0))
		var first, last time.Time
		timer := time.NewTimer(propTimeout)
		defer timer.Stop()
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
				if first.IsZero() || a.at.Before(first) {
					first = a.at
				}
			case <-timer.C:
				return 0, fmt.Errorf("%q reached fewer than %d agents within %v", key, n, propTimeout)
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		firsts = append(firsts, first.Sub(t0))
		return last.Sub(t0), nil
	}
	cpuBefore := clusterCPU(nodes)
	var lat []time.Duration
	start := time.Now()
	for i := range count {
		d, err := once(fmt.Sprintf("%s%06d", prefix, i))
		if err != nil {
			return err
		}
		lat = append(lat, d)
	}
	elapsed := time.Since(start)
	cpu := clusterCPU(nodes) - cpuBefore
	sorted := sortedCopy(lat)
	v := latencyValue(sorted)
	v.Detail["servers_cpu_s"] = cpu.Seconds()
	ack, first := sortedCopy(acks), sortedCopy(firsts)
	v.Detail["ack_p50_us"], v.Detail["first_agent_p50_us"] = us(quantile(ack, 0.5)), us(quantile(first, 0.5))
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
	s.note("scenario 10: where the time goes, p50: publish → ack %s (the stream stored on two of three nodes, each fsyncing), → first agent %s, → last agent %s; p99 %s, %s, %s",
		durText(quantile(ack, 0.5)), durText(quantile(first, 0.5)), durText(quantile(sorted, 0.5)),
		durText(quantile(ack, 0.99)), durText(quantile(first, 0.99)), durText(quantile(sorted, 0.99)))
	s.note("scenario 10: %d agents, each on its own connection as the agent user, spread over the three nodes of deploy/nats booted from its files (nats-server child processes built from the module; sync_interval always, stream R3); %d revocations one at a time, each timed from before RevokeJTI to the last agent's OnApply; every agent also reports its status (issue 16); the load generator, the agents and the servers share this machine's cores", n, count)
	if s.profiles != "" {
		if err := profileServers(ctx, s, "fanout", nodes, func(i int) error {
			_, err := once(fmt.Sprintf("%sprofiled-%06d", prefix, i))
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// profileFor is how long profileServers samples the servers.
const profileFor = 10 * time.Second

// profileServers takes a CPU profile of every node while load runs (at
// most 100,000 calls, for profileFor), and writes them to the
// --server-profiles directory as <name>-<node>.pprof.
func profileServers(ctx context.Context, s *scenarioRun, name string, nodes []*topology.Server, load func(i int) error) error {
	if err := os.MkdirAll(s.profiles, 0o755); err != nil {
		return err
	}
	errs := make(chan error, len(nodes))
	for _, nd := range nodes {
		go func() {
			errs <- fetchProfile(ctx, fmt.Sprintf("%s/profile?seconds=%d", nd.ProfURL(), int(profileFor/time.Second)), filepath.Join(s.profiles, name+"-"+nd.Name()+".pprof"))
		}()
	}
	deadline := time.Now().Add(profileFor)
	calls := 0
	for ; calls < 100_000 && time.Now().Before(deadline); calls++ {
		if err := load(calls); err != nil {
			return err
		}
	}
	for range nodes {
		if err := <-errs; err != nil {
			return err
		}
	}
	s.note("%s: CPU profiles of the %d servers over %v of the same load (%d revocations) written to %s (go tool pprof -top FILE)", name, len(nodes), profileFor, calls, s.profiles)
	return nil
}

// fetchProfile saves what url answers to file.
func fetchProfile(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// clusterCPU is the CPU time the nodes' processes have used (Linux
// /proc; zero elsewhere).
func clusterCPU(nodes []*topology.Server) time.Duration {
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
