package pg

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Thresholds of VacuumBloated: a table is vacuumed once its dead rows pass
// both, as autovacuum's defaults would (50 rows and a fifth of the table),
// with a floor that keeps small tables from being vacuumed every minute.
const (
	vacuumMinDead     = 1000
	vacuumDeadShare   = 0.2
	vacuumMinInterval = time.Minute
)

// VacuumBloated vacuums those of tables (schema-qualified names) whose
// dead rows have piled up and that no vacuum, the server's or this one,
// has cleaned in the last minute. It returns the tables it vacuumed.
//
// The roles' hottest tables (an issue's row is rewritten by every batch
// that brings it events) need vacuuming every minute or two under load.
// Autovacuum does it when it is on and keeps up; where it is off (some
// managed and test servers) or falls behind, a table of 10,000 issues grew
// to 200,000 dead rows and 340 MB in 15 minutes at 1,000 events/s, and
// every batch's update slowed with it (make soak, docs/benchmarks.md).
// VACUUM (SKIP_LOCKED) skips a table another vacuum holds, so replicas and
// autovacuum never queue behind one another.
func VacuumBloated(ctx context.Context, pool *pgxpool.Pool, tables ...string) ([]string, error) {
	rows, err := pool.Query(ctx, `SELECT schemaname || '.' || relname, n_live_tup, n_dead_tup,
			greatest(last_vacuum, last_autovacuum)
		FROM pg_stat_user_tables WHERE schemaname || '.' || relname = ANY($1)`, tables)
	if err != nil {
		return nil, fmt.Errorf("read table statistics: %w", err)
	}
	var due []string
	for rows.Next() {
		var (
			name       string
			live, dead int64
			last       *time.Time
		)
		if err := rows.Scan(&name, &live, &dead, &last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read table statistics: %w", err)
		}
		if dead >= vacuumMinDead && float64(dead) >= vacuumDeadShare*float64(live) &&
			(last == nil || time.Since(*last) >= vacuumMinInterval) {
			due = append(due, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read table statistics: %w", err)
	}
	var done []string
	for _, name := range due {
		schema, table, _ := strings.Cut(name, ".")
		if _, err := pool.Exec(ctx, `VACUUM (SKIP_LOCKED) `+pgx.Identifier{schema, table}.Sanitize()); err != nil {
			return done, fmt.Errorf("vacuum %s: %w", name, err)
		}
		done = append(done, name)
	}
	return done, nil
}
