package issues

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Error counts from the stored events (grouping.events), for the Discover
// routes when there is no ClickHouse: counts and distinct users of error
// events by project, issue, release, environment, level or title, as a
// table or per time bucket, over the time the gateway received them.

// ErrorCountColumns are the columns an error count can be grouped and
// filtered by, in Sentry's names, with their SQL.
var ErrorCountColumns = map[string]string{
	"project.id":  "project_id",
	"issue.id":    "issue_id",
	"release":     "release",
	"environment": "environment",
	"level":       "level",
	"title":       "title",
	"event.type":  "type",
}

// ErrorCountFilter is one key:value term of a search; an empty Key is free
// text matched in the title.
type ErrorCountFilter struct {
	Key, Value string
	Negated    bool
}

// ErrorCountQuery asks for error counts.
type ErrorCountQuery struct {
	Projects     []int64 // required: the projects the caller may read
	Start, End   time.Time
	Environments []string
	Filters      []ErrorCountFilter
	GroupBy      []string      // keys of ErrorCountColumns
	Interval     time.Duration // a series' bucket width (whole seconds); 0 for a table
	Sort         string        // a table's order: a GroupBy column, "count" or "users", "-" first for descending
	Limit        int           // a table's rows, at most 1000
	Offset       int
}

// ErrorCountRow is one group (and, for a series, one bucket): its GroupBy
// values (int64 for ids, else string), the events and distinct users.
type ErrorCountRow struct {
	Values []any
	Bucket time.Time // a series' bucket start
	Count  int64
	Users  int64
}

// ErrorCounts answers q from Postgres.
func (s *Store) ErrorCounts(ctx context.Context, q ErrorCountQuery) ([]ErrorCountRow, error) {
	if len(q.Projects) == 0 {
		return nil, nil
	}
	if !q.End.After(q.Start) {
		return nil, fmt.Errorf("%w: the end of the period must come after its start", ErrInvalid)
	}
	var args sqlArgs
	where := []string{"project_id = ANY(" + args.add(q.Projects) + ")", "received >= " + args.add(q.Start), "received < " + args.add(q.End)}
	if len(q.Environments) > 0 {
		where = append(where, "environment = ANY("+args.add(q.Environments)+")")
	}
	for _, f := range q.Filters {
		if f.Key == "" {
			where = append(where, "title ILIKE "+args.add("%"+likeLiteral(f.Value)+"%"))
			continue
		}
		col, ok := ErrorCountColumns[f.Key]
		if !ok {
			return nil, fmt.Errorf("%w: unknown search key %q", ErrInvalid, clipForError(f.Key))
		}
		var v any = f.Value
		if col == "project_id" || col == "issue_id" {
			n, err := strconv.ParseInt(f.Value, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: want a number, got %q", ErrInvalid, f.Key, clipForError(f.Value))
			}
			v = n
		}
		op := " = "
		if f.Negated {
			op = " <> "
		}
		where = append(where, col+op+args.add(v))
	}
	var sel, group []string
	if q.Interval > 0 {
		if q.Interval%time.Second != 0 {
			return nil, fmt.Errorf("%w: interval: want whole seconds", ErrInvalid)
		}
		step := strconv.FormatInt(int64(q.Interval/time.Second), 10) // ours: safe in the SQL text
		sel = append(sel, "(floor(extract(epoch FROM received) / "+step+") * "+step+")::bigint AS t")
		group = append(group, "t")
	}
	for _, g := range q.GroupBy {
		col, ok := ErrorCountColumns[g]
		if !ok {
			return nil, fmt.Errorf("%w: unknown column %q", ErrInvalid, clipForError(g))
		}
		sel = append(sel, col)
		group = append(group, col)
	}
	sel = append(sel, "count(*)", "count(DISTINCT NULLIF(user_key, ''))")
	sql := "SELECT " + strings.Join(sel, ", ") + " FROM grouping.events WHERE " + strings.Join(where, " AND ")
	if len(group) > 0 {
		sql += " GROUP BY " + strings.Join(group, ", ")
	}
	if q.Interval > 0 {
		sql += " ORDER BY t"
	} else {
		if q.Sort != "" {
			name := strings.TrimPrefix(q.Sort, "-")
			var e string
			switch {
			case name == "count":
				e = "count(*)"
			case name == "users":
				e = "count(DISTINCT NULLIF(user_key, ''))"
			case slices.Contains(q.GroupBy, name):
				e = ErrorCountColumns[name]
			default:
				return nil, fmt.Errorf("%w: sort %q: sort by one of the fields", ErrInvalid, clipForError(q.Sort))
			}
			if strings.HasPrefix(q.Sort, "-") {
				e += " DESC"
			}
			sql += " ORDER BY " + e
		}
		limit := q.Limit
		if limit <= 0 || limit > 1000 {
			limit = 1000
		}
		if q.Offset < 0 || q.Offset > 100000 {
			return nil, fmt.Errorf("%w: cursor out of range", ErrInvalid)
		}
		sql += fmt.Sprintf(" LIMIT %d OFFSET %d", limit, q.Offset)
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("count errors: %w", err)
	}
	defer rows.Close()
	var out []ErrorCountRow
	for rows.Next() {
		var r ErrorCountRow
		var t int64
		dest := []any{}
		if q.Interval > 0 {
			dest = append(dest, &t)
		}
		vals := make([]any, len(q.GroupBy))
		for i, g := range q.GroupBy {
			if c := ErrorCountColumns[g]; c == "project_id" || c == "issue_id" {
				vals[i] = new(int64)
			} else {
				vals[i] = new(string)
			}
			dest = append(dest, vals[i])
		}
		dest = append(dest, &r.Count, &r.Users)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("count errors: %w", err)
		}
		for _, v := range vals {
			switch p := v.(type) {
			case *int64:
				r.Values = append(r.Values, *p)
			case *string:
				r.Values = append(r.Values, *p)
			}
		}
		if q.Interval > 0 {
			r.Bucket = time.Unix(t, 0).UTC()
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
