// Package pgtest gives each test package a real Postgres database of its own,
// created on first use and dropped when the package's tests end.
//
// The server is TEST_DATABASE_URL, or postgres://postgres@127.0.0.1:5432 with
// trust auth as on Faultline's development and CI machines.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
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
	db.Pool, err = pg.Open(ctx, db.URL) // creates the database
	if err != nil {
		return nil, err
	}
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
