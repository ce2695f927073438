package issues

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/streams"
)

// Reprocessing is an issue's reprocessing: its events read again,
// symbolicated with the source maps there are now and grouped again (a
// decision grouping applies; see services/grouping/reprocess.go).
type Reprocessing struct {
	ID        string // the decision's id
	ProjectID int64
	IssueID   int64  // may be gone: an issue left without events is removed
	Status    string // ReprocessingQueued or ReprocessingDone
	Events    int64  // events read again
	Moved     int64  // of them, now in other issues
	Updated   int64  // of them, staying, symbolicated anew
	Issues    []int64
	Removed   bool // the issue was left without events and removed
	DecidedAt time.Time
	DoneAt    *time.Time
}

// Reprocessing statuses.
const (
	ReprocessingQueued = "queued" // stored on DECISIONS, not applied yet
	ReprocessingDone   = "done"
)

// Reprocess asks grouping to reprocess an issue's events, its latest
// maxEvents or all when 0, and waits briefly for it to be done: the answer
// is done, or queued when the wait ran out.
func (s *Store) Reprocess(ctx context.Context, issueID int64, maxEvents int) (*Reprocessing, error) {
	if maxEvents < 0 {
		return nil, fmt.Errorf("%w: maxEvents: want a positive number, or none for every event", ErrInvalid)
	}
	d := &streams.Decision{Kind: streams.DecideReprocess, MaxEvents: maxEvents}
	queued := func() *Reprocessing {
		return &Reprocessing{ID: d.ID, ProjectID: d.ProjectID, IssueID: issueID, Status: ReprocessingQueued, Issues: []int64{},
			DecidedAt: d.At}
	}
	err := s.decide(ctx, d, issueID)
	if errors.Is(err, ErrNotApplied) {
		return queued(), nil
	}
	if err != nil {
		return nil, err
	}
	r, err := s.reprocessing(ctx, `decision_id = $1`, d.ID)
	if errors.Is(err, ErrNotFound) {
		return queued(), nil
	}
	return r, err
}

// LatestReprocessing is an issue's latest reprocessing, also of an issue
// it removed; ErrNotFound when it was never reprocessed. Callers check that
// its ProjectID is one the principal may see.
func (s *Store) LatestReprocessing(ctx context.Context, issueID int64) (*Reprocessing, error) {
	return s.reprocessing(ctx, `issue_id = $1 ORDER BY decided_at DESC, done_at DESC`, issueID)
}

func (s *Store) reprocessing(ctx context.Context, where string, arg any) (*Reprocessing, error) {
	r := Reprocessing{Status: ReprocessingDone}
	var done time.Time
	err := s.pool.QueryRow(ctx, `SELECT decision_id, project_id, issue_id, events, moved, updated, issues, removed, decided_at,
			done_at
		FROM grouping.reprocessings WHERE `+where+` LIMIT 1`, arg).
		Scan(&r.ID, &r.ProjectID, &r.IssueID, &r.Events, &r.Moved, &r.Updated, &r.Issues, &r.Removed, &r.DecidedAt, &done)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reprocessing: %w", err)
	}
	r.DoneAt = &done
	return &r, nil
}
