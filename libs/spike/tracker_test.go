package spike_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/spike"
	"github.com/faultline/faultline/streams"
)

// newTracker is a tracker over a fresh limits bucket, counting minutes by
// the returned clock.
func newTracker(t testing.TB) (*spike.Tracker, *atomic.Int64) {
	t.Helper()
	srv := natstest.Start(t)
	nc := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	kv, err := nc.JS.CreateOrUpdateKeyValue(ctx, streams.LimitsConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	var clk atomic.Int64
	clk.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	cfg := spike.Config{Enabled: true, Window: 5, Multiplier: 10, Floor: 20, Minute: time.Minute}
	return spike.NewTracker(cfg, kv, "test", func() time.Time { return time.Unix(0, clk.Load()) }, slog.New(slog.DiscardHandler)), &clk
}

// baseline has project 7 send perMinute errors in each minute of the
// window, shared at the end of each; the clock ends in the next minute.
func baseline(tr *spike.Tracker, clk *atomic.Int64, perMinute int64) {
	ctx := context.Background()
	for range tr.Config().Window {
		tr.Admit(7, perMinute, 0, false)
		tr.Sync(ctx)
		clk.Add(int64(time.Minute))
	}
	tr.Sync(ctx)
}

// TestAdmitConcurrently: once capped, gateways' request goroutines together
// admit exactly the cap in a minute, however many race for it; a key's own
// higher per-minute limit raises the cap, and a disabled project is
// counted but never refused.
func TestAdmitConcurrently(t *testing.T) {
	tr, clk := newTracker(t)
	ctx := context.Background()
	baseline(tr, clk, 1)
	if st := tr.Status(7); st.Cap != 20 {
		t.Fatalf("status %+v, want cap 20", st)
	}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if ok, retry := tr.Admit(7, 1, 0, false); ok {
					admitted.Add(1)
				} else if retry != time.Minute {
					t.Errorf("retry %v, want the minute's rest, 1m", retry)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := admitted.Load(); n != 20 {
		t.Errorf("%d admitted, want the cap, 20", n)
	}
	if ok, _ := tr.Admit(7, 1, 25, false); !ok {
		t.Error("a key allowed 25 a minute was refused at 21")
	}
	if ok, _ := tr.Admit(7, 100, 0, true); !ok {
		t.Error("a project with spike protection off was refused")
	}
	tr.Sync(ctx)
	if st := tr.Status(7); st.Current != 121 || st.Dropped != 800-20 {
		t.Errorf("status %+v, want current 121, dropped 780", st)
	}
}

// BenchmarkAdmit is the request path's cost per error of a capped project:
// a map load, the minute's slot, atomic adds and a compare, from many
// goroutines at once.
func BenchmarkAdmit(b *testing.B) {
	tr, clk := newTracker(b)
	baseline(tr, clk, 1000)
	if tr.Status(7).Cap == 0 {
		b.Fatal("not capped")
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr.Admit(7, 1, 0, false)
		}
	})
}

// TestRead: what a gateway shared, the dashboard reads back from the
// bucket alone.
func TestRead(t *testing.T) {
	tr, clk := newTracker(t)
	ctx := context.Background()
	baseline(tr, clk, 3)
	now := time.Unix(0, clk.Load())
	kv := tr.KV()
	got, err := spike.Read(ctx, kv, tr.Config(), 7, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := tr.Status(7); got != want || got.Cap != 30 {
		t.Errorf("Read = %+v, want the gateway's %+v with cap 30", got, want)
	}
	if got, err := spike.Read(ctx, kv, tr.Config(), 8, now); err != nil || got != (spike.Status{}) {
		t.Errorf("Read of a project never counted = %+v, %v", got, err)
	}
}
