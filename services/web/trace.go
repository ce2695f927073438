package web

import (
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/faultline/faultline/libs/analyticsquery"
)

// traceData is a trace's waterfall: every transaction and span of the
// trace in the organisation's projects (or the one chosen), on one time
// axis, nested by parent, with the errors that happened in each.
type traceData struct {
	*scope
	State    analyticsState
	TraceID  string
	Found    bool
	Rows     []waterfallRow
	Omitted  int // rows beyond maxWaterfall
	Orphans  []traceError
	Duration string
	Axis     []string // tick labels at 0, ¼, ½, ¾ and the end
	Spans    int
	Txs      int
	Errors   int
	InProjs  []string
}

// waterfallRow is one span of the waterfall. X and W place its bar on a
// 0–1000 axis from the trace's start to its end.
type waterfallRow struct {
	Depth       string // a CSS class, d0 … d12
	Transaction bool
	Name        string // the transaction's name, or the span's op
	Description string
	Project     string
	Duration    string
	Status      string
	Failed      bool
	X, W        float64
	URL         string // a transaction's summary
	Errors      []traceError
}

// traceError is an error of the trace, linking to its issue's event.
type traceError struct {
	Title, Level, Project, URL string
}

// maxWaterfall bounds the rows of one waterfall: beyond it the page says
// how many spans it leaves out.
const maxWaterfall = 2000

// maxDepthClass is the deepest indentation the stylesheet has.
const maxDepthClass = 12

func (w *Web) tracePage(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	oa := orgOf(ctx)
	traceID := strings.ToLower(chi.URLParam(r, "trace"))
	v := &view{Title: "Trace " + traceID, Crumbs: []crumb{{Label: oa.org.Name, Href: "/"},
		{Label: "Performance", Href: "/organizations/" + oa.org.Slug + "/performance/"}, {Label: "Trace"}}}
	s, err := w.scopeOf(r)
	if s == nil {
		w.renderAnalytics(rw, r, "trace", v, &analyticsState{}, err)
		return
	}
	if err == errBadPeriod {
		err = nil // a trace has no period: links keep theirs, the default when it is not one offered
	}
	d := &traceData{scope: s, TraceID: traceID}
	v.Data = d
	ch, st := w.chOf()
	d.State = st
	if err != nil || ch == nil || len(s.Projects) == 0 {
		w.renderAnalytics(rw, r, "trace", v, &d.State, err)
		return
	}
	tr, err := analyticsquery.GetTrace(ctx, ch, traceID, s.ids())
	if err != nil {
		w.renderAnalytics(rw, r, "trace", v, &d.State, err)
		return
	}
	if len(tr.Roots) == 0 && len(tr.Orphans) == 0 {
		// Nothing of it in the projects one may read: as if it did not exist.
		w.notFound(rw, r)
		return
	}
	d.Found = true
	d.layout(tr)
	w.render(rw, r, http.StatusOK, "trace", v)
}

// errorOf links an error of the trace to its issue's event.
func (d *traceData) errorOf(e analyticsquery.Error_) traceError {
	te := traceError{Title: e.Title, Level: levelClass(e.Level), Project: d.slug(e.ProjectID)}
	if te.Title == "" {
		te.Title = "(no title)"
	}
	if e.IssueID != 0 {
		te.URL = issueURL(d.Org, int64(e.IssueID)) + "events/" + e.EventID + "/"
	}
	return te
}

// layout flattens the trace depth first, children by start, and places each
// span on the trace's time axis.
func (d *traceData) layout(tr *analyticsquery.Trace) {
	start, end := math.Inf(1), math.Inf(-1)
	var bounds func([]*analyticsquery.Span)
	bounds = func(ss []*analyticsquery.Span) {
		for _, s := range ss {
			start, end = math.Min(start, s.Start), math.Max(end, math.Max(s.End, s.Start))
			bounds(s.Children)
		}
	}
	bounds(tr.Roots)
	total := end - start
	if !(total > 0) {
		total = 0.001 // one instant: every bar is a sliver at 0
	}
	if math.IsInf(start, 1) {
		start = 0
	}
	if len(tr.Roots) > 0 {
		d.Duration = fmtMs(total * 1000)
		for i := 0; i <= 4; i++ {
			d.Axis = append(d.Axis, fmtMs(total*1000*float64(i)/4))
		}
	}
	projects := map[string]bool{}
	var walk func(ss []*analyticsquery.Span, depth int)
	walk = func(ss []*analyticsquery.Span, depth int) {
		for _, s := range ss {
			d.Spans++
			if s.IsSegment {
				d.Txs++
			}
			d.Errors += len(s.Errors)
			project := d.slug(s.ProjectID)
			projects[project] = true
			if len(d.Rows) >= maxWaterfall {
				d.Omitted++
				walk(s.Children, depth+1)
				continue
			}
			row := waterfallRow{Depth: "d" + strconv.Itoa(min(depth, maxDepthClass)), Transaction: s.IsSegment, Project: project,
				Status: s.Status, Failed: failedStatus(s.Status), Description: s.Description}
			if s.IsSegment {
				row.Name = s.Transaction
				row.URL = summaryURL(d.Org, project, s.Transaction, d.Period.Value)
				if row.Description == "" || row.Description == s.Transaction {
					row.Description = s.Op // a segment's description is its name
				}
			} else {
				row.Name = s.Op
				if row.Name == "" {
					row.Name = "span"
				}
			}
			dur := math.Max(s.End-s.Start, 0)
			row.Duration = fmtMs(dur * 1000)
			row.X = round1((s.Start - start) / total * 1000)
			row.W = round1(math.Max(dur/total*1000, 2))
			if row.X+row.W > 1000 {
				row.X = math.Max(1000-row.W, 0)
			}
			for _, e := range s.Errors {
				row.Errors = append(row.Errors, d.errorOf(e))
			}
			d.Rows = append(d.Rows, row)
			walk(s.Children, depth+1)
		}
	}
	walk(tr.Roots, 0)
	for _, e := range tr.Orphans {
		d.Orphans = append(d.Orphans, d.errorOf(e))
		projects[d.slug(e.ProjectID)] = true
	}
	d.Errors += len(tr.Orphans)
	for _, p := range d.Projects {
		if projects[p.Slug] {
			d.InProjs = append(d.InProjs, p.Slug)
		}
	}
}
