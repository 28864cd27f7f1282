package main

// Scenario 11: agents in two regions reading their leaf node's mirror of
// the hub's stream, beside agents at the hub, and one region cut off.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
	"github.com/jwtrevoke/jwtrevoke/agent"
	"github.com/jwtrevoke/jwtrevoke/internal/topology"
	"github.com/jwtrevoke/jwtrevoke/publisher"
	"github.com/jwtrevoke/jwtrevoke/region"
)

// regionArrival is an agent's receipt of a revocation, by place.
type regionArrival struct {
	place int
	key   string
	at    time.Time
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// regionStaleness is the agents' staleness bound in scenario 11: the
// default, the policy a region's agents would run.
const regionStaleness = 5 * time.Second

func runRegions(ctx context.Context, s *scenarioRun) error {
	per, count, cutFor := s.plan.regionAgents, s.plan.regionCount, s.plan.regionCuts
	places := []string{"hub", "region-a", "region-b"}
	link := topology.NewLink("region-a")
	s.defer_(link.Close)
	top, err := bootDeploy(ctx, s, topology.Options{Regions: places[1:], Via: link.Via, Profile: s.profiles != ""})
	if err != nil {
		return err
	}
	pnc, err := dialUser(s, top.HubURLs("publisher"), "bench regions publisher")
	if err != nil {
		return err
	}
	pub, err := publisher.New(ctx, pnc, publisher.WithReplicas(3), publisher.WithMaxTokenLifetime(lifetime))
	if err != nil {
		return err
	}
	for _, r := range places[1:] {
		nc, err := dialUser(s, top.RegionURL(r, "admin"), "bench regions mirror "+r)
		if err != nil {
			return err
		}
		if _, err := region.Ensure(ctx, nc, region.Config{}); err != nil {
			return fmt.Errorf("%s: %w", r, err)
		}
	}
	const prefix = "regions-"
	applied := make(chan regionArrival, 4*per*len(places))
	agents := make([][]*agent.Agent, len(places))
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for p, name := range places {
		for i := range per {
			url := top.HubURL(i%len(top.Hub), "agent")
			if p > 0 {
				url = top.RegionURL(name, "agent")
			}
			nc, err := dialUser(s, url, fmt.Sprintf("bench regions agent %s-%d", name, i))
			if err != nil {
				return err
			}
			a, err := agent.New(ctx, nc, agent.WithStaleness(regionStaleness), agent.WithOnApply(func(r jwtrevoke.Revocation, _ uint64) {
				if strings.HasPrefix(r.Key, prefix) {
					// Never block the agent: a full channel is a harness
					// bug, reported as a revocation that did not arrive.
					select {
					case applied <- regionArrival{p, r.Key, time.Now()}:
					default:
					}
				}
			}))
			if err != nil {
				return fmt.Errorf("agent %s-%d: %w", name, i, err)
			}
			s.defer_(func() { a.Close() })
			if err := a.WaitReady(wctx); err != nil {
				return fmt.Errorf("agent %s-%d: %w", name, i, err)
			}
			agents[p] = append(agents[p], a)
		}
	}
	// A region's mirror exists long before a revocation in a deployment:
	// warm the new ones up (their consumer at the hub set up, a first
	// event through) and wait until every agent is fresh.
	for i := range 3 {
		rc, err := pub.RevokeJTI(ctx, fmt.Sprintf("warm-%d", i), time.Now().Add(10*time.Minute))
		if err != nil {
			return err
		}
		for p := range places {
			for _, a := range agents[p] {
				if err := waitFor(wctx, func() bool { return a.LastApplied() >= rc.Seq && !a.Health().Stale }); err != nil {
					return fmt.Errorf("agent in %s not fresh with the warm-up revocation: %w", places[p], err)
				}
			}
		}
	}
	s.log.printf("%d agents at the hub and in each of two regions; timing %d revocations", per, count)

	// Each revocation, one at a time, until every agent has it: the last
	// arrival at each place.
	lat := make([][]time.Duration, len(places))
	for i := range count {
		key := fmt.Sprintf("%s%06d", prefix, i)
		t0 := time.Now()
		if _, err := pub.RevokeJTI(ctx, key, time.Now().Add(10*time.Minute)); err != nil {
			return err
		}
		last := make([]time.Time, len(places))
		timer := time.NewTimer(propTimeout)
		for got := 0; got < per*len(places); {
			select {
			case a := <-applied:
				if a.key != key {
					continue
				}
				got++
				if a.at.After(last[a.place]) {
					last[a.place] = a.at
				}
			case <-timer.C:
				return fmt.Errorf("%q reached fewer than %d agents within %v", key, per*len(places), propTimeout)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		timer.Stop()
		for p := range places {
			lat[p] = append(lat[p], last[p].Sub(t0))
		}
	}
	hub := sortedCopy(lat[0])
	hubRow := Row{Figure: fmt.Sprintf("hub → the %d agents at the hub (deploy/nats, R3), p50 · p99 · max", per), Ours: latencyValue(hub)}
	hubRow.ratio(1, "1× (the reference)")
	s.add(hubRow)
	for p := 1; p < len(places); p++ {
		d := sortedCopy(lat[p])
		row := Row{
			Figure:     fmt.Sprintf("hub → the %d agents in %s (its leaf node's mirror), p50 · p99 · max", per, places[p]),
			Ours:       latencyValue(d),
			Comparison: ptr(latencyValue(hub)),
		}
		row.Comparison.Label = "agents at the hub, same revocations"
		r := float64(quantile(d, 0.5)) / float64(quantile(hub, 0.5))
		row.ratio(r, fmt.Sprintf("p50 %.2f× the hub's (p99 %.2f×)", r, float64(quantile(d, 0.99))/float64(quantile(hub, 0.99))))
		s.add(row)
	}

	for _, d := range cutFor {
		if err := cutRegion(ctx, s, pub, link, agents[1], d); err != nil {
			return err
		}
	}
	s.note("scenario 11: deploy/nats's hub (three nodes, R3) and regions a and b (one leaf node each, region-<x>.conf) booted from the files as nats-server child processes; each region's mirror made by region.Ensure (jwtrevoke mirror); %d agents per place with a %v staleness bound, on the agent users; region-a's link through toxiproxy (one proxy per hub node), cut by blackholing both directions, while the hub publisher kept revoking (one every 10 ms, acked); everything on loopback, so the link adds no WAN latency", per, regionStaleness)
	return nil
}

// cutRegion cuts region-a's link for cutFor while the hub publisher keeps
// revoking, and measures how long its agents stay fresh without the hub
// (a revocation made at the cut is unknown there that long) and how long
// after the link is back they have every revocation of the cut and are
// fresh again.
func cutRegion(ctx context.Context, s *scenarioRun, pub *publisher.Publisher, link *topology.Link, cutA []*agent.Agent, cutFor time.Duration) error {
	allStale := func() bool {
		for _, a := range cutA {
			if !a.Health().Stale {
				return false
			}
		}
		return true
	}
	if err := link.Cut(); err != nil {
		return err
	}
	cut := time.Now()
	var exposure time.Duration
	var lastSeq uint64
	revoked := 0
	for time.Since(cut) < cutFor {
		if exposure == 0 && allStale() {
			exposure = time.Since(cut)
		}
		if revoked < 1000 {
			rc, err := pub.RevokeJTI(ctx, fmt.Sprintf("cut-%v-%04d", cutFor, revoked), time.Now().Add(10*time.Minute))
			if err != nil {
				return err
			}
			lastSeq = rc.Seq
			revoked++
		}
		time.Sleep(10 * time.Millisecond)
	}
	if exposure == 0 {
		return fmt.Errorf("region-a's agents still fresh %v after its link was cut (bound %v)", cutFor, regionStaleness)
	}
	if err := link.Heal(); err != nil {
		return err
	}
	healed := time.Now()
	var catchup time.Duration
	for catchup == 0 {
		done := true
		for _, a := range cutA {
			if a.LastApplied() < lastSeq || a.Health().Stale {
				done = false
			}
		}
		if done {
			catchup = time.Since(healed)
			break
		}
		if time.Since(healed) > 5*time.Minute {
			return fmt.Errorf("region-a's agents not caught up 5 minutes after the link came back")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	exp := Row{
		Figure: fmt.Sprintf("region-a cut off for %v: its agents stay fresh without the hub for (a revocation made at the cut is unknown there that long)", cutFor),
		Ours:   Value{Value: exposure.Seconds(), Unit: "s", Text: durText(exposure)},
	}
	exp.ratio(exposure.Seconds()/regionStaleness.Seconds(), fmt.Sprintf("%.2f× the agents' staleness bound (%v)", exposure.Seconds()/regionStaleness.Seconds(), regionStaleness))
	// The loop above looks every 10 ms or so.
	exp.judge("≤ the staleness bound (+50 ms, how often it is looked at)", exposure <= regionStaleness+50*time.Millisecond)
	s.add(exp)
	cu := Row{
		Figure: fmt.Sprintf("link back after %v: region-a's agents hold all %d revocations of the cut and are fresh again after", cutFor, revoked),
		Ours:   Value{Value: catchup.Seconds(), Unit: "s", Text: durText(catchup)},
	}
	cu.ratio(catchup.Seconds()/cutFor.Seconds(), fmt.Sprintf("%.2f× the cut", catchup.Seconds()/cutFor.Seconds()))
	s.add(cu)
	return nil
}
