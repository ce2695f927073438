package grouping

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Users' decisions on issues. The grouping service owns the issues table;
// the api service records decisions through these functions.

// ErrNoIssue is returned for an issue id that does not exist.
var ErrNoIssue = errors.New("no such issue")

// Resolve marks an issue resolved: the next event regresses it. With
// inNextRelease, only an event from a release newer than the issue's latest
// one does.
func Resolve(ctx context.Context, pool *pgxpool.Pool, issueID int64, inNextRelease bool) error {
	status := StatusResolved
	if inNextRelease {
		status = StatusResolvedInNextRelease
	}
	return decide(ctx, pool, issueID, `UPDATE grouping.issues SET status = $2, substatus = '', status_changed_at = now(),
		resolved_in_release = CASE WHEN $2 = 'resolved_in_next_release' THEN last_release ELSE '' END,
		ignore_until = NULL, ignore_until_count = NULL, ignore_until_users = NULL, updated_at = now()
		WHERE id = $1`, status)
}

// IgnoreUntil are the conditions that end an ignore; all zero ignores for
// good.
type IgnoreUntil struct {
	Events int64     // this many more events
	Users  int64     // this many more users
	Time   time.Time // an event at or after this time
}

// Ignore marks an issue ignored until one of until's conditions is met.
func Ignore(ctx context.Context, pool *pgxpool.Pool, issueID int64, until IgnoreUntil) error {
	var t *time.Time
	var n, u *int64
	if !until.Time.IsZero() {
		t = &until.Time
	}
	if until.Events > 0 {
		n = &until.Events
	}
	if until.Users > 0 {
		u = &until.Users
	}
	return decide(ctx, pool, issueID, `UPDATE grouping.issues SET status = 'ignored', substatus = '', status_changed_at = now(),
		resolved_in_release = '', ignore_until = $2, ignore_until_count = $3, ignore_until_users = $4,
		ignore_base_count = times_seen, ignore_base_users = users_seen, updated_at = now()
		WHERE id = $1`, t, n, u)
}

// Unresolve puts an issue back to unresolved.
func Unresolve(ctx context.Context, pool *pgxpool.Pool, issueID int64) error {
	return decide(ctx, pool, issueID, `UPDATE grouping.issues SET status = 'unresolved', substatus = 'ongoing',
		status_changed_at = now(), resolved_in_release = '', ignore_until = NULL, ignore_until_count = NULL,
		ignore_until_users = NULL, updated_at = now() WHERE id = $1`)
}

// Assign sets an issue's assignee ("" unassigns).
func Assign(ctx context.Context, pool *pgxpool.Pool, issueID int64, assignee string) error {
	return decide(ctx, pool, issueID, `UPDATE grouping.issues SET assignee = $2, updated_at = now() WHERE id = $1`, assignee)
}

func decide(ctx context.Context, pool *pgxpool.Pool, issueID int64, sql string, args ...any) error {
	tag, err := pool.Exec(ctx, sql, append([]any{issueID}, args...)...)
	if err != nil {
		return fmt.Errorf("issue %d: %w", issueID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("issue %d: %w", issueID, ErrNoIssue)
	}
	return nil
}
