package alerting

import (
	"testing"
	"time"
)

// TestBatchMetrics: the batch size and duration histograms count every
// EVENTS message the replica evaluated, once.
func TestBatchMetrics(t *testing.T) {
	h := newHarness(t)
	h.start(1)
	const n = 7
	now := time.Now().UTC()
	for range n {
		h.grouped(7, newID(), now, `{"level":"error","message":"counted"}`)
	}
	h.waitCount(n, `SELECT count(*) FROM alerting.seen_events`)
	// The batch is observed just after its transaction commits.
	var got map[string][2]float64
	for deadline := time.Now().Add(10 * time.Second); ; {
		mfs, err := h.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got = map[string][2]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				got[mf.GetName()] = [2]float64{float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum()}
			}
		}
		if got["faultline_alerting_batch_size"][1] >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	size, seconds := got["faultline_alerting_batch_size"], got["faultline_alerting_batch_seconds"]
	if size[0] < 1 || size[1] != n {
		t.Errorf("faultline_alerting_batch_size: %v batches of %v messages in all, want %d messages", size[0], size[1], n)
	}
	if seconds[0] != size[0] || seconds[1] <= 0 {
		t.Errorf("faultline_alerting_batch_seconds: %v batches, %v s; want one observation per batch (%v)", seconds[0], seconds[1], size[0])
	}
}
