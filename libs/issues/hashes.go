package issues

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/streams"
)

// Hash is one of an issue's grouping hashes with the newest stored event
// whose primary hash it is (nil when retention dropped them all).
type Hash struct {
	ID          string
	LatestEvent *StoredEvent
}

// Hashes lists an issue's hashes, each with its latest event: what a
// person picks from to unmerge.
func (s *Store) Hashes(ctx context.Context, issueID int64) ([]Hash, error) {
	rows, err := s.pool.Query(ctx, `SELECT hash FROM grouping.issue_hashes WHERE issue_id = $1 ORDER BY created_at, hash`, issueID)
	if err != nil {
		return nil, fmt.Errorf("issue %d: hashes: %w", issueID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("issue %d: hashes: %w", issueID, err)
	}
	out := make([]Hash, len(ids))
	for i, h := range ids {
		out[i].ID = h
		ev, err := s.storedEvent(ctx, `e.issue_id = $1 AND e.hashes[1] = $2 ORDER BY e.ts DESC, e.event_id DESC LIMIT 1`, issueID, h)
		switch {
		case err == nil:
			out[i].LatestEvent = ev
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
	}
	return out, nil
}

// Unmerge splits hashes off an issue into a new issue, with the events
// whose primary hash they are: a decision that grouping applies. It
// returns the new issue's id once applied (0 while it waits to be).
func (s *Store) Unmerge(ctx context.Context, issueID int64, hashes []string) (int64, error) {
	hashes = slices.Compact(slices.Sorted(slices.Values(hashes)))
	if len(hashes) == 0 {
		return 0, fmt.Errorf("%w: unmerge: name the hashes to split off (?id=<hash>)", ErrInvalid)
	}
	if len(hashes) > 100 {
		return 0, fmt.Errorf("%w: unmerge: at most 100 hashes at a time", ErrInvalid)
	}
	d := &streams.Decision{Kind: streams.DecideUnmerge, Hashes: hashes}
	if err := s.decide(ctx, d, issueID); err != nil {
		return 0, err
	}
	var id int64
	if err := s.pool.QueryRow(ctx, `SELECT issue_id FROM grouping.issue_hashes WHERE project_id = $1 AND hash = $2`,
		d.ProjectID, hashes[0]).Scan(&id); err != nil || id == issueID {
		return 0, nil // not applied yet
	}
	return id, nil
}
