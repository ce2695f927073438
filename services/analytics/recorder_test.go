package analytics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/faultline/faultline/libs/clickhouse"
)

// statement is one statement Faultline sent, as literal SQL.
type statement struct {
	sql   string // with its arguments bound
	rows  []byte // an insert's rows, JSONEachRow
	query bool   // answers rows: want is 18.16's answer
	want  []byte // JSONCompact, over 18.16's HTTP interface, when it ran
	parts bool   // reads system.parts: the answer is each server's own
}

// recorder is a clickhouse.Conn that passes everything to the real one
// and records each statement with its arguments bound into the SQL, each
// query with 18.16's answer to that SQL at that moment, and each batch
// insert with its rows as sent.
type recorder struct {
	clickhouse.Conn
	t    *testing.T
	http string // 18.16's HTTP interface
	db   string

	mu  sync.Mutex
	log []statement
}

func (r *recorder) statements() []statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]statement(nil), r.log...)
}

// recordQuery binds a query, asks 18.16 for its answer over HTTP and
// records both. The lock is held across both so that no insert of a
// concurrent batch slips between the answer and the record.
func (r *recorder) recordQuery(query string, args []any) {
	sql, err := bind(query, args)
	if err != nil {
		r.t.Errorf("bind %q: %v", query, err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	want, err := r.ask(sql + "\nFORMAT JSONCompact")
	if err != nil {
		r.t.Errorf("18.16 over HTTP: %v\n%s", err, sql)
	}
	r.log = append(r.log, statement{sql: sql, query: true, want: want, parts: strings.Contains(sql, "system.parts")})
}

// ask runs sql on 18.16 over HTTP in the test's database.
func (r *recorder) ask(sql string) ([]byte, error) {
	resp, err := http.Post(r.http+"/?database="+url.QueryEscape(r.db), "text/plain", strings.NewReader(sql))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, b)
	}
	return b, nil
}

func (r *recorder) Query(ctx context.Context, query string, args ...any) (driver.Rows, error) {
	r.recordQuery(query, args)
	return r.Conn.Query(ctx, query, args...)
}

func (r *recorder) QueryRow(ctx context.Context, query string, args ...any) driver.Row {
	r.recordQuery(query, args)
	return r.Conn.QueryRow(ctx, query, args...)
}

func (r *recorder) Select(ctx context.Context, dest any, query string, args ...any) error {
	r.recordQuery(query, args)
	return r.Conn.Select(ctx, dest, query, args...)
}

func (r *recorder) Exec(ctx context.Context, query string, args ...any) error {
	sql, err := bind(query, args)
	if err != nil {
		r.t.Errorf("bind %q: %v", query, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.Conn.Exec(ctx, query, args...); err != nil {
		return err
	}
	r.log = append(r.log, statement{sql: sql})
	return nil
}

func (r *recorder) PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error) {
	b, err := r.Conn.PrepareBatch(ctx, query, opts...)
	if err != nil {
		return nil, err
	}
	return &recordedBatch{Batch: b, r: r, query: query}, nil
}

// recordedBatch records its rows, read back from its columns, when sent.
type recordedBatch struct {
	driver.Batch
	r     *recorder
	query string
}

var insertInto = regexp.MustCompile(`^(?i)\s*INSERT\s+INTO\s+([A-Za-z_][A-Za-z0-9_.]*)`)

func (b *recordedBatch) Send() error {
	m := insertInto.FindStringSubmatch(b.query)
	if m == nil {
		b.r.t.Errorf("batch %q: not an INSERT INTO", b.query)
		return b.Batch.Send()
	}
	cols := b.Batch.Columns()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name()
	}
	var rows bytes.Buffer
	n := b.Batch.Rows()
	for i := range n {
		row := map[string]any{}
		for _, c := range cols {
			row[c.Name()] = jsonValue(c.Row(i, false))
		}
		line, err := json.Marshal(row)
		if err != nil {
			b.r.t.Errorf("batch %q row %d: %v", b.query, i, err)
		}
		rows.Write(line)
		rows.WriteByte('\n')
	}
	// Held across the insert, so that a query's answer from 18.16 and the
	// record agree on which inserts came before it.
	b.r.mu.Lock()
	defer b.r.mu.Unlock()
	if err := b.Batch.Send(); err != nil {
		return err
	}
	if n > 0 {
		b.r.log = append(b.r.log, statement{sql: "INSERT INTO " + m[1] + " (" + strings.Join(names, ", ") + ") FORMAT JSONEachRow", rows: rows.Bytes()})
	}
	return nil
}

// jsonValue is a column value as JSONEachRow input reads it: DateTime as
// "YYYY-MM-DD hh:mm:ss" in UTC (both servers run in UTC here), the rest
// as encoding/json writes it.
func jsonValue(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format("2006-01-02 15:04:05")
	}
	return v
}

// bind puts args into query's ? placeholders as SQL literals, the way
// clickhouse-go does for the native protocol (it binds on the client):
// strings quoted with \ and ' escaped, times as toDateTime in UTC,
// numbers as Go prints them, slices as arrays. A ? inside a quoted
// literal is left alone.
func bind(query string, args []any) (string, error) {
	var out strings.Builder
	next := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			out.WriteByte(c)
			if c == '\\' && i+1 < len(query) {
				i++
				out.WriteByte(query[i])
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '`' || c == '"':
			quote = c
			out.WriteByte(c)
		case c == '?':
			if next >= len(args) {
				return "", fmt.Errorf("more placeholders than %d arguments", len(args))
			}
			lit, err := literal(args[next])
			if err != nil {
				return "", err
			}
			out.WriteString(lit)
			next++
		default:
			out.WriteByte(c)
		}
	}
	if next != len(args) {
		return "", fmt.Errorf("%d arguments for %d placeholders", len(args), next)
	}
	return out.String(), nil
}

var sqlQuote = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

func literal(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return "'" + sqlQuote.Replace(v) + "'", nil
	case time.Time:
		return "toDateTime('" + v.UTC().Format("2006-01-02 15:04:05") + "', 'UTC')", nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return fmt.Sprint(v), nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		items := make([]string, rv.Len())
		for i := range items {
			s, err := literal(rv.Index(i).Interface())
			if err != nil {
				return "", err
			}
			items[i] = s
		}
		return "[" + strings.Join(items, ", ") + "]", nil
	}
	return "", fmt.Errorf("no literal for %T", v)
}
