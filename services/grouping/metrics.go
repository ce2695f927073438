package grouping

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type metrics struct {
	events     prometheus.Counter
	rejected   prometheus.Counter
	failures   prometheus.Counter
	batch      prometheus.Histogram
	batchSize  prometheus.Histogram
	generation prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "faultline_grouping_events_total",
			Help: "Events grouped and stored."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "faultline_grouping_rejected_total",
			Help: "INGEST messages terminated as unprocessable."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "faultline_grouping_batch_failures_total",
			Help: "Batches nak'ed after a transient failure (Postgres down, ...)."}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "faultline_grouping_batch_seconds",
			Help: "Time to store, publish and acknowledge one batch.", Buckets: prometheus.ExponentialBuckets(0.002, 2, 12)}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "faultline_grouping_batch_size",
			Help: "INGEST messages per batch handled (stored, rejected or nak'ed).", Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		generation: prometheus.NewGauge(prometheus.GaugeOpts{Name: "faultline_grouping_projection_generation",
			Help: "Generation of the live grouping projection: 1, plus one per replay that switched generations (grouping.generation)."}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.rejected, m.failures, m.batch, m.batchSize, m.generation)
	}
	return m
}

func (m *metrics) eventsDone() int64 {
	var d dto.Metric
	m.events.Write(&d)
	return int64(d.GetCounter().GetValue())
}
