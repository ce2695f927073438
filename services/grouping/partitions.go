package grouping

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Event tables are partitioned by the day the gateway received an event:
// grouping.events_pYYYYMMDD and grouping.event_ids_pYYYYMMDD. Partitions are
// created ahead by the maintenance loop, and on demand for a batch that
// reaches a day without one; retention drops whole partitions.

var partitionedTables = []string{"events", "event_ids"}

const partitionsAhead = 3 // days

func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func partitionName(table string, day time.Time) string {
	return table + "_p" + day.Format("20060102")
}

// ensurePartitions makes sure every day the events fall on has its
// partitions.
func (s *Service) ensurePartitions(ctx context.Context, events []*prepared) error {
	var missing []time.Time
	s.partMu.Lock()
	for _, p := range events {
		d := dayOf(p.received)
		if !s.partitions[d] && !containsDay(missing, d) {
			missing = append(missing, d)
		}
	}
	s.partMu.Unlock()
	for _, d := range missing {
		if err := s.createPartitions(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func containsDay(ds []time.Time, d time.Time) bool {
	for _, x := range ds {
		if x.Equal(d) {
			return true
		}
	}
	return false
}

// createPartitions creates day's partitions unless they exist. Replicas may
// race; a partition created by another is fine.
func (s *Service) createPartitions(ctx context.Context, day time.Time) error {
	for _, table := range partitionedTables {
		sql := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.%s PARTITION OF %s.%s FOR VALUES FROM ('%s') TO ('%s')`,
			s.schema, pgx.Identifier{partitionName(table, day)}.Sanitize(), s.schema, table,
			day.Format(time.RFC3339), day.AddDate(0, 0, 1).Format(time.RFC3339))
		for attempt := 0; ; attempt++ {
			_, err := s.pool.Exec(ctx, sql)
			var pgErr *pgconn.PgError
			if err != nil && errors.As(err, &pgErr) && (pgErr.Code == "42P07" || pgErr.Code == "23505" || pgErr.Code == "40P01") && attempt < 3 {
				continue // created concurrently; IF NOT EXISTS now sees it
			}
			if err != nil {
				return fmt.Errorf("create partition %s for %s: %w", table, day.Format(time.DateOnly), err)
			}
			break
		}
	}
	s.partMu.Lock()
	s.partitions[day] = true
	s.partMu.Unlock()
	return nil
}

// maintainPartitions creates the coming days' partitions and drops those
// older than the retention.
func (s *Service) maintainPartitions(ctx context.Context, now time.Time) error {
	today := dayOf(now)
	for i := -1; i <= partitionsAhead; i++ {
		if err := s.createPartitions(ctx, today.AddDate(0, 0, i)); err != nil {
			return err
		}
	}
	if s.opt.RetentionDays <= 0 {
		return nil
	}
	cutoff := today.AddDate(0, 0, -s.opt.RetentionDays)
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
		JOIN pg_namespace n ON n.oid = p.relnamespace
		WHERE n.nspname = $2 AND p.relname = ANY($1)`, partitionedTables, s.schema)
	if err != nil {
		return fmt.Errorf("list partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list partitions: %w", err)
	}
	for _, name := range names {
		i := strings.LastIndex(name, "_p")
		day, err := time.Parse("20060102", name[i+2:])
		if i < 0 || err != nil || !day.Before(cutoff) {
			continue
		}
		if _, err := s.pool.Exec(ctx, "DROP TABLE IF EXISTS "+s.schema+"."+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("drop partition %s: %w", name, err)
		}
		s.partMu.Lock()
		delete(s.partitions, day)
		s.partMu.Unlock()
		s.log.Info("dropped event partition past retention", slog.String("partition", name), slog.Int("retention_days", s.opt.RetentionDays))
	}
	return nil
}
