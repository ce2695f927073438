package analyticsquery

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestBuildUsage(t *testing.T) {
	start, end := period()
	q := UsageQuery{Projects: []int64{1, 2}, Start: start.Add(30 * time.Minute), End: end, Interval: time.Hour, Field: "sum(quantity)",
		GroupBy: []string{"outcome", "category", "outcome"}, Categories: []string{"error", "log"}, Outcomes: []string{"filtered"}, Reasons: []string{"x'); DROP"}}
	b, from, buckets, err := buildUsage(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM outcomes FINAL", "outcome AS g0", "if(category IN ('default', 'security'), 'error', category) AS g1",
		"GROUP BY t, g0, g1", "has(?, category)", "has(?, outcome)", "has(?, reason)"} {
		if !strings.Contains(b.sql, want) {
			t.Errorf("SQL lacks %q: %s", want, b.sql)
		}
	}
	if strings.Contains(b.sql, "DROP") || strings.Contains(b.sql, "g2") {
		t.Errorf("SQL: %s", b.sql)
	}
	if cats := b.args[3].([]string); strings.Join(cats, ",") != "error,default,security,log_item" {
		t.Errorf("categories %v: error is also default and security, log is log_item", cats)
	}
	if !from.Equal(start) || buckets != 24 {
		t.Errorf("from %s, %d buckets", from, buckets)
	}
	for name, bad := range map[string]UsageQuery{
		"field":        {Field: "sum(bytes)", Interval: time.Hour},
		"groupBy":      {Field: "sum(quantity)", Interval: time.Hour, GroupBy: []string{"user"}},
		"sub-hour":     {Field: "sum(quantity)", Interval: 30 * time.Minute},
		"category":     {Field: "sum(quantity)", Interval: time.Hour, Categories: []string{"bytes"}},
		"outcome":      {Field: "sum(quantity)", Interval: time.Hour, Outcomes: []string{"lost"}},
		"too many":     {Field: "sum(quantity)", Interval: time.Hour, Start: start.AddDate(-2, 0, 0)},
		"no projects":  {Field: "sum(quantity)", Interval: time.Hour, Projects: []int64{}},
		"empty period": {Field: "sum(quantity)", Interval: time.Hour, Start: end},
	} {
		if bad.Projects == nil {
			bad.Projects = []int64{1}
		}
		if bad.Start.IsZero() {
			bad.Start = start
		}
		bad.End = end
		var e *Error
		if _, _, _, err := buildUsage(bad); !errors.As(err, &e) {
			t.Errorf("%s: got %v, want an *Error", name, err)
		}
	}
}

func TestGroupKey(t *testing.T) {
	row := map[string]any{"release": "r1", "transaction": "GET /", "project.id": uint64(7), "transaction.duration": 1.5}
	if got := groupKey([]string{"project.id", "release", "transaction", "transaction.duration"}, row); got != "7,r1,GET /,1.5" {
		t.Errorf("got %q", got)
	}
	if got := groupKey([]string{"release"}, map[string]any{"release": "Other"}); got != "Other (release)" {
		t.Errorf("a group named Other: %q", got)
	}
}

// FuzzStatsPlans: the top-N, usage and sessions builders turn any input
// into an *Error or SQL without it: names are looked up, values bound.
func FuzzStatsPlans(f *testing.F) {
	f.Add("transaction,count()", "-count()", "outcome,project", "error", "release,session.status", "sum(session)", `release:"x'y"`)
	f.Add("", "p95()", "reason", "log", "", "crash_free_rate(user)", "")
	start, end := period()
	f.Fuzz(func(t *testing.T, fields, order, groupBy, category, sessionGroupBy, sessionFields, search string) {
		check := func(what, sql string, err error) {
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: not an *Error: %v", what, err)
				}
				return
			}
			for _, s := range []string{order, category, search} {
				if strings.ContainsAny(s, "'\\") && strings.Contains(sql, s) {
					t.Fatalf("%s: input %q in the SQL: %s", what, s, sql)
				}
			}
		}
		sq := SeriesQuery{Query: Query{Dataset: Transactions, Projects: []int64{1}, Start: start, End: end, Search: search},
			YAxis: []string{"count()"}, Interval: time.Hour}
		p, err := buildTop(TopQuery{SeriesQuery: sq, Fields: strings.Split(fields, ","), OrderBy: order, Limit: 3})
		if err == nil {
			b, berr := build(p.table)
			check("top", b.sql, berr)
		} else {
			check("top", "", err)
		}
		u, _, _, err := buildUsage(UsageQuery{Projects: []int64{1}, Start: start, End: end, Interval: time.Hour, Field: "sum(quantity)",
			GroupBy: strings.Split(groupBy, ","), Categories: []string{category}})
		check("usage", u.sql, err)
		sp, err := planSessions(SessionsQuery{Projects: []int64{1}, Start: start, End: end, Interval: time.Hour,
			Fields: strings.Split(sessionFields, ","), GroupBy: strings.Split(sessionGroupBy, ","), Search: search})
		check("sessions", strings.Join(sp.where, " AND ")+strings.Join(sp.cols, ","), err)
	})
}
