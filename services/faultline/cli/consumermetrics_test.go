package cli_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/services/faultline/cli"
	"github.com/faultline/faultline/streams"
)

// runServe runs 'faultline args...' with vars in this process until the
// test ends, and waits for its /healthz.
func runServe(t *testing.T, vars map[string]string, args ...string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cli.Run(ctx, args, func(k string) string { return vars[k] }, io.Discard) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("%v still running 30 s after its context ended", args)
		}
	}
	t.Cleanup(func() { stop() })
	eventually(t, fmt.Sprint(args, " answers /healthz"), 30*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("%v returned early: %v", args, err)
		default:
		}
		code, _ := get("http://" + vars["HOST"] + ":" + vars["PORT"] + "/healthz")
		return code == http.StatusOK
	})
	return stop
}

// scrapeSeries reads a /metrics page into series (name and labels, as
// written) and their values.
func scrapeSeries(t *testing.T, url string) map[string]string {
	t.Helper()
	code, body := get(url)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			got[line[:i]] = line[i+1:]
		}
	}
	return got
}

// TestConsumerMetricsOfTheRolesRun runs the grouping role and the gateway
// role as two processes against one JetStream. While Postgres is
// unreachable the grouping process consumes nothing, and its /metrics
// shows the envelopes waiting for its consumer; once they are consumed, it
// shows none. It exports its own consumers only (DECISIONS' not created
// yet, so down), and the gateway process exports none.
func TestConsumerMetricsOfTheRolesRun(t *testing.T) {
	srv := natstest.Start(t)
	nc := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := streams.Apply(ctx, nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	// grouping's durable consumer, as an earlier run of the role left it.
	cons, err := nc.JS.CreateOrUpdateConsumer(ctx, streams.Ingest, jetstream.ConsumerConfig{Durable: "grouping",
		FilterSubjects: []string{"ingest.*.error", "ingest.*.security"}, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	const n = 7
	for i := range n {
		if _, err := nc.JS.Publish(ctx, streams.IngestSubject(1, "error"), envelopeOf(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nc.JS.Publish(ctx, streams.IngestSubject(1, "transaction"), envelopeOf(n)); err != nil {
		t.Fatal(err)
	}

	vars := func(metricsPort int) map[string]string {
		return map[string]string{"NATS_URL": srv.URL, "HOST": "127.0.0.1", "PORT": strconv.Itoa(freePort(t)),
			"METRICS_LISTEN": "127.0.0.1:" + strconv.Itoa(metricsPort), "LOG_LEVEL": "error",
			// Nothing listens there: the grouping role waits for Postgres.
			"DATABASE_URL": "postgres://postgres@127.0.0.1:1/faultline?sslmode=disable&connect_timeout=1"}
	}
	groupingMetrics, gatewayMetrics := freePort(t), freePort(t)
	runServe(t, vars(groupingMetrics), "grouping")
	runServe(t, vars(gatewayMetrics), "gateway")
	groupingURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", groupingMetrics)

	const (
		up          = `faultline_consumer_up{consumer="grouping",stream="INGEST"}`
		pending     = `faultline_consumer_pending_messages{consumer="grouping",stream="INGEST"}`
		ackPending  = `faultline_consumer_ack_pending_messages{consumer="grouping",stream="INGEST"}`
		decisionsUp = `faultline_consumer_up{consumer="grouping_decisions",stream="DECISIONS"}`
	)
	wantSeries := func(step string, want map[string]string) {
		t.Helper()
		var got map[string]string
		eventually(t, step, 10*time.Second, func() bool {
			got = scrapeSeries(t, groupingURL)
			for k, v := range want {
				if got[k] != v {
					return false
				}
			}
			return true
		})
		for k := range got {
			if strings.HasPrefix(k, "faultline_consumer_") && !strings.Contains(k, `consumer="grouping`) {
				t.Errorf("%s: the grouping process exports another role's consumer: %s", step, k)
			}
		}
	}
	wantSeries("the backlog while Postgres is down", map[string]string{up: "1", pending: strconv.Itoa(n), ackPending: "0", decisionsUp: "0"})
	for k := range scrapeSeries(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", gatewayMetrics)) {
		if strings.HasPrefix(k, "faultline_consumer_") {
			t.Errorf("the gateway process exports a consumer: %s", k)
		}
	}

	// The backlog consumed (here by the test, in the role's place).
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
		got++
	}
	if got != n {
		t.Fatalf("consumed %d, want %d", got, n)
	}
	wantSeries("the backlog consumed", map[string]string{up: "1", pending: "0", ackPending: "0"})
}
