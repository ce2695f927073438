package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/faultline/faultline/libs/analyticsquery"
	"github.com/faultline/faultline/libs/clickhouse"
)

// performanceData is the Performance page: the organisation's transactions
// by throughput with their percentiles and failure rate, and charts of
// throughput and p95 over the period.
type performanceData struct {
	*scope
	State      analyticsState
	Totals     txTotals
	Throughput Chart
	P95        Chart
	Rows       []txRow
	Sort       string
	Sorts      []sortChoice
}

type sortChoice struct{ Value, Label string }

// txSorts are the Performance table's orders: the selector's value → the
// field sorted on, descending.
var txSorts = []struct{ Value, Label, Field string }{
	{"tpm", "Throughput", "-count()"},
	{"p95", "p95", "-p95()"},
	{"p50", "p50", "-p50()"},
	{"failure_rate", "Failure rate", "-failure_rate()"},
}

// txTotals are the figures of a set of transactions.
type txTotals struct {
	Count, TPM, P50, P75, P95, P99, Avg, FailureRate, Users string
	N                                                       float64
}

// txRow is one transaction of the Performance table.
type txRow struct {
	Name, Project, URL                string
	Count, TPM, P50, P95, FailureRate string
	Failing                           bool // a failure rate above zero
}

// maxTransactions bounds the Performance table.
const maxTransactions = 100

func summaryURL(org, project, transaction, statsPeriod string) string {
	q := url.Values{}
	q.Set("project", project)
	q.Set("transaction", transaction)
	if statsPeriod != defaultPeriod {
		q.Set("statsPeriod", statsPeriod)
	}
	return "/organizations/" + org + "/performance/summary/?" + q.Encode()
}

func (w *Web) performancePage(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	oa := orgOf(ctx)
	v := &view{Title: "Performance", Crumbs: []crumb{{Label: oa.org.Name, Href: "/"}, {Label: "Performance"}}}
	s, err := w.scopeOf(r)
	if s == nil {
		w.renderAnalytics(rw, r, "performance", v, &analyticsState{}, err)
		return
	}
	d := &performanceData{scope: s, Sort: "tpm"}
	v.Data = d
	for _, o := range txSorts {
		d.Sorts = append(d.Sorts, sortChoice{o.Value, o.Label})
	}
	sortField := txSorts[0].Field
	if want := r.URL.Query().Get("sort"); want != "" {
		found := false
		for _, o := range txSorts {
			if o.Value == want {
				d.Sort, sortField, found = o.Value, o.Field, true
			}
		}
		if !found && err == nil {
			err = &analyticsquery.Error{Detail: "sort: choose throughput, p95, p50 or failure rate"}
		}
	}
	ch, st := w.chOf()
	d.State = st
	if err != nil || ch == nil || len(s.Projects) == 0 {
		w.renderAnalytics(rw, r, "performance", v, &d.State, err)
		return
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		q := s.query(analyticsquery.Transactions, "", "transaction", "project.id", "count()", "epm()", "p50()", "p95()", "failure_rate()")
		q.Sort, q.Limit = sortField, maxTransactions
		t, err := analyticsquery.Run(gctx, ch, q)
		if err != nil {
			return err
		}
		for _, row := range t.Data {
			name, _ := row["transaction"].(string)
			slug := s.slug(uint64(number(row["project.id"])))
			fr := number(row["failure_rate()"])
			d.Rows = append(d.Rows, txRow{Name: name, Project: slug, URL: summaryURL(s.Org, slug, name, s.Period.Value),
				Count: fmtCount(number(row["count()"])), TPM: fmtRate(number(row["epm()"])), P50: fmtMs(number(row["p50()"])),
				P95: fmtMs(number(row["p95()"])), FailureRate: fmtPct(fr), Failing: fr > 0})
		}
		return nil
	})
	g.Go(func() error {
		var err error
		d.Totals, err = totalsOf(gctx, ch, s.query(analyticsquery.Transactions, "", "count()", "epm()", "p50()", "p95()", "failure_rate()"))
		return err
	})
	g.Go(func() error {
		se, err := analyticsquery.RunSeries(gctx, ch, s.series(analyticsquery.Transactions, "", "epm()", "p95()"))
		if err != nil {
			return err
		}
		d.Throughput = NewValueChart(se.Values["epm()"], se.Start, se.Interval, 720, 90, "Transactions per minute", func(x float64) string { return fmtRate(x) + " tpm" })
		d.P95 = NewValueChart(se.Values["p95()"], se.Start, se.Interval, 720, 90, "p95 duration", fmtMs)
		return nil
	})
	w.renderAnalytics(rw, r, "performance", v, &d.State, g.Wait())
}

// totalsOf reads the figures of q's transactions: q's fields are
// functions, and the figures it does not ask for stay empty.
func totalsOf(ctx context.Context, ch clickhouse.Conn, q analyticsquery.Query) (txTotals, error) {
	t, err := analyticsquery.Run(ctx, ch, q)
	if err != nil || len(t.Data) == 0 {
		return txTotals{}, err
	}
	row := t.Data[0]
	ms := func(f string) string {
		if _, ok := row[f]; !ok {
			return ""
		}
		return fmtMs(number(row[f]))
	}
	n := number(row["count()"])
	tot := txTotals{N: n, Count: fmtCount(n), TPM: fmtRate(number(row["epm()"])), P50: ms("p50()"), P75: ms("p75()"), P95: ms("p95()"),
		P99: ms("p99()"), Avg: ms("avg(transaction.duration)"), FailureRate: fmtPct(number(row["failure_rate()"]))}
	if u, ok := row["count_unique(user)"]; ok {
		tot.Users = fmtCount(number(u))
	}
	return tot, nil
}

// summaryData is a transaction's summary: its figures, its percentiles and
// count over time, and its slowest events with their traces.
type summaryData struct {
	*scope
	State       analyticsState
	Transaction string
	Totals      txTotals
	Durations   LineChart
	Count       Chart
	Slowest     []slowEvent
}

// slowEvent is one of a transaction's slowest events.
type slowEvent struct {
	ID, Project, Duration, Status, Release, When, ISO, TraceURL string
	Failed                                                      bool
}

// maxSlowest bounds the summary's list of slowest events.
const maxSlowest = 10

func (w *Web) summaryPage(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	oa := orgOf(ctx)
	name := r.URL.Query().Get("transaction")
	v := &view{Title: "Transaction " + name, Crumbs: []crumb{{Label: oa.org.Name, Href: "/"},
		{Label: "Performance", Href: "/organizations/" + oa.org.Slug + "/performance/"}, {Label: name}}}
	s, err := w.scopeOf(r)
	if s == nil {
		w.renderAnalytics(rw, r, "summary", v, &analyticsState{}, err)
		return
	}
	d := &summaryData{scope: s, Transaction: name}
	v.Data = d
	if strings.TrimSpace(name) == "" && err == nil {
		v.Title = "Transaction summary"
		err = &analyticsquery.Error{Detail: "transaction: name the transaction, as the Performance page's links do"}
	}
	ch, st := w.chOf()
	d.State = st
	if err != nil || ch == nil || len(s.Projects) == 0 {
		w.renderAnalytics(rw, r, "summary", v, &d.State, err)
		return
	}
	search := "transaction:" + analyticsquery.Quote(name)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		d.Totals, err = totalsOf(gctx, ch, s.query(analyticsquery.Transactions, search, "count()", "epm()", "p50()", "p75()", "p95()",
			"p99()", "avg(transaction.duration)", "failure_rate()", "count_unique(user)"))
		return err
	})
	g.Go(func() error {
		se, err := analyticsquery.RunSeries(gctx, ch, s.series(analyticsquery.Transactions, search, "count()", "p50()", "p95()", "p99()"))
		if err != nil {
			return err
		}
		counts := make([]int64, len(se.Times))
		for i, x := range se.Values["count()"] {
			counts[i] = int64(x)
		}
		d.Count = NewChart(counts, se.Start, se.Interval, 720, 90, "Transactions per "+intervalText(se.Interval))
		d.Durations = NewLineChart([]string{"p50", "p95", "p99"}, [][]float64{se.Values["p50()"], se.Values["p95()"], se.Values["p99()"]},
			se.Start, se.Interval, 720, 120, "Duration percentiles", fmtMs)
		return nil
	})
	g.Go(func() error {
		q := s.query(analyticsquery.Transactions, search, "id", "project.id", "trace", "transaction.duration", "transaction.status", "release", "timestamp")
		q.Sort, q.Limit = "-transaction.duration", maxSlowest
		t, err := analyticsquery.Run(gctx, ch, q)
		if err != nil {
			return err
		}
		for _, row := range t.Data {
			ev := slowEvent{Project: s.slug(uint64(number(row["project.id"]))), Duration: fmtMs(number(row["transaction.duration"]))}
			ev.ID, _ = row["id"].(string)
			ev.Status, _ = row["transaction.status"].(string)
			ev.Release, _ = row["release"].(string)
			if ts, _ := row["timestamp"].(string); ts != "" {
				if t, err := time.Parse(time.RFC3339, ts); err == nil {
					ev.When, ev.ISO = when(t), ts
				}
			}
			ev.Failed = failedStatus(ev.Status)
			if trace, _ := row["trace"].(string); trace != "" {
				ev.TraceURL = traceURL(s.Org, trace)
			}
			d.Slowest = append(d.Slowest, ev)
		}
		return nil
	})
	w.renderAnalytics(rw, r, "summary", v, &d.State, g.Wait())
}

// failedStatus says whether a span status counts as a failure, as
// failure_rate() counts it.
func failedStatus(s string) bool {
	switch s {
	case "", "ok", "cancelled", "unknown", "unknown_error":
		return false
	}
	return true
}

// intervalText names a chart's bucket: "minute", "30 minutes", "day".
func intervalText(d time.Duration) string {
	m := int(d.Minutes())
	switch {
	case m == 1:
		return "minute"
	case m == 60:
		return "hour"
	case m == 1440:
		return "day"
	case m%1440 == 0:
		return fmtCount(float64(m/1440)) + " days"
	case m%60 == 0:
		return fmtCount(float64(m/60)) + " hours"
	}
	return fmtCount(float64(m)) + " minutes"
}
