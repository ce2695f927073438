package natsx_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/natsx/natstest"
)

// scrape gathers reg as a scrape would and returns each gauge by
// "name{stream/consumer}".
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("scrape failed: %v", err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[fmt.Sprintf("%s{%s/%s}", mf.GetName(), labels["stream"], labels["consumer"])] = m.GetGauge().GetValue()
		}
	}
	return got
}

// TestConsumerMetrics: the gauges follow a real consumer's state from
// JetStream at each scrape (messages published while nothing consumes are
// pending; fetched, they are ack pending; nak'ed and fetched again,
// redelivered; acknowledged, gone), a consumer that does not exist is
// down without failing the scrape, and so is every one once NATS is gone.
func TestConsumerMetrics(t *testing.T) {
	srv := natstest.Start(t)
	nc := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := nc.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "WORK", Subjects: []string{"work.>"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := nc.JS.CreateOrUpdateConsumer(ctx, "WORK", jetstream.ConsumerConfig{Durable: "worker",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cm := natsx.NewConsumerMetrics(nc.JS, 0)
	reg.MustRegister(cm)
	cm.Add(natsx.ConsumerRef{Stream: "WORK", Consumer: "worker"}, natsx.ConsumerRef{Stream: "WORK", Consumer: "absent"},
		natsx.ConsumerRef{Stream: "WORK", Consumer: "worker"})

	check := func(got map[string]float64, pending, ackPending, redelivered, waiting float64) (problems []string) {
		for name, v := range map[string]float64{
			"faultline_consumer_up{WORK/worker}":                   1,
			"faultline_consumer_pending_messages{WORK/worker}":     pending,
			"faultline_consumer_ack_pending_messages{WORK/worker}": ackPending,
			"faultline_consumer_redelivered_messages{WORK/worker}": redelivered,
			"faultline_consumer_waiting_requests{WORK/worker}":     waiting,
			"faultline_consumer_up{WORK/absent}":                   0,
		} {
			if g, ok := got[name]; !ok || g != v {
				problems = append(problems, fmt.Sprintf("%s = %v (exported: %v), want %v", name, g, ok, v))
			}
		}
		if _, ok := got["faultline_consumer_pending_messages{WORK/absent}"]; ok {
			problems = append(problems, "a consumer that does not exist has a pending count")
		}
		if len(got) != 6 {
			problems = append(problems, fmt.Sprintf("%d series, want 6 (a consumer added twice is exported once): %v", len(got), got))
		}
		return problems
	}
	// want scrapes until the gauges are as wanted, for at most 10 s: the
	// server updates a consumer's counts shortly after the publish or ack
	// that changes them has returned.
	want := func(step string, pending, ackPending, redelivered, waiting float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		var problems []string
		for {
			problems = check(scrape(t, reg), pending, ackPending, redelivered, waiting)
			if len(problems) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", step, p)
		}
	}

	want("nothing published", 0, 0, 0, 0)
	const n = 5
	for i := range n {
		if _, err := nc.JS.Publish(ctx, fmt.Sprintf("work.%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	want("published, nothing consuming", n, 0, 0, 0)

	fetch := func() []jetstream.Msg {
		t.Helper()
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) != n {
			t.Fatalf("fetched %d messages, want %d", len(msgs), n)
		}
		return msgs
	}
	msgs := fetch()
	want("fetched, not acknowledged", 0, n, 0, 0)
	for _, m := range msgs {
		if err := m.Nak(); err != nil {
			t.Fatal(err)
		}
	}
	msgs = fetch()
	want("nak'ed and fetched again", 0, n, n, 0)
	for _, m := range msgs {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want("acknowledged", 0, 0, 0, 0)

	// A pull request waiting at the server for a message.
	pull, err := cons.Consume(func(jetstream.Msg) {}, jetstream.PullMaxMessages(1))
	if err != nil {
		t.Fatal(err)
	}
	want("a pull waiting", 0, 0, 0, 1)
	pull.Stop()

	// NATS gone: the scrape still succeeds, every consumer is down.
	srv.Shutdown()
	got := scrape(t, reg)
	if got["faultline_consumer_up{WORK/worker}"] != 0 || len(got) != 2 {
		t.Errorf("with NATS gone: %v, want both consumers down and nothing else", got)
	}
}
