package grouping

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gathered is one metric of reg, as a scrape reads it; nil when reg does
// not export it.
func gathered(t testing.TB, reg *prometheus.Registry, name string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0]
		}
	}
	return nil
}

// TestBatchAndGenerationMetrics: a live replica exports the sizes of the
// batches it stores (their sum is the messages it consumed) and the
// projection's generation, 1 at first and 2 once a replay has switched
// generations, which the live replica sees within a sweep.
func TestBatchAndGenerationMetrics(t *testing.T) {
	const n = 40
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	e.startWith(e.pool, testOptions(), reg, testLog)
	e.publish(workload(n, 7)...)
	e.waitEvents(e.pool, n)
	waitFor(t, "batch sizes", func() (bool, string) {
		m := gathered(t, reg, "faultline_grouping_batch_size")
		if m == nil {
			return false, "faultline_grouping_batch_size not exported"
		}
		h := m.GetHistogram()
		return h.GetSampleSum() == n && h.GetSampleCount() >= 1, fmt.Sprintf("%d batches of %v messages in all", h.GetSampleCount(), h.GetSampleSum())
	})

	generation := func() (float64, string) {
		m := gathered(t, reg, "faultline_grouping_projection_generation")
		if m == nil {
			return 0, "faultline_grouping_projection_generation not exported"
		}
		return m.GetGauge().GetValue(), fmt.Sprint("generation ", m.GetGauge().GetValue())
	}
	waitFor(t, "generation 1", func() (bool, string) { g, s := generation(); return g == 1, s })
	if err := Replay(context.Background(), e.pool, e.nc, ReplayOptions{Service: testOptions()}, testLog); err != nil {
		t.Fatalf("replay: %v", err)
	}
	waitFor(t, "generation 2 after a replay", func() (bool, string) { g, s := generation(); return g == 2, s })
	// The old generation keeps its number.
	var old string
	if err := e.pool.QueryRow(context.Background(), `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'grouping\_old\_%'`).Scan(&old); err != nil {
		t.Fatal(err)
	}
	if got := count(t, e.pool, `SELECT number FROM `+old+`.generation`); got != 1 {
		t.Errorf("%s.generation: %d, want 1", old, got)
	}
}
