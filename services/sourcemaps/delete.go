package sourcemaps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/streams"
)

// objectsLock is the advisory lock a sweep holds (exclusive) while it
// checks that no file refers to an object and deletes it, and that an
// assembly holds (shared) while it checks its objects are there.
const objectsLock int64 = 0x736d5f6f626a // "sm_obj"

func (s *Service) handleDelete(ctx context.Context, m jetstream.Msg) {
	cmd, err := streams.DecodeDelete(m.Data())
	if err != nil {
		s.log.Warn("delete command rejected", slog.Any("error", err))
		m.Term()
		return
	}
	if _, err := s.Delete(ctx, cmd); err != nil {
		n := uint64(1)
		if md, merr := m.Metadata(); merr == nil {
			n = md.NumDelivered
		}
		delay := min(time.Duration(n)*time.Second, time.Minute)
		s.log.Warn("delete failed; will retry", slog.String("release", cmd.Release), slog.Any("error", err), slog.Duration("in", delay))
		m.NakWithDelay(delay)
		return
	}
	m.Ack()
}

// Delete drops the command's files from the index (only those of bundles
// assembled before the command was given, so a redelivered command spares
// what was uploaded again since), the bundles it leaves without files, and
// the stored objects no file refers to any more. It returns how many files
// it dropped.
func (s *Service) Delete(ctx context.Context, cmd *streams.DeleteCommand) (int, error) {
	var objects []string
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM sourcemaps.files f USING sourcemaps.bundles b
			WHERE b.id = f.bundle_id AND b.org_id = $1 AND f.project_id = ANY($2) AND f.release = $3
				AND ($4 = '' OR (b.checksum = $4 AND f.path = $5)) AND b.updated <= $6
			RETURNING f.bundle_id, f.object`, cmd.OrgID, cmd.ProjectIDs, cmd.Release, cmd.Checksum, cmd.Path, cmd.At)
		if err != nil {
			return fmt.Errorf("delete files: %w", err)
		}
		var bundles []int64
		for rows.Next() {
			var id int64
			var object string
			if err := rows.Scan(&id, &object); err != nil {
				rows.Close()
				return err
			}
			bundles, objects = append(bundles, id), append(objects, object)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("delete files: %w", err)
		}
		n = len(objects)
		if _, err := tx.Exec(ctx, `DELETE FROM sourcemaps.bundles b WHERE b.id = ANY($1)
			AND NOT EXISTS (SELECT 1 FROM sourcemaps.files f WHERE f.bundle_id = b.id)`, bundles); err != nil {
			return fmt.Errorf("delete bundles: %w", err)
		}
		// The bundles that keep files lack some now: the same bundle
		// uploaded again is assembled again rather than found complete.
		if _, err := tx.Exec(ctx, `UPDATE sourcemaps.bundles SET state = 'partial' WHERE id = ANY($1) AND state = 'ok'`,
			bundles); err != nil {
			return fmt.Errorf("mark bundles partial: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, s.sweep(ctx, objects)
}

// Expire drops the bundles last uploaded before cutoff, their files and
// the objects no other file refers to. It returns how many bundles it
// dropped.
func (s *Service) Expire(ctx context.Context, cutoff time.Time) (int, error) {
	var objects []string
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM sourcemaps.bundles WHERE updated < $1`, cutoff).Scan(&n); err != nil || n == 0 {
			return err
		}
		// The statement reads the files as they were before its delete
		// (which cascades to them).
		rows, err := tx.Query(ctx, `WITH gone AS (DELETE FROM sourcemaps.bundles WHERE updated < $1 RETURNING id)
			SELECT DISTINCT object FROM sourcemaps.files WHERE bundle_id IN (SELECT id FROM gone)`, cutoff)
		if err != nil {
			return fmt.Errorf("expire bundles: %w", err)
		}
		objects, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, s.sweep(ctx, objects)
}

// sweep deletes the objects among names that no file refers to.
func (s *Service) sweep(ctx context.Context, names []string) error {
	slices.Sort(names)
	names = slices.Compact(names)
	for len(names) > 0 {
		batch := names[:min(len(names), 500)]
		names = names[len(batch):]
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, objectsLock); err != nil {
				return fmt.Errorf("lock objects: %w", err)
			}
			rows, err := tx.Query(ctx, `SELECT u.o FROM unnest($1::text[]) AS u(o)
				WHERE NOT EXISTS (SELECT 1 FROM sourcemaps.files f WHERE f.object = u.o)`, batch)
			if err != nil {
				return fmt.Errorf("unused objects: %w", err)
			}
			unused, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("unused objects: %w", err)
			}
			for _, name := range unused {
				if err := s.artifacts.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
					return fmt.Errorf("delete object %s: %w", name, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// sweepLoop expires bundles past the retention, every SweepEvery.
func (s *Service) sweepLoop(ctx context.Context) {
	if s.opt.Retention <= 0 || s.opt.SweepEvery <= 0 {
		return
	}
	t := time.NewTicker(s.opt.SweepEvery)
	defer t.Stop()
	for {
		if n, err := s.Expire(ctx, time.Now().Add(-s.opt.Retention)); err != nil && ctx.Err() == nil {
			s.log.Warn("expiring source-map bundles failed", slog.Any("error", err))
		} else if n > 0 {
			s.log.Info("source-map bundles expired", slog.Int("bundles", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
