package issues

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/streams"
)

// ErrNotApplied is a decision stored on the DECISIONS stream that grouping
// had not applied when the wait ran out: it will be (the API answers 202).
var ErrNotApplied = errors.New("decision accepted; not applied yet")

// decide publishes d about the given issues, named by id and by the
// hashes they have now, so that it still finds them after a replay; every
// issue must be of one project.
func (s *Store) decide(ctx context.Context, d *streams.Decision, ids ...int64) error {
	for _, id := range ids {
		ref := streams.IssueRef{ID: id}
		var project int64
		err := s.pool.QueryRow(ctx, `SELECT i.project_id, coalesce(array_agg(h.hash ORDER BY h.hash = i.primary_hash DESC, h.hash)
				FILTER (WHERE h.hash IS NOT NULL), '{}')
			FROM grouping.issues i LEFT JOIN grouping.issue_hashes h ON h.issue_id = i.id
			WHERE i.id = $1 GROUP BY i.id`, id).Scan(&project, &ref.Hashes)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("issue %d: %w", id, err)
		}
		if d.ProjectID != 0 && d.ProjectID != project {
			return fmt.Errorf("%w: issues of different projects cannot be merged", ErrInvalid)
		}
		d.ProjectID = project
		d.Issues = append(d.Issues, ref)
	}
	return s.publish(ctx, d)
}

// publish stores d on the DECISIONS stream and waits briefly for grouping
// to apply it.
func (s *Store) publish(ctx context.Context, d *streams.Decision) error {
	d.Actor = decide.ActorFrom(ctx)
	applied, err := s.decisions.Decide(ctx, d)
	switch {
	case errors.Is(err, decide.ErrRefused) && strings.HasSuffix(err.Error(), ": "+streams.RefusedNoIssue):
		return ErrNotFound
	case errors.Is(err, decide.ErrRefused):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	case err != nil:
		return err
	case !applied:
		return ErrNotApplied
	}
	return nil
}
