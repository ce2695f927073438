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

// SeriesQuery is a time-series request in the shape of Sentry's
// events-stats: the aggregates of YAxis per Interval over [Start, End),
// filtered as a table Query is (Fields, Sort, Limit and Offset are unused).
type SeriesQuery struct {
	Query
	YAxis    []string      // functions such as count() or p95()
	Interval time.Duration // a whole number of seconds, at least one
}

// Series is the answer: Times are the buckets' starts, from Start (the
// period's start rounded down to a multiple of Interval since the epoch)
// to End, every bucket present; Values holds one value per bucket for each
// yAxis, 0 where no row fell.
type Series struct {
	Start, End time.Time
	Interval   time.Duration
	Times      []time.Time
	Values     map[string][]float64
}

// MaxBuckets bounds the points of one series.
const MaxBuckets = 10000

// seriesPlan is a series query's SQL, parameters and buckets.
type seriesPlan struct {
	built
	start   time.Time
	buckets int
	yAxis   []string
}

// BuildSeries checks q and turns it into SQL with parameters.
func BuildSeries(q SeriesQuery) (string, []any, error) {
	p, err := buildSeries(q)
	return p.sql, p.args, err
}

func buildSeries(q SeriesQuery) (seriesPlan, error) { return buildGroupedSeries(q, "", nil, nil) }

// buildGroupedSeries is buildSeries with a second key beside the bucket:
// group, an SQL expression named g, with its parameters groupArgs; over
// the layout l of the dataset's table.
func buildGroupedSeries(q SeriesQuery, group string, groupArgs []any, l *layout) (seriesPlan, error) {
	cols, fns := columns[q.Dataset], functions[q.Dataset]
	if cols == nil {
		return seriesPlan{}, bad("unknown dataset %q: want transactions or errors", q.Dataset)
	}
	if len(q.Projects) == 0 {
		return seriesPlan{}, bad("no project to read")
	}
	if !q.End.After(q.Start) {
		return seriesPlan{}, bad("the end of the period must come after its start")
	}
	if q.Interval < time.Second || q.Interval%time.Second != 0 {
		return seriesPlan{}, bad("interval: want a whole number of seconds, at least one")
	}
	if len(q.YAxis) == 0 {
		return seriesPlan{}, bad("at least one yAxis is required")
	}
	if len(q.YAxis) > 10 {
		return seriesPlan{}, bad("at most 10 yAxis")
	}
	step := int64(q.Interval / time.Second)
	start := time.Unix(q.Start.Unix()/step*step, 0).UTC()
	buckets := int((q.End.Sub(start) + q.Interval - 1) / q.Interval)
	if buckets > MaxBuckets {
		return seriesPlan{}, bad("interval %s is too small for the period: at most %d points", q.Interval, MaxBuckets)
	}
	minutes := strconv.FormatFloat(q.Interval.Minutes(), 'f', 6, 64)
	stepSQL := strconv.FormatInt(step, 10) // a number we computed: safe in the SQL text
	sel := []string{"toUInt64(intDiv(toUInt32(timestamp), " + stepSQL + ") * " + stepSQL + ") AS t"}
	groupBy := " GROUP BY t ORDER BY t"
	if group != "" {
		sel = append(sel, group+" AS g")
		groupBy = " GROUP BY t, g ORDER BY t, g"
	}
	var yAxis []string
	for i, y := range q.YAxis {
		y = strings.TrimSpace(y)
		e, ok := fns[y]
		if !ok {
			if _, isCol := cols[y]; isCol {
				return seriesPlan{}, bad("yAxis %q: want a function such as count(), not a column", y)
			}
			return seriesPlan{}, bad("unknown yAxis %q", y)
		}
		e = strings.ReplaceAll(e, "@minutes", minutes)
		sel = append(sel, fmt.Sprintf("toFloat64(%s) AS y%d", e, i))
		yAxis = append(yAxis, y)
	}
	where, args, err := filters(q.Query, cols)
	if err != nil {
		return seriesPlan{}, err
	}
	head := "SELECT " + strings.Join(sel, ", ")
	src, args := from(string(q.Dataset), "timestamp", head+groupBy, where, args, l, q.Start, q.End)
	sql := head + src + groupBy
	return seriesPlan{built: built{sql: sql, args: append(slices.Clip(groupArgs), args...)}, start: start, buckets: buckets, yAxis: yAxis}, nil
}

// RunSeries answers q.
func RunSeries(ctx context.Context, c clickhouse.Conn, q SeriesQuery) (*Series, error) {
	p, err := buildSeries(q)
	if err != nil {
		return nil, err
	}
	var s *Series
	err = queryExact(ctx, c, string(q.Dataset), q.Start, q.End, func(l *layout) (built, error) {
		p, err := buildGroupedSeries(q, "", nil, l)
		return p.built, err
	}, func(rows clickhouse.Rows) (err error) { s, err = readSeries(q, p, rows); return err })
	if err != nil {
		return nil, fmt.Errorf("analytics series: %w", err)
	}
	return s, nil
}

// readSeries reads the rows of the series query p of q.
func readSeries(q SeriesQuery, p seriesPlan, rows clickhouse.Rows) (*Series, error) {
	s := &Series{Start: p.start, End: q.End.UTC(), Interval: q.Interval, Values: map[string][]float64{}}
	s.Times = make([]time.Time, p.buckets)
	for i := range s.Times {
		s.Times[i] = p.start.Add(time.Duration(i) * q.Interval)
	}
	for _, y := range p.yAxis {
		s.Values[y] = make([]float64, p.buckets)
	}
	step := int64(q.Interval / time.Second)
	for rows.Next() {
		var t uint64
		vals := make([]float64, len(p.yAxis))
		dest := []any{&t}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		i := (int64(t) - p.start.Unix()) / step
		if i < 0 || i >= int64(p.buckets) {
			continue
		}
		for j, y := range p.yAxis {
			s.Values[y][i] = vals[j]
		}
	}
	return s, rows.Err()
}
