package pgtest_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/libs/pg/pgtest"
)

func set(sql string) pg.Migrations {
	return pg.Migrations{Service: "pgtest", Dir: "m", FS: fstest.MapFS{
		"m/0001_one.sql": {Data: []byte(sql)},
	}}
}

// Databases copied from a template hold the migrations; a changed migration
// gets a template of its own rather than the old one.
func TestNewCopiesTheTemplateOfItsMigrations(t *testing.T) {
	ctx := context.Background()
	a := set(`CREATE TABLE widgets (id int PRIMARY KEY)`)
	b := set(`CREATE TABLE gadgets (id int PRIMARY KEY)`)
	for _, tc := range []struct {
		sets  pg.Migrations
		table string
	}{{a, "widgets"}, {a, "widgets"}, {b, "gadgets"}} {
		db := pgtest.NewT(t, tc.sets)
		var tables []string
		rows, err := db.Pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			tables = append(tables, n)
		}
		rows.Close()
		if len(tables) != 2 || tables[0] != "faultline_migrations" || tables[1] != tc.table {
			t.Fatalf("tables = %v, want faultline_migrations and %s", tables, tc.table)
		}
		// The copy is the test's own: what the last test wrote is not in it.
		var n int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM `+tc.table).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s holds %d rows (%v), want an empty copy", tc.table, n, err)
		}
		if _, err := db.Pool.Exec(ctx, `INSERT INTO `+tc.table+` VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		if n, err := pg.Migrate(ctx, db.Pool, tc.sets); err != nil || n != 0 {
			t.Fatalf("migrate after copy: %d, %v; want 0 applied", n, err)
		}
	}
}
