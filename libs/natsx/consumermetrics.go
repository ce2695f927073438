package natsx

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// ConsumerRef names a durable consumer of a stream.
type ConsumerRef struct {
	Stream, Consumer string
}

// ConsumerMetrics exports the state of durable consumers as Prometheus
// gauges, read from JetStream's consumer info at each scrape: how many
// messages wait for a consumer (its lag), how many it holds unacknowledged,
// how many of those were redelivered, and how many pull requests wait at
// the server. A process adds the consumers of the roles it runs, so that in
// a split deployment each series comes from the processes of one role.
//
// A scrape waits at most Timeout for all the infos together. A consumer
// whose info cannot be read (not created yet, NATS unreachable, too slow)
// has faultline_consumer_up 0 and no other series; the scrape succeeds.
type ConsumerMetrics struct {
	js      jetstream.JetStream
	timeout time.Duration

	mu   sync.Mutex
	refs []ConsumerRef
}

// ConsumerScrapeTimeout is how long a scrape waits for consumer infos.
const ConsumerScrapeTimeout = 2 * time.Second

var (
	consumerLabels = []string{"stream", "consumer"}
	consumerUp     = prometheus.NewDesc("faultline_consumer_up",
		"1 when the consumer's info was read at this scrape, 0 when it could not be (not created yet, NATS unreachable, timeout).",
		consumerLabels, nil)
	consumerPending = prometheus.NewDesc("faultline_consumer_pending_messages",
		"Messages of the stream the consumer has not been given yet (JetStream num_pending): its lag.",
		consumerLabels, nil)
	consumerAckPending = prometheus.NewDesc("faultline_consumer_ack_pending_messages",
		"Messages given to the consumer and not yet acknowledged (num_ack_pending).",
		consumerLabels, nil)
	consumerRedelivered = prometheus.NewDesc("faultline_consumer_redelivered_messages",
		"Messages given to the consumer more than once and not yet acknowledged (num_redelivered).",
		consumerLabels, nil)
	consumerWaiting = prometheus.NewDesc("faultline_consumer_waiting_requests",
		"Pull requests waiting at the server for messages (num_waiting): about the replicas fetching.",
		consumerLabels, nil)
)

// NewConsumerMetrics returns a collector over js with no consumers yet;
// timeout 0 means ConsumerScrapeTimeout.
func NewConsumerMetrics(js jetstream.JetStream, timeout time.Duration) *ConsumerMetrics {
	if timeout <= 0 {
		timeout = ConsumerScrapeTimeout
	}
	return &ConsumerMetrics{js: js, timeout: timeout}
}

// Add exports refs from the next scrape on; a consumer added twice is
// exported once.
func (c *ConsumerMetrics) Add(refs ...ConsumerRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range refs {
		if !slices.Contains(c.refs, r) {
			c.refs = append(c.refs, r)
		}
	}
}

// Describe implements prometheus.Collector.
func (c *ConsumerMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{consumerUp, consumerPending, consumerAckPending, consumerRedelivered, consumerWaiting} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads every consumer's info
// at once, under one timeout.
func (c *ConsumerMetrics) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	refs := slices.Clone(c.refs)
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	infos := make([]*jetstream.ConsumerInfo, len(refs))
	var wg sync.WaitGroup
	for i, r := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cons, err := c.js.Consumer(ctx, r.Stream, r.Consumer); err == nil {
				infos[i] = cons.CachedInfo()
			}
		}()
	}
	wg.Wait()
	for i, r := range refs {
		info := infos[i]
		if info == nil {
			ch <- prometheus.MustNewConstMetric(consumerUp, prometheus.GaugeValue, 0, r.Stream, r.Consumer)
			continue
		}
		ch <- prometheus.MustNewConstMetric(consumerUp, prometheus.GaugeValue, 1, r.Stream, r.Consumer)
		ch <- prometheus.MustNewConstMetric(consumerPending, prometheus.GaugeValue, float64(info.NumPending), r.Stream, r.Consumer)
		ch <- prometheus.MustNewConstMetric(consumerAckPending, prometheus.GaugeValue, float64(info.NumAckPending), r.Stream, r.Consumer)
		ch <- prometheus.MustNewConstMetric(consumerRedelivered, prometheus.GaugeValue, float64(info.NumRedelivered), r.Stream, r.Consumer)
		ch <- prometheus.MustNewConstMetric(consumerWaiting, prometheus.GaugeValue, float64(info.NumWaiting), r.Stream, r.Consumer)
	}
}
