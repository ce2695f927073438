package analyticsquery

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/clickhouse"
)

// TopQuery is Sentry's top-N events-stats request: the Limit groups of the
// column fields that rank first by OrderBy, each with its own series of
// YAxis, and the rows outside them as one "Other" series.
type TopQuery struct {
	SeriesQuery
	Fields  []string // field=: the columns that make a group; functions among them may be ordered by
	OrderBy string   // a field or yAxis, "-" first for descending; "" is the first function, descending
	Limit   int      // topEvents: 1 to MaxTopEvents
}

// MaxTopEvents bounds topEvents, as Sentry does.
const MaxTopEvents = 10

// OtherKey names the series of everything outside the top groups.
const OtherKey = "Other"

// TopGroup is one of the top groups: its column values, its key (the values
// joined with "," in the order of the columns' names, as Sentry keys the
// answer) and its series.
type TopGroup struct {
	Key    string
	Row    map[string]any       // the group's fields, as a table row
	Series map[string][]float64 // per yAxis, one value per bucket
}

// TopSeries is the answer: the buckets, the groups in rank order, and the
// Other series (nil when every row belongs to a top group).
type TopSeries struct {
	Start, End time.Time
	Interval   time.Duration
	Times      []time.Time
	Groups     []TopGroup
	Other      map[string][]float64
}

// topPlan is the two queries of a top-N request.
type topPlan struct {
	table   Query
	columns []string // the group columns, in key order
}

func buildTop(q TopQuery) (topPlan, error) {
	cols, fns := columns[q.Dataset], functions[q.Dataset]
	if cols == nil {
		return topPlan{}, bad("unknown dataset %q: want transactions or errors", q.Dataset)
	}
	if q.Limit < 1 || q.Limit > MaxTopEvents {
		return topPlan{}, bad("topEvents: want 1 to %d", MaxTopEvents)
	}
	var groupCols, fields []string
	for _, f := range q.Fields {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
			continue
		case f == "timestamp":
			return topPlan{}, bad("topEvents: timestamp cannot make a group")
		case cols[f] != "":
			if !slices.Contains(groupCols, f) {
				groupCols = append(groupCols, f)
			}
		case fns[f] != "":
		default:
			return topPlan{}, bad("unknown field %q", f)
		}
		if !slices.Contains(fields, f) {
			fields = append(fields, f)
		}
	}
	if len(groupCols) == 0 {
		return topPlan{}, bad("topEvents: give at least one column in field=, such as field=transaction")
	}
	order := strings.TrimSpace(q.OrderBy)
	if order == "" {
		order = "-" + strings.TrimSpace(q.YAxis[0])
		for _, f := range fields {
			if fns[f] != "" {
				order = "-" + f
				break
			}
		}
	}
	name := strings.TrimPrefix(order, "-")
	if cols[name] == "" && fns[name] == "" {
		return topPlan{}, bad("orderby %q: order by a field or yAxis", order)
	}
	if !slices.Contains(fields, name) {
		if cols[name] != "" {
			return topPlan{}, bad("orderby %q: order by one of the fields", order)
		}
		fields = append(fields, name)
	}
	table := q.Query
	table.Fields, table.Sort, table.Limit, table.Offset = fields, order, q.Limit, 0
	if _, err := build(table); err != nil {
		return topPlan{}, err
	}
	keyCols := slices.Clone(groupCols)
	slices.Sort(keyCols)
	if _, err := buildSeries(q.SeriesQuery); err != nil {
		return topPlan{}, err
	}
	return topPlan{table: table, columns: keyCols}, nil
}

// groupKey is a group's key: its values in key order joined with ",".
func groupKey(cols []string, row map[string]any) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		switch v := row[c].(type) {
		case string:
			parts[i] = v
		case uint64:
			parts[i] = strconv.FormatUint(v, 10)
		case float64:
			parts[i] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			parts[i] = fmt.Sprint(v)
		}
	}
	k := strings.Join(parts, ",")
	if k == OtherKey {
		k += " (" + cols[0] + ")"
	}
	return k
}

// RunTop answers q: one query for the top groups, one for their series and
// Other's, grouped by which top group a row belongs to.
func RunTop(ctx context.Context, c clickhouse.Conn, q TopQuery) (*TopSeries, error) {
	p, err := buildTop(q)
	if err != nil {
		return nil, err
	}
	top, err := Run(ctx, c, p.table)
	if err != nil {
		return nil, err
	}
	out := &TopSeries{End: q.End.UTC(), Interval: q.Interval}
	// Which top group a row is in, as SQL: multiIf(row is group 0, 0, ...,
	// -1); the values travel as parameters, ahead of the filters'.
	cols := columns[q.Dataset]
	var conds []string
	var args []any
	for i, row := range top.Data {
		var and []string
		for _, f := range p.columns {
			and = append(and, cols[f]+" = ?")
			args = append(args, row[f])
		}
		conds = append(conds, "("+strings.Join(and, " AND ")+")", strconv.Itoa(i))
		out.Groups = append(out.Groups, TopGroup{Key: groupKey(p.columns, row), Row: row})
	}
	group := "toInt32(-1)"
	if len(conds) > 0 {
		group = "toInt32(multiIf(" + strings.Join(conds, ", ") + ", -1))"
	}
	sp, err := buildGroupedSeries(q.SeriesQuery, group, args, nil)
	if err != nil {
		return nil, err
	}
	out.Start, out.Times = sp.start, make([]time.Time, sp.buckets)
	for i := range out.Times {
		out.Times[i] = sp.start.Add(time.Duration(i) * q.Interval)
	}
	zero := func() map[string][]float64 {
		m := map[string][]float64{}
		for _, y := range sp.yAxis {
			m[y] = make([]float64, sp.buckets)
		}
		return m
	}
	for i := range out.Groups {
		out.Groups[i].Series = zero()
	}
	other := zero()
	hasOther := false
	rows, err := c.Query(ctx, sp.sql, sp.args...)
	if err != nil {
		return nil, fmt.Errorf("analytics top series: %w", err)
	}
	defer rows.Close()
	step := int64(q.Interval / time.Second)
	for rows.Next() {
		var t uint64
		var g int32
		vals := make([]float64, len(sp.yAxis))
		dest := []any{&t, &g}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("analytics top series: %w", err)
		}
		i := (int64(t) - sp.start.Unix()) / step
		if i < 0 || i >= int64(sp.buckets) {
			continue
		}
		target := other
		if g >= 0 && int(g) < len(out.Groups) {
			target = out.Groups[g].Series
		} else {
			hasOther = true
		}
		for j, y := range sp.yAxis {
			target[y][i] = vals[j]
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("analytics top series: %w", err)
	}
	// As Sentry: Other only when the top groups are as many as asked for
	// and rows fell outside them.
	if hasOther && len(out.Groups) == q.Limit {
		out.Other = other
	}
	return out, nil
}
