package web

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/analyticsquery"
	"github.com/faultline/faultline/libs/clickhouse"
)

// The analytics pages (performance, transaction summary, trace waterfall,
// Discover query) read the analytics role's ClickHouse tables through
// libs/analyticsquery, the library the REST API's events/ routes use. They
// exist without ClickHouse too and say that analytics is not configured.

// analyticsConn is the dashboard's ClickHouse connection.
type analyticsConn struct{ ch clickhouse.Conn }

// ExpectAnalytics says ClickHouse is configured: until SetAnalytics, the
// analytics pages say it is not reachable yet rather than not configured.
func (w *Web) ExpectAnalytics() { w.analyticsOn.Store(true) }

// SetAnalytics makes the analytics pages read ch.
func (w *Web) SetAnalytics(ch clickhouse.Conn) {
	w.analyticsOn.Store(true)
	w.analytics.Store(&analyticsConn{ch: ch})
}

func (w *Web) mountAnalytics(r chi.Router) {
	r.Get("/organizations/{org}/performance/", w.orgPage(accounts.LevelRead, w.performancePage))
	r.Get("/organizations/{org}/performance/summary/", w.orgPage(accounts.LevelRead, w.summaryPage))
	r.Get("/organizations/{org}/performance/trace/{trace}/", w.orgPage(accounts.LevelRead, w.tracePage))
	r.Get("/organizations/{org}/discover/results/", w.orgPage(accounts.LevelRead, w.discoverPage))
	r.Get("/organizations/{org}/stats/", w.orgPage(accounts.LevelRead, w.statsPage))
}

// period is a choice of the period selectors.
type period struct {
	Value, Label string
	d, interval  time.Duration // the span and the charts' bucket
}

var periods = []period{
	{"1h", "Last hour", time.Hour, time.Minute},
	{"24h", "Last 24 hours", 24 * time.Hour, 30 * time.Minute},
	{"7d", "Last 7 days", 7 * 24 * time.Hour, 3 * time.Hour},
	{"14d", "Last 14 days", 14 * 24 * time.Hour, 6 * time.Hour},
	{"30d", "Last 30 days", 30 * 24 * time.Hour, 12 * time.Hour},
	{"90d", "Last 90 days", 90 * 24 * time.Hour, 24 * time.Hour},
}

const defaultPeriod = "24h"

// scope is what an analytics page reads: the organisation's projects, the
// one chosen (nil: all of them), and the period.
type scope struct {
	Org      string
	Projects []*accounts.OrgProject
	Project  *accounts.OrgProject
	Period   period
	Periods  []period
	Start    time.Time
	End      time.Time
	slugs    map[uint64]string
}

// ids are the projects the page reads.
func (s *scope) ids() []int64 {
	if s.Project != nil {
		return []int64{s.Project.ID}
	}
	out := make([]int64, len(s.Projects))
	for i, p := range s.Projects {
		out[i] = p.ID
	}
	return out
}

// ProjectSlug is the value of the project selector ("" for all).
func (s *scope) ProjectSlug() string {
	if s.Project == nil {
		return ""
	}
	return s.Project.Slug
}

func (s *scope) slug(id uint64) string { return s.slugs[id] }

// errBadPeriod is a statsPeriod the selector does not offer.
var errBadPeriod = &analyticsquery.Error{Detail: "period: choose one of 1h, 24h, 7d, 14d, 30d or 90d"}

// scopeOf reads project= (a slug or id of the organisation's, or none for
// every project) and statsPeriod=. Another organisation's project, or one
// that does not exist, is errNotFoundPage; a period not offered is an
// *analyticsquery.Error, with the default period in the scope.
func (w *Web) scopeOf(r *http.Request) (*scope, error) {
	ctx := r.Context()
	oa := orgOf(ctx)
	projects, err := w.backend().store.OrgProjects(ctx, accounts.ProjectFilter{Orgs: accounts.OrgFilter{AllOrgs: true}, OrgID: oa.org.ID}, maxProjects, 0)
	if err != nil {
		return nil, err
	}
	s := &scope{Org: oa.org.Slug, Projects: projects, Periods: periods, slugs: map[uint64]string{}}
	for _, p := range projects {
		s.slugs[uint64(p.ID)] = p.Slug
	}
	qs := r.URL.Query()
	if want := qs.Get("project"); want != "" && want != "-1" {
		for _, p := range projects { // by slug, else by id
			if p.Slug == want || (s.Project == nil && strconv.FormatInt(p.ID, 10) == want) {
				s.Project = p
			}
		}
		if s.Project == nil {
			return nil, errNotFoundPage
		}
	}
	want := qs.Get("statsPeriod")
	if want == "" {
		want = defaultPeriod
	}
	var perr error = errBadPeriod
	s.Period = periods[1] // defaultPeriod
	for _, p := range periods {
		if p.Value == want {
			s.Period, perr = p, nil
		}
	}
	s.End = time.Now().UTC().Truncate(time.Second).Add(time.Second) // this second's rows count
	s.Start = s.End.Add(-s.Period.d)
	return s, perr
}

// query is a table query over the scope.
func (s *scope) query(d analyticsquery.Dataset, search string, fields ...string) analyticsquery.Query {
	return analyticsquery.Query{Dataset: d, Projects: s.ids(), Start: s.Start, End: s.End, Search: search, Fields: fields}
}

// series is a time-series query over the scope, bucketed for its period.
func (s *scope) series(d analyticsquery.Dataset, search string, yAxis ...string) analyticsquery.SeriesQuery {
	return analyticsquery.SeriesQuery{Query: s.query(d, search), YAxis: yAxis, Interval: s.Period.interval}
}

// analyticsState is what an analytics page says instead of its data when it
// has none to show.
type analyticsState struct {
	NotConfigured bool   // no CLICKHOUSE_URL
	Unavailable   string // configured, but not reachable or without tables
}

// chOf returns the connection, or the state to show instead.
func (w *Web) chOf() (clickhouse.Conn, analyticsState) {
	if a := w.analytics.Load(); a != nil {
		return a.ch, analyticsState{}
	}
	if w.analyticsOn.Load() {
		return nil, analyticsState{Unavailable: msgUnreachable}
	}
	return nil, analyticsState{NotConfigured: true}
}

const (
	msgUnreachable = "Analytics (ClickHouse) is not reachable right now. Retry in a few seconds."
	msgNoTables    = "Analytics has no tables yet: the analytics role creates them when it first starts."
)

// analyticsConfigured says whether ClickHouse is configured (reachable or not).
func (w *Web) analyticsConfigured() bool { return w.analyticsOn.Load() }

// renderAnalytics renders an analytics page after its queries: err nil is
// 200; bad input is 400 with its detail on the page; ClickHouse without
// tables or unreachable is 503 saying so; anything else fails the request.
// Without a connection the page says what st says, with 200 when analytics
// is not configured (a permanent state) and 503 when it is not reachable.
func (w *Web) renderAnalytics(rw http.ResponseWriter, r *http.Request, page string, v *view, st *analyticsState, err error) {
	var qe *analyticsquery.Error
	var ex *clickhouse.Exception
	var ne net.Error
	status := http.StatusOK
	switch {
	case err == nil:
		if st.Unavailable != "" {
			status = http.StatusServiceUnavailable
			rw.Header().Set("Retry-After", "5")
		}
	case errors.Is(err, errNotFoundPage):
		w.notFound(rw, r)
		return
	case errors.As(err, &qe):
		status, v.Error = http.StatusBadRequest, "The query is not valid: "+qe.Detail+"."
	case errors.As(err, &ex) && (ex.Code == 60 || ex.Code == 81): // UNKNOWN_TABLE, UNKNOWN_DATABASE
		status, st.Unavailable = http.StatusServiceUnavailable, msgNoTables
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		status, st.Unavailable = http.StatusServiceUnavailable, msgUnreachable
		rw.Header().Set("Retry-After", "5")
		w.logRefusal(r, status, err)
	default:
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, status, page, v)
}

// Formatting of the numbers the pages show.

// number reads a table cell as a float: counts are uint64, the rest
// float64; NaN (a percentile of no rows) is 0.
func number(v any) float64 {
	var f float64
	switch x := v.(type) {
	case uint64:
		f = float64(x)
	case float64:
		f = x
	case int64:
		f = float64(x)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// fmtMs writes a duration in milliseconds: "0.42 ms", "38 ms", "1.25 s".
func fmtMs(ms float64) string {
	switch {
	case ms == 0:
		return "0 ms"
	case ms >= 60_000:
		return strconv.FormatFloat(ms/60_000, 'f', 1, 64) + " min"
	case ms >= 1000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
	case ms >= 10:
		return strconv.FormatFloat(math.Round(ms), 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
}

// fmtPct writes a rate of 1 as a percentage: "25%", "2.5%", "0%".
func fmtPct(rate float64) string {
	p := math.Round(rate*1000) / 10
	if p == math.Trunc(p) || p >= 10 {
		return strconv.FormatFloat(math.Round(p), 'f', 0, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}

// fmtRate writes a per-minute rate: "120", "3.5", "0.042".
func fmtRate(x float64) string {
	switch {
	case x == 0:
		return "0"
	case x >= 100:
		return strconv.FormatFloat(math.Round(x), 'f', 0, 64)
	case x >= 1:
		return strings.TrimSuffix(strings.TrimRight(strconv.FormatFloat(x, 'f', 2, 64), "0"), ".")
	}
	return strconv.FormatFloat(x, 'g', 2, 64)
}

// fmtCount writes a count in full: "1234".
func fmtCount(x float64) string { return strconv.FormatFloat(math.Round(x), 'f', 0, 64) }

// traceURL is the waterfall of a trace.
func traceURL(org, traceID string) string {
	return "/organizations/" + org + "/performance/trace/" + traceID + "/"
}
