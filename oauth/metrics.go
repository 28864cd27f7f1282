package oauth

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// outcomes counts an endpoint's requests by outcome.
type outcomes struct {
	names  []string
	counts []atomic.Uint64
	desc   *prometheus.Desc
}

func newOutcomes(metric, help string, names ...string) *outcomes {
	return &outcomes{
		names:  names,
		counts: make([]atomic.Uint64, len(names)),
		desc:   prometheus.NewDesc(metric, help, []string{"outcome"}, nil),
	}
}

func (o *outcomes) add(i int) { o.counts[i].Add(1) }

// Describe and Collect make outcomes a prometheus.Collector.
func (o *outcomes) Describe(ch chan<- *prometheus.Desc) { ch <- o.desc }

func (o *outcomes) Collect(ch chan<- prometheus.Metric) {
	for i, name := range o.names {
		ch <- prometheus.MustNewConstMetric(o.desc, prometheus.CounterValue, float64(o.counts[i].Load()), name)
	}
}
