package alerting

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	batch     prometheus.Histogram
	batchSize prometheus.Histogram
	// retries counts batch transactions tried again after a deadlock or
	// serialization failure (concurrent batches or replicas took the
	// same rows in another order: a redelivered event's claim).
	retries prometheus.Counter
	// digestProjects counts projects' digest contents computed: one per
	// project and period, however many users receive it.
	digestProjects prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "faultline_alerting_batch_seconds",
			Help: "Time to count, evaluate, queue and acknowledge one batch of EVENTS messages.", Buckets: prometheus.ExponentialBuckets(0.002, 2, 12)}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "faultline_alerting_batch_size",
			Help: "EVENTS messages per evaluated batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "faultline_alerting_batch_retries_total",
			Help: "Batch transactions tried again after a deadlock or a serialization failure."}),
		digestProjects: prometheus.NewCounter(prometheus.CounterOpts{Name: "faultline_alerting_digest_projects_computed_total",
			Help: "Projects' digest contents computed (once per project and period, shared by every recipient)."}),
	}
	if reg != nil {
		reg.MustRegister(m.batch, m.batchSize, m.retries, m.digestProjects)
	}
	return m
}
