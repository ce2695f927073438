package api

import (
	"net/http"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/analyticsquery"
)

// Usage stats (Sentry's stats_v2) and release health (Sentry's sessions
// API) read the analytics role's outcomes and sessions tables through
// libs/analyticsquery; both need ClickHouse.

func (a *API) usageRoutes() []route {
	const org = "/api/0/organizations/{org}/"
	return []route{
		{"GET", org + "stats_v2/", "Usage stats: items accepted, filtered, rate-limited, refused as invalid or discarded by SDKs, per category, outcome, reason and project (field, groupBy, category, outcome, reason, interval, statsPeriod or start/end, project); needs ClickHouse",
			orgProjects, accounts.LevelRead, 200, "", "UsageStats", a.usageStats},
		{"GET", org + "sessions/", "Release health: sessions, users and crash-free rates per release, environment, project or session.status over time (field, groupBy, query, interval, statsPeriod or start/end, project, environment); needs ClickHouse",
			orgProjects, accounts.LevelRead, 200, "", "SessionStats", a.sessionStats},
	}
}

// sentryTime is how stats_v2 and sessions write times.
func sentryTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func sentryTimes(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = sentryTime(t)
	}
	return out
}

// UsageStats is stats_v2's answer.
type UsageStats struct {
	Start     string       `json:"start"`
	End       string       `json:"end"`
	Intervals []string     `json:"intervals"`
	Groups    []UsageGroup `json:"groups"`
}

// UsageGroup is one group of a stats_v2 answer.
type UsageGroup struct {
	By     map[string]any      `json:"by"`
	Totals map[string]uint64   `json:"totals"`
	Series map[string][]uint64 `json:"series"`
}

// statsWindow reads the period and interval= (1h when not given) of the
// stats_v2 and sessions routes.
func statsWindow(c *call) (time.Time, time.Time, time.Duration, error) {
	start, end, err := periodOf(c, time.Now())
	if err != nil {
		return start, end, 0, err
	}
	interval := time.Hour
	if s := c.r.URL.Query().Get("interval"); s != "" {
		d, ok := sentryDuration(s)
		if !ok {
			return start, end, 0, &httpError{http.StatusBadRequest, "interval: want a number and a unit (m, h, d, w), such as 1h or 1d"}
		}
		interval = d
	}
	return start, end, interval, nil
}

func projectIDs(ps []*accounts.OrgProject) []int64 {
	ids := []int64{0} // no project: nothing matches, the input is still checked
	if len(ps) > 0 {
		ids = ids[:0]
	}
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	return ids
}

func (a *API) usageStats(c *call) (any, error) {
	ch, err := a.chOf(c)
	if err != nil {
		return nil, err
	}
	v := c.r.URL.Query()
	if v.Get("field") == "" {
		return nil, &httpError{http.StatusBadRequest, "field: sum(quantity) or sum(times_seen) is required"}
	}
	ps, err := readableProjects(c)
	if err != nil {
		return nil, err
	}
	q := analyticsquery.UsageQuery{Projects: projectIDs(ps), Field: v.Get("field"), GroupBy: v["groupBy"],
		Categories: v["category"], Outcomes: v["outcome"], Reasons: v["reason"]}
	if q.Start, q.End, q.Interval, err = statsWindow(c); err != nil {
		return nil, err
	}
	u, err := analyticsquery.RunUsage(c.r.Context(), ch, q)
	if err != nil {
		return nil, analyticsErr(c, err)
	}
	out := UsageStats{Start: sentryTime(u.Start), End: sentryTime(u.End), Intervals: sentryTimes(u.Intervals), Groups: []UsageGroup{}}
	for _, g := range u.Groups {
		out.Groups = append(out.Groups, UsageGroup{By: g.By, Totals: map[string]uint64{q.Field: g.Total}, Series: map[string][]uint64{q.Field: g.Series}})
	}
	return out, nil
}

// SessionStats is the sessions route's answer.
type SessionStats struct {
	Start     string         `json:"start"`
	End       string         `json:"end"`
	Query     string         `json:"query"`
	Intervals []string       `json:"intervals"`
	Groups    []SessionGroup `json:"groups"`
}

// SessionGroup is one group of a sessions answer: totals and series per
// field (rates are null where there is no session).
type SessionGroup struct {
	By     map[string]any   `json:"by"`
	Totals map[string]any   `json:"totals"`
	Series map[string][]any `json:"series"`
}

func (a *API) sessionStats(c *call) (any, error) {
	ch, err := a.chOf(c)
	if err != nil {
		return nil, err
	}
	v := c.r.URL.Query()
	if len(v["field"]) == 0 {
		return nil, &httpError{http.StatusBadRequest, "field: at least one is required, such as field=sum(session)&field=crash_free_rate(session)"}
	}
	ps, err := readableProjects(c)
	if err != nil {
		return nil, err
	}
	q := analyticsquery.SessionsQuery{Projects: projectIDs(ps), Fields: v["field"], GroupBy: v["groupBy"], Search: v.Get("query")}
	for _, env := range v["environment"] {
		if env != "" {
			q.Environments = append(q.Environments, env)
		}
	}
	if q.Start, q.End, q.Interval, err = statsWindow(c); err != nil {
		return nil, err
	}
	s, err := analyticsquery.RunSessions(c.r.Context(), ch, q)
	if err != nil {
		return nil, analyticsErr(c, err)
	}
	out := SessionStats{Start: sentryTime(s.Start), End: sentryTime(s.End), Query: q.Search, Intervals: sentryTimes(s.Intervals), Groups: []SessionGroup{}}
	for _, g := range s.Groups {
		out.Groups = append(out.Groups, SessionGroup(g))
	}
	return out, nil
}

// The OpenAPI schemas and parameters of the usage and sessions routes.
func init() {
	anyObj := map[string]any{"type": "object"}
	timeList := map[string]any{"type": "array", "items": str, "description": "The intervals' starts, UTC, 2006-01-02T15:04:05Z."}
	group := func(desc string) any {
		return obj([]string{"by", "totals", "series"}, map[string]any{
			"by":     map[string]any{"type": "object", "description": desc},
			"totals": anyObj, "series": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "array", "items": map[string]any{}}}})
	}
	schemas["UsageStats"] = obj([]string{"start", "end", "intervals", "groups"}, map[string]any{"start": str, "end": str, "intervals": timeList,
		"groups": map[string]any{"type": "array", "items": group("The group's outcome, category, reason and project (id) as asked by groupBy.")}})
	schemas["SessionStats"] = obj([]string{"start", "end", "intervals", "groups"}, map[string]any{"start": str, "end": str, "query": str, "intervals": timeList,
		"groups": map[string]any{"type": "array", "items": group("The group's release, environment, project (id) and session.status as asked by groupBy.")}})
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
	period := []any{
		q("statsPeriod", "The period up to now: a number and s, m, h, d or w (14d when neither it nor start and end are given).", false),
		q("start", "The period's start, RFC 3339 (with end, instead of statsPeriod).", false),
		q("end", "The period's end, RFC 3339.", false),
		q("project", "Project ids or slugs to read, repeated; -1 or none: every project one may read. Another organisation's is 403.", true),
	}
	const org = "/api/0/organizations/{org}/"
	queryParams[org+"stats_v2/"] = append([]any{
		q("field", "sum(quantity) or sum(times_seen) (equal: attachments count items, not bytes). Required.", false),
		q("groupBy", "outcome, category, reason or project, repeated.", true),
		q("category", "error (with default and security), transaction, attachment, session, span, log_item (or log), profile, replay, monitor, ..., repeated.", true),
		q("outcome", "accepted, filtered, rate_limited, invalid, abuse, client_discard or cardinality_limited, repeated.", true),
		q("reason", "A reason: a filter (localhost, web-crawlers, ...), a quota (key_quota, project_quota, org_quota), why a request was invalid, an SDK's discard reason; repeated.", true),
		q("interval", "The bucket: whole hours (1h when not given).", false),
	}, period...)
	queryParams[org+"sessions/"] = append([]any{
		q("field", "sum(session), count_unique(user), crash_free_rate(session), crash_free_rate(user), crash_rate(session), crash_rate(user); repeated, at least one.", true),
		q("groupBy", "release, environment, project or session.status (healthy, errored, crashed, abnormal, unhandled), repeated.", true),
		q("query", "release:x and environment:x terms, ! to negate.", false),
		q("environment", "Environments, repeated.", true),
		q("interval", "The bucket: a number and m, h, d or w, at least 1m (1h when not given).", false),
	}, period...)
}
