package pg_test

import (
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/libs/pg/pgtest"
)

// TestVacuumBloated rewrites every row of one table three times and a few
// rows of another: only the first is vacuumed, its dead rows are gone
// afterwards, and a second call within the minute leaves it alone.
func TestVacuumBloated(t *testing.T) {
	ctx := testContext(t)
	db := pgtest.NewT(t)
	for _, sql := range []string{
		`CREATE SCHEMA hot`,
		`CREATE TABLE hot.issues (id int PRIMARY KEY, n int NOT NULL)`,
		`CREATE TABLE hot.quiet (id int PRIMARY KEY, n int NOT NULL)`,
		`INSERT INTO hot.issues SELECT g, 0 FROM generate_series(1, 2000) g`,
		`INSERT INTO hot.quiet SELECT g, 0 FROM generate_series(1, 2000) g`,
		`UPDATE hot.issues SET n = n + 1`,
		`UPDATE hot.issues SET n = n + 1`,
		`UPDATE hot.issues SET n = n + 1`,
		`UPDATE hot.quiet SET n = n + 1 WHERE id <= 10`,
	} {
		if _, err := db.Pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	dead := func(table string) int64 {
		t.Helper()
		var n int64
		if err := db.Pool.QueryRow(ctx, `SELECT n_dead_tup FROM pg_stat_user_tables WHERE schemaname = 'hot' AND relname = $1`,
			table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The statistics reach the server's counters within a second or so of
	// the transactions that made them.
	for start := time.Now(); dead("issues") < 4000; time.Sleep(100 * time.Millisecond) {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("the statistics never counted the dead rows: %d", dead("issues"))
		}
	}
	done, err := pg.VacuumBloated(ctx, db.Pool, "hot.issues", "hot.quiet", "hot.missing")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done, []string{"hot.issues"}) {
		t.Fatalf("vacuumed %v, want only hot.issues", done)
	}
	if n := dead("issues"); n != 0 {
		t.Errorf("%d dead rows after the vacuum", n)
	}
	if n := dead("quiet"); n == 0 {
		t.Error("the quiet table was vacuumed too")
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE hot.issues SET n = n + 1`); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); dead("issues") < 1500 && time.Since(start) < 15*time.Second; time.Sleep(100 * time.Millisecond) {
	}
	if done, err := pg.VacuumBloated(ctx, db.Pool, "hot.issues"); err != nil || len(done) != 0 {
		t.Errorf("a second call within the minute vacuumed %v (%v)", done, err)
	}
}
