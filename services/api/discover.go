package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/analyticsquery"
	"github.com/faultline/faultline/libs/clickhouse"
)

// The Discover-like queries (events/, events-stats/) and traces
// (events-trace/) read the analytics role's ClickHouse tables through
// libs/analyticsquery, in Sentry's shapes. The api never writes them.
//
// Without CLICKHOUSE_URL, events/ and events-stats/ answer error counts
// from Postgres (discover_pg.go) and every other question 503 with a
// detail that names what needs ClickHouse; the trace route answers 503:
// the routes exist (they are in the OpenAPI document and a client can tell
// "not enabled" from "no such endpoint").

// analyticsStore is the api's ClickHouse connection.
type analyticsStore struct{ ch clickhouse.Conn }

// ExpectAnalytics says ClickHouse is configured: until SetAnalytics, the
// analytics routes answer 503 "not reachable yet" rather than "not enabled".
func (a *API) ExpectAnalytics() { a.analyticsOn.Store(true) }

// SetAnalytics makes the analytics routes read ch.
func (a *API) SetAnalytics(ch clickhouse.Conn) {
	a.analyticsOn.Store(true)
	a.analytics.Store(&analyticsStore{ch: ch})
}

var (
	errNoAnalytics = &httpError{http.StatusServiceUnavailable,
		"analytics is not enabled on this server: events, events-stats and traces need ClickHouse (set CLICKHOUSE_URL); " +
			"error counts are in the project and issue stats"}
	errAnalyticsDown = &httpError{http.StatusServiceUnavailable, "analytics (ClickHouse) is not reachable, retry later"}
	errNoTables      = &httpError{http.StatusServiceUnavailable,
		"analytics has no tables yet: they are created when the analytics role first starts"}
)

func (a *API) discoverRoutes() []route {
	const org = "/api/0/organizations/{org}/"
	return []route{
		{"GET", org + "events/", "Query events as a table (field, query, sort, statsPeriod or start/end, project, environment, dataset, cursor); error counts without ClickHouse",
			orgProjects, accounts.LevelRead, 200, "", "EventsTable", a.discoverTable},
		{"GET", org + "events-stats/", "Query events as a time series (yAxis, interval, query, statsPeriod or start/end, project, environment, dataset), or one series per top group (topEvents, field, orderby, excludeOther); error counts without ClickHouse",
			orgProjects, accounts.LevelRead, 200, "", "EventsStats", a.discoverStats},
		{"GET", org + "events-trace/{trace_id}/", "A trace as a tree of transactions and spans with their errors, across the caller's projects; needs ClickHouse",
			orgProjects, accounts.LevelRead, 200, "", "Trace", a.discoverTrace},
	}
}

// chOf returns the connection, or why there is none.
func (a *API) chOf(c *call) (clickhouse.Conn, error) {
	if s := a.analytics.Load(); s != nil {
		return s.ch, nil
	}
	if a.analyticsOn.Load() {
		c.w.Header().Set("Retry-After", "5")
		return nil, errAnalyticsDown
	}
	return nil, errNoAnalytics
}

// analyticsErr turns the library's and ClickHouse's errors into answers:
// bad input 400, a missing schema or an unreachable server 503.
func analyticsErr(c *call, err error) error {
	var qe *analyticsquery.Error
	var ex *clickhouse.Exception
	var ne net.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &qe):
		return &httpError{http.StatusBadRequest, qe.Detail}
	case errors.As(err, &ex) && (ex.Code == 60 || ex.Code == 81): // UNKNOWN_TABLE, UNKNOWN_DATABASE
		return errNoTables
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, context.DeadlineExceeded) && c.r.Context().Err() == nil:
		c.w.Header().Set("Retry-After", "5")
		return fmt.Errorf("%w: %w", errAnalyticsDown, err)
	}
	return err
}

// readableProjects are the projects a call may read: those of project=
// (ids or slugs, -1 for all), each the organisation's and, for a token
// restricted to one project, that one; without project=, every project of
// the organisation the caller may read. Another organisation's project, or
// one the token may not read, is 403 whether or not it exists.
func readableProjects(c *call) ([]*accounts.OrgProject, error) {
	ctx := c.r.Context()
	var tokenProject int64
	if c.p.Token != nil {
		tokenProject = c.p.Token.ProjectID
	}
	asked := c.r.URL.Query()["project"]
	if len(asked) > 100 {
		return nil, &httpError{http.StatusBadRequest, "project: at most 100"}
	}
	if len(asked) == 0 || slices.Contains(asked, "-1") {
		if tokenProject != 0 {
			p, err := c.store.OrgProject(ctx, c.org.ID, idString(tokenProject))
			if errors.Is(err, accounts.ErrNotFound) {
				return nil, errNotFound
			}
			if err != nil {
				return nil, err
			}
			return []*accounts.OrgProject{p}, nil
		}
		return c.store.OrgProjects(ctx, accounts.ProjectFilter{Orgs: c.p.Orgs(), OrgID: c.org.ID}, 10000, 0)
	}
	var out []*accounts.OrgProject
	seen := map[int64]bool{}
	for _, v := range asked {
		p, err := c.store.OrgProject(ctx, c.org.ID, v)
		if errors.Is(err, accounts.ErrNotFound) || (err == nil && tokenProject != 0 && p.ID != tokenProject) {
			return nil, &httpError{http.StatusForbidden, fmt.Sprintf("project %q: you do not have access to it", v)}
		}
		if err != nil {
			return nil, err
		}
		if !seen[p.ID] {
			seen[p.ID] = true
			out = append(out, p)
		}
	}
	return out, nil
}

var statsPeriodRe = regexp.MustCompile(`^([1-9][0-9]{0,5})([smhdw])$`)

// maxPeriod bounds a query's period.
const maxPeriod = 400 * 24 * time.Hour

// sentryDuration reads Sentry's "<n><s|m|h|d|w>" durations.
func sentryDuration(s string) (time.Duration, bool) {
	m := statsPeriodRe.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
	return time.Duration(n) * unit, true
}

// parseSentryTime reads start= and end=: RFC 3339, or a time without zone
// in UTC as Sentry takes it.
func parseSentryTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// periodOf reads statsPeriod (default 14d) or start and end.
func periodOf(c *call, now time.Time) (time.Time, time.Time, error) {
	v := c.r.URL.Query()
	s, e, p := v.Get("start"), v.Get("end"), v.Get("statsPeriod")
	if s != "" || e != "" {
		if p != "" {
			return time.Time{}, time.Time{}, &httpError{http.StatusBadRequest, "give statsPeriod or start and end, not both"}
		}
		start, ok1 := parseSentryTime(s)
		end, ok2 := parseSentryTime(e)
		if !ok1 || !ok2 {
			return time.Time{}, time.Time{}, &httpError{http.StatusBadRequest, "start and end: want both, as RFC 3339 times"}
		}
		if !end.After(start) || end.Sub(start) > maxPeriod {
			return time.Time{}, time.Time{}, &httpError{http.StatusBadRequest, "start and end: end must come after start, at most 400 days later"}
		}
		return start, end, nil
	}
	if p == "" {
		p = "14d"
	}
	d, ok := sentryDuration(p)
	if !ok || d > maxPeriod {
		return time.Time{}, time.Time{}, &httpError{http.StatusBadRequest, "statsPeriod: want a number and a unit (s, m, h, d, w), such as 24h or 14d, at most 400 days"}
	}
	end := now.UTC().Truncate(time.Second).Add(time.Second) // this second's events count
	return end.Add(-d), end, nil
}

// transactionOnly are fields and functions only transactions have: asking
// for one without dataset= picks the transactions dataset.
func datasetOf(c *call, fields []string) (analyticsquery.Dataset, string, error) {
	v := c.r.URL.Query()
	search := v.Get("query")
	// Sentry's Discover chooses the dataset with event.type in the query;
	// the transactions table holds only transactions, so the term goes.
	var kept []string
	typed := analyticsquery.Dataset("")
	for _, tok := range strings.Fields(search) {
		switch tok {
		case "event.type:transaction":
			typed = analyticsquery.Transactions
			continue
		case "event.type:error":
			typed = analyticsquery.Errors
		}
		kept = append(kept, tok)
	}
	switch d := v.Get("dataset"); d {
	case "transactions", "errors":
		ds := analyticsquery.Dataset(d)
		if typed != "" && typed != ds {
			return "", "", &httpError{http.StatusBadRequest, "query's event.type contradicts dataset=" + d}
		}
		if ds == analyticsquery.Transactions {
			search = strings.Join(kept, " ")
		}
		return ds, search, nil
	case "", "discover":
	default:
		return "", "", &httpError{http.StatusBadRequest, fmt.Sprintf("dataset %q: want transactions or errors", d)}
	}
	if typed == analyticsquery.Transactions {
		return typed, strings.Join(kept, " "), nil
	}
	if typed == analyticsquery.Errors {
		return typed, search, nil
	}
	for _, f := range fields {
		switch strings.TrimSpace(f) {
		case "title", "level", "issue.id", "issue", "event.type", "count_unique(issue)":
			return analyticsquery.Errors, search, nil
		}
	}
	return analyticsquery.Transactions, search, nil
}

// baseQuery reads what a table and a series share.
func baseQuery(c *call, fields []string) (analyticsquery.Query, []*accounts.OrgProject, error) {
	var q analyticsquery.Query
	ps, err := readableProjects(c)
	if err != nil {
		return q, nil, err
	}
	if q.Start, q.End, err = periodOf(c, time.Now()); err != nil {
		return q, nil, err
	}
	if q.Dataset, q.Search, err = datasetOf(c, fields); err != nil {
		return q, nil, err
	}
	for _, p := range ps {
		q.Projects = append(q.Projects, p.ID)
	}
	for _, env := range c.r.URL.Query()["environment"] {
		if env != "" {
			q.Environment = append(q.Environment, env)
		}
	}
	return q, ps, nil
}

// fieldType is Sentry's meta type of a field, from its name and ClickHouse
// type, with its unit.
func fieldType(field, dbType string) (string, string) {
	switch {
	case field == "failure_rate()":
		return "percentage", ""
	case field == "epm()":
		return "rate", "1/minute"
	case field == "transaction.duration", strings.Contains(field, "(transaction.duration)"),
		field == "p50()", field == "p75()", field == "p95()", field == "p99()":
		return "duration", "millisecond"
	case dbType == "UInt64":
		return "integer", ""
	case dbType == "Float64":
		return "number", ""
	case dbType == "DateTime":
		return "date", ""
	}
	return "string", ""
}

func (a *API) discoverTable(c *call) (any, error) {
	ch, err := a.chOf(c)
	if errors.Is(err, errNoAnalytics) {
		return a.errorTable(c)
	}
	if err != nil {
		return nil, err
	}
	v := c.r.URL.Query()
	fields := v["field"]
	if len(fields) == 0 {
		return nil, &httpError{http.StatusBadRequest, "field: at least one is required, such as field=transaction&field=count()"}
	}
	if len(v["sort"]) > 1 {
		return nil, &httpError{http.StatusBadRequest, "sort: one field only"}
	}
	q, _, err := baseQuery(c, fields)
	if err != nil {
		return nil, err
	}
	q.Fields, q.Sort = fields, v.Get("sort")
	if len(q.Projects) == 0 {
		q.Projects = []int64{0} // no project: no rows, but the fields are checked and typed
	}
	var tbl *analyticsquery.Table
	rows, err := page(c, func(limit, offset int) ([]map[string]any, error) {
		// page asks for one more row than it answers, and so does Run.
		q.Limit, q.Offset = limit-1, offset
		t, err := analyticsquery.Run(c.r.Context(), ch, q)
		if err != nil {
			return nil, analyticsErr(c, err)
		}
		tbl = t
		if t.More {
			return append(t.Data, nil), nil // page only counts it
		}
		return t.Data, nil
	})
	if err != nil {
		return nil, err
	}
	types, units := map[string]string{}, map[string]*string{}
	for _, f := range fields {
		f = strings.TrimSpace(f)
		typ, unit := fieldType(f, tbl.Meta[f])
		types[f] = typ
		units[f] = strOrNil(unit)
	}
	for _, r := range rows {
		for k, val := range r {
			if x, ok := val.(float64); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
				r[k] = nil
			}
		}
	}
	return eventsTable(rows, types, units, string(q.Dataset)), nil
}

// EventsTable is the events answer: a row per result keyed by the fields
// asked for, and each field's type and unit.
type EventsTable struct {
	Data []map[string]any `json:"data"`
	Meta EventsMeta       `json:"meta"`
}

// EventsMeta is the type and unit (null: none) of each field of a table
// or series; a table's says it is not metrics data.
type EventsMeta struct {
	Fields        map[string]string  `json:"fields"`
	Units         map[string]*string `json:"units"`
	Dataset       string             `json:"dataset"`
	IsMetricsData *bool              `json:"isMetricsData,omitempty"`
}

func eventsTable(rows []map[string]any, types map[string]string, units map[string]*string, dataset string) EventsTable {
	no := false
	return EventsTable{Data: rows, Meta: EventsMeta{Fields: types, Units: units, Dataset: dataset, IsMetricsData: &no}}
}

// EventsSeries is one series of events-stats: a point per bucket; Order
// is its rank among several.
type EventsSeries struct {
	Data          []SeriesPoint `json:"data"`
	Start         int64         `json:"start"`
	End           int64         `json:"end"`
	IsMetricsData bool          `json:"isMetricsData"`
	Meta          EventsMeta    `json:"meta"`
	Order         *int          `json:"order,omitempty"`
}

// SeriesPoint is Sentry's [unix seconds, [{"count": value}]].
type SeriesPoint [2]any

// SeriesCount is a bucket's value.
type SeriesCount struct {
	Count float64 `json:"count"`
}

// defaultInterval is an interval with at most about 720 points for a period.
func defaultInterval(d time.Duration) time.Duration {
	for _, i := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 4 * time.Hour, 12 * time.Hour} {
		if d/i <= 720 {
			return i
		}
	}
	return 24 * time.Hour
}

// statsInterval reads interval=, or picks one for the period.
func statsInterval(c *call, start, end time.Time) (time.Duration, error) {
	s := c.r.URL.Query().Get("interval")
	if s == "" {
		return defaultInterval(end.Sub(start)), nil
	}
	d, ok := sentryDuration(s)
	if !ok || d < time.Minute {
		return 0, &httpError{http.StatusBadRequest, "interval: want a number and a unit (m, h, d, w), such as 1h, at least 1m"}
	}
	return d, nil
}

// seriesJSON is one series in Sentry's events-stats shape: [time, [{count}]]
// per bucket; order < 0 leaves order out.
func seriesJSON(times []time.Time, start, end time.Time, values []float64, y, dataset string, order int) EventsSeries {
	data := make([]SeriesPoint, len(times))
	for i, t := range times {
		x := values[i]
		if math.IsNaN(x) || math.IsInf(x, 0) {
			x = 0
		}
		data[i] = SeriesPoint{t.Unix(), []SeriesCount{{Count: x}}}
	}
	typ, unit := fieldType(y, "Float64")
	if strings.HasPrefix(y, "count") {
		typ = "integer"
	}
	m := EventsSeries{Data: data, Start: start.Unix(), End: end.Unix(),
		Meta: EventsMeta{Fields: map[string]string{y: typ}, Units: map[string]*string{y: strOrNil(unit)}, Dataset: dataset}}
	if order >= 0 {
		m.Order = &order
	}
	return m
}

// seriesAnswer is the answer for one set of series: one yAxis's series as
// it is, several keyed by yAxis, each with its order.
func seriesAnswer(times []time.Time, start, end time.Time, values map[string][]float64, yAxis []string, dataset string) any {
	if len(yAxis) == 1 {
		y := strings.TrimSpace(yAxis[0])
		return seriesJSON(times, start, end, values[y], y, dataset, -1)
	}
	out := map[string]any{}
	for i, y := range yAxis {
		y = strings.TrimSpace(y)
		out[y] = seriesJSON(times, start, end, values[y], y, dataset, i)
	}
	return out
}

func (a *API) discoverStats(c *call) (any, error) {
	v := c.r.URL.Query()
	yAxis := v["yAxis"]
	if len(yAxis) == 0 {
		yAxis = []string{"count()"}
	}
	topN := 0
	if s := v.Get("topEvents"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > analyticsquery.MaxTopEvents {
			return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("topEvents: want 1 to %d", analyticsquery.MaxTopEvents)}
		}
		topN = n
	}
	ch, err := a.chOf(c)
	if errors.Is(err, errNoAnalytics) {
		return a.errorStats(c, yAxis, topN > 0)
	}
	if err != nil {
		return nil, err
	}
	fields := yAxis
	if topN > 0 {
		fields = append(slices.Clone(yAxis), v["field"]...)
	}
	q, _, err := baseQuery(c, fields)
	if err != nil {
		return nil, err
	}
	sq := analyticsquery.SeriesQuery{Query: q, YAxis: yAxis}
	if sq.Interval, err = statsInterval(c, q.Start, q.End); err != nil {
		return nil, err
	}
	if len(q.Projects) == 0 {
		sq.Projects = []int64{0} // no project: every bucket is 0
	}
	if topN > 0 {
		return topStats(c, ch, sq, topN)
	}
	s, err := analyticsquery.RunSeries(c.r.Context(), ch, sq)
	if err != nil {
		return nil, analyticsErr(c, err)
	}
	return seriesAnswer(s.Times, s.Start, s.End, s.Values, yAxis, string(q.Dataset)), nil
}

// topStats answers topEvents=n: an object keyed by each top group's values
// joined with ",", each its series (or, with several yAxis, its series
// keyed by yAxis) with its rank as order, and "Other" for the rest unless
// excludeOther=1. Without groups it is the plain series, as Sentry's.
func topStats(c *call, ch clickhouse.Conn, sq analyticsquery.SeriesQuery, n int) (any, error) {
	v := c.r.URL.Query()
	if len(v["field"]) == 0 {
		return nil, &httpError{http.StatusBadRequest, "field: topEvents needs the columns that make a group, such as field=transaction&field=count()"}
	}
	order := v.Get("orderby")
	if order == "" {
		order = v.Get("sort")
	}
	top, err := analyticsquery.RunTop(c.r.Context(), ch, analyticsquery.TopQuery{SeriesQuery: sq, Fields: v["field"], OrderBy: order, Limit: n})
	if err != nil {
		return nil, analyticsErr(c, err)
	}
	dataset := string(sq.Dataset)
	if len(top.Groups) == 0 {
		zero := map[string][]float64{}
		for _, y := range sq.YAxis {
			zero[strings.TrimSpace(y)] = make([]float64, len(top.Times))
		}
		return seriesAnswer(top.Times, top.Start, top.End, zero, sq.YAxis, dataset), nil
	}
	// One series, or several keyed by yAxis with the group's order beside
	// them, as Sentry's.
	one := func(values map[string][]float64, order int) any {
		if len(sq.YAxis) == 1 {
			y := strings.TrimSpace(sq.YAxis[0])
			return seriesJSON(top.Times, top.Start, top.End, values[y], y, dataset, order)
		}
		m := seriesAnswer(top.Times, top.Start, top.End, values, sq.YAxis, dataset).(map[string]any)
		m["order"] = order
		return m
	}
	out := map[string]any{}
	for i, g := range top.Groups {
		out[g.Key] = one(g.Series, i)
	}
	if top.Other != nil && v.Get("excludeOther") != "1" {
		out[analyticsquery.OtherKey] = one(top.Other, len(top.Groups))
	}
	return out, nil
}

func (a *API) discoverTrace(c *call) (any, error) {
	ch, err := a.chOf(c)
	if err != nil {
		return nil, err
	}
	ps, err := readableProjects(c)
	if err != nil {
		return nil, err
	}
	slugs := map[uint64]string{}
	ids := make([]int64, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.ID)
		slugs[uint64(p.ID)] = p.Slug
	}
	traceID := strings.ToLower(c.param("trace_id"))
	if len(ids) == 0 {
		return nil, errNotFound
	}
	tr, err := analyticsquery.GetTrace(c.r.Context(), ch, traceID, ids)
	if err != nil {
		return nil, analyticsErr(c, err)
	}
	if len(tr.Roots) == 0 && len(tr.Orphans) == 0 {
		return nil, &httpError{http.StatusNotFound, "no transaction, span or error of this trace in your projects"}
	}
	var walk func([]*analyticsquery.Span)
	walk = func(ss []*analyticsquery.Span) {
		for _, s := range ss {
			s.ProjectSlug = slugs[s.ProjectID]
			for i := range s.Errors {
				s.Errors[i].ProjectSlug = slugs[s.Errors[i].ProjectID]
			}
			walk(s.Children)
		}
	}
	walk(tr.Roots)
	for i := range tr.Orphans {
		tr.Orphans[i].ProjectSlug = slugs[tr.Orphans[i].ProjectID]
	}
	return tr, nil
}

// The OpenAPI schemas of the analytics routes.
func init() {
	anyObj := map[string]any{"type": "object"}
	meta := obj([]string{"fields"}, map[string]any{
		"fields":  map[string]any{"type": "object", "additionalProperties": str, "description": "Each field's type: integer, number, string, date, duration, percentage, rate."},
		"units":   map[string]any{"type": "object", "additionalProperties": nullStr},
		"dataset": str, "isMetricsData": boolean})
	point := map[string]any{"type": "array", "description": "[unix seconds, [{\"count\": value}]]", "items": map[string]any{}}
	span := obj([]string{"span_id", "project_id", "start_timestamp", "timestamp", "children"}, map[string]any{
		"span_id": str, "parent_span_id": str, "project_id": integer, "project_slug": str, "event_id": str,
		"transaction": str, "op": str, "description": str, "status": str,
		"start_timestamp": map[string]any{"type": "number"}, "timestamp": map[string]any{"type": "number"},
		"is_transaction": boolean, "errors": map[string]any{"type": "array", "items": ref("TraceError")},
		"children": map[string]any{"type": "array", "items": ref("TraceSpan")}})
	for name, s := range map[string]any{
		"EventsTable": obj([]string{"data", "meta"}, map[string]any{
			"data": map[string]any{"type": "array", "items": anyObj, "description": "One object per row, keyed by field."}, "meta": meta}),
		"EventsStats": obj(nil, map[string]any{
			"data": map[string]any{"type": "array", "items": point}, "start": integer, "end": integer, "meta": meta,
			"order": map[string]any{"type": "integer", "description": "With several yAxis the answer is keyed by yAxis, each an object like this one with its order."}}),
		"TraceSpan": span,
		"TraceError": obj([]string{"event_id", "project_id"}, map[string]any{"event_id": str, "issue_id": integer,
			"project_id": integer, "project_slug": str, "span_id": str, "title": str, "level": str}),
		"Trace": obj([]string{"trace_id", "transactions", "orphan_errors"}, map[string]any{"trace_id": str,
			"transactions":  map[string]any{"type": "array", "items": ref("TraceSpan"), "description": "The trace's roots: spans whose parent is not in it."},
			"orphan_errors": map[string]any{"type": "array", "items": ref("TraceError"), "description": "Errors whose span is not in the trace."}}),
	} {
		schemas[name] = s
	}
	paramHelp["trace_id"] = "The trace's id: 32 hex digits."

	q := func(name, help string, list bool) any {
		var schema any = str
		if list {
			schema = strList
		}
		m := map[string]any{"name": name, "in": "query", "description": help, "schema": schema}
		if list {
			m["style"], m["explode"] = "form", true
		}
		return m
	}
	project := q("project", "Project ids or slugs to read, repeated; -1 or none: every project one may read. Another organisation's is 403.", true)
	common := []any{
		q("query", "Search: key:value, !key:value, \"quoted values\" and free text; event.type:transaction or event.type:error picks the dataset.", false),
		q("statsPeriod", "The period up to now: a number and s, m, h, d or w (14d when neither it nor start and end are given).", false),
		q("start", "The period's start, RFC 3339 (with end, instead of statsPeriod).", false),
		q("end", "The period's end, RFC 3339.", false),
		project,
		q("environment", "Environments, repeated.", true),
		q("dataset", "transactions or errors; without it, from event.type in query, else errors for error-only fields, else transactions.", false),
	}
	const org = "/api/0/organizations/{org}/"
	queryParams[org+"events/"] = append(slices.Clone(common),
		q("field", "Columns (transaction, release, user, ...) and functions (count(), count_unique(user), p50(), p95(), p99(), avg(transaction.duration), failure_rate(), epm()), repeated.", true),
		q("sort", "One field, - first for descending.", false))
	queryParams[org+"events-stats/"] = append(slices.Clone(common),
		q("yAxis", "Functions to plot, repeated (count() when none); several answer one series each, keyed by yAxis.", true),
		q("interval", "The bucket: a number and m, h, d or w, at least 1m (from the period when not given).", false),
		q("topEvents", "1 to 10: one series per top group of the field= columns, keyed by their values joined with \",\", and Other for the rest.", false),
		q("field", "With topEvents: the columns that make a group, and functions to order by.", true),
		q("orderby", "With topEvents: what ranks the groups, a field or yAxis, - first for descending (the first function, descending, when not given).", false),
		q("excludeOther", "With topEvents: 1 leaves the Other series out.", false))
	queryParams[org+"events-trace/{trace_id}/"] = []any{project}
}

// queryParams are the documented query parameters of routes that take some
// beyond cursor and per_page.
var queryParams = map[string][]any{}
