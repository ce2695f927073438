// Package clickhouse opens Faultline's ClickHouse connections and applies
// a role's ClickHouse migrations. Everything here works on ClickHouse 18.16
// (Debian's package) as on current releases: no TTL, Map, DateTime64 or
// LowCardinality, which 18.16 lacks.
package clickhouse

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Conn is an open ClickHouse connection pool.
type Conn = driver.Conn

// Rows are a query's answer.
type Rows = driver.Rows

// Exception is an error the server answered, with its code (60: unknown
// table, 81: unknown database, ...).
type Exception = ch.Exception

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ParseURL reads a CLICKHOUSE_URL (clickhouse-go's DSN form,
// clickhouse://host:9000/database?...) and says which database it names
// ("default" when none).
func ParseURL(dsn string) (*ch.Options, error) {
	opt, err := ch.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("clickhouse url: %w", err)
	}
	if opt.Auth.Database == "" {
		opt.Auth.Database = "default"
	}
	if !identRe.MatchString(opt.Auth.Database) {
		return nil, fmt.Errorf("clickhouse url: database name %q: want letters, digits and _", opt.Auth.Database)
	}
	return opt, nil
}

// Open connects to the server dsn names and creates its database if it is
// missing.
func Open(ctx context.Context, dsn string) (Conn, error) {
	opt, err := ParseURL(dsn)
	if err != nil {
		return nil, err
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = 5 * time.Second
	}
	db := opt.Auth.Database
	if db != "default" {
		boot := *opt
		boot.Auth.Database = "default"
		c, err := ch.Open(&boot)
		if err != nil {
			return nil, fmt.Errorf("clickhouse: %w", err)
		}
		// The name is checked against identRe: it cannot break out of the
		// backquotes.
		err = c.Exec(ctx, "CREATE DATABASE IF NOT EXISTS `"+db+"`")
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("clickhouse: create database %s: %w", db, err)
		}
	}
	c, err := ch.Open(opt)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	if err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	return c, nil
}

// Migrations are one role's ClickHouse migrations: *.sql files in Dir of FS,
// applied in name order. A file may hold several statements separated by
// lines holding only ";". Statements must be idempotent (CREATE TABLE IF NOT
// EXISTS, ADD COLUMN IF NOT EXISTS): ClickHouse has no locks, so two
// replicas starting together may both apply a file. Only DDL: an INSERT
// with inline VALUES through the native protocol hangs on 18.16.
type Migrations struct {
	Service string
	FS      fs.FS
	Dir     string
}

// Migrate applies the migrations not yet recorded in
// faultline_migrations and returns how many it applied.
func Migrate(ctx context.Context, c Conn, sets ...Migrations) (int, error) {
	if err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS faultline_migrations (
		service String, name String, applied_at DateTime
	) ENGINE = ReplacingMergeTree ORDER BY (service, name)`); err != nil {
		return 0, fmt.Errorf("migrate: create table: %w", err)
	}
	applied := 0
	for _, set := range sets {
		done := map[string]bool{}
		rows, err := c.Query(ctx, "SELECT name FROM faultline_migrations WHERE service = ?", set.Service)
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", set.Service, err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return applied, fmt.Errorf("migrate %s: %w", set.Service, err)
			}
			done[n] = true
		}
		rows.Close()
		names, err := fs.Glob(set.FS, path.Join(set.Dir, "*.sql"))
		if err != nil {
			return applied, err
		}
		sort.Strings(names)
		for _, name := range names {
			base := path.Base(name)
			if done[base] {
				continue
			}
			b, err := fs.ReadFile(set.FS, name)
			if err != nil {
				return applied, err
			}
			for _, stmt := range Statements(string(b)) {
				if err := c.Exec(ctx, stmt); err != nil {
					return applied, fmt.Errorf("migrate %s %s: %w", set.Service, base, err)
				}
			}
			if err := record(ctx, c, set.Service, base); err != nil {
				return applied, fmt.Errorf("migrate %s %s: record: %w", set.Service, base, err)
			}
			applied++
		}
	}
	return applied, nil
}

func record(ctx context.Context, c Conn, service, name string) error {
	b, err := c.PrepareBatch(ctx, "INSERT INTO faultline_migrations (service, name, applied_at)")
	if err != nil {
		return err
	}
	if err := b.Append(service, name, time.Now().UTC()); err != nil {
		b.Abort()
		return err
	}
	return b.Send()
}

// Statements splits a migration file into statements at lines holding
// only ";", dropping "--" comment lines and empty statements.
func Statements(src string) []string {
	var out []string
	var cur []string
	flush := func() {
		if s := strings.TrimSpace(strings.Join(cur, "\n")); s != "" {
			out = append(out, s)
		}
		cur = cur[:0]
	}
	for _, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == ";":
			flush()
		case strings.HasPrefix(t, "--"):
		default:
			cur = append(cur, line)
		}
	}
	flush()
	return out
}
