package analytics

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/faultline/faultline/libs/analyticsquery"
	"github.com/faultline/faultline/libs/clickhouse"
	"github.com/faultline/faultline/libs/clickhouse/chtest"
	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/streams"
)

// The analytics benchmarks (make bench): the role's insert rate against
// a raw clickhouse-go batch insert of the same rows in the same run, and
// the latency of the queries behind events-stats and a p95-by-transaction
// table over a million stored transactions. Each reports its numbers as
// metrics; -benchtime=1x runs each once.

func benchEnv(b *testing.B) clickhouse.Conn {
	b.Helper()
	c, err := clickhouse.Open(context.Background(), chtest.NewDatabaseT(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if _, err := clickhouse.Migrate(context.Background(), c, Migrations); err != nil {
		b.Fatal(err)
	}
	return c
}

// benchTransaction is transaction i: one of 50 names in one of 3 projects,
// with two spans, at a time within the day before now.
func benchTransaction(i int, now time.Time) (int64, []byte) {
	id := fmt.Sprintf("%032x", 0xbe0000000+i)
	end := float64(now.Add(-time.Duration(i%86400)*time.Second).UnixMilli()) / 1000
	dur := float64(10+(i*7919)%990) / 1000
	status := "ok"
	if i%20 == 0 {
		status = "internal_error"
	}
	p := fmt.Sprintf(`{"event_id":"%s","type":"transaction","transaction":"GET /route/%d","start_timestamp":%f,"timestamp":%f,"release":"r%d","environment":"prod",`+
		`"user":{"id":"u%d"},"contexts":{"trace":{"trace_id":"%032x","span_id":"%016x","op":"http.server","status":%q}},`+
		`"spans":[{"span_id":"%016x","parent_span_id":"%016x","op":"db","description":"SELECT 1","start_timestamp":%f,"timestamp":%f},`+
		`{"span_id":"%016x","parent_span_id":"%016x","op":"cache","start_timestamp":%f,"timestamp":%f}]}`,
		id, i%50, end-dur, end, i%5, i%1000, 0xce000000+i, 0x1000000+i, status,
		0x2000000+i, 0x1000000+i, end-dur, end-dur/2, 0x3000000+i, 0x1000000+i, end-dur/2, end)
	return int64(1 + i%3), fmt.Appendf(nil, "{\"event_id\":\"%s\"}\n{\"type\":\"transaction\",\"length\":%d}\n%s\n", id, len(p), p)
}

func benchCount(b *testing.B, def int, name string) int {
	if s := os.Getenv(name); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return def
}

// BenchmarkAnalyticsInsert: transactions (each a transaction row, three
// span rows and an accepted outcome) published on INGEST, then consumed by
// one replica with the production options until it has acknowledged
// them all: rows/s; and the same rows by raw native batch inserts of the
// same size into a fresh database: raw_rows/s; ratio the first over the
// second. BENCH_ANALYTICS_TX sets the transactions (20,000).
func BenchmarkAnalyticsInsert(b *testing.B) {
	n := benchCount(b, 20000, "BENCH_ANALYTICS_TX")
	ctx := context.Background()
	now := time.Now()
	envs := make([][]byte, n)
	projects := make([]int64, n)
	var all rows
	for i := range envs {
		projects[i], envs[i] = benchTransaction(i, now)
		env, err := envelope.Parse(envs[i], envelope.DefaultLimits)
		if err != nil {
			b.Fatal(err)
		}
		if err := envelopeRows(&all, projects[i], uint64(i+1), now, env); err != nil {
			b.Fatal(err)
		}
	}
	total := all.len()
	opt := DefaultOptions()
	for range b.N {
		// Raw: the same rows, in batches of the role's size, one table after another.
		raw := benchEnv(b)
		start := time.Now()
		for from := 0; from < len(all.transactions); from += opt.BatchSize {
			to := min(from+opt.BatchSize, len(all.transactions))
			// A role's batch of BatchSize messages holds these rows of each table.
			if err := insertRows(ctx, raw, "transactions", all.transactions[from:to]); err != nil {
				b.Fatal(err)
			}
			if err := insertRows(ctx, raw, "spans", all.spans[3*from:3*to]); err != nil {
				b.Fatal(err)
			}
			if err := insertRows(ctx, raw, "outcomes", all.outcomes[from:to]); err != nil {
				b.Fatal(err)
			}
		}
		rawSecs := time.Since(start).Seconds()

		// The role, from INGEST.
		srv := natstest.Start(b)
		nc := srv.Connect(b)
		if err := streams.Apply(ctx, nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, DuplicateWindow: time.Minute}); err != nil {
			b.Fatal(err)
		}
		for i, body := range envs {
			h := nats.Header{}
			h.Set(streams.HeaderProject, strconv.FormatInt(projects[i], 10))
			h.Set(streams.HeaderReceived, now.UTC().Format(time.RFC3339Nano))
			msg := &nats.Msg{Subject: streams.IngestSubject(projects[i], "transaction"), Header: h, Data: streams.EncodeEnvelope(h, body, nil)}
			if _, err := nc.JS.PublishMsg(ctx, msg); err != nil {
				b.Fatal(err)
			}
		}
		ch := benchEnv(b)
		rctx, cancel := context.WithCancel(ctx)
		s, err := New(rctx, ch, nc, opt, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx) }()
		// Timed from when the consumers exist (the migrations are done):
		// the rate while consuming.
		consuming := false
		for {
			l, err := s.Lag(ctx)
			if err == nil && !consuming {
				consuming, start = true, time.Now()
			}
			if err == nil && l.Total() == 0 {
				break
			}
			// Each look asks JetStream for three consumers' state: often
			// enough for runs of seconds, not so often that the asking
			// takes the role's CPU on a loaded machine.
			time.Sleep(20 * time.Millisecond)
		}
		roleSecs := time.Since(start).Seconds()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		var got uint64
		if err := ch.QueryRow(ctx, "SELECT count() FROM transactions").Scan(&got); err != nil || got != uint64(n) {
			b.Fatalf("%d transactions stored, want %d (%v)", got, n, err)
		}
		b.ReportMetric(float64(total)/roleSecs, "rows/s")
		b.ReportMetric(float64(total)/rawSecs, "raw_rows/s")
		b.ReportMetric(rawSecs/roleSecs, "ratio")
	}
}

// BenchmarkAnalyticsQueries: a million transactions stored by raw batch
// inserts (BENCH_ANALYTICS_ROWS sets how many), then the events-stats
// query (count() and p95() per hour over 24 hours, every project) and the
// p95-by-transaction table (transaction, count(), p95(), failure_rate(),
// sorted by -count(), 50 rows), each run 20 times: the median and the
// slowest in milliseconds, right after the inserts and once the parts are
// merged.
func BenchmarkAnalyticsQueries(b *testing.B) {
	n := benchCount(b, 1_000_000, "BENCH_ANALYTICS_ROWS")
	ctx := context.Background()
	ch := benchEnv(b)
	now := time.Now()
	const chunk = 100_000
	batch := make([]transactionRow, 0, chunk)
	for i := range n {
		end := now.Add(-time.Duration(i%86400) * time.Second)
		status := "ok"
		if i%20 == 0 {
			status = "internal_error"
		}
		dur := float64(10 + (i*7919)%990)
		batch = append(batch, transactionRow{ProjectID: uint64(1 + i%3), Timestamp: end, StartTS: seconds(end) - dur/1000, EndTS: seconds(end),
			EventID: fmt.Sprintf("%032x", i), TraceID: fmt.Sprintf("%032x", i), SpanID: fmt.Sprintf("%016x", i), Transaction: "GET /route/" + strconv.Itoa(i%50),
			Op: "http.server", Status: status, DurationMS: dur, Release: "r" + strconv.Itoa(i%5), Environment: "prod", User: "id:u" + strconv.Itoa(i%1000),
			TagKeys: []string{}, TagValues: []string{}})
		if len(batch) == chunk || i == n-1 {
			if err := insertRows(ctx, ch, "transactions", batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	q := analyticsquery.Query{Dataset: analyticsquery.Transactions, Projects: []int64{1, 2, 3}, Start: now.Add(-24 * time.Hour), End: now.Add(time.Second)}
	measure := func(name string, f func() error) {
		var ds []float64
		for range 20 {
			start := time.Now()
			if err := f(); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, float64(time.Since(start).Microseconds())/1000)
		}
		slices.Sort(ds)
		b.ReportMetric(ds[len(ds)/2], name+"_median_ms")
		b.ReportMetric(ds[len(ds)-1], name+"_max_ms")
	}
	for range b.N {
		run := func(suffix string) {
			measure("events_stats"+suffix, func() error {
				s, err := analyticsquery.RunSeries(ctx, ch, analyticsquery.SeriesQuery{Query: q, YAxis: []string{"count()", "p95()"}, Interval: time.Hour})
				if err == nil && len(s.Times) < 24 {
					err = fmt.Errorf("%d buckets", len(s.Times))
				}
				return err
			})
			measure("p95_table"+suffix, func() error {
				tq := q
				tq.Fields, tq.Sort, tq.Limit = []string{"transaction", "count()", "p95()", "failure_rate()"}, "-count()", 50
				t, err := analyticsquery.Run(ctx, ch, tq)
				if err == nil && len(t.Data) != 50 {
					err = fmt.Errorf("%d rows", len(t.Data))
				}
				return err
			})
		}
		// Fresh: right after the inserts, ten parts per day; merged: once
		// ClickHouse has merged them (as its background merges do), one.
		run("")
		if err := ch.Exec(ctx, "OPTIMIZE TABLE transactions FINAL"); err != nil {
			b.Fatal(err)
		}
		run("_merged")
	}
	b.ReportMetric(float64(n), "transactions")
}

// BenchmarkAnalyticsDecode: one benchmark transaction envelope (a
// transaction and two spans) parsed and turned into rows, the role's CPU
// per message apart from NATS and ClickHouse.
func BenchmarkAnalyticsDecode(b *testing.B) {
	_, body := benchTransaction(1, time.Now())
	now := time.Now()
	b.ReportAllocs()
	for range b.N {
		env, err := envelope.Parse(body, checkedLimits())
		if err != nil {
			b.Fatal(err)
		}
		var r rows
		if err := envelopeRows(&r, 1, 1, now, env); err != nil || len(r.spans) != 3 {
			b.Fatal(err, len(r.spans))
		}
	}
}
