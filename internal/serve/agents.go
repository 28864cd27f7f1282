package serve

// GET /admin/agents and the agents' metrics: the live agents (API
// replicas) as their status reports say.

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtrevoke/jwtrevoke/internal/httpjson"
	"github.com/jwtrevoke/jwtrevoke/publisher"
)

func (s *service) handleAdminAgents(w http.ResponseWriter, r *http.Request) {
	if s.agents == nil {
		httpjson.Error(w, http.StatusNotFound, "not_found", "this serve cannot hear the agents' status reports (--check-only, or its NATS user may not subscribe to them)")
		return
	}
	last := s.agent.LastApplied()
	if info, err := s.stream.Info(r.Context()); err == nil {
		last = info.State.LastSeq
	}
	out := struct {
		LastSeq uint64                  `json:"last_seq"`
		Agents  []publisher.AgentReport `json:"agents"`
	}{LastSeq: last, Agents: []publisher.AgentReport{}}
	for _, a := range s.agents.Agents() {
		out.Agents = append(out.Agents, a.Report(last))
	}
	httpjson.Write(w, http.StatusOK, out)
}

// agentsCollector exports jwtrevoke_agents_live, _stale and _max_lag.
type agentsCollector struct {
	w                 *publisher.AgentWatch
	last              func() uint64
	live, stale, lagD *prometheus.Desc
}

func newAgentsCollector(w *publisher.AgentWatch, last func() uint64) *agentsCollector {
	return &agentsCollector{w: w, last: last,
		live:  prometheus.NewDesc("jwtrevoke_agents_live", "Agents heard from within three of their report intervals.", nil, nil),
		stale: prometheus.NewDesc("jwtrevoke_agents_stale", "Live agents that report themselves stale or not ready.", nil, nil),
		lagD:  prometheus.NewDesc("jwtrevoke_agents_max_lag", "The most stream sequences any live agent is behind this serve's agent.", nil, nil),
	}
}

func (c *agentsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.live
	ch <- c.stale
	ch <- c.lagD
}

func (c *agentsCollector) Collect(ch chan<- prometheus.Metric) {
	agents := c.w.Agents()
	last := c.last()
	var stale, maxLag uint64
	for _, a := range agents {
		if a.Stale || !a.Ready {
			stale++
		}
		maxLag = max(maxLag, a.Report(last).Lag)
	}
	ch <- prometheus.MustNewConstMetric(c.live, prometheus.GaugeValue, float64(len(agents)))
	ch <- prometheus.MustNewConstMetric(c.stale, prometheus.GaugeValue, float64(stale))
	ch <- prometheus.MustNewConstMetric(c.lagD, prometheus.GaugeValue, float64(maxLag))
}
