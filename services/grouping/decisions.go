package grouping

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/faultline/faultline/streams"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Users' decisions on issues. The grouping service owns the issues table;
// the api service records decisions through these functions. Each is
// announced on issues.<project>.<change> (resolved, ignored, unresolved,
// assigned) through the outbox, in the decision's own transaction, so
// alerting learns of it as it learns of the pipeline's own changes.

// ErrNoIssue is returned for an issue id that does not exist.
var ErrNoIssue = errors.New("no such issue")

// Resolve marks an issue resolved: the next event regresses it. With
// inNextRelease, only an event from a release newer than the issue's latest
// one does.
func Resolve(ctx context.Context, pool *pgxpool.Pool, issueID int64, inNextRelease bool) error {
	status := streams.StatusResolved
	if inNextRelease {
		status = streams.StatusResolvedInNextRelease
	}
	return decide(ctx, pool, issueID, streams.ChangeResolved, `UPDATE grouping.issues SET status = $2, substatus = '', status_changed_at = now(),
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
	return decide(ctx, pool, issueID, streams.ChangeIgnored, `UPDATE grouping.issues SET status = 'ignored', substatus = '', status_changed_at = now(),
		resolved_in_release = '', ignore_until = $2, ignore_until_count = $3, ignore_until_users = $4,
		ignore_base_count = times_seen, ignore_base_users = users_seen, updated_at = now()
		WHERE id = $1`, t, n, u)
}

// Unresolve puts an issue back to unresolved.
func Unresolve(ctx context.Context, pool *pgxpool.Pool, issueID int64) error {
	return decide(ctx, pool, issueID, streams.ChangeUnresolved, `UPDATE grouping.issues SET status = 'unresolved', substatus = 'ongoing',
		status_changed_at = now(), resolved_in_release = '', ignore_until = NULL, ignore_until_count = NULL,
		ignore_until_users = NULL, updated_at = now() WHERE id = $1`)
}

// Assign sets an issue's assignee ("" unassigns).
func Assign(ctx context.Context, pool *pgxpool.Pool, issueID int64, assignee string) error {
	return decide(ctx, pool, issueID, streams.ChangeAssigned, `UPDATE grouping.issues SET assignee = $2, updated_at = now() WHERE id = $1`, assignee)
}

// decide runs one decision's UPDATE on issue issueID and announces it.
func decide(ctx context.Context, pool *pgxpool.Pool, issueID int64, change, sql string, args ...any) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, append([]any{issueID}, args...)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNoIssue
		}
		return announceDecision(ctx, tx, issueID, change)
	})
	if err != nil {
		return fmt.Errorf("issue %d: %w", issueID, err)
	}
	return nil
}

// announceDecision writes issues.<project>.<change> for a user's decision
// to the outbox; the grouping service's sweeper publishes it.
func announceDecision(ctx context.Context, tx pgx.Tx, issueID int64, change string) error {
	m := streams.IssueMessage{IssueID: issueID, Change: change}
	var assignee string
	if err := tx.QueryRow(ctx, `SELECT project_id, status, title, culprit, level, assignee, clock_timestamp() FROM grouping.issues WHERE id = $1`,
		issueID).Scan(&m.ProjectID, &m.Status, &m.Title, &m.Culprit, &m.Level, &assignee, &m.At); err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	m.At = m.At.UTC()
	if change == streams.ChangeAssigned {
		m.Assignee = &assignee
	}
	msgID := change + "-" + strconv.FormatInt(issueID, 10) + "-" + strconv.FormatInt(m.At.UnixNano(), 36)
	if err := announce(ctx, tx, m, msgID); err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	return nil
}

// announce writes m, on issues.<project>.<change>, to the outbox as a row
// of its own: the grouping service's sweeper publishes such rows at once.
// It is how changes made outside the grouping service (a user's decision,
// a merge) reach the EVENTS stream.
func announce(ctx context.Context, tx pgx.Tx, m streams.IssueMessage, msgID string) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO grouping.outbox (subjects, msg_ids, payloads, issue_ids, ts, event_ids, received)
		VALUES ($1, $2, $3, '{}', '{}', '{}', '{}')`,
		[]string{"issues." + strconv.FormatInt(m.ProjectID, 10) + "." + m.Change}, []string{msgID}, [][]byte{body})
	return err
}
