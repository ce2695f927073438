package analyticsquery

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/clickhouse"
)

// Reading a ReplacingMergeTree exactly before ClickHouse has merged it
// takes FINAL, and FINAL is slow on 18.16 (one thread merges every part
// read). A daily partition that is one part made by a merge holds no two
// rows with the same key, so a query reads such partitions plainly and
// only the others with FINAL: a UNION ALL of the two, split by time, since
// a partition is a day. Which partitions are clean is read from
// system.parts before the query and checked again after it: parts are
// immutable and a merge always makes a part of a new name, so a clean
// partition whose one part is still the same after the query was that part
// throughout, and the query read it exactly. Otherwise the query runs
// again with FINAL everywhere.

// cleanDay is a daily partition that is one merged part, as system.parts
// showed it: its bounds in seconds since the epoch, and the part's name.
type cleanDay struct {
	from, to int64
	part     string
}

// layout is what a query knows of its table's partitions; nil knows
// nothing, and every partition is read with FINAL.
type layout struct {
	clean map[string]cleanDay // by partition id
}

// readLayout reads the clean partitions of table. The day bounds are the
// server's (toYYYYMMDD partitions by its time zone).
func readLayout(ctx context.Context, c clickhouse.Conn, table string) (*layout, error) {
	rows, err := c.Query(ctx, `SELECT partition_id, toUInt32(toDateTime(d)), toUInt32(toDateTime(d + 1)), any(name), count(), min(level)
		FROM (SELECT partition_id, name, level,
			toDate(concat(substring(partition_id, 1, 4), '-', substring(partition_id, 5, 2), '-', substring(partition_id, 7, 2))) AS d
			FROM system.parts WHERE database = currentDatabase() AND table = ? AND active AND match(partition_id, '^[0-9]{8}$'))
		GROUP BY partition_id, d`, table)
	if err != nil {
		return nil, fmt.Errorf("analytics parts of %s: %w", table, err)
	}
	defer rows.Close()
	l := &layout{clean: map[string]cleanDay{}}
	for rows.Next() {
		var (
			id, name string
			from, to uint32
			parts    uint64
			level    uint32
		)
		if err := rows.Scan(&id, &from, &to, &name, &parts, &level); err != nil {
			return nil, fmt.Errorf("analytics parts of %s: %w", table, err)
		}
		// One part, made by a merge: a merge of a ReplacingMergeTree
		// keeps one row per key. A part just inserted (level 0) may hold
		// the same key twice.
		if parts == 1 && level > 0 && to > from {
			l.clean[id] = cleanDay{from: int64(from), to: int64(to), part: name}
		}
	}
	return l, rows.Err()
}

// stillClean says whether every clean partition of l that the period
// [start, end) touches is still the same one part in now.
func (l *layout) stillClean(now *layout, start, end time.Time) bool {
	for id, d := range l.clean {
		if d.to <= start.Unix() || d.from >= end.Unix() {
			continue
		}
		if n, ok := now.clean[id]; !ok || n.part != d.part {
			return false
		}
	}
	return true
}

// split divides [start, end) into the ranges of clean partitions and the
// rest, each sorted and with adjacent ranges joined.
func (l *layout) split(start, end time.Time) (clean, dirty [][2]int64) {
	s, e := start.Unix(), end.Unix()
	if end.After(time.Unix(e, 0)) {
		e++ // a fraction of a second past e is still in the period
	}
	if l != nil {
		for _, d := range l.clean {
			from, to := max(d.from, s), min(d.to, e)
			if from < to {
				clean = append(clean, [2]int64{from, to})
			}
		}
	}
	slices.SortFunc(clean, func(a, b [2]int64) int { return int(a[0] - b[0]) })
	clean = joinRanges(clean)
	at := s
	for _, r := range clean {
		if r[0] > at {
			dirty = append(dirty, [2]int64{at, r[0]})
		}
		at = r[1]
	}
	if at < e {
		dirty = append(dirty, [2]int64{at, e})
	}
	return clean, dirty
}

func joinRanges(rs [][2]int64) [][2]int64 {
	var out [][2]int64
	for _, r := range rs {
		if n := len(out); n > 0 && out[n-1][1] >= r[0] {
			out[n-1][1] = max(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// rangesSQL is an OR of the ranges over col; the bounds are numbers we
// computed, safe in the SQL text.
func rangesSQL(col string, rs [][2]int64) string {
	terms := make([]string, len(rs))
	for i, r := range rs {
		terms[i] = col + " >= toDateTime(" + strconv.FormatInt(r[0], 10) + ") AND " + col + " < toDateTime(" + strconv.FormatInt(r[1], 10) + ")"
	}
	return "(" + strings.Join(terms, " OR ") + ")"
}

var identifier = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

// from is the FROM clause and its WHERE of a query of table whose other
// clauses are outer, over l: FINAL where a partition may hold duplicates,
// plain reads where it is clean. where's terms hold args; the answer's
// parameters are what it returns.
func from(table, timeCol, outer string, where []string, args []any, l *layout, start, end time.Time) (string, []any) {
	w := strings.Join(where, " AND ")
	clean, dirty := l.split(start, end)
	switch {
	case len(clean) == 0:
		return " FROM " + table + " FINAL WHERE " + w, args
	case len(dirty) == 0:
		return " FROM " + table + " WHERE " + w, args
	}
	// The columns the outer clauses use, and the time column.
	cols := []string{timeCol}
	known := tableColumns[table]
	for _, id := range identifier.FindAllString(outer, -1) {
		if slices.Contains(known, id) && !slices.Contains(cols, id) {
			cols = append(cols, id)
		}
	}
	sel := strings.Join(cols, ", ")
	return " FROM (SELECT " + sel + " FROM " + table + " FINAL WHERE " + w + " AND " + rangesSQL(timeCol, dirty) +
		" UNION ALL SELECT " + sel + " FROM " + table + " WHERE " + w + " AND " + rangesSQL(timeCol, clean) + ")", append(slices.Clip(args), args...)
}

// tableColumns are the columns of the tables read through from.
var tableColumns = map[string][]string{
	string(Transactions): {"project_id", "timestamp", "start_ts", "end_ts", "event_id", "trace_id", "span_id", "parent_span_id",
		"transaction", "op", "status", "duration_ms", "release", "environment", "user", "platform", "tag_keys", "tag_values"},
	string(Errors): {"project_id", "timestamp", "event_id", "issue_id", "trace_id", "span_id", "transaction", "level", "title",
		"type", "release", "environment", "user", "platform", "tag_keys", "tag_values", "received"},
}

// queryExact runs the query plan builds over table's layout and hands its
// rows to read; when a clean partition changed while it ran, it runs the
// query again with FINAL everywhere (read starts over).
func queryExact(ctx context.Context, c clickhouse.Conn, table string, start, end time.Time, plan func(*layout) (built, error),
	read func(clickhouse.Rows) error) error {
	before, err := readLayout(ctx, c, table)
	if err != nil {
		before = nil // FINAL everywhere: slower, still exact
	}
	for {
		b, err := plan(before)
		if err != nil {
			return err
		}
		if testHookPlanned != nil {
			testHookPlanned()
		}
		rows, err := c.Query(ctx, b.sql, b.args...)
		if err != nil {
			return err
		}
		err = read(rows)
		rows.Close()
		if err != nil {
			return err
		}
		if before == nil {
			return nil
		}
		after, err := readLayout(ctx, c, table)
		if err == nil && before.stillClean(after, start, end) {
			return nil
		}
		before = nil
	}
}

// testHookPlanned, when set, runs between planning a query and running it.
var testHookPlanned func()
