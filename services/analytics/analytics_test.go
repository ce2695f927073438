package analytics_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/faultline/faultline/libs/analyticsquery"
	"github.com/faultline/faultline/libs/clickhouse"
	"github.com/faultline/faultline/libs/clickhouse/chtest"
	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/services/analytics"
	"github.com/faultline/faultline/streams"
)

func TestMain(m *testing.M) { chtest.Main(m) }

// env is a test's JetStream and ClickHouse database.
type env struct {
	nc  *natsx.Conn
	ch  clickhouse.Conn
	url string
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	srv := natstest.Start(t)
	nc := srv.Connect(t)
	if err := streams.Apply(ctx, nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	u := chtest.NewDatabaseT(t)
	c, err := clickhouse.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &env{nc: nc, ch: c, url: u}
}

// run starts a replica until the test ends.
func (e *env) run(t *testing.T, opt analytics.Options) *analytics.Service {
	t.Helper()
	return e.runWith(t, opt, nil)
}

// runWith starts a replica that registers its metrics with reg until the
// test ends.
func (e *env) runWith(t *testing.T, opt analytics.Options, reg prometheus.Registerer) *analytics.Service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := analytics.New(ctx, e.ch, e.nc, opt, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s
}

func testOptions() analytics.Options {
	o := analytics.DefaultOptions()
	o.BatchSize = 50
	o.FlushInterval = 50 * time.Millisecond
	return o
}

// publish puts an envelope on INGEST the way the gateway does.
func (e *env) publish(t *testing.T, project int64, body []byte) {
	t.Helper()
	parsed, err := envelope.Parse(body, envelope.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	h := nats.Header{}
	h.Set(streams.HeaderProject, strconv.FormatInt(project, 10))
	h.Set(streams.HeaderReceived, time.Now().UTC().Format(time.RFC3339Nano))
	data := streams.EncodeEnvelope(h, body, nil)
	msg := &nats.Msg{Subject: streams.IngestSubject(project, parsed.Kind()), Header: h, Data: data}
	if _, err := e.nc.JS.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

// publishGrouped puts a grouped event on EVENTS the way grouping does.
func (e *env) publishGrouped(t *testing.T, project, issue int64, eventID string, event []byte) {
	t.Helper()
	enc, _ := zstd.NewWriter(nil)
	h := streams.GroupedHeader(eventID, project, eventID, issue, []string{"h"}, time.Now())
	msg := &nats.Msg{Subject: streams.GroupedSubject(project), Header: h, Data: enc.EncodeAll(event, nil)}
	if _, err := e.nc.JS.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

func sdk(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "libs", "envelope", "testdata", "sdk", name+".envelope"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// count runs a counting query, exact before merges (FINAL).
func (e *env) count(t *testing.T, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := e.ch.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitIdle waits until s has acknowledged everything on both streams.
func waitIdle(t *testing.T, s *analytics.Service) {
	t.Helper()
	// Idle twice in a row, 100ms apart: a consumer's pending count can
	// lag a publish that was just acknowledged.
	deadline := time.Now().Add(60 * time.Second)
	idle := 0
	for {
		l, err := s.Lag(context.Background())
		if err == nil && l.Total() == 0 {
			if idle++; idle == 2 {
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		idle = 0
		if time.Now().After(deadline) {
			t.Fatalf("still lagging after 60s: %+v, %v", l, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// want checks a table of exact counts.
func (e *env) want(t *testing.T, counts map[string]uint64) {
	t.Helper()
	for q, want := range counts {
		if got := e.count(t, q); got != want {
			t.Errorf("%s: got %d, want %d", q, got, want)
		}
	}
}

func TestSDKEnvelopesBecomeRows(t *testing.T) {
	e := setup(t)
	for _, name := range []string{"go-transaction", "node-transaction", "node-error-session", "node-session-session",
		"node-session-session-2", "go-log", "node-client_report-client_report", "go-error"} {
		e.publish(t, 42, sdk(t, name))
	}
	e.publishGrouped(t, 42, 7, "0123456789abcdef0123456789abcdef",
		[]byte(`{"event_id":"0123456789abcdef0123456789abcdef","timestamp":1795308929.5,"level":"error","title":"boom","release":"capture@1.0.0","user":{"id":"u1"},"tags":[["os","linux"]],"contexts":{"trace":{"trace_id":"156e9860d974b5e9d216eefba46bb19e","span_id":"1fb830f062f609a1"}}}`))
	s := e.run(t, testOptions())
	waitIdle(t, s)
	e.want(t, map[string]uint64{
		"SELECT count() FROM transactions FINAL":                                                               2, // go's transaction and node's segment span
		"SELECT count() FROM transactions FINAL WHERE transaction = 'GET /orders/{id}' AND status = 'ok'":      1,
		"SELECT count() FROM spans FINAL WHERE trace_id = '156e9860d974b5e9d216eefba46bb19e'":                  4, // segment + 3 child spans
		"SELECT count() FROM spans FINAL WHERE trace_id = 'f885d1ecc4f248d39c65efad33426201'":                  4,
		"SELECT count() FROM spans FINAL WHERE parent_span_id = '3fe287e48ac5d2a5'":                            2,
		"SELECT count() FROM sessions FINAL":                                                                   2, // two session ids, one updated
		"SELECT count() FROM sessions FINAL WHERE status = 'healthy'":                                          1, // the later update won
		"SELECT count() FROM sessions FINAL WHERE status = 'errored'":                                          1,
		"SELECT count() FROM logs FINAL":                                                                       3,
		"SELECT count() FROM errors FINAL WHERE issue_id = 7 AND user = 'id:u1' AND title = 'boom'":            1,
		"SELECT sum(quantity) FROM outcomes FINAL WHERE outcome = 'accepted' AND category = 'transaction'":     1,
		"SELECT sum(quantity) FROM outcomes FINAL WHERE outcome = 'accepted' AND category = 'span'":            4,
		"SELECT sum(quantity) FROM outcomes FINAL WHERE outcome = 'accepted' AND category = 'error'":           1,
		"SELECT sum(quantity) FROM outcomes FINAL WHERE outcome = 'client_discard' AND reason = 'before_send'": 1,
	})
}

// transactionEnvelope is a transaction of trace with two spans.
func transactionEnvelope(i int, trace string) []byte {
	id := fmt.Sprintf("%032x", 0xabc000+i)
	ts := 1795308929.0 + float64(i)
	p := fmt.Sprintf(`{"event_id":"%s","type":"transaction","transaction":"GET /t/%d","start_timestamp":%f,"timestamp":%f,"release":"r1","environment":"prod","user":{"id":"u%d"},"contexts":{"trace":{"trace_id":"%s","span_id":"%016x","op":"http.server","status":"ok"}},"spans":[{"span_id":"%016x","parent_span_id":"%016x","op":"db","start_timestamp":%f,"timestamp":%f},{"span_id":"%016x","parent_span_id":"%016x","op":"cache","start_timestamp":%f,"timestamp":%f}]}`,
		id, i%3, ts, ts+0.25, i%5, trace, 0x100000+i, 0x200000+i, 0x100000+i, ts, ts+0.1, 0x300000+i, 0x100000+i, ts+0.1, ts+0.2)
	return fmt.Appendf(nil, "{\"event_id\":\"%s\"}\n{\"type\":\"transaction\",\"length\":%d}\n%s\n", id, len(p), p)
}

func TestRedeliveryAndTwoReplicasCountOnce(t *testing.T) {
	e := setup(t)
	const n = 120
	for i := range n {
		e.publish(t, 1, transactionEnvelope(i, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))
	}
	// Two replicas on the same durable consumers.
	a := e.run(t, testOptions())
	e.run(t, testOptions())
	waitIdle(t, a)
	exact := map[string]uint64{
		"SELECT count() FROM transactions FINAL":                                              n,
		"SELECT uniqExact(event_id) FROM transactions":                                        n,
		"SELECT count() FROM spans FINAL WHERE trace_id = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'": 3 * n,
		"SELECT sum(quantity) FROM outcomes FINAL WHERE category = 'transaction'":             n,
	}
	e.want(t, exact)
	// Everything again: the consumer is deleted and made anew, so every
	// message is delivered a second time.
	for _, name := range []string{"analytics-ingest", "analytics-events"} {
		stream := streams.Ingest
		if name == "analytics-events" {
			stream = streams.Events
		}
		if err := e.nc.JS.DeleteConsumer(context.Background(), stream, name); err != nil {
			t.Fatal(err)
		}
	}
	b := e.run(t, testOptions())
	waitIdle(t, b)
	if raw := e.count(t, "SELECT count() FROM transactions"); raw < n {
		t.Fatalf("raw rows %d, want at least %d", raw, n)
	}
	e.want(t, exact)
}

func TestClickHouseDownLosesNothing(t *testing.T) {
	srv := chtest.Get(t)
	if srv.External() {
		t.Skip("external server cannot be stopped")
	}
	e := setup(t)
	s := e.run(t, testOptions())
	const n = 60
	for i := range n / 2 {
		e.publish(t, 3, transactionEnvelope(i, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
	}
	waitIdle(t, s)
	srv.Stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := n / 2; i < n; i++ {
			e.publish(t, 3, transactionEnvelope(i, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
		}
	}()
	wg.Wait()
	// With ClickHouse down nothing is acknowledged.
	time.Sleep(500 * time.Millisecond)
	if l, err := s.Lag(context.Background()); err != nil || l.Ingest == 0 {
		t.Fatalf("lag with ClickHouse down: %+v, %v; want the backlog", l, err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s)
	e.want(t, map[string]uint64{
		"SELECT count() FROM transactions FINAL": n,
		"SELECT count() FROM spans FINAL":        3 * n,
	})
}

func TestDropExpired(t *testing.T) {
	e := setup(t)
	s := e.run(t, testOptions())
	e.publish(t, 1, transactionEnvelope(1, "cccccccccccccccccccccccccccccccc")) // 2026-11-22
	waitIdle(t, s)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	if err := analytics.DropExpired(context.Background(), e.ch, now, 1); err != nil {
		t.Fatal(err)
	}
	if got := e.count(t, "SELECT count() FROM transactions"); got != 1 {
		t.Fatalf("a day inside the retention was dropped: %d rows", got)
	}
	if err := analytics.DropExpired(context.Background(), e.ch, now.AddDate(0, 0, 3), 1); err != nil {
		t.Fatal(err)
	}
	if got := e.count(t, "SELECT count() FROM transactions"); got != 0 {
		t.Fatalf("%d rows left after their day expired", got)
	}
}

func TestQueriesOverConsumedRows(t *testing.T) {
	e := setup(t)
	for i := range 30 {
		e.publish(t, 5, transactionEnvelope(i, "dddddddddddddddddddddddddddddddd"))
	}
	e.publish(t, 5, sdk(t, "go-transaction"))
	e.publishGrouped(t, 5, 9, "0123456789abcdef0123456789abcdef",
		[]byte(`{"event_id":"0123456789abcdef0123456789abcdef","timestamp":1795308929.5,"level":"error","title":"boom","contexts":{"trace":{"trace_id":"156e9860d974b5e9d216eefba46bb19e","span_id":"1fb830f062f609a1"}}}`))
	s := e.run(t, testOptions())
	waitIdle(t, s)
	ctx := context.Background()
	start := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	tbl, err := analyticsquery.Run(ctx, e.ch, analyticsquery.Query{Dataset: analyticsquery.Transactions, Projects: []int64{5},
		Start: start, End: start.Add(72 * time.Hour), Fields: []string{"transaction", "count()", "count_unique(user)", "p95()", "failure_rate()"},
		Search: "release:r1", Sort: "transaction"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tbl.Data) != 3 {
		t.Fatalf("got %d rows, want 3 transactions: %v", len(tbl.Data), tbl.Data)
	}
	first := tbl.Data[0]
	if first["transaction"] != "GET /t/0" || first["count()"] != uint64(10) || first["failure_rate()"] != 0.0 {
		t.Errorf("first row %v, want GET /t/0 with count 10 and failure rate 0", first)
	}
	if p95 := first["p95()"].(float64); p95 < 249 || p95 > 251 {
		t.Errorf("p95 %v, want 250 ms", p95)
	}
	// Another project's rows are invisible.
	other, err := analyticsquery.Run(ctx, e.ch, analyticsquery.Query{Dataset: analyticsquery.Transactions, Projects: []int64{6},
		Start: start, End: start.Add(72 * time.Hour), Fields: []string{"count()"}})
	if err != nil || other.Data[0]["count()"] != uint64(0) {
		t.Fatalf("project 6 sees %v, %v", other.Data, err)
	}
	tr, err := analyticsquery.GetTrace(ctx, e.ch, "156e9860d974b5e9d216eefba46bb19e", []int64{5})
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Roots) != 1 || !tr.Roots[0].IsSegment || len(tr.Roots[0].Children) != 2 {
		t.Fatalf("trace roots %+v, want the transaction with its 2 direct children", tr.Roots)
	}
	var render *analyticsquery.Span
	for _, c := range tr.Roots[0].Children {
		if c.Op == "template.render" {
			render = c
		}
		if c.Op == "db.sql" && (len(c.Errors) != 1 || c.Errors[0].IssueID != 9) {
			t.Errorf("db.sql span errors %+v, want the error of issue 9", c.Errors)
		}
	}
	if render == nil || len(render.Children) != 1 || render.Children[0].Op != "cache.get" {
		t.Errorf("template.render %+v, want cache.get under it", render)
	}
}

// TestPanicRejectsOneMessage: a panic while one INGEST message is decoded
// terminates that message and counts it; the messages around it are
// stored and the role goes on.
func TestPanicRejectsOneMessage(t *testing.T) {
	e := setup(t)
	analytics.SetTestHookDecode(func(m jetstream.Msg) {
		if m.Headers().Get("Test-Poison") != "" {
			panic("a decoder bug")
		}
	})
	t.Cleanup(func() { analytics.SetTestHookDecode(nil) })
	before := testutil.ToFloat64(natsx.RejectedMessages.WithLabelValues("analytics", "panic"))
	s := e.run(t, testOptions())
	e.publish(t, 1, transactionEnvelope(1, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
	// The poisoned one, published as the gateway would plus the marker.
	body := transactionEnvelope(2, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
	h := nats.Header{}
	h.Set(streams.HeaderProject, "1")
	h.Set(streams.HeaderReceived, time.Now().UTC().Format(time.RFC3339Nano))
	h.Set("Test-Poison", "1")
	poison := &nats.Msg{Subject: streams.IngestSubject(1, envelope.KindTransaction), Header: h, Data: streams.EncodeEnvelope(h, body, nil)}
	if _, err := e.nc.JS.PublishMsg(context.Background(), poison); err != nil {
		t.Fatal(err)
	}
	e.publish(t, 1, transactionEnvelope(3, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
	waitIdle(t, s)
	e.want(t, map[string]uint64{"SELECT count() FROM transactions FINAL": 2})
	if n := testutil.ToFloat64(natsx.RejectedMessages.WithLabelValues("analytics", "panic")) - before; n != 1 {
		t.Errorf("panics counted: %v, want 1", n)
	}
	// The role goes on.
	e.publish(t, 1, transactionEnvelope(4, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
	waitIdle(t, s)
	e.want(t, map[string]uint64{"SELECT count() FROM transactions FINAL": 3})
}

// TestQueriesExactOverDuplicatesBeforeMerges: the same transactions
// stored twice in the newest daily partition (two inserts, and twice in
// one insert) with merges stopped count once in the table and the series,
// beside an older partition that was merged into one part (read without
// FINAL), and after a redelivery lands in that older one too.
func TestQueriesExactOverDuplicatesBeforeMerges(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	if _, err := clickhouse.Migrate(ctx, e.ch, analytics.Migrations); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	old, recent := now.Add(-48*time.Hour), now.Add(-time.Hour)
	insert := func(at time.Time, from, to int, twice bool) {
		t.Helper()
		b, err := e.ch.PrepareBatch(ctx, "INSERT INTO transactions (project_id, timestamp, event_id, transaction, status, duration_ms)")
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			for range map[bool]int{false: 1, true: 2}[twice] {
				if err := b.Append(uint64(1), at.Add(time.Duration(i)*time.Second), fmt.Sprintf("%032x", i), "GET /x", "ok", float64(100*(1+i%10))); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	insert(old, 0, 10, false)
	if err := e.ch.Exec(ctx, "OPTIMIZE TABLE transactions FINAL"); err != nil {
		t.Fatal(err)
	}
	if err := e.ch.Exec(ctx, "SYSTEM STOP MERGES transactions"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ch.Exec(context.Background(), "SYSTEM START MERGES transactions") })
	insert(recent, 100, 120, false)
	insert(recent, 100, 120, true) // redelivered, and twice in one batch
	q := analyticsquery.Query{Dataset: analyticsquery.Transactions, Projects: []int64{1}, Start: now.Add(-72 * time.Hour), End: now}
	check := func(stage string, want uint64) {
		t.Helper()
		if raw := e.count(t, "SELECT count() FROM transactions"); raw <= want {
			t.Fatalf("%s: %d rows stored, want duplicates beyond %d", stage, raw, want)
		}
		tq := q
		tq.Fields = []string{"transaction", "count()", "count_unique(user)", "p50()"}
		tbl, err := analyticsquery.Run(ctx, e.ch, tq)
		if err != nil {
			t.Fatal(err)
		}
		var p50 float64
		if err := e.ch.QueryRow(ctx, "SELECT quantile(0.5)(duration_ms) FROM transactions FINAL").Scan(&p50); err != nil {
			t.Fatal(err)
		}
		if len(tbl.Data) != 1 || tbl.Data[0]["count()"] != want || tbl.Data[0]["p50()"] != p50 {
			t.Errorf("%s: table %v, want count %d and p50 %v", stage, tbl.Data, want, p50)
		}
		s, err := analyticsquery.RunSeries(ctx, e.ch, analyticsquery.SeriesQuery{Query: q, YAxis: []string{"count()"}, Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, v := range s.Values["count()"] {
			sum += v
		}
		if sum != float64(want) {
			t.Errorf("%s: series counts %v in all, want %d", stage, sum, want)
		}
	}
	check("newest partition duplicated", 30)
	insert(old, 5, 12, false) // a redelivery into the merged partition, and two new rows
	check("older partition duplicated too", 32)
}

// TestOptimizeQuiet: partitions with duplicates become one merged part
// each, counted exactly without FINAL; a partition still receiving parts
// is left alone.
func TestOptimizeQuiet(t *testing.T) {
	e := setup(t)
	s := e.run(t, testOptions())
	for i := range 5 {
		e.publish(t, 1, transactionEnvelope(i, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"))
	}
	waitIdle(t, s)
	// Everything again, into a second part: the consumer made anew.
	if err := e.nc.JS.DeleteConsumer(context.Background(), streams.Ingest, "analytics-ingest"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e.run(t, testOptions()))
	ctx := context.Background()
	if err := analytics.OptimizeQuiet(ctx, e.ch, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := e.count(t, "SELECT count() FROM transactions"); got != 10 {
		t.Fatalf("%d rows after merging only quiet partitions, want the 10 inserted left alone", got)
	}
	if err := analytics.OptimizeQuiet(ctx, e.ch, 0); err != nil {
		t.Fatal(err)
	}
	e.want(t, map[string]uint64{
		"SELECT count() FROM transactions": 5,
		"SELECT count() FROM spans":        15,
		"SELECT count() FROM system.parts WHERE database = currentDatabase() AND active AND table = 'transactions' AND level = 0": 0,
	})
}
