package alerting

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	batch     prometheus.Histogram
	batchSize prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "faultline_alerting_batch_seconds",
			Help: "Time to count, evaluate, queue and acknowledge one batch of EVENTS messages.", Buckets: prometheus.ExponentialBuckets(0.002, 2, 12)}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "faultline_alerting_batch_size",
			Help: "EVENTS messages per evaluated batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
	}
	if reg != nil {
		reg.MustRegister(m.batch, m.batchSize)
	}
	return m
}
