package pg_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/libs/pg/pgtest"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// shop is a service with two migrations.
func shop() (pg.Migrations, fstest.MapFS) {
	fsys := fstest.MapFS{
		"sql/0001_items.sql":  {Data: []byte(`CREATE SCHEMA shop; CREATE TABLE shop.items (id int PRIMARY KEY, name text);`)},
		"sql/0002_price.sql":  {Data: []byte(`ALTER TABLE shop.items ADD COLUMN price int NOT NULL DEFAULT 0;`)},
		"sql/README.md":       {Data: []byte(`not a migration`)},
		"other/0001_nope.sql": {Data: []byte(`SELECT nonsense FROM nowhere;`)},
	}
	return pg.Migrations{Service: "shop", FS: fsys, Dir: "sql"}, fsys
}

// applied lists the recorded migrations of service, in order.
func applied(t *testing.T, db *pgtest.DB, service string) []string {
	t.Helper()
	rows, err := db.Pool.Query(testContext(t), `SELECT name FROM public.faultline_migrations WHERE service = $1 ORDER BY name`, service)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func TestMigrateAppliesOnce(t *testing.T) {
	db := pgtest.NewT(t)
	ctx := testContext(t)
	set, fsys := shop()

	n, err := pg.Migrate(ctx, db.Pool, set)
	if err != nil || n != 2 {
		t.Fatalf("first Migrate: %d, %v; want 2 applied", n, err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO shop.items (id, name, price) VALUES (1, 'a', 5)`); err != nil {
		t.Fatalf("schema not migrated: %v", err)
	}
	n, err = pg.Migrate(ctx, db.Pool, set)
	if err != nil || n != 0 {
		t.Fatalf("second Migrate: %d, %v; want 0 applied", n, err)
	}
	if got := applied(t, db, "shop"); strings.Join(got, ",") != "0001_items.sql,0002_price.sql" {
		t.Errorf("recorded %v", got)
	}

	// A new file is applied alone; a failing one is not recorded and names itself.
	fsys["sql/0003_stock.sql"] = &fstest.MapFile{Data: []byte(`ALTER TABLE shop.items ADD COLUMN stock int;`)}
	fsys["sql/0004_broken.sql"] = &fstest.MapFile{Data: []byte(`ALTER TABLE shop.items ADD COLUMN stock int;`)}
	n, err = pg.Migrate(ctx, db.Pool, set)
	if err == nil || n != 1 {
		t.Fatalf("Migrate with a broken file: %d, %v; want 1 applied and an error", n, err)
	}
	if !strings.Contains(err.Error(), "shop") || !strings.Contains(err.Error(), "0004_broken") {
		t.Errorf("error %q does not name the service and file", err)
	}
	if got := applied(t, db, "shop"); len(got) != 3 {
		t.Errorf("recorded %v, want 3 migrations", got)
	}

	// Services are recorded apart: the same file name in another service runs.
	other := pg.Migrations{Service: "other", FS: fstest.MapFS{
		"m/0001_items.sql": {Data: []byte(`CREATE TABLE public.other_items (id int);`)},
	}, Dir: "m"}
	if n, err := pg.Migrate(ctx, db.Pool, other); err != nil || n != 1 {
		t.Errorf("other service: %d, %v", n, err)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	db := pgtest.NewT(t)
	ctx := testContext(t)
	set, _ := shop()
	const workers = 3
	var wg sync.WaitGroup
	counts := make([]int, workers)
	errs := make([]error, workers)
	for i := range workers {
		wg.Go(func() { counts[i], errs[i] = pg.Migrate(ctx, db.Pool, set) })
	}
	wg.Wait()
	total := 0
	for i := range workers {
		if errs[i] != nil {
			t.Errorf("worker %d: %v", i, errs[i])
		}
		total += counts[i]
	}
	if total != 2 {
		t.Errorf("workers applied %v migrations, want 2 in all", counts)
	}
	if got := applied(t, db, "shop"); len(got) != 2 {
		t.Errorf("recorded %v", got)
	}
}

func TestOpenCreatesMissingDatabase(t *testing.T) {
	ctx := testContext(t)
	b := make([]byte, 6)
	rand.Read(b)
	name := "faultline_test_open_" + hex.EncodeToString(b)
	u, err := url.Parse(pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	t.Cleanup((&pgtest.DB{Name: name}).Drop)

	// Two processes starting at once both get the database.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			pool, err := pg.Open(ctx, u.String())
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			defer pool.Close()
			var db string
			if err := pool.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil || db != name {
				t.Errorf("connected to %q (%v), want %q", db, err, name)
			}
		})
	}
	wg.Wait()
	// And again, now that it exists.
	pool, err := pg.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
}

func TestOpenErrors(t *testing.T) {
	ctx := testContext(t)
	for _, bad := range []string{
		"postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", // nothing listens
		"not a url at all ::",
	} {
		if pool, err := pg.Open(ctx, bad); err == nil {
			pool.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}
