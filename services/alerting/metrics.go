package alerting

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	batch     prometheus.Histogram
	batchSize prometheus.Histogram
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
		digestProjects: prometheus.NewCounter(prometheus.CounterOpts{Name: "faultline_alerting_digest_projects_computed_total",
			Help: "Projects' digest contents computed (once per project and period, shared by every recipient)."}),
	}
	if reg != nil {
		reg.MustRegister(m.batch, m.batchSize, m.digestProjects)
	}
	return m
}
