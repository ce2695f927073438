package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/faultline/faultline/libs/analyticsquery"
)

// discoverData is the query page: a form of fields, search, sort, dataset
// and period over libs/analyticsquery, and its answer as a chart and a
// table.
type discoverData struct {
	*scope
	State    analyticsState
	Dataset  string
	Fields   string // as typed: comma-separated
	Query    string
	Sort     string
	Columns  []string
	Rows     [][]cell
	NextURL  string // the next page of rows, when there is one
	PrevURL  string
	First    int // the number of the page's first row, from 1
	Chart    Chart
	YAxis    string
	Ran      bool
	Help     []fieldHelp
	Datasets []sortChoice
}

// cell is one value of the table; URL links it (a trace, an issue).
type cell struct {
	Text, URL string
	Num       bool
}

type fieldHelp struct {
	Dataset            string
	Columns, Functions string
}

// Rows per page of the query page's table: per_page=, at most
// maxDiscoverRows; pages follow with cursor= (the offset of the first row).
const (
	defaultDiscoverRows = 50
	maxDiscoverRows     = 100
	maxDiscoverOffset   = 10_000
)

// pageOf reads per_page= and cursor=.
func pageOf(r *http.Request) (limit, offset int, err error) {
	qs := r.URL.Query()
	limit, offset = defaultDiscoverRows, 0
	if v := qs.Get("per_page"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxDiscoverRows {
			return 0, 0, &analyticsquery.Error{Detail: fmt.Sprintf("per_page: want 1 to %d", maxDiscoverRows)}
		}
	}
	if v := qs.Get("cursor"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 || offset > maxDiscoverOffset {
			return 0, 0, &analyticsquery.Error{Detail: fmt.Sprintf("cursor: want a row number from 0 to %d", maxDiscoverOffset)}
		}
	}
	return limit, offset, nil
}

// pageURL is this page's URL with cursor= set to offset.
func pageURL(r *http.Request, offset int) string {
	qs := r.URL.Query()
	qs.Del("cursor")
	if offset > 0 {
		qs.Set("cursor", strconv.Itoa(offset))
	}
	return r.URL.Path + "?" + qs.Encode()
}

const defaultFields = "transaction, count(), p95(), failure_rate()"

// fieldsOf reads the fields: Sentry's repeated field= of Discover links, or
// the form's comma-separated fields=.
func fieldsOf(r *http.Request) (typed string, fields []string) {
	qs := r.URL.Query()
	if fs := qs["field"]; len(fs) > 0 {
		return strings.Join(fs, ", "), fs
	}
	typed = qs.Get("fields")
	if !qs.Has("fields") {
		typed = defaultFields
	}
	for _, f := range strings.Split(typed, ",") {
		if f = strings.TrimSpace(f); f != "" {
			fields = append(fields, f)
		}
	}
	return typed, fields
}

func (w *Web) discoverPage(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	oa := orgOf(ctx)
	v := &view{Title: "Discover", Crumbs: []crumb{{Label: oa.org.Name, Href: "/"}, {Label: "Discover"}}}
	s, err := w.scopeOf(r)
	if s == nil {
		w.renderAnalytics(rw, r, "discover", v, &analyticsState{}, err)
		return
	}
	qs := r.URL.Query()
	d := &discoverData{scope: s, Dataset: qs.Get("dataset"), Query: qs.Get("query"), Sort: qs.Get("sort"),
		Datasets: []sortChoice{{"transactions", "Transactions"}, {"errors", "Errors"}}}
	v.Data = d
	for _, ds := range []analyticsquery.Dataset{analyticsquery.Transactions, analyticsquery.Errors} {
		cols, fns := analyticsquery.FieldNames(ds)
		d.Help = append(d.Help, fieldHelp{Dataset: string(ds), Columns: strings.Join(cols, ", "), Functions: strings.Join(fns, ", ")})
	}
	var fields []string
	d.Fields, fields = fieldsOf(r)
	if !qs.Has("sort") && !qs.Has("fields") && len(qs["field"]) == 0 {
		d.Sort = "-count()"
	}
	if d.Dataset == "" {
		d.Dataset = string(analyticsquery.Transactions)
	}
	ds := analyticsquery.Dataset(d.Dataset)
	if err == nil && ds != analyticsquery.Transactions && ds != analyticsquery.Errors {
		err = &analyticsquery.Error{Detail: fmt.Sprintf("dataset %q: choose transactions or errors", d.Dataset)}
	}
	if err == nil && len(fields) == 0 {
		err = &analyticsquery.Error{Detail: "fields: name at least one, such as transaction, count()"}
	}
	limit, offset, perr := pageOf(r)
	if err == nil {
		err = perr
	}
	ch, st := w.chOf()
	d.State = st
	if err != nil || ch == nil || len(s.Projects) == 0 {
		w.renderAnalytics(rw, r, "discover", v, &d.State, err)
		return
	}
	// The chart plots the first function of the fields, else count().
	d.YAxis = "count()"
	for _, f := range fields {
		if analyticsquery.IsFunction(ds, f) {
			d.YAxis = strings.TrimSpace(f)
			break
		}
	}
	q := s.query(ds, d.Query, fields...)
	q.Sort, q.Limit, q.Offset = d.Sort, limit, offset
	g, gctx := errgroup.WithContext(ctx)
	var tbl *analyticsquery.Table
	var se *analyticsquery.Series
	g.Go(func() error {
		var err error
		tbl, err = analyticsquery.Run(gctx, ch, q)
		return err
	})
	g.Go(func() error {
		var err error
		se, err = analyticsquery.RunSeries(gctx, ch, s.series(ds, d.Query, d.YAxis))
		return err
	})
	if err := g.Wait(); err != nil {
		w.renderAnalytics(rw, r, "discover", v, &d.State, err)
		return
	}
	d.Ran, d.First = true, offset+1
	if tbl.More && offset+limit <= maxDiscoverOffset {
		d.NextURL = pageURL(r, offset+limit)
	}
	if offset > 0 {
		d.PrevURL = pageURL(r, max(offset-limit, 0))
	}
	for _, f := range fields {
		d.Columns = append(d.Columns, strings.TrimSpace(f))
	}
	for _, row := range tbl.Data {
		cells := make([]cell, len(d.Columns))
		for i, f := range d.Columns {
			cells[i] = d.cellOf(f, row[f])
		}
		d.Rows = append(d.Rows, cells)
	}
	format := formatOf(d.YAxis)
	d.Chart = NewValueChart(se.Values[d.YAxis], se.Start, se.Interval, 720, 90, d.YAxis+" per "+intervalText(se.Interval), format)
	w.render(rw, r, http.StatusOK, "discover", v)
}

// formatOf is how a field's values are written: durations in ms or s,
// rates of 1 as percentages, per-minute rates, counts in full.
func formatOf(field string) func(float64) string {
	switch {
	case field == "failure_rate()":
		return fmtPct
	case field == "epm()":
		return func(x float64) string { return fmtRate(x) + "/min" }
	case field == "transaction.duration", strings.Contains(field, "(transaction.duration)"),
		field == "p50()", field == "p75()", field == "p95()", field == "p99()":
		return fmtMs
	case strings.HasPrefix(field, "count"):
		return fmtCount
	}
	return func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
}

// cellOf writes one value of field: numbers formatted for it, a trace
// linking to its waterfall, an issue to its page, a project by slug.
func (d *discoverData) cellOf(field string, v any) cell {
	switch x := v.(type) {
	case string:
		switch field {
		case "trace":
			if x != "" {
				return cell{Text: x, URL: traceURL(d.Org, x)}
			}
		case "timestamp":
			if t, err := time.Parse(time.RFC3339, x); err == nil {
				return cell{Text: when(t)}
			}
		}
		return cell{Text: x}
	case uint64, float64:
		n := number(x)
		switch field {
		case "project.id":
			if slug := d.slug(uint64(n)); slug != "" {
				return cell{Text: slug}
			}
			return cell{Text: fmtCount(n), Num: true}
		case "issue.id":
			if n > 0 {
				return cell{Text: fmtCount(n), URL: issueURL(d.Org, int64(n)), Num: true}
			}
		}
		return cell{Text: formatOf(field)(n), Num: true}
	}
	return cell{Text: fmt.Sprint(v)}
}
