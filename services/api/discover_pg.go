package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/analyticsquery"
	"github.com/faultline/faultline/libs/issues"
)

// Without ClickHouse, events/ and events-stats/ answer what Postgres can:
// count() and count_unique(user) of error events (the stored events of
// grouping's projection, read through libs/issues) by project.id,
// issue.id, release, environment, level and title, over the time they were
// received. Anything else answers 503 naming the field, function or
// dataset that needs CLICKHOUSE_URL.

// pgFunctions are the functions Postgres answers, by their row field.
var pgFunctions = map[string]string{"count()": "count", "count_unique(user)": "users"}

func needsAnalytics(what string) error {
	return &httpError{http.StatusServiceUnavailable, what + " needs analytics: set CLICKHOUSE_URL. " +
		"Without it events/ and events-stats/ answer count() and count_unique(user) of errors (dataset=errors or query=event.type:error) " +
		"by project.id, issue.id, release, environment, level and title"}
}

// errorQuery reads what the Postgres answers share: the dataset must be
// errors and every search key one Postgres has.
func errorQuery(c *call, fields []string) (issues.ErrorCountQuery, error) {
	var q issues.ErrorCountQuery
	v := c.r.URL.Query()
	ds, search, err := datasetOf(c, fields)
	if err != nil {
		return q, err
	}
	if ds != analyticsquery.Errors {
		if v.Get("dataset") == "transactions" || strings.Contains(v.Get("query"), "event.type:transaction") {
			return q, needsAnalytics("the transactions dataset")
		}
		return q, needsAnalytics("a query that is not restricted to errors (add dataset=errors or query=event.type:error)")
	}
	terms, err := analyticsquery.ParseSearch(search)
	if err != nil {
		return q, analyticsErr(c, err)
	}
	for _, t := range terms {
		if t.Key != "" {
			if _, ok := issues.ErrorCountColumns[t.Key]; !ok {
				return q, needsAnalytics(fmt.Sprintf("search key %q", t.Key))
			}
		}
		q.Filters = append(q.Filters, issues.ErrorCountFilter{Key: t.Key, Value: t.Value, Negated: t.Negated})
	}
	ps, err := readableProjects(c)
	if err != nil {
		return q, err
	}
	for _, p := range ps {
		q.Projects = append(q.Projects, p.ID)
	}
	if q.Start, q.End, err = periodOf(c, time.Now()); err != nil {
		return q, err
	}
	for _, env := range v["environment"] {
		if env != "" {
			q.Environments = append(q.Environments, env)
		}
	}
	return q, nil
}

// pgErr turns the library's bad-input errors into 400s.
func pgErr(err error) error {
	if errors.Is(err, issues.ErrInvalid) {
		return &httpError{http.StatusBadRequest, strings.TrimPrefix(err.Error(), issues.ErrInvalid.Error()+": ")}
	}
	return err
}

// errorTable is events/ over Postgres.
func (a *API) errorTable(c *call) (any, error) {
	v := c.r.URL.Query()
	var fields []string
	for _, f := range v["field"] {
		fields = append(fields, strings.TrimSpace(f))
	}
	if len(fields) == 0 {
		return nil, needsAnalytics("a query without field=")
	}
	q, err := errorQuery(c, fields)
	if err != nil {
		return nil, err
	}
	aggregate := false
	for _, f := range fields {
		switch {
		case pgFunctions[f] != "":
			aggregate = true
		case issues.ErrorCountColumns[f] != "":
			if !slices.Contains(q.GroupBy, f) {
				q.GroupBy = append(q.GroupBy, f)
			}
		default:
			return nil, needsAnalytics(fmt.Sprintf("field %q", f))
		}
	}
	if !aggregate {
		return nil, needsAnalytics("a list of single events (no count() among the fields)")
	}
	if len(v["sort"]) > 1 {
		return nil, &httpError{http.StatusBadRequest, "sort: one field only"}
	}
	if s := v.Get("sort"); s != "" {
		name := strings.TrimPrefix(s, "-")
		if !slices.Contains(fields, name) {
			return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("sort %q: sort by one of the fields", s)}
		}
		if f := pgFunctions[name]; f != "" {
			name = f
		}
		q.Sort = strings.Repeat("-", len(s)-len(strings.TrimPrefix(s, "-"))) + name
	} else {
		q.Sort = "-count" // pages need an order
	}
	rows, err := page(c, func(limit, offset int) ([]map[string]any, error) {
		q.Limit, q.Offset = limit, offset
		rs, err := c.issues.ErrorCounts(c.r.Context(), q)
		if err != nil {
			return nil, pgErr(err)
		}
		out := make([]map[string]any, 0, len(rs))
		for _, r := range rs {
			row := map[string]any{}
			for i, g := range q.GroupBy {
				row[g] = r.Values[i]
			}
			for _, f := range fields {
				switch pgFunctions[f] {
				case "count":
					row[f] = r.Count
				case "users":
					row[f] = r.Users
				}
			}
			out = append(out, row)
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	types, units := map[string]string{}, map[string]*string{}
	for _, f := range fields {
		types[f], units[f] = "string", nil
		if pgFunctions[f] != "" || f == "project.id" || f == "issue.id" {
			types[f] = "integer"
		}
	}
	return eventsTable(rows, types, units, string(analyticsquery.Errors)), nil
}

// errorStats is events-stats/ over Postgres.
func (a *API) errorStats(c *call, yAxis []string, top bool) (any, error) {
	if top {
		return nil, needsAnalytics("topEvents")
	}
	for i, y := range yAxis {
		yAxis[i] = strings.TrimSpace(y)
		if pgFunctions[yAxis[i]] == "" {
			return nil, needsAnalytics(fmt.Sprintf("yAxis %q", yAxis[i]))
		}
	}
	q, err := errorQuery(c, yAxis)
	if err != nil {
		return nil, err
	}
	if q.Interval, err = statsInterval(c, q.Start, q.End); err != nil {
		return nil, err
	}
	step := int64(q.Interval / time.Second)
	start := time.Unix(q.Start.Unix()/step*step, 0).UTC()
	n := int((q.End.Sub(start) + q.Interval - 1) / q.Interval)
	if n > analyticsquery.MaxBuckets {
		return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("interval %s is too small for the period: at most %d points", q.Interval, analyticsquery.MaxBuckets)}
	}
	times := make([]time.Time, n)
	for i := range times {
		times[i] = start.Add(time.Duration(i) * q.Interval)
	}
	values := map[string][]float64{}
	for _, y := range yAxis {
		values[y] = make([]float64, n)
	}
	rs, err := c.issues.ErrorCounts(c.r.Context(), q)
	if err != nil {
		return nil, pgErr(err)
	}
	for _, r := range rs {
		i := int(r.Bucket.Sub(start) / q.Interval)
		if i < 0 || i >= n {
			continue
		}
		for _, y := range yAxis {
			if pgFunctions[y] == "count" {
				values[y][i] = float64(r.Count)
			} else {
				values[y][i] = float64(r.Users)
			}
		}
	}
	return seriesAnswer(times, start, q.End, values, yAxis, string(analyticsquery.Errors)), nil
}
