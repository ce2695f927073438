package analytics_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestBatchMetrics: each consumer's batch size and duration histograms
// count every message it inserted, once, under its own name.
func TestBatchMetrics(t *testing.T) {
	e := setup(t)
	const transactions, grouped = 12, 3
	for i := range transactions {
		e.publish(t, 1, transactionEnvelope(i, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
	}
	for i := range grouped {
		id := fmt.Sprintf("%032x", 0xfeed00+i)
		e.publishGrouped(t, 1, 7, id, []byte(`{"event_id":"`+id+`","timestamp":1795308929.5,"level":"error","title":"boom"}`))
	}
	reg := prometheus.NewRegistry()
	s := e.runWith(t, testOptions(), reg)
	waitIdle(t, s)

	// name{consumer} -> batches, messages (or seconds)
	type totals struct{ count, sum float64 }
	var got map[string]totals
	for deadline := time.Now().Add(10 * time.Second); ; { // a batch is observed just after its acks
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]totals{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				key := mf.GetName() + "{" + m.GetLabel()[0].GetValue() + "}"
				got[key] = totals{float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum()}
			}
		}
		if got["faultline_analytics_batch_size{analytics-ingest}"].sum >= transactions &&
			got["faultline_analytics_batch_size{analytics-events}"].sum >= grouped || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for consumer, n := range map[string]float64{"analytics-ingest": transactions, "analytics-events": grouped} {
		size, seconds := got["faultline_analytics_batch_size{"+consumer+"}"], got["faultline_analytics_batch_seconds{"+consumer+"}"]
		if size.count < 1 || size.sum != n {
			t.Errorf("%s: %v batches of %v messages in all, want %v messages", consumer, size.count, size.sum, n)
		}
		if seconds.count != size.count || seconds.sum <= 0 {
			t.Errorf("%s: %v batch durations (%v s), want one per batch (%v)", consumer, seconds.count, seconds.sum, size.count)
		}
	}
}
