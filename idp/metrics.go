package idp

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// counter counts requests by outcome, a fixed set of labels.
type counter struct {
	names []string
	n     []atomic.Uint64
	desc  *prometheus.Desc
}

func newCounter(name, help string, outcomes ...string) *counter {
	return &counter{names: outcomes, n: make([]atomic.Uint64, len(outcomes)),
		desc: prometheus.NewDesc(name, help, []string{"outcome"}, nil)}
}

func (c *counter) add(outcome string) {
	for i, n := range c.names {
		if n == outcome {
			c.n[i].Add(1)
			return
		}
	}
}

// Describe and Collect make counter a prometheus.Collector.
func (c *counter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *counter) Collect(ch chan<- prometheus.Metric) {
	for i, n := range c.names {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.n[i].Load()), n)
	}
}
