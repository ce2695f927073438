// Package analyticsquery reads the analytics role's ClickHouse tables in
// the shape of Sentry's Discover API: a table of fields (columns and
// functions such as count(), p95(), failure_rate()) filtered by a search
// query, and a trace as a tree of transactions, spans and errors.
//
// User input never becomes SQL text: fields, sort keys and search keys are
// looked up in allow-lists that hold the SQL, and every value travels as a
// bound parameter. Reads use FINAL so duplicates from redeliveries count
// once before ClickHouse merges them; the table and series queries use it
// only on the daily partitions that are not one merged part (final.go). Everything runs on ClickHouse 18.16.
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

// Error is bad input: the API answers it with 400.
type Error struct{ Detail string }

func (e *Error) Error() string { return e.Detail }

func bad(format string, args ...any) error { return &Error{fmt.Sprintf(format, args...)} }

// Dataset is a table fields are read from.
type Dataset string

const (
	Transactions Dataset = "transactions"
	Errors       Dataset = "errors"
)

// columns are the plain columns per dataset: Sentry's name → SQL.
var columns = map[Dataset]map[string]string{
	Transactions: {
		"id": "event_id", "transaction": "transaction", "transaction.op": "op", "transaction.status": "status",
		"transaction.duration": "duration_ms", "release": "release", "environment": "environment", "user": "user",
		"trace": "trace_id", "project.id": "project_id", "platform": "platform", "timestamp": "timestamp",
	},
	Errors: {
		"id": "event_id", "title": "title", "level": "level", "issue.id": "issue_id", "transaction": "transaction",
		"release": "release", "environment": "environment", "user": "user", "trace": "trace_id",
		"project.id": "project_id", "platform": "platform", "timestamp": "timestamp", "event.type": "type",
	},
}

// functions are the aggregate functions per dataset.
var functions = map[Dataset]map[string]string{
	Transactions: {
		"count()":                   "count()",
		"count_unique(user)":        "uniqExact(user)",
		"count_unique(transaction)": "uniqExact(transaction)",
		"p50()":                     "quantile(0.5)(duration_ms)",
		"p75()":                     "quantile(0.75)(duration_ms)",
		"p95()":                     "quantile(0.95)(duration_ms)",
		"p99()":                     "quantile(0.99)(duration_ms)",
		"p50(transaction.duration)": "quantile(0.5)(duration_ms)",
		"p95(transaction.duration)": "quantile(0.95)(duration_ms)",
		"p99(transaction.duration)": "quantile(0.99)(duration_ms)",
		"avg(transaction.duration)": "avg(duration_ms)",
		"max(transaction.duration)": "max(duration_ms)",
		"min(transaction.duration)": "min(duration_ms)",
		"failure_rate()":            "countIf(status NOT IN ('ok', 'cancelled', 'unknown', 'unknown_error')) / count()",
		"epm()":                     "count() / @minutes",
	},
	Errors: {
		"count()":             "count()",
		"count_unique(user)":  "uniqExact(user)",
		"count_unique(issue)": "uniqExact(issue_id)",
		"epm()":               "count() / @minutes",
	},
}

// Query is a table request.
type Query struct {
	Dataset     Dataset
	Projects    []int64 // the projects the caller may read; required
	Start, End  time.Time
	Environment []string
	Fields      []string // Sentry's field= values
	Search      string   // Sentry's query=
	Sort        string   // a field, "-" first for descending
	Limit       int      // rows, at most 100
	Offset      int
}

// Table is the answer: one map per row, keyed by field.
type Table struct {
	Data []map[string]any  `json:"data"`
	Meta map[string]string `json:"meta"`
	More bool              `json:"-"` // there are rows after these
}

// built is a query's SQL and its parameters.
type built struct {
	sql  string
	args []any
}

// Build checks q and turns it into SQL with parameters.
func Build(q Query) (string, []any, error) {
	b, err := build(q)
	return b.sql, b.args, err
}

func build(q Query) (built, error) { return buildOver(q, nil) }

// buildOver is build over the layout l of the dataset's table.
func buildOver(q Query, l *layout) (built, error) {
	cols, fns := columns[q.Dataset], functions[q.Dataset]
	if cols == nil {
		return built{}, bad("unknown dataset %q: want transactions or errors", q.Dataset)
	}
	if len(q.Projects) == 0 {
		return built{}, bad("no project to read")
	}
	if len(q.Fields) == 0 {
		return built{}, bad("at least one field is required")
	}
	if len(q.Fields) > 20 {
		return built{}, bad("at most 20 fields")
	}
	if !q.End.After(q.Start) {
		return built{}, bad("the end of the period must come after its start")
	}
	minutes := q.End.Sub(q.Start).Minutes()
	var sel, group []string
	var aggregate bool
	exprOf := map[string]string{}
	for i, f := range q.Fields {
		f = strings.TrimSpace(f)
		if e, ok := fns[f]; ok {
			e = strings.ReplaceAll(e, "@minutes", strconv.FormatFloat(minutes, 'f', 6, 64))
			exprOf[f] = e
			sel = append(sel, fmt.Sprintf("%s AS f%d", e, i))
			aggregate = true
			continue
		}
		if c, ok := cols[f]; ok {
			exprOf[f] = c
			sel = append(sel, fmt.Sprintf("%s AS f%d", c, i))
			group = append(group, c)
			continue
		}
		return built{}, bad("unknown field %q", f)
	}
	where, args, err := filters(q, cols)
	if err != nil {
		return built{}, err
	}
	var tail string
	if aggregate && len(group) > 0 {
		tail = " GROUP BY " + strings.Join(group, ", ")
	}
	// The order is total: the columns follow the sort field, so rows that
	// tie on it come in the same order on every server and every page
	// (LIMIT picks the same rows); rows still tied are equal in every
	// field.
	var order []string
	sortExpr := ""
	if q.Sort != "" {
		e, ok := exprOf[strings.TrimPrefix(q.Sort, "-")]
		if !ok {
			return built{}, bad("sort %q: sort by one of the fields", q.Sort)
		}
		sortExpr = e
		if strings.HasPrefix(q.Sort, "-") {
			e += " DESC"
		}
		order = append(order, e)
	}
	for _, c := range group {
		if c != sortExpr && !slices.Contains(order, c) {
			order = append(order, c)
		}
	}
	if len(order) > 0 {
		tail += " ORDER BY " + strings.Join(order, ", ")
	}
	limit := q.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	if q.Offset < 0 || q.Offset > 100000 {
		return built{}, bad("cursor out of range")
	}
	tail += fmt.Sprintf(" LIMIT %d, %d", q.Offset, limit+1)
	head := "SELECT " + strings.Join(sel, ", ")
	src, args := from(string(q.Dataset), "timestamp", head+tail, where, args, l, q.Start, q.End)
	return built{sql: head + src + tail, args: args}, nil
}

// filters are the WHERE terms: projects, period, environments, search.
func filters(q Query, cols map[string]string) ([]string, []any, error) {
	where := []string{"has(?, project_id)", "timestamp >= ?", "timestamp < ?"}
	projects := make([]uint64, len(q.Projects))
	for i, p := range q.Projects {
		projects[i] = uint64(p)
	}
	args := []any{projects, q.Start.UTC(), q.End.UTC()}
	if len(q.Environment) > 0 {
		where = append(where, "has(?, environment)")
		args = append(args, q.Environment)
	}
	terms, err := ParseSearch(q.Search)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range terms {
		if t.Key == "" {
			text := "transaction"
			if _, ok := cols["title"]; ok {
				text = "title"
			}
			where = append(where, "positionCaseInsensitive("+text+", ?) > 0")
			args = append(args, t.Value)
			continue
		}
		c, ok := cols[t.Key]
		if !ok || t.Key == "timestamp" {
			return nil, nil, bad("unknown search key %q", t.Key)
		}
		op := "="
		if t.Negated {
			op = "!="
		}
		var v any = t.Value
		if c == "issue_id" || c == "project_id" {
			n, err := strconv.ParseUint(t.Value, 10, 64)
			if err != nil {
				return nil, nil, bad("%s: want a number, got %q", t.Key, t.Value)
			}
			v = n
		}
		if c == "duration_ms" {
			return nil, nil, bad("search on %s is not supported", t.Key)
		}
		where = append(where, c+" "+op+" ?")
		args = append(args, v)
	}
	return where, args, nil
}

// Term is one search term: key:value, !key:value, or free text (no key).
type Term struct {
	Key, Value string
	Negated    bool
}

// ParseSearch reads Sentry's simple search syntax: key:value and
// !key:value terms (values may be "quoted") and free text.
func ParseSearch(s string) ([]Term, error) {
	if len(s) > 2000 {
		return nil, bad("query longer than 2000 bytes")
	}
	var out []Term
	var free []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		var tok string
		tok, s = nextToken(s)
		if tok == "" {
			return nil, bad("unbalanced quotes in query")
		}
		key, val, ok := strings.Cut(tok, ":")
		if !ok || key == "" || strings.HasPrefix(key, `"`) {
			free = append(free, unquote(tok))
			continue
		}
		t := Term{Key: key}
		if strings.HasPrefix(key, "!") {
			t.Negated, t.Key = true, key[1:]
		}
		t.Value = unquote(val)
		if t.Key == "" || t.Value == "" {
			return nil, bad("term %q: want key:value", tok)
		}
		out = append(out, t)
		if len(out) > 30 {
			return nil, bad("more than 30 search terms")
		}
	}
	if len(free) > 0 {
		out = append(out, Term{Value: strings.Join(free, " ")})
	}
	return out, nil
}

// nextToken splits off a token that ends at a space outside quotes; "" for
// an unterminated quote.
func nextToken(s string) (string, string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && inQuote && i+1 < len(s):
			i++
		case s[i] == '"':
			inQuote = !inQuote
		case s[i] == ' ' && !inQuote:
			return s[:i], s[i+1:]
		}
	}
	if inQuote {
		return "", ""
	}
	return s, ""
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
		return s[1 : len(s)-1]
	}
	return s
}

// Run answers q.
func Run(ctx context.Context, c clickhouse.Conn, q Query) (*Table, error) {
	if _, err := build(q); err != nil {
		return nil, err
	}
	var t *Table
	err := queryExact(ctx, c, string(q.Dataset), q.Start, q.End, func(l *layout) (built, error) { return buildOver(q, l) },
		func(rows clickhouse.Rows) (err error) { t, err = readTable(q, rows); return err })
	if err != nil {
		return nil, fmt.Errorf("analytics query: %w", err)
	}
	return t, nil
}

// readTable reads the rows of q's query.
func readTable(q Query, rows clickhouse.Rows) (*Table, error) {
	t := &Table{Data: []map[string]any{}, Meta: map[string]string{}}
	types := rows.ColumnTypes()
	for i, f := range q.Fields {
		t.Meta[strings.TrimSpace(f)] = types[i].DatabaseTypeName()
	}
	limit := q.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	for rows.Next() {
		if len(t.Data) == limit {
			t.More = true
			break
		}
		vals := make([]any, len(types))
		for i, ct := range types {
			vals[i] = newScan(ct.DatabaseTypeName())
		}
		if err := rows.Scan(vals...); err != nil {
			return nil, err
		}
		row := map[string]any{}
		for i, f := range q.Fields {
			row[strings.TrimSpace(f)] = deref(vals[i])
		}
		t.Data = append(t.Data, row)
	}
	return t, rows.Err()
}

func newScan(typ string) any {
	switch typ {
	case "UInt64":
		return new(uint64)
	case "Float64":
		return new(float64)
	case "DateTime":
		return new(time.Time)
	default:
		return new(string)
	}
}

func deref(v any) any {
	switch p := v.(type) {
	case *uint64:
		return *p
	case *float64:
		return *p
	case *time.Time:
		return p.UTC().Format(time.RFC3339)
	case *string:
		return *p
	}
	return nil
}
