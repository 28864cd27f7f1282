package publisher

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jwtrevoke/jwtrevoke"
)

// BatchSizeBuckets are the upper bounds of the batch size histogram
// (revocations per RevokeBatch call).
var BatchSizeBuckets = [...]float64{1, 10, 100, 1000, 10000, 100000}

// counters are the publisher's metrics: plain atomics, one add per event.
type counters struct {
	published          [len(jwtrevoke.Kinds) + 1]atomic.Uint64 // by Kind
	duplicates         atomic.Uint64
	errors             atomic.Uint64
	retries            atomic.Uint64
	batches, batchRevs atomic.Uint64
	batchBuckets       [len(BatchSizeBuckets) + 1]atomic.Uint64
}

// acked counts one acknowledged event.
func (c *counters) acked(k jwtrevoke.Kind, duplicate bool) {
	if k.Valid() {
		c.published[k].Add(1)
	}
	if duplicate {
		c.duplicates.Add(1)
	}
}

func (c *counters) observeBatch(n int) {
	i := 0
	for i < len(BatchSizeBuckets) && float64(n) > BatchSizeBuckets[i] {
		i++
	}
	c.batchBuckets[i].Add(1)
	c.batches.Add(1)
	c.batchRevs.Add(uint64(n))
}

// Collector returns a Prometheus collector of the publisher's metrics. It
// registers nothing: add it to a registry of your own.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(pub.Collector())
//
// The metrics, all prefixed jwtrevoke_:
//
//	revocations_published_total{kind}   events the server acknowledged (jti, sub, sid, kid, all)
//	publish_duplicates_total            of which the server had already stored (a retried publish)
//	publish_errors_total                Revoke calls that failed after their retries
//	publish_retries_total               publish attempts retried after a timeout or outage
//	publish_batch_size                  histogram of revocations per RevokeBatch call
//
// Collecting reads a few atomics. To tell several publishers in one
// registry apart, wrap each with prometheus.WrapCollectorWith.
func (p *Publisher) Collector() prometheus.Collector {
	return &collector{p: p,
		published: prometheus.NewDesc("jwtrevoke_revocations_published_total",
			"Revocation events the server acknowledged, by kind.", []string{"kind"}, nil),
		duplicates: prometheus.NewDesc("jwtrevoke_publish_duplicates_total",
			"Acknowledged events the server had already stored (a retried publish).", nil, nil),
		errors: prometheus.NewDesc("jwtrevoke_publish_errors_total",
			"Revocations that could not be stored after every retry.", nil, nil),
		retries: prometheus.NewDesc("jwtrevoke_publish_retries_total",
			"Publish attempts retried after a timeout or an unavailable server.", nil, nil),
		batch: prometheus.NewDesc("jwtrevoke_publish_batch_size",
			"Revocations per RevokeBatch call.", nil, nil),
	}
}

type collector struct {
	p                                             *Publisher
	published, duplicates, errors, retries, batch *prometheus.Desc
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range [...]*prometheus.Desc{c.published, c.duplicates, c.errors, c.retries, c.batch} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := &c.p.stats
	for _, k := range jwtrevoke.Kinds {
		ch <- counter(c.published, s.published[k].Load(), k.String())
	}
	ch <- counter(c.duplicates, s.duplicates.Load())
	ch <- counter(c.errors, s.errors.Load())
	ch <- counter(c.retries, s.retries.Load())
	buckets := make(map[float64]uint64, len(BatchSizeBuckets))
	var cum uint64
	for i, ub := range BatchSizeBuckets {
		cum += s.batchBuckets[i].Load()
		buckets[ub] = cum
	}
	// The count is the sum of the buckets read here, so that a batch
	// landing mid-scrape cannot make +Inf smaller than the last bucket.
	cum += s.batchBuckets[len(BatchSizeBuckets)].Load()
	ch <- histogram(c.batch, cum, float64(s.batchRevs.Load()), buckets)
}

func counter(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

func histogram(d *prometheus.Desc, count uint64, sum float64, buckets map[float64]uint64) prometheus.Metric {
	m, err := prometheus.NewConstHistogram(d, count, sum, buckets)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}
