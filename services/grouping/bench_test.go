package grouping

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/libs/grouping"
)

// benchWorkload is n realistic events (about 5.5 KB each, as an SDK sends
// them) over 50 issues and 500 users.
func benchWorkload(n int) []*nats.Msg {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Now().Add(-time.Minute)
	out := make([]*nats.Msg, n)
	for i := range n {
		g := r.IntN(50)
		te := testEvent{
			id:          fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64()),
			excType:     "Error" + strconv.Itoa(g%10),
			excValue:    fmt.Sprintf("request %d failed: connection reset by peer", r.IntN(1e6)),
			function:    "handler" + strconv.Itoa(g),
			release:     "app@2." + strconv.Itoa(r.IntN(3)) + ".0",
			environment: "production",
			user:        "user" + strconv.Itoa(r.IntN(500)),
			padding:     4300,
		}
		out[i] = ingestMsg(11, "error", te.id, envelopeOf(te.id, "event", te.payload()), base.Add(time.Duration(i)*time.Microsecond))
	}
	return out
}

func histogramTotals(h prometheus.Histogram) (uint64, float64) {
	var m dto.Metric
	h.Write(&m)
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// BenchmarkGroupingBacklog measures events/s clearing a backlog of b.N
// envelopes from INGEST into Postgres, then a raw CopyFrom of the same
// stored rows into an unindexed table, and reports the ratio. Run it with a
// fixed count: go test -run X -bench GroupingBacklog -benchtime 20000x.
func BenchmarkGroupingBacklog(b *testing.B) {
	e := newEnv(b)
	msgs := benchWorkload(b.N)
	e.publish(msgs...)
	size := 0
	for _, m := range msgs {
		size += len(m.Data)
	}
	ctx := context.Background()

	b.ResetTimer()
	start := time.Now()
	s := e.start(e.pool, DefaultOptions())
	for testutil.ToFloat64(s.m.events) < float64(b.N) {
		time.Sleep(5 * time.Millisecond)
	}
	grouping := time.Since(start)
	b.StopTimer()
	cnt, sum := histogramTotals(s.m.batch)
	if cnt > 0 {
		b.Logf("%d events in %s: %d batches, %.1f events/batch, %.1f ms/batch storing", b.N, grouping, cnt, float64(b.N)/float64(cnt), 1000*sum/float64(cnt))
	}

	// The same events, as stored, copied raw into a table without indexes.
	rows, err := e.pool.Query(ctx, `SELECT project_id, issue_id, event_id, received, ts, type, level, title, release,
		environment, user_key, trace_id, hashes, data FROM grouping.events`)
	if err != nil {
		b.Fatal(err)
	}
	var stored [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			b.Fatal(err)
		}
		stored = append(stored, v)
	}
	if rows.Err() != nil || len(stored) != b.N {
		b.Fatalf("stored events: got %d, want %d (%v)", len(stored), b.N, rows.Err())
	}
	if _, err := e.pool.Exec(ctx, `CREATE UNLOGGED TABLE IF NOT EXISTS raw_events (LIKE grouping.events)`); err != nil {
		b.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `ALTER TABLE raw_events SET LOGGED`); err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	if _, err := e.pool.CopyFrom(ctx, pgx.Identifier{"raw_events"}, eventColumns, pgx.CopyFromRows(stored)); err != nil {
		b.Fatal(err)
	}
	raw := time.Since(start)

	rate := float64(b.N) / grouping.Seconds()
	rawRate := float64(b.N) / raw.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(rawRate, "raw_copy_events/s")
	b.ReportMetric(rate/rawRate, "ratio")
	// The Postgres stage alone (store, publish, ack), which runs while
	// the next batch is normalized: what grouping would reach if
	// normalization were free.
	b.ReportMetric(float64(b.N)/sum, "store_events/s")
	b.ReportMetric(float64(size)/float64(b.N), "envelope_bytes")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPrepare measures the CPU one event costs before Postgres, on
// the backlog benchmark's events, stage by stage: "normalize" frames the
// envelope and normalizes the event; "compute" adds grouping.Compute;
// "all" is what a worker does (prepare's group: Compute, the stored JSON,
// zstd). events/s is per core: it bounds what a backlog can reach.
func BenchmarkPrepare(b *testing.B) {
	msgs := benchWorkload(1000)
	zenc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	s := &Service{opt: DefaultOptions(), zenc: zenc}
	received := time.Now()
	size := 0
	for _, m := range msgs {
		size += len(m.Data)
	}
	for _, stage := range []string{"normalize", "compute", "all"} {
		b.Run(stage, func(b *testing.B) {
			b.SetBytes(int64(size / len(msgs)))
			b.ReportAllocs()
			for i := range b.N {
				m := msgs[i%len(msgs)]
				env, err := envelope.Parse(m.Data, s.opt.Envelope)
				if err != nil {
					b.Fatal(err)
				}
				e, err := event.Normalize(env.Items[0].Payload, event.Meta{ProjectID: 11, Received: received, EventID: env.Header.EventID})
				if err != nil {
					b.Fatal(err)
				}
				switch stage {
				case "compute":
					if len(grouping.Compute(e, nil).Hashes) == 0 {
						b.Fatal("no hash")
					}
				case "all":
					if _, err := s.group(e, nil, 11, received, env.Header.EventID, 0); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
