package gateway

import (
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	accepted    *prometheus.CounterVec
	items       *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	publish     prometheus.Histogram
	scrubbed    *prometheus.CounterVec
	filtered    *prometheus.CounterVec
	// spikeDropped counts error events a spike cap dropped.
	spikeDropped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, js jetstream.JetStream) *metrics {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_gateway_envelopes_accepted_total",
			Help: "Envelopes stored in the INGEST stream, by kind.",
		}, []string{"kind"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_gateway_items_accepted_total",
			Help: "Items stored in the INGEST stream, by data category.",
		}, []string{"category"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_gateway_envelopes_rejected_total",
			Help: "Requests refused, by reason.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_gateway_items_rate_limited_total",
			Help: "Items dropped by a quota, by data category.",
		}, []string{"category"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "faultline_gateway_request_duration_seconds",
			Help:    "Ingestion request latency, by endpoint.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"endpoint"}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "faultline_gateway_publish_duration_seconds",
			Help:    "Time from publishing an envelope to JetStream's acknowledgement.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1, 5},
		}),
		scrubbed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_gateway_items_scrubbed_total",
			Help: "Items from which data scrubbing removed something, by item type.",
		}, []string{"type"}),
		filtered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "faultline_gateway_events_filtered_total",
			Help: "Events and transactions dropped by a project's inbound filters, by reason.",
		}, []string{"reason"}),
		spikeDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "faultline_gateway_spike_dropped_total",
			Help: "Error events dropped because their project's spike protection capped a spike.",
		}),
	}
	// Publishes awaiting JetStream's acknowledgement: the requests in
	// flight, plus any whose acknowledgement a failover lost, until the
	// client forgets them (natsx.PublishAckTimeout).
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "faultline_gateway_publish_pending",
		Help: "Envelopes published to JetStream whose acknowledgement has not come yet.",
	}, func() float64 { return float64(js.PublishAsyncPending()) })
	if reg != nil {
		reg.MustRegister(m.accepted, m.items, m.rejected, m.rateLimited, m.duration, m.publish, m.scrubbed, m.filtered, m.spikeDropped, pending)
	}
	return m
}
