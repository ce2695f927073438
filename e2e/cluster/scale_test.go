package cluster

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/e2e/harness"
)

// scaleBacklog is how many events each step of TestGroupingScalesOut
// queues for the grouping replicas to clear.
const scaleBacklog = 20000

// TestGroupingScalesOut measures what docs/scaling.md quotes: how fast one,
// two and three grouping replicas, each a process of its own, clear the
// same backlog on a three-node JetStream cluster at INGEST_REPLICAS=3. For
// each count it pauses the grouping consumer, queues scaleBacklog distinct
// events through two gateways, resumes it, and times from the first
// delivery to nothing pending, then stops the replicas. It prints numbers
// and asserts only that every event is stored: it is a benchmark, run by
// make bench (FAULTLINE_SCALE_BENCH=1), not by make test.
func TestGroupingScalesOut(t *testing.T) {
	if os.Getenv("FAULTLINE_SCALE_BENCH") == "" {
		t.Skip("a benchmark: make bench runs it with FAULTLINE_SCALE_BENCH=1")
	}
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	nodes := startCluster(t, 3)
	natsURL := clientURLs(nodes)
	nc, err := nats.Connect(natsURL, nats.Name(t.Name()), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitJetStream(ctx, js); err != nil {
		t.Fatal(err)
	}
	dbURL := newDatabase(t)
	env, _ := startAPI(ctx, t, bin, dbURL, natsURL, "LOG_LEVEL=warn")
	var gateways []*proc
	for i := range 2 {
		g := startRole(t, bin, "gateway", fmt.Sprintf("gateway-%d", i+1), env)
		if err := g.waitReady(ctx); err != nil {
			t.Fatal(err)
		}
		gateways = append(gateways, g)
	}
	project, key := createProject(ctx, t, bin, env, gateways[0].URL)
	for _, g := range gateways {
		if err := waitKey(ctx, g.URL, project, key); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("grouping scale-out: 3 NATS nodes (R3), 2 gateways, backlog of %d events per step, %d cores, load average %s\n",
		scaleBacklog, runtime.NumCPU(), loadAverage())
	stored := 0
	for replicas := 1; replicas <= 3; replicas++ {
		var groupers []*proc
		for i := range replicas {
			g := startRole(t, bin, "grouping", fmt.Sprintf("grouping-%d-of-%d", i+1, replicas), env)
			if err := g.waitReady(ctx); err != nil {
				t.Fatal(err)
			}
			groupers = append(groupers, g)
		}
		// Ready comes before the role has created its consumer.
		for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
			if _, err := js.Consumer(ctx, "INGEST", "grouping"); err == nil {
				break
			} else if time.Since(start) > time.Minute {
				t.Fatalf("no grouping consumer a minute after the replicas were ready: %v", err)
			}
		}
		if _, err := js.PauseConsumer(ctx, "INGEST", "grouping", time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("pause the grouping consumer: %v", err)
		}
		accepted := fill(t, gateways, project, key, scaleBacklog)
		stored += accepted
		cons, err := js.Consumer(ctx, "INGEST", "grouping")
		if err != nil {
			t.Fatal(err)
		}
		var before uint64
		for { // every publish acknowledged is counted pending
			info, err := cons.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if before = info.NumPending; before >= uint64(accepted) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		cpu0 := map[*proc]time.Duration{}
		for _, g := range groupers {
			cpu0[g] = g.cpu()
		}
		self0 := selfCPU()
		resumed := time.Now()
		if _, err := js.ResumeConsumer(ctx, "INGEST", "grouping"); err != nil {
			t.Fatalf("resume the grouping consumer: %v", err)
		}
		// The clock starts at the first delivery: pull requests made while
		// the consumer was paused are renewed only after missed heartbeats.
		var t0 time.Time
		for {
			info, err := cons.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if t0.IsZero() && info.NumPending < before {
				t0 = time.Now()
				for _, g := range groupers {
					cpu0[g] = g.cpu()
				}
				self0 = selfCPU()
			}
			if info.NumPending == 0 && info.NumAckPending == 0 {
				break
			}
			if time.Since(resumed) > 5*time.Minute {
				t.Fatalf("%d replicas: backlog not cleared within 5 minutes: %d pending, %d unacknowledged",
					replicas, info.NumPending, info.NumAckPending)
			}
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Since(t0)
		n, err := countStored(ctx, dbURL, project)
		if err != nil {
			t.Fatal(err)
		}
		if n != stored {
			t.Errorf("%d replicas: %d events stored, want %d", replicas, n, stored)
		}
		var groupCPU time.Duration
		for _, g := range groupers {
			groupCPU += g.cpu() - cpu0[g]
		}
		rate := float64(accepted) / took.Seconds()
		fmt.Printf("%d grouping replica(s): %d events in %.1fs: %.0f events/s (%.0f per replica); grouping CPU %.0f µs per event (%.2f cores), NATS nodes and test %.2f cores\n",
			replicas, accepted, took.Seconds(), rate, rate/float64(replicas),
			float64(groupCPU.Microseconds())/float64(accepted), groupCPU.Seconds()/took.Seconds(),
			(selfCPU()-self0).Seconds()/took.Seconds())
		for _, g := range groupers {
			if err := g.stop(); err != nil {
				t.Errorf("%s: %v", g.name, err)
			}
		}
	}
}

// fill posts n distinct events through the gateways flat out and returns
// how many were answered 200.
func fill(t *testing.T, gateways []*proc, project int64, key string, n int) int {
	t.Helper()
	var next, ok atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				status, err := send(client, gateways[w%len(gateways)].URL, project, key, newEventID(), int(i%issues))
				if err == nil && status == http.StatusOK {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if int(ok.Load()) < n {
		t.Logf("fill: %d of %d events accepted", ok.Load(), n)
	}
	return int(ok.Load())
}

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
