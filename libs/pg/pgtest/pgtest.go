// Package pgtest gives each test package a real Postgres database of its own,
// created on first use and dropped when the package's tests end.
//
// A database with migrations is copied from a template database that holds
// exactly those migrations, built once per server and named by a hash of
// the migrations' names and contents: copying takes a tenth of the time
// migrating does, and the test suite creates a database for most tests.
// Templates that no test asked for in a week are dropped.
//
// The server is TEST_DATABASE_URL, or postgres://postgres@127.0.0.1:5432 with
// trust auth as on Faultline's development and CI machines.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline/faultline/libs/pg"
)

// ServerURL is the URL of the test Postgres server's maintenance database.
func ServerURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// DB is a throwaway database.
type DB struct {
	URL  string
	Name string
	Pool *pgxpool.Pool
}

// New creates a fresh database and migrates it with sets. Call Drop when done
// (from TestMain) or use NewT in a single test.
func New(ctx context.Context, sets ...pg.Migrations) (*DB, error) {
	b := make([]byte, 6)
	rand.Read(b)
	name := "faultline_test_" + hex.EncodeToString(b)
	u, err := url.Parse(ServerURL())
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	db := &DB{URL: u.String(), Name: name}
	if len(sets) > 0 {
		if err := createFromTemplate(ctx, name, sets); err != nil {
			return nil, err
		}
	}
	db.Pool, err = pg.Open(ctx, db.URL) // creates the database
	if err != nil {
		return nil, err
	}
	// A database copied from a template holds every migration already;
	// this only checks so. Without sets it creates the bookkeeping table.
	if _, err := pg.Migrate(ctx, db.Pool, sets...); err != nil {
		db.Drop()
		return nil, err
	}
	return db, nil
}

// NewT is New for one test; the database is dropped when the test ends.
func NewT(t testing.TB, sets ...pg.Migrations) *DB {
	t.Helper()
	db, err := New(context.Background(), sets...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Drop)
	return db
}

// Drop closes the pool and drops the database.
func (db *DB) Drop() {
	if db.Pool != nil {
		db.Pool.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: drop:", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db.Name}.Sanitize()+" WITH (FORCE)"); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: drop:", err)
	}
}

// Restricted opens a pool on db as a new login role that may write the
// tables of the writable schemas and only read those of the readOnly ones:
// a role that writes a table it should not fails with permission denied.
// The role is dropped when the test ends.
func (db *DB) Restricted(t testing.TB, writable, readOnly []string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 4)
	rand.Read(b)
	role := "faultline_restricted_" + hex.EncodeToString(b)
	stmts := []string{`CREATE ROLE ` + role + ` LOGIN`}
	for _, s := range writable {
		stmts = append(stmts, `GRANT USAGE ON SCHEMA `+s+` TO `+role,
			`GRANT ALL ON ALL TABLES IN SCHEMA `+s+` TO `+role,
			`GRANT ALL ON ALL SEQUENCES IN SCHEMA `+s+` TO `+role)
	}
	for _, s := range readOnly {
		stmts = append(stmts, `GRANT USAGE ON SCHEMA `+s+` TO `+role, `GRANT SELECT ON ALL TABLES IN SCHEMA `+s+` TO `+role)
	}
	for _, sql := range stmts {
		if _, err := db.Pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	pool, err := pg.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		db.Pool.Exec(context.Background(), `DROP OWNED BY `+role)
		db.Pool.Exec(context.Background(), `DROP ROLE `+role)
	})
	return pool
}

// templateLockKey serialises template builds, copies and clean-ups across
// every test process on the server.
const templateLockKey = 0x706774706c // "pgtpl"

// createFromTemplate creates database name as a copy of the template that
// holds sets, building the template first if the server has none.
func createFromTemplate(ctx context.Context, name string, sets []pg.Migrations) error {
	tmpl, err := templateName(sets)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return fmt.Errorf("pgtest: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", templateLockKey)

	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM pg_database WHERE datname = $1)`, tmpl).Scan(&exists); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if !exists {
		if err := buildTemplate(ctx, conn, tmpl, sets); err != nil {
			return err
		}
	}
	// The comment is when the template was last used: a week unused and
	// it is dropped.
	now := strconv.FormatInt(time.Now().Unix(), 10)
	if _, err := conn.Exec(ctx, "COMMENT ON DATABASE "+pgx.Identifier{tmpl}.Sanitize()+" IS '"+now+"'"); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{tmpl}.Sanitize()); err != nil {
		return fmt.Errorf("pgtest: create %s from %s: %w", name, tmpl, err)
	}
	dropUnusedTemplates(ctx, conn, tmpl)
	return nil
}

// templateName names the template of sets by a hash of every migration's
// service, file name and contents, so a changed migration gets a new one.
func templateName(sets []pg.Migrations) (string, error) {
	h := sha256.New()
	for _, set := range sets {
		names, err := fs.Glob(set.FS, path.Join(set.Dir, "*.sql"))
		if err != nil {
			return "", fmt.Errorf("pgtest: %s migrations: %w", set.Service, err)
		}
		sort.Strings(names)
		for _, n := range names {
			b, err := fs.ReadFile(set.FS, n)
			if err != nil {
				return "", fmt.Errorf("pgtest: %w", err)
			}
			fmt.Fprintf(h, "%s\x00%s\x00%d\x00", set.Service, path.Base(n), len(b))
			h.Write(b)
		}
	}
	return "faultline_tmpl_" + hex.EncodeToString(h.Sum(nil))[:24], nil
}

// buildTemplate migrates a new database under a temporary name and renames
// it, so a build that dies half-way never leaves a template behind.
func buildTemplate(ctx context.Context, conn *pgx.Conn, tmpl string, sets []pg.Migrations) error {
	building := tmpl + "_building"
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{building}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	u, err := url.Parse(ServerURL())
	if err != nil {
		return err
	}
	u.Path = "/" + building
	pool, err := pg.Open(ctx, u.String())
	if err != nil {
		return err
	}
	_, err = pg.Migrate(ctx, pool, sets...)
	pool.Close()
	if err != nil {
		conn.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+pgx.Identifier{building}.Sanitize()+" WITH (FORCE)")
		return err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{building}.Sanitize()+" RENAME TO "+pgx.Identifier{tmpl}.Sanitize()); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// dropUnusedTemplates drops templates other than keep not used for a week
// (older migrations of this or another checkout). Failures only cost disk.
func dropUnusedTemplates(ctx context.Context, conn *pgx.Conn, keep string) {
	rows, err := conn.Query(ctx, `SELECT d.datname, coalesce(shobj_description(d.oid, 'pg_database'), '')
		FROM pg_database d WHERE d.datname LIKE 'faultline\_tmpl\_%' AND d.datname <> $1`, keep)
	if err != nil {
		return
	}
	var stale []string
	for rows.Next() {
		var name, used string
		if rows.Scan(&name, &used) != nil {
			continue
		}
		if sec, err := strconv.ParseInt(used, 10, 64); err != nil || time.Since(time.Unix(sec, 0)) > 7*24*time.Hour {
			stale = append(stale, name)
		}
	}
	rows.Close()
	for _, name := range stale {
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
	}
}
