package analytics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/analyticsquery"
	"github.com/faultline/faultline/libs/clickhouse"
	"github.com/faultline/faultline/libs/clickhouse/chdb"
	"github.com/faultline/faultline/libs/clickhouse/chtest"
	"github.com/faultline/faultline/services/analytics"
)

// TestCurrentClickHouseAgrees drives the analytics role and every query of
// libs/analyticsquery against ClickHouse 18.16 (the server chtest starts)
// through a recorder, then replays what was sent, in order, on ClickHouse
// 26.x's engine (chDB, libchdb.so from npm): the migrations, the inserts
// with the rows as sent, OPTIMIZE and DROP PARTITION, and every query,
// whose answer must equal 18.16's at the moment it ran. Queries of
// system.parts (the FINAL planning in final.go, the role's partition
// housekeeping) must run on both, but their answers are each server's own
// part layout, which background merges shape: not compared. A query that
// reads every table with FINAL runs on chDB's parts as the inserts left
// them (FINAL collapsing the redelivered rows on 26.x too); before one
// that reads some partitions without FINAL (final.go's plan from 18.16's
// parts) chDB's tables are merged (OPTIMIZE ... FINAL), so its answer is
// the exact one: agreeing also proves 18.16's plan exact.
func TestCurrentClickHouseAgrees(t *testing.T) {
	lib := chdb.Find(".")
	if lib == "" {
		if os.Getenv("FAULTLINE_NO_CLICKHOUSE") == "1" {
			t.Skip("FAULTLINE_NO_CLICKHOUSE=1 and no libchdb.so: the current-ClickHouse check is skipped")
		}
		t.Fatal("no libchdb.so for the current-ClickHouse check: run scripts/deps.sh (npm ci in e2e/node installs @chdb/lib-linux-x64-gnu), set CHDB_LIB, or set FAULTLINE_NO_CLICKHOUSE=1 to skip")
	}
	e := setup(t)
	o, err := clickhouse.ParseURL(e.url)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Conn: e.ch, t: t, http: chtest.Get(t).HTTP(), db: o.Auth.Database}
	e.ch = rec

	// The role consumes SDK envelopes and grouped events (the fixtures of
	// TestSDKEnvelopesBecomeRows and TestQueriesOverConsumedRows).
	for _, name := range []string{"go-transaction", "node-transaction", "node-error-session", "node-session-session",
		"node-session-session-2", "go-log", "node-client_report-client_report", "go-error"} {
		e.publish(t, 42, sdk(t, name))
	}
	for i := range 12 {
		e.publish(t, 5, transactionEnvelope(i, "dddddddddddddddddddddddddddddddd"))
	}
	for i, status := range []string{"exited", "crashed", "errored", "abnormal", "ok"} {
		e.publish(t, 5, sessionEnvelope(i, status))
	}
	e.publishGrouped(t, 5, 9, "0123456789abcdef0123456789abcdef",
		[]byte(`{"event_id":"0123456789abcdef0123456789abcdef","timestamp":1795308929.5,"level":"error","title":"boom","release":"r1","user":{"id":"u1"},"tags":[["os","linux"]],"contexts":{"trace":{"trace_id":"156e9860d974b5e9d216eefba46bb19e","span_id":"1fb830f062f609a1"}}}`))
	s := e.run(t, testOptions())
	waitIdle(t, s)
	// Redelivered: the same transactions again, as duplicates in new parts.
	for i := range 4 {
		e.publish(t, 5, transactionEnvelope(i, "dddddddddddddddddddddddddddddddd"))
	}
	waitIdle(t, s)

	ctx := context.Background()
	projects := []int64{5, 42}
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	end := start.Add(72 * time.Hour)
	q := analyticsquery.Query{Dataset: analyticsquery.Transactions, Projects: projects, Start: start, End: end,
		Fields: []string{"transaction", "count()", "count_unique(user)", "p50()", "p95()", "avg(transaction.duration)", "failure_rate()", "epm()"},
		Search: "release:r1", Sort: "-count()", Limit: 5}
	if _, err := analyticsquery.Run(ctx, rec, q); err != nil {
		t.Fatal(err)
	}
	eq := analyticsquery.Query{Dataset: analyticsquery.Errors, Projects: projects, Start: start, End: end,
		Fields: []string{"title", "level", "count()", "count_unique(user)", "count_unique(issue)"}, Search: `level:error !release:"it's not" boom`, Sort: "title"}
	if _, err := analyticsquery.Run(ctx, rec, eq); err != nil {
		t.Fatal(err)
	}
	sq := analyticsquery.SeriesQuery{Query: q, YAxis: []string{"count()", "p95()"}, Interval: time.Hour}
	sq.Fields, sq.Sort, sq.Limit = nil, "", 0
	if _, err := analyticsquery.RunSeries(ctx, rec, sq); err != nil {
		t.Fatal(err)
	}
	if _, err := analyticsquery.RunTop(ctx, rec, analyticsquery.TopQuery{SeriesQuery: sq, Fields: []string{"transaction", "count()"}, Limit: 2}); err != nil {
		t.Fatal(err)
	}
	for _, sess := range []analyticsquery.SessionsQuery{
		{Fields: analyticsquery.SessionFields, GroupBy: []string{"release", "project"}},
		{Fields: []string{"sum(session)", "count_unique(user)"}, GroupBy: []string{"session.status"}, Search: "environment:production"},
	} {
		sess.Projects, sess.Start, sess.End, sess.Interval = projects, start, end, time.Hour
		if _, err := analyticsquery.RunSessions(ctx, rec, sess); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := analyticsquery.RunReleaseHealth(ctx, rec, projects, []string{"r1", "capture@1.0.0", "node@1.0.0"}, start, end); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := analyticsquery.RunUsage(ctx, rec, analyticsquery.UsageQuery{Projects: projects, Start: now.Add(-48 * time.Hour).Truncate(time.Hour),
		End: now.Add(time.Hour).Truncate(time.Hour), Interval: time.Hour, Field: "sum(quantity)", GroupBy: []string{"category", "outcome", "reason"}}); err != nil {
		t.Fatal(err)
	}
	for _, trace := range []string{"156e9860d974b5e9d216eefba46bb19e", "dddddddddddddddddddddddddddddddd"} {
		if _, err := analyticsquery.GetTrace(ctx, rec, trace, projects); err != nil {
			t.Fatal(err)
		}
	}
	// Housekeeping: every partition merged, then the fixtures' days
	// dropped, and a query over what is left.
	if err := analytics.OptimizeQuiet(ctx, rec, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := analyticsquery.Run(ctx, rec, q); err != nil { // read without FINAL now
		t.Fatal(err)
	}
	if err := analytics.DropExpired(ctx, rec, start.Add(5*24*time.Hour), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := analyticsquery.Run(ctx, rec, q); err != nil {
		t.Fatal(err)
	}

	log := rec.statements()
	// Every statement of every migration went through the recorder, to be
	// replayed.
	sent := map[string]bool{}
	for _, st := range log {
		sent[st.sql] = true
	}
	names, err := fs.Glob(analytics.Migrations.FS, path.Join(analytics.Migrations.Dir, "*.sql"))
	if err != nil || len(names) == 0 {
		t.Fatalf("migrations: %v, %v", names, err)
	}
	for _, name := range names {
		b, err := fs.ReadFile(analytics.Migrations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range clickhouse.Statements(string(b)) {
			if !sent[st] {
				t.Errorf("migration %s: a statement was not recorded:\n%s", name, st)
			}
		}
	}
	replay(t, lib, log)
}

// sessionEnvelope is a session of user u<i%3> in production, release r1.
func sessionEnvelope(i int, status string) []byte {
	errs := 0
	if status != "exited" && status != "ok" {
		errs = 1
	}
	p := fmt.Sprintf(`{"sid":"%032x","did":"u%d","init":true,"started":"2026-11-22T01:%02d:00Z","timestamp":"2026-11-22T01:%02d:30Z","status":"%s","errors":%d,"attrs":{"release":"r1","environment":"production"}}`,
		0x5e5000+i, i%3, i, i, status, errs)
	return fmt.Appendf(nil, "{}\n{\"type\":\"session\",\"length\":%d}\n%s\n", len(p), p)
}

// replay runs the recorded statements on chDB and compares the answers.
func replay(t *testing.T, lib string, log []statement) {
	t.Helper()
	db, err := chdb.Open(lib, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := db.Query("SELECT version()", "TabSeparated")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replaying %d statements on ClickHouse %s (chDB)", len(log), strings.TrimSpace(string(v)))
	var inserts, compared, nonEmpty, unmerged, parts, selects int
	written := false
	for _, s := range log {
		switch {
		case s.rows != nil:
			if _, err := db.Query(s.sql+"\n"+string(s.rows), ""); err != nil {
				t.Fatalf("insert on 26.x: %v\n%s", err, s.sql)
			}
			inserts++
			written = true
		case !s.query:
			if _, err := db.Query(s.sql, ""); err != nil {
				t.Fatalf("on 26.x: %v\n%s", err, s.sql)
			}
			written = true
		default:
			selects++
			// A query reading every table with FINAL is exact over the
			// duplicates of unmerged parts: asked as the inserts left them.
			// One reading some partitions without FINAL (final.go's plan
			// from 18.16's parts) is asked after a merge.
			switch {
			case s.parts:
			case allFinal(s.sql):
				if written {
					unmerged++
				}
			case written:
				merge(t, db)
				written = false
			}
			got, err := db.Query(s.sql, "JSONCompact")
			if err != nil {
				t.Errorf("query on 26.x: %v\n%s", err, s.sql)
				continue
			}
			if s.parts {
				parts++
				continue
			}
			// Without ORDER BY the rows' order is the server's own; the
			// code reading such answers sorts them itself.
			ordered := strings.Contains(s.sql, "ORDER BY")
			if diff := compareAnswers(s.want, got, ordered); diff != "" {
				t.Errorf("answers differ: %s\n%s\n18.16: %s\n26.x:  %s", diff, s.sql, compact(s.want), compact(got))
			}
			compared++
			if !bytes.Contains(s.want, []byte(`"rows": 0,`)) {
				nonEmpty++
			}
		}
	}
	t.Logf("%d inserts, %d queries: %d answers compared (%d with rows; %d before any merge since the last write), %d of system.parts run only",
		inserts, selects, compared, nonEmpty, unmerged, parts)
	if nonEmpty < 15 || inserts < 5 {
		t.Errorf("only %d answers with rows compared and %d inserts replayed: the scenario did not drive the role and the queries", nonEmpty, inserts)
	}
}

var fromTable = regexp.MustCompile(`(?i)\bFROM\s+([A-Za-z_][A-Za-z0-9_]*)(\s+FINAL)?`)

// allFinal says whether sql reads each of its tables with FINAL.
func allFinal(sql string) bool {
	m := fromTable.FindAllStringSubmatch(sql, -1)
	if len(m) == 0 {
		return false
	}
	for _, f := range m {
		if f[2] == "" && f[1] != "system" {
			return false
		}
	}
	return true
}

// merge makes chDB's tables one part per partition, duplicates collapsed.
func merge(t *testing.T, db *chdb.Session) {
	t.Helper()
	out, err := db.Query("SELECT name FROM system.tables WHERE database = currentDatabase()", "TabSeparated")
	if err != nil {
		t.Fatalf("on 26.x: %v", err)
	}
	for _, table := range strings.Fields(string(out)) {
		if _, err := db.Query("OPTIMIZE TABLE "+table+" FINAL", ""); err != nil {
			t.Fatalf("on 26.x: %v", err)
		}
	}
}

// answer is the part of a JSONCompact answer that is the result.
type answer struct {
	Meta []struct{ Name, Type string } `json:"meta"`
	Data [][]any                       `json:"data"`
}

// compareAnswers says how two JSONCompact answers differ in columns'
// types, rows and values: numbers (64-bit integers come quoted) compare
// as numbers, floats within a relative 1e-9.
func compareAnswers(want, got []byte, ordered bool) string {
	var a, b answer
	if err := decode(want, &a); err != nil {
		return "18.16's answer: " + err.Error()
	}
	if err := decode(got, &b); err != nil {
		return "26.x's answer: " + err.Error()
	}
	if len(a.Meta) != len(b.Meta) {
		return fmt.Sprintf("%d columns, want %d", len(b.Meta), len(a.Meta))
	}
	for i := range a.Meta {
		if a.Meta[i] != b.Meta[i] {
			return fmt.Sprintf("column %d is %s %s, want %s %s", i, b.Meta[i].Name, b.Meta[i].Type, a.Meta[i].Name, a.Meta[i].Type)
		}
	}
	if len(a.Data) != len(b.Data) {
		return fmt.Sprintf("%d rows, want %d", len(b.Data), len(a.Data))
	}
	if !ordered {
		sortRows(a.Data)
		sortRows(b.Data)
	}
	for i := range a.Data {
		for j := range a.Data[i] {
			if !sameValue(a.Data[i][j], b.Data[i][j]) {
				return fmt.Sprintf("row %d column %d: %v, want %v", i, j, b.Data[i][j], a.Data[i][j])
			}
		}
	}
	return ""
}

// sortRows puts rows in an order of their normalised values.
func sortRows(rows [][]any) {
	key := func(r []any) string {
		var sb strings.Builder
		for _, v := range r {
			if f, ok := number(v); ok {
				v = f
			}
			fmt.Fprintf(&sb, "%v\x00", v)
		}
		return sb.String()
	}
	sort.SliceStable(rows, func(i, j int) bool { return key(rows[i]) < key(rows[j]) })
}

// compact is an answer's result part on one line.
func compact(b []byte) string {
	var a answer
	if err := decode(b, &a); err != nil {
		return string(b)
	}
	out, _ := json.Marshal(a)
	return string(out)
}

func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func sameValue(a, b any) bool {
	x, xok := number(a)
	y, yok := number(b)
	if xok && yok {
		return x == y || math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y))
	}
	as, bs := fmt.Sprint(a), fmt.Sprint(b)
	if aa, ok := a.([]any); ok {
		ba, ok := b.([]any)
		if !ok || len(aa) != len(ba) {
			return false
		}
		for i := range aa {
			if !sameValue(aa[i], ba[i]) {
				return false
			}
		}
		return true
	}
	return as == bs
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}
