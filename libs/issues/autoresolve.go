package issues

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/streams"
)

// AutoResolve resolves a project's unresolved issues that have had no
// event for age (Sentry's resolveAge), at most limit of them, oldest first:
// decisions like a person's, by "auto-resolve". Each decision's id names the
// issue and its last event's time, so replicas sweeping at once, or a sweep
// that runs again before grouping applied the last one, decide it once. It
// returns how many it published.
func (s *Store) AutoResolve(ctx context.Context, projectID int64, age time.Duration, limit int) (int, error) {
	rows, err := s.pool.Query(ctx, `SELECT i.id, i.last_seen, coalesce(array_agg(h.hash ORDER BY h.hash = i.primary_hash DESC, h.hash)
			FILTER (WHERE h.hash IS NOT NULL), '{}')
		FROM grouping.issues i LEFT JOIN grouping.issue_hashes h ON h.issue_id = i.id
		WHERE i.project_id = $1 AND i.status = 'unresolved' AND i.last_seen < $2
		GROUP BY i.id ORDER BY i.last_seen LIMIT $3`, projectID, time.Now().Add(-age), limit)
	if err != nil {
		return 0, fmt.Errorf("auto-resolve project %d: %w", projectID, err)
	}
	type stale struct {
		ref      streams.IssueRef
		lastSeen time.Time
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stale, error) {
		var st stale
		err := r.Scan(&st.ref.ID, &st.lastSeen, &st.ref.Hashes)
		return st, err
	})
	if err != nil {
		return 0, fmt.Errorf("auto-resolve project %d: %w", projectID, err)
	}
	for i, st := range found {
		d := &streams.Decision{
			ID:   "autoresolve-" + strconv.FormatInt(st.ref.ID, 10) + "-" + strconv.FormatInt(st.lastSeen.UnixMicro(), 10),
			Kind: streams.DecideResolve, ProjectID: projectID, At: time.Now().UTC(),
			Actor: streams.Actor{Name: "auto-resolve"}, Issues: []streams.IssueRef{st.ref},
		}
		if err := s.decisions.Publish(ctx, d); err != nil {
			return i, fmt.Errorf("auto-resolve issue %d: %w", st.ref.ID, err)
		}
	}
	return len(found), nil
}
