package analytics

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	batch     *prometheus.HistogramVec
	batchSize *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "faultline_analytics_batch_seconds",
			Help:    "Time to insert one batch into ClickHouse and acknowledge its messages, by consumer.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14)}, []string{"consumer"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "faultline_analytics_batch_size",
			Help:    "Messages per inserted batch, by consumer.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14)}, []string{"consumer"}),
	}
	if reg != nil {
		reg.MustRegister(m.batch, m.batchSize)
	}
	return m
}
