package analyticsquery

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/clickhouse"
)

// Release health in the shape of Sentry's sessions API, from the sessions
// table: each session is one row (its latest update wins, read with
// FINAL), each aggregate of a session item a row per status with its
// quantity, so a session counts once whatever its updates.
//
// Statuses, as Sentry's session.status: crashed, abnormal (ended without
// exiting), unhandled (an unhandled error that did not crash it), errored
// (handled errors only) and healthy (exited cleanly, or still running
// without errors). A user counts under the worst status of their
// sessions. crash_free_rate(session) is 1 - crashed / sessions and
// crash_free_rate(user) 1 - users with a crash / users: abnormal and
// unhandled sessions are not crashes.

// SessionFields are the fields the sessions query answers.
var SessionFields = []string{"sum(session)", "count_unique(user)", "crash_free_rate(session)", "crash_free_rate(user)",
	"crash_rate(session)", "crash_rate(user)"}

// SessionGroupBy are the columns sessions can be grouped by, with their
// SQL; session.status groups by status instead.
var SessionGroupBy = map[string]string{
	"release":     "release",
	"environment": "environment",
	"project":     "project_id",
}

// SessionStatuses are session.status's groups, in Sentry's order.
var SessionStatuses = []string{"healthy", "errored", "crashed", "abnormal", "unhandled"}

// statusRank orders statuses from best to worst; a user is counted under
// their worst.
const statusRank = "multiIf(status = 'crashed', 4, status = 'abnormal', 3, status = 'unhandled', 2, status = 'errored', 1, 0)"

var rankStatus = []string{"healthy", "errored", "unhandled", "abnormal", "crashed"}

// SessionsQuery is a sessions request.
type SessionsQuery struct {
	Projects     []int64 // required
	Start, End   time.Time
	Interval     time.Duration // whole seconds, at least a minute
	Fields       []string
	GroupBy      []string // keys of SessionGroupBy, and session.status
	Environments []string
	Search       string // release:, environment: terms
}

// SessionsGroup is one group: its groupBy values (project as its id), and
// each field's total over the period and value per interval (nil where a
// rate has no session).
type SessionsGroup struct {
	By     map[string]any
	Totals map[string]any
	Series map[string][]any
}

// Sessions is the answer.
type Sessions struct {
	Start, End time.Time
	Intervals  []time.Time
	Groups     []SessionsGroup
}

// sessionCounts are the counts of one group in one interval (or over the
// period): sessions and users per status.
type sessionCounts struct {
	sessions, users [5]uint64 // by rank
}

type sessionsPlan struct {
	where    []string
	args     []any
	cols     []string // SQL of the column group-bys
	keys     []string // their names
	byStatus bool
	start    time.Time
	buckets  int
	users    bool
}

func planSessions(q SessionsQuery) (sessionsPlan, error) {
	var p sessionsPlan
	if len(q.Projects) == 0 {
		return p, bad("no project to read")
	}
	if len(q.Fields) == 0 {
		return p, bad("field: at least one is required, such as field=sum(session)")
	}
	if !q.End.After(q.Start) {
		return p, bad("the end of the period must come after its start")
	}
	if q.Interval < time.Minute || q.Interval%time.Second != 0 {
		return p, bad("interval: want at least 1m")
	}
	for _, g := range q.GroupBy {
		if slices.Contains(p.keys, g) || (g == "session.status" && p.byStatus) {
			continue
		}
		if g == "session.status" {
			p.byStatus = true
			continue
		}
		c, ok := SessionGroupBy[g]
		if !ok {
			return p, bad("groupBy %q: want release, environment, project or session.status", g)
		}
		p.keys, p.cols = append(p.keys, g), append(p.cols, c)
	}
	for _, f := range q.Fields {
		if !slices.Contains(SessionFields, f) {
			return p, bad("field %q: want one of %s", f, strings.Join(SessionFields, ", "))
		}
		if p.byStatus && strings.Contains(f, "rate(") {
			return p, bad("field %q cannot be grouped by session.status", f)
		}
		if strings.HasSuffix(f, "(user)") {
			p.users = true
		}
	}
	step := int64(q.Interval / time.Second)
	p.start = time.Unix(q.Start.Unix()/step*step, 0).UTC()
	p.buckets = int((q.End.Sub(p.start) + q.Interval - 1) / q.Interval)
	if p.buckets > MaxBuckets {
		return p, bad("interval %s is too small for the period: at most %d points", q.Interval, MaxBuckets)
	}
	projects := make([]uint64, len(q.Projects))
	for i, id := range q.Projects {
		projects[i] = uint64(id)
	}
	p.where = []string{"has(?, project_id)", "started >= ?", "started < ?"}
	p.args = []any{projects, p.start, q.End.UTC()}
	if len(q.Environments) > 0 {
		p.where, p.args = append(p.where, "has(?, environment)"), append(p.args, q.Environments)
	}
	terms, err := ParseSearch(q.Search)
	if err != nil {
		return p, err
	}
	for _, t := range terms {
		if t.Key != "release" && t.Key != "environment" {
			return p, bad("search key %q: sessions can be searched by release and environment", t.Key)
		}
		op := " = ?"
		if t.Negated {
			op = " != ?"
		}
		p.where, p.args = append(p.where, t.Key+op), append(p.args, t.Value)
	}
	return p, nil
}

// RunSessions answers q: the sessions per status, group and interval in
// one query; with a user field, the users by worst status per interval and
// over the period in two more.
func RunSessions(ctx context.Context, c clickhouse.Conn, q SessionsQuery) (*Sessions, error) {
	p, err := planSessions(q)
	if err != nil {
		return nil, err
	}
	step := strconv.FormatInt(int64(q.Interval/time.Second), 10)
	t := "toUInt64(intDiv(toUInt32(started), " + step + ") * " + step + ")"
	where := strings.Join(p.where, " AND ")
	colSel := ""
	for i, c := range p.cols {
		colSel += fmt.Sprintf(", %s AS g%d", c, i)
	}
	colNames := ""
	for i := range p.cols {
		colNames += fmt.Sprintf(", g%d", i)
	}
	type gkey struct {
		id     string
		bucket int // -1: the period
	}
	counts := map[gkey]*sessionCounts{}
	bys := map[string]map[string]any{}
	read := func(sql string, timed, users bool) error {
		rows, err := c.Query(ctx, sql, p.args...)
		if err != nil {
			return fmt.Errorf("sessions query: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var tt uint64
			var rank uint8
			var n uint64
			dest := []any{}
			if timed {
				dest = append(dest, &tt)
			}
			vals := make([]any, len(p.keys))
			for i, k := range p.keys {
				if k == "project" {
					vals[i] = new(uint64)
				} else {
					vals[i] = new(string)
				}
				dest = append(dest, vals[i])
			}
			dest = append(dest, &rank, &n)
			if err := rows.Scan(dest...); err != nil {
				return fmt.Errorf("sessions query: %w", err)
			}
			by := map[string]any{}
			var id strings.Builder
			for i, k := range p.keys {
				switch v := vals[i].(type) {
				case *uint64:
					by[k] = int64(*v)
					fmt.Fprintf(&id, "%020d\x00", *v)
				case *string:
					by[k] = *v
					id.WriteString(*v + "\x00")
				}
			}
			bys[id.String()] = by
			k := gkey{id.String(), -1}
			if timed {
				b := (int64(tt) - p.start.Unix()) / int64(q.Interval/time.Second)
				if b < 0 || b >= int64(p.buckets) {
					continue
				}
				k.bucket = int(b)
			}
			sc := counts[k]
			if sc == nil {
				sc = &sessionCounts{}
				counts[k] = sc
			}
			if int(rank) < len(rankStatus) {
				if users {
					sc.users[rank] += n
				} else {
					sc.sessions[rank] += n
				}
			}
		}
		return rows.Err()
	}
	sessionsSQL := "SELECT " + t + " AS t" + colSel + ", toUInt8(" + statusRank + ") AS srank, toUInt64(sum(quantity)) FROM sessions FINAL WHERE " +
		where + " GROUP BY t" + colNames + ", srank"
	if err := read(sessionsSQL, true, false); err != nil {
		return nil, err
	}
	if p.users {
		inner := func(timed bool) string {
			innerSel, outerSel, group := "", "", ""
			if timed {
				innerSel, outerSel, group = t+" AS t", "t", "t"
			}
			list := func(parts ...string) string {
				var keep []string
				for _, x := range parts {
					if x = strings.TrimPrefix(x, ", "); x != "" {
						keep = append(keep, x)
					}
				}
				return strings.Join(keep, ", ")
			}
			return "SELECT " + list(outerSel, colNames, "toUInt8(worst) AS srank", "toUInt64(count())") +
				" FROM (SELECT " + list(innerSel, colSel, "distinct_id", "max("+statusRank+") AS worst") +
				" FROM sessions FINAL WHERE " + where + " AND distinct_id != '' GROUP BY " + list(group, colNames, "distinct_id") +
				") GROUP BY " + list(group, colNames, "srank")
		}
		if err := read(inner(true), true, true); err != nil {
			return nil, err
		}
		if err := read(inner(false), false, true); err != nil {
			return nil, err
		}
	}
	// Period totals of sessions are the sums of the intervals.
	for k, sc := range counts {
		if k.bucket < 0 {
			continue
		}
		tk := gkey{k.id, -1}
		tot := counts[tk]
		if tot == nil {
			tot = &sessionCounts{}
			counts[tk] = tot
		}
		for r := range sc.sessions {
			tot.sessions[r] += sc.sessions[r]
		}
	}
	out := &Sessions{Start: p.start, End: q.End.UTC(), Intervals: make([]time.Time, p.buckets)}
	for i := range out.Intervals {
		out.Intervals[i] = p.start.Add(time.Duration(i) * q.Interval)
	}
	ids := make([]string, 0, len(bys))
	for id := range bys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	statuses := []string{""}
	if p.byStatus {
		statuses = SessionStatuses[:4]
		for _, id := range ids {
			if sc := counts[gkey{id, -1}]; sc != nil && (sc.sessions[2] > 0 || sc.users[2] > 0) {
				statuses = SessionStatuses
			}
		}
	}
	for _, id := range ids {
		for _, st := range statuses {
			g := SessionsGroup{By: map[string]any{}, Totals: map[string]any{}, Series: map[string][]any{}}
			for k, v := range bys[id] {
				g.By[k] = v
			}
			if st != "" {
				g.By["session.status"] = st
			}
			for _, f := range q.Fields {
				g.Totals[f] = sessionValue(f, st, counts[gkey{id, -1}])
				series := make([]any, p.buckets)
				for b := range series {
					series[b] = sessionValue(f, st, counts[gkey{id, b}])
				}
				g.Series[f] = series
			}
			out.Groups = append(out.Groups, g)
		}
	}
	return out, nil
}

// sessionValue is field f of counts sc, for status st ("" for all).
func sessionValue(f, st string, sc *sessionCounts) any {
	if sc == nil {
		sc = &sessionCounts{}
	}
	var sessions, users uint64
	for r := range sc.sessions {
		if st == "" || rankStatus[r] == st {
			sessions += sc.sessions[r]
			users += sc.users[r]
		}
	}
	crashed, crashedUsers := sc.sessions[4], sc.users[4]
	rate := func(part, whole uint64, free bool) any {
		if whole == 0 {
			return nil
		}
		r := float64(part) / float64(whole)
		if free {
			return 1 - r
		}
		return r
	}
	switch f {
	case "sum(session)":
		return sessions
	case "count_unique(user)":
		return users
	case "crash_free_rate(session)":
		return rate(crashed, sessions, true)
	case "crash_rate(session)":
		return rate(crashed, sessions, false)
	case "crash_free_rate(user)":
		return rate(crashedUsers, users, true)
	case "crash_rate(user)":
		return rate(crashedUsers, users, false)
	}
	return nil
}

// ReleaseHealth is one release's health in one project over a period, as
// Sentry's releases list shows it with health=1.
type ReleaseHealth struct {
	Sessions, SessionsCrashed, SessionsErrored uint64 // errored: errored or unhandled, not crashed or abnormal
	Users, UsersCrashed                        uint64
}

// ReleaseHealthKey names a release of a project.
type ReleaseHealthKey struct {
	ProjectID int64
	Release   string
}

// RunReleaseHealth reads the health of releases in projects over
// [start, end): two queries, sessions and users. Releases without
// sessions are absent.
func RunReleaseHealth(ctx context.Context, c clickhouse.Conn, projects []int64, releases []string, start, end time.Time) (map[ReleaseHealthKey]*ReleaseHealth, error) {
	out := map[ReleaseHealthKey]*ReleaseHealth{}
	if len(projects) == 0 || len(releases) == 0 {
		return out, nil
	}
	ids := make([]uint64, len(projects))
	for i, p := range projects {
		ids[i] = uint64(p)
	}
	where := " FROM sessions FINAL WHERE has(?, project_id) AND has(?, release) AND started >= ? AND started < ?"
	args := []any{ids, releases, start.UTC(), end.UTC()}
	get := func(k ReleaseHealthKey) *ReleaseHealth {
		h := out[k]
		if h == nil {
			h = &ReleaseHealth{}
			out[k] = h
		}
		return h
	}
	rows, err := c.Query(ctx, "SELECT project_id, release, toUInt64(sum(quantity)) AS n_sessions, toUInt64(sumIf(quantity, status = 'crashed')) AS n_crashed, "+
		"toUInt64(sumIf(quantity, status IN ('errored', 'unhandled'))) AS n_errored"+where+" GROUP BY project_id, release", args...)
	if err != nil {
		return nil, fmt.Errorf("release health: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p uint64
		var r string
		var h ReleaseHealth
		if err := rows.Scan(&p, &r, &h.Sessions, &h.SessionsCrashed, &h.SessionsErrored); err != nil {
			return nil, fmt.Errorf("release health: %w", err)
		}
		x := get(ReleaseHealthKey{int64(p), r})
		x.Sessions, x.SessionsCrashed, x.SessionsErrored = h.Sessions, h.SessionsCrashed, h.SessionsErrored
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("release health: %w", err)
	}
	urows, err := c.Query(ctx, "SELECT project_id, release, toUInt64(uniqExact(distinct_id)) AS n_users, toUInt64(uniqExactIf(distinct_id, status = 'crashed')) AS n_users_crashed"+
		where+" AND distinct_id != '' GROUP BY project_id, release", args...)
	if err != nil {
		return nil, fmt.Errorf("release health: %w", err)
	}
	defer urows.Close()
	for urows.Next() {
		var p, users, crashed uint64
		var r string
		if err := urows.Scan(&p, &r, &users, &crashed); err != nil {
			return nil, fmt.Errorf("release health: %w", err)
		}
		x := get(ReleaseHealthKey{int64(p), r})
		x.Users, x.UsersCrashed = users, crashed
	}
	return out, urows.Err()
}
