package web

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/analyticsquery"
)

func TestNewValueChart(t *testing.T) {
	start := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	c := NewValueChart([]float64{0, 50, 200}, start, 30*time.Minute, 300, 41, "p95", fmtMs)
	if c.Summary != "peak 200 ms" || len(c.Bars) != 3 {
		t.Fatalf("%+v", c)
	}
	if b := c.Bars[2]; b.X != 200 || b.H != 40 || b.Y != 1 || b.Title != "200 ms, 5 Dec 11:00 UTC" {
		t.Errorf("peak bar %+v", b)
	}
	if b := c.Bars[1]; b.H != 10 || b.Title != "50 ms, 5 Dec 10:30 UTC" {
		t.Errorf("half bar %+v", b)
	}
	if b := c.Bars[0]; b.H != 1 {
		t.Errorf("empty bucket %+v, want the 1-pixel baseline", b)
	}
}

func TestNewLineChart(t *testing.T) {
	start := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	c := NewLineChart([]string{"p50", "p95"}, [][]float64{{10, 20}, {40, 80}}, start, time.Hour, 200, 82, "Durations", fmtMs)
	if c.Summary != "peak 80 ms" {
		t.Errorf("summary %q", c.Summary)
	}
	// Two buckets of 100: points at their middles, 80 ms at the top (y 1),
	// 0 at the bottom (y 81).
	if len(c.Lines) != 2 || c.Lines[1].Points != "50,41 150,1" || c.Lines[0].Points != "50,71 150,61" || c.Lines[1].Class != "s1" {
		t.Errorf("lines %+v", c.Lines)
	}
	if len(c.Slots) != 2 || c.Slots[1].Title != "5 Dec 11:00 UTC: p50 20 ms, p95 80 ms" || c.Slots[1].X != 100 || c.Slots[1].W != 100 {
		t.Errorf("slots %+v", c.Slots)
	}
	if empty := NewLineChart(nil, nil, start, time.Hour, 10, 10, "x", fmtMs); len(empty.Lines) != 0 {
		t.Errorf("no series: %+v", empty)
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmtMs(0), "0 ms"}, {fmtMs(0.4249), "0.42 ms"}, {fmtMs(385), "385 ms"}, {fmtMs(1000), "1.00 s"}, {fmtMs(90_000), "1.5 min"},
		{fmtPct(0.25), "25%"}, {fmtPct(1.0 / 7), "14%"}, {fmtPct(0.025), "2.5%"}, {fmtPct(0.07), "7%"}, {fmtPct(0), "0%"},
		{fmtRate(0), "0"}, {fmtRate(4.0 / 1440), "0.0028"}, {fmtRate(3.5), "3.5"}, {fmtRate(2), "2"}, {fmtRate(123.4), "123"},
		{fmtCount(7), "7"}, {intervalText(30 * time.Minute), "30 minutes"}, {intervalText(time.Hour), "hour"},
		{intervalText(6 * time.Hour), "6 hours"}, {intervalText(24 * time.Hour), "day"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if number(math.NaN()) != 0 || number(uint64(3)) != 3 || number("x") != 0 {
		t.Error("number")
	}
}

// A waterfall of one instant and of nested spans: bars stay within the
// axis, depth becomes a fixed class, errors link to their issue's event.
func TestWaterfallLayout(t *testing.T) {
	child := &analyticsquery.Span{SpanID: "b", Op: "db.sql", Start: 100.1, End: 100.35, Status: "internal_error",
		Errors: []analyticsquery.Error_{{EventID: "e1", IssueID: 7, ProjectID: 1, Title: "boom", Level: "<fatal>"}}}
	root := &analyticsquery.Span{SpanID: "a", ProjectID: 1, Transaction: "GET /x", IsSegment: true, Start: 100, End: 100.4,
		Children: []*analyticsquery.Span{child}}
	d := &traceData{scope: &scope{Org: "acme", Period: periods[1], slugs: map[uint64]string{1: "web"}}}
	d.layout(&analyticsquery.Trace{Roots: []*analyticsquery.Span{root}})
	if len(d.Rows) != 2 || d.Duration != "400 ms" || d.Spans != 2 || d.Txs != 1 || d.Errors != 1 {
		t.Fatalf("%+v", d)
	}
	r := d.Rows[1]
	if r.Depth != "d1" || r.X != 250 || r.W != 625 || !r.Failed || r.Errors[0].URL != "/organizations/acme/issues/7/events/e1/" || r.Errors[0].Level != "unknown" {
		t.Errorf("span row %+v", r)
	}
	if !strings.Contains(d.Rows[0].URL, "transaction=GET+%2Fx") || d.Rows[0].Depth != "d0" {
		t.Errorf("root row %+v", d.Rows[0])
	}
	// Only an error: no axis, the error listed on its own.
	d = &traceData{scope: &scope{Org: "acme", slugs: map[uint64]string{1: "web"}}}
	d.layout(&analyticsquery.Trace{Orphans: []analyticsquery.Error_{{EventID: "e2", IssueID: 8, ProjectID: 1, Title: "alone"}}})
	if len(d.Rows) != 0 || d.Duration != "" || len(d.Axis) != 0 || len(d.Orphans) != 1 || d.Errors != 1 || d.InProjs != nil {
		t.Errorf("orphan only: %+v", d)
	}
	// One instant, and a span deeper than the stylesheet indents.
	deep := &analyticsquery.Span{SpanID: "z", Start: 5, End: 5}
	for i := 0; i < 20; i++ {
		deep = &analyticsquery.Span{SpanID: "z", Start: 5, End: 5, Children: []*analyticsquery.Span{deep}}
	}
	d = &traceData{scope: &scope{Org: "acme", slugs: map[uint64]string{}}}
	d.layout(&analyticsquery.Trace{Roots: []*analyticsquery.Span{deep}})
	last := d.Rows[len(d.Rows)-1]
	if last.Depth != "d12" || last.X+last.W > 1000 || last.W <= 0 {
		t.Errorf("deepest row %+v", last)
	}
}
