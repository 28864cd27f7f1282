package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtrevoke/jwtrevoke"
)

// Collector returns a Prometheus collector of the agent's metrics. It
// registers nothing: add it to a registry of your own.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(a.Collector())
//
// Each scrape takes one Stats snapshot, which costs a pass over the
// filter's memory (a few milliseconds for millions of entries); nothing is
// counted per token and no label holds a key. The metrics, all prefixed
// jwtrevoke_:
//
//	checks_total{outcome}                  checks: allowed, revoked, unknown, stale (includes not ready)
//	events_applied_total                   revocation events added to the filter
//	events_expired_total                   events that had expired when they arrived (normal in a replay)
//	snapshot_loads_total{outcome}          snapshots tried at start: loaded, none, corrupt, unsigned, other_stream,
//	                                       incomplete, ahead, unavailable
//	events_rejected_total{reason}          events refused: malformed, unknown_version, unknown_kind, too_large,
//	                                       out_of_bounds, bad_signature, unsigned, unknown_key_id
//	live_entries{kind}                     live revocations by kind (jti, sub, sid, kid, all)
//	exact_entries                          entries held exactly (the LRU)
//	filter_bytes, filter_budget_bytes      the filter's estimated memory and its budget
//	bloom_false_positive_estimate{kind}    chance that a lookup of a never-revoked key is a Bloom "maybe"
//	unknown_settlements_total              Unknown verdicts sent to the stream to settle
//	settle_errors_total                    of which the stream could not answer in time
//	evictions_total                        live exact entries evicted to keep within the budget
//	ready                                  1 once the agent has replayed the stream
//	stale_seconds                          time since the agent last knew it had every event
//	last_applied_sequence                  stream sequence of the last event applied
//	rewinds_total                          detections of a stream that lost events already applied
//	probe_errors_total, consumer_errors_total  failed round trips to the server
//	propagation_lag_seconds                histogram: event issued at the publisher → applied here (LagBuckets)
//
// To tell several agents in one registry apart (the demo runs several
// replicas in one process), wrap each collector with
// prometheus.WrapCollectorWith(prometheus.Labels{"replica": "1"}, a.Collector()).
func (a *Agent) Collector() prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("jwtrevoke_"+name, help, labels, nil)
	}
	return &collector{a: a,
		checks:         d("checks_total", "Revocation checks by outcome (stale includes not ready).", "outcome"),
		applied:        d("events_applied_total", "Revocation events added to the filter."),
		expired:        d("events_expired_total", "Revocation events that had expired when they arrived."),
		rejected:       d("events_rejected_total", "Revocation events refused, by reason.", "reason"),
		snapshots:      d("snapshot_loads_total", "Snapshots tried at start, by outcome.", "outcome"),
		live:           d("live_entries", "Live revocations by kind.", "kind"),
		exact:          d("exact_entries", "Revocations held exactly in the LRU."),
		bytes:          d("filter_bytes", "Estimated memory of the filter: Bloom bits plus exact entries."),
		budget:         d("filter_budget_bytes", "Memory budget of the filter."),
		fpEstimate:     d("bloom_false_positive_estimate", "Estimated chance that a lookup of a key never revoked is a Bloom maybe, by kind.", "kind"),
		settles:        d("unknown_settlements_total", "Unknown verdicts settled by asking the stream."),
		settleErrors:   d("settle_errors_total", "Unknown verdicts the stream could not settle in time."),
		evictions:      d("evictions_total", "Live exact entries evicted to keep within the memory budget."),
		ready:          d("ready", "1 once the agent has replayed the revocation stream, else 0."),
		stale:          d("stale_seconds", "Seconds since the agent last knew it had applied every event."),
		lastApplied:    d("last_applied_sequence", "Stream sequence of the last event applied."),
		rewinds:        d("rewinds_total", "Detections of a stream that lost events this agent had applied."),
		probeErrors:    d("probe_errors_total", "Failed freshness probes of the stream."),
		consumerErrors: d("consumer_errors_total", "Errors reported by the stream consumer."),
		lag:            d("propagation_lag_seconds", "Time from a revocation's publication to its application here."),
	}
}

type collector struct {
	a                                                           *Agent
	checks, applied, expired, rejected, live, exact, bytes      *prometheus.Desc
	snapshots                                                   *prometheus.Desc
	budget, fpEstimate, settles, settleErrors, evictions, ready *prometheus.Desc
	stale, lastApplied, rewinds, probeErrors, consumerErrors    *prometheus.Desc
	lag                                                         *prometheus.Desc
}

func (c *collector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{c.checks, c.applied, c.expired, c.rejected, c.snapshots, c.live, c.exact, c.bytes,
		c.budget, c.fpEstimate, c.settles, c.settleErrors, c.evictions, c.ready,
		c.stale, c.lastApplied, c.rewinds, c.probeErrors, c.consumerErrors, c.lag}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.a.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- constMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- constMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(c.checks, s.ChecksAllowed, "allowed")
	counter(c.checks, s.ChecksRevoked, "revoked")
	counter(c.checks, s.ChecksUnknown, "unknown")
	counter(c.checks, s.ChecksStale, "stale")
	counter(c.applied, s.EventsApplied)
	counter(c.expired, s.EventsExpired)
	for _, r := range rejectReasons {
		counter(c.rejected, s.EventsRejected[r], r)
	}
	for _, o := range snapshotOutcomes {
		counter(c.snapshots, s.SnapshotLoads[o], o)
	}
	for _, k := range s.Filter.Kinds {
		gauge(c.live, float64(k.Entries), k.Kind.String())
		if k.Kind != jwtrevoke.KindAll {
			gauge(c.fpEstimate, k.EstimatedFPRate, k.Kind.String())
		}
	}
	gauge(c.exact, float64(s.Filter.ExactEntries))
	gauge(c.bytes, float64(s.Filter.Bytes))
	gauge(c.budget, float64(s.Filter.Budget))
	counter(c.settles, s.Settles)
	counter(c.settleErrors, s.SettleErrors)
	counter(c.evictions, s.Filter.Evictions)
	ready := 0.0
	if s.Ready {
		ready = 1
	}
	gauge(c.ready, ready)
	gauge(c.stale, max(s.Staleness.Seconds(), 0))
	gauge(c.lastApplied, float64(s.LastApplied))
	counter(c.rewinds, s.Rewinds)
	counter(c.probeErrors, s.ProbeErrors)
	counter(c.consumerErrors, s.ConsumerErrors)

	buckets := make(map[float64]uint64, len(LagBuckets))
	var cum uint64
	for i, ub := range LagBuckets {
		cum += s.LagCounts[i]
		buckets[ub.Seconds()] = cum
	}
	// The count is the sum of the buckets, not LagEvents read separately,
	// so the histogram stays consistent while events arrive mid-scrape.
	cum += s.LagCounts[len(LagBuckets)]
	if h, err := prometheus.NewConstHistogram(c.lag, cum, s.LagSum.Seconds(), buckets); err != nil {
		ch <- prometheus.NewInvalidMetric(c.lag, err)
	} else {
		ch <- h
	}
}

func constMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}
