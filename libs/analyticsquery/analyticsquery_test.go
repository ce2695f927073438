package analyticsquery

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func period() (time.Time, time.Time) {
	end := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	return end.Add(-24 * time.Hour), end
}

func TestBuildKeepsInputOutOfSQL(t *testing.T) {
	start, end := period()
	q := Query{Dataset: Transactions, Projects: []int64{1}, Start: start, End: end,
		Fields: []string{"transaction", "count()", "p95()"}, Search: `release:"1.0'; DROP TABLE x" !transaction.status:ok checkout`, Sort: "-p95()"}
	sql, args, err := Build(q)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sql, "DROP") || strings.Contains(sql, "checkout") {
		t.Fatalf("user input in the SQL: %s", sql)
	}
	for _, want := range []string{"FROM transactions FINAL", "GROUP BY transaction", "ORDER BY quantile(0.95)(duration_ms) DESC", "release = ?", "status != ?"} {
		if !strings.Contains(sql, want) {
			t.Errorf("SQL lacks %q: %s", want, sql)
		}
	}
	if len(args) != 6 {
		t.Errorf("got %d args, want 6 (projects, start, end, release, status, text): %v", len(args), args)
	}
}

func TestBuildRejects(t *testing.T) {
	start, end := period()
	for name, q := range map[string]Query{
		"unknown field":     {Fields: []string{"count() FROM x"}},
		"unknown function":  {Fields: []string{"sleep(3)"}},
		"sort not a field":  {Fields: []string{"count()"}, Sort: "release"},
		"search key":        {Fields: []string{"count()"}, Search: "password:x"},
		"unbalanced quotes": {Fields: []string{"count()"}, Search: `release:"x`},
		"errors p95":        {Dataset: Errors, Fields: []string{"p95()"}},
		"issue not numeric": {Dataset: Errors, Fields: []string{"count()"}, Search: "issue.id:abc"},
	} {
		if q.Dataset == "" {
			q.Dataset = Transactions
		}
		q.Projects, q.Start, q.End = []int64{1}, start, end
		_, _, err := Build(q)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: got %v, want an *Error", name, err)
		}
	}
}

func TestParseSearch(t *testing.T) {
	got, err := ParseSearch(`is:x release:"a b" !env:prod free "more text"`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Term{{Key: "is", Value: "x"}, {Key: "release", Value: "a b"}, {Key: "env", Value: "prod", Negated: true}, {Value: "free more text"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("term %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func FuzzBuild(f *testing.F) {
	f.Add("count(),transaction", `release:1 !user:"x y" text`, "-count()")
	f.Add("p95()", `"`, "p95()")
	start, end := period()
	f.Fuzz(func(t *testing.T, fields, search, sort string) {
		q := Query{Dataset: Transactions, Projects: []int64{1}, Start: start, End: end,
			Fields: strings.Split(fields, ","), Search: search, Sort: sort}
		sql, _, err := Build(q)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("not an *Error: %v", err)
			}
			return
		}
		for _, tm := range mustTerms(search) {
			// A quote is never in the SQL's text: values travel as parameters.
			if strings.Contains(tm.Value, "'") && strings.Contains(sql, tm.Value) {
				t.Fatalf("search value %q in the SQL: %s", tm.Value, sql)
			}
		}
	})
}

func mustTerms(s string) []Term { t, _ := ParseSearch(s); return t }

func TestBuildSeries(t *testing.T) {
	start, end := period()
	q := SeriesQuery{Query: Query{Dataset: Transactions, Projects: []int64{1}, Start: start.Add(90 * time.Minute), End: end,
		Search: `release:"1'; DROP"`}, YAxis: []string{"count()", "epm()"}, Interval: time.Hour}
	sql, args, err := BuildSeries(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"intDiv(toUInt32(timestamp), 3600) * 3600", "toFloat64(count()) AS y0", "toFloat64(count() / 60.000000) AS y1", "GROUP BY t ORDER BY t"} {
		if !strings.Contains(sql, want) {
			t.Errorf("SQL lacks %q: %s", want, sql)
		}
	}
	if strings.Contains(sql, "DROP") || len(args) != 4 {
		t.Errorf("user input in the SQL or %d args: %s %v", len(args), sql, args)
	}
	p, _ := buildSeries(q)
	if !p.start.Equal(start.Add(time.Hour)) || p.buckets != 23 {
		t.Errorf("buckets from %s, %d of them; want from %s, 23", p.start, p.buckets, start.Add(time.Hour))
	}
	for name, bad := range map[string]SeriesQuery{
		"a column":       {YAxis: []string{"transaction"}, Interval: time.Hour},
		"unknown":        {YAxis: []string{"sleep(1)"}, Interval: time.Hour},
		"tiny interval":  {YAxis: []string{"count()"}, Interval: time.Second},
		"sub-second":     {YAxis: []string{"count()"}, Interval: 1500 * time.Millisecond},
		"no yAxis":       {Interval: time.Hour},
		"bad search key": {YAxis: []string{"count()"}, Interval: time.Hour, Query: Query{Search: "secret:x"}},
	} {
		bad.Dataset, bad.Projects, bad.Start, bad.End = Transactions, []int64{1}, start, end
		var e *Error
		if _, _, err := BuildSeries(bad); !errors.As(err, &e) {
			t.Errorf("%s: got %v, want an *Error", name, err)
		}
	}
}

func TestFinalOnlyWhereDuplicatesMayBe(t *testing.T) {
	day := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	q := Query{Dataset: Transactions, Projects: []int64{1}, Start: day.Add(-12 * time.Hour), End: day.Add(36 * time.Hour),
		Fields: []string{"transaction", "p95()"}}
	l := &layout{clean: map[string]cleanDay{"20261204": {from: day.Unix(), to: day.Add(24 * time.Hour).Unix(), part: "20261204_1_1_1"}}}
	b, err := buildOver(q, l)
	if err != nil {
		t.Fatal(err)
	}
	d := strconv.FormatInt(day.Unix(), 10)
	next := strconv.FormatInt(day.Add(24*time.Hour).Unix(), 10)
	for _, want := range []string{
		"FROM (SELECT timestamp, transaction, duration_ms FROM transactions FINAL WHERE",
		"(timestamp >= toDateTime(" + strconv.FormatInt(q.Start.Unix(), 10) + ") AND timestamp < toDateTime(" + d + ") OR timestamp >= toDateTime(" + next + ")",
		"UNION ALL SELECT timestamp, transaction, duration_ms FROM transactions WHERE",
		"(timestamp >= toDateTime(" + d + ") AND timestamp < toDateTime(" + next + ")))",
	} {
		if !strings.Contains(b.sql, want) {
			t.Errorf("SQL lacks %q:\n%s", want, b.sql)
		}
	}
	if strings.Count(b.sql, "FINAL") != 1 || len(b.args) != 6 {
		t.Errorf("want FINAL once and the filters' 3 parameters in each branch: %s %v", b.sql, b.args)
	}
	// The clean day covers the whole period: no FINAL; a changed part: FINAL everywhere.
	q.Start, q.End = day.Add(time.Hour), day.Add(2*time.Hour)
	if b, _ := buildOver(q, l); strings.Contains(b.sql, "FINAL") || strings.Contains(b.sql, "UNION") {
		t.Errorf("period inside a clean day: %s", b.sql)
	}
	merged := &layout{clean: map[string]cleanDay{"20261204": {from: day.Unix(), to: day.Add(24 * time.Hour).Unix(), part: "20261204_1_2_2"}}}
	if l.stillClean(merged, q.Start, q.End) || !l.stillClean(l, q.Start, q.End) || !l.stillClean(&layout{}, day.AddDate(0, 0, 2), day.AddDate(0, 0, 3)) {
		t.Error("stillClean: a changed part must be seen, an unchanged or untouched one not")
	}
}
