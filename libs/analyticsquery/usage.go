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

// Usage stats in the shape of Sentry's stats_v2: how many items of each
// data category were accepted, filtered, rate-limited, refused as invalid
// or discarded by SDKs, per project, from the outcomes table (the
// gateway's accepted and dropped counts and SDKs' client reports). Rows
// are per hour.

// UsageFields are the fields stats_v2 answers. Both sum the quantity:
// attachments count items, not bytes, so times_seen equals quantity.
var UsageFields = []string{"sum(quantity)", "sum(times_seen)"}

// UsageGroupBy are the columns a usage query groups by, with their SQL.
// Sentry counts default and security events as errors.
var UsageGroupBy = map[string]string{
	"outcome":  "outcome",
	"category": "if(category IN ('default', 'security'), 'error', category)",
	"reason":   "reason",
	"project":  "project_id",
}

// UsageOutcomes are the outcomes Sentry names.
var UsageOutcomes = []string{"accepted", "filtered", "rate_limited", "invalid", "abuse", "client_discard", "cardinality_limited"}

// usageCategories are the stored categories of Sentry's category names
// (error is also default and security; log is Sentry's log_item).
func usageCategories(name string) ([]string, bool) {
	switch name {
	case "error":
		return []string{"error", "default", "security"}, true
	case "log", "log_item":
		return []string{"log_item"}, true
	case "transaction", "attachment", "session", "span", "profile", "profile_chunk", "replay", "monitor",
		"feedback", "trace_metric", "security", "default", "user_report_v2":
		return []string{name}, true
	}
	return nil, false
}

// UsageQuery is a stats_v2 request.
type UsageQuery struct {
	Projects   []int64 // required
	Start, End time.Time
	Interval   time.Duration // whole hours
	Field      string        // one of UsageFields
	GroupBy    []string      // keys of UsageGroupBy
	Categories []string      // Sentry's names; none: all
	Outcomes   []string      // none: all
	Reasons    []string      // none: all
}

// UsageGroup is one group: its groupBy values (project as its id), the
// total over the period and the value per interval.
type UsageGroup struct {
	By     map[string]any
	Total  uint64
	Series []uint64
}

// Usage is the answer: the intervals' starts from Start (the period's
// start rounded down to the interval) and the groups, sorted by their
// values.
type Usage struct {
	Start, End time.Time
	Intervals  []time.Time
	Groups     []UsageGroup
}

func buildUsage(q UsageQuery) (built, time.Time, int, error) {
	if len(q.Projects) == 0 {
		return built{}, time.Time{}, 0, bad("no project to read")
	}
	if !slices.Contains(UsageFields, q.Field) {
		return built{}, time.Time{}, 0, bad("field: want sum(quantity) or sum(times_seen), not %q", q.Field)
	}
	if !q.End.After(q.Start) {
		return built{}, time.Time{}, 0, bad("the end of the period must come after its start")
	}
	if q.Interval < time.Hour || q.Interval%time.Hour != 0 {
		return built{}, time.Time{}, 0, bad("interval: want whole hours, at least 1h: usage is counted per hour")
	}
	step := int64(q.Interval / time.Second)
	start := time.Unix(q.Start.Unix()/step*step, 0).UTC()
	buckets := int((q.End.Sub(start) + q.Interval - 1) / q.Interval)
	if buckets > MaxBuckets {
		return built{}, time.Time{}, 0, bad("interval %s is too small for the period: at most %d points", q.Interval, MaxBuckets)
	}
	stepSQL := strconv.FormatInt(step, 10)
	sel := []string{"toUInt64(intDiv(toUInt32(timestamp), " + stepSQL + ") * " + stepSQL + ") AS t"}
	group := []string{"t"}
	for i, g := range q.GroupBy {
		e, ok := UsageGroupBy[g]
		if !ok {
			return built{}, time.Time{}, 0, bad("groupBy %q: want outcome, category, reason or project", g)
		}
		if slices.Contains(q.GroupBy[:i], g) {
			continue
		}
		sel = append(sel, fmt.Sprintf("%s AS g%d", e, i))
		group = append(group, fmt.Sprintf("g%d", i))
	}
	sel = append(sel, "sum(quantity)")
	projects := make([]uint64, len(q.Projects))
	for i, p := range q.Projects {
		projects[i] = uint64(p)
	}
	where := []string{"has(?, project_id)", "timestamp >= ?", "timestamp < ?"}
	args := []any{projects, start, q.End.UTC()}
	if len(q.Categories) > 0 {
		var cats []string
		for _, c := range q.Categories {
			cs, ok := usageCategories(c)
			if !ok {
				return built{}, time.Time{}, 0, bad("category %q: want error, transaction, attachment, session, span, log_item, profile, replay, monitor, ...", c)
			}
			cats = append(cats, cs...)
		}
		where, args = append(where, "has(?, category)"), append(args, cats)
	}
	if len(q.Outcomes) > 0 {
		for _, o := range q.Outcomes {
			if !slices.Contains(UsageOutcomes, o) {
				return built{}, time.Time{}, 0, bad("outcome %q: want one of %s", o, strings.Join(UsageOutcomes, ", "))
			}
		}
		where, args = append(where, "has(?, outcome)"), append(args, q.Outcomes)
	}
	if len(q.Reasons) > 0 {
		where, args = append(where, "has(?, reason)"), append(args, q.Reasons)
	}
	sql := "SELECT " + strings.Join(sel, ", ") + " FROM outcomes FINAL WHERE " + strings.Join(where, " AND ") +
		" GROUP BY " + strings.Join(group, ", ")
	return built{sql: sql, args: args}, start, buckets, nil
}

// RunUsage answers q.
func RunUsage(ctx context.Context, c clickhouse.Conn, q UsageQuery) (*Usage, error) {
	b, start, buckets, err := buildUsage(q)
	if err != nil {
		return nil, err
	}
	var keys []string // the distinct group-bys, in q's order
	for _, g := range q.GroupBy {
		if !slices.Contains(keys, g) {
			keys = append(keys, g)
		}
	}
	u := &Usage{Start: start, End: q.End.UTC(), Intervals: make([]time.Time, buckets)}
	for i := range u.Intervals {
		u.Intervals[i] = start.Add(time.Duration(i) * q.Interval)
	}
	rows, err := c.Query(ctx, b.sql, b.args...)
	if err != nil {
		return nil, fmt.Errorf("usage query: %w", err)
	}
	defer rows.Close()
	groups := map[string]*UsageGroup{}
	step := int64(q.Interval / time.Second)
	for rows.Next() {
		var t, n uint64
		dest := []any{&t}
		vals := make([]any, len(keys))
		for i, k := range keys {
			if k == "project" {
				vals[i] = new(uint64)
			} else {
				vals[i] = new(string)
			}
			dest = append(dest, vals[i])
		}
		dest = append(dest, &n)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("usage query: %w", err)
		}
		by := map[string]any{}
		var id strings.Builder
		for i, k := range keys {
			switch p := vals[i].(type) {
			case *uint64:
				by[k] = int64(*p)
				fmt.Fprintf(&id, "%020d\x00", *p)
			case *string:
				by[k] = *p
				id.WriteString(*p + "\x00")
			}
		}
		g := groups[id.String()]
		if g == nil {
			g = &UsageGroup{By: by, Series: make([]uint64, buckets)}
			groups[id.String()] = g
		}
		if i := (int64(t) - start.Unix()) / step; i >= 0 && i < int64(buckets) {
			g.Series[i] += n
			g.Total += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage query: %w", err)
	}
	ids := make([]string, 0, len(groups))
	for id := range groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		u.Groups = append(u.Groups, *groups[id])
	}
	return u, nil
}
