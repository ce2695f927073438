package grouping

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline/faultline/streams"
)

// People's decisions on issues. They reach grouping as commands on the
// DECISIONS stream (decide.go consumes them); grouping is the only writer
// of its tables. Each change is announced on issues.<project>.<change>
// through the outbox, in the decision's own transaction, so alerting
// learns of it as it learns of the pipeline's own changes.
//
// A decision takes effect at its own time (Decision.At): an issue resolved
// at t regresses only on an event received after t, however late grouping
// reads the events received before it.

// ErrNoIssue is returned for an issue id that does not exist.
var ErrNoIssue = errors.New("no such issue")

// decision is what an applier needs of a decision besides the issue.
type decision struct {
	id    string
	at    time.Time
	actor *streams.Actor
}

// Resolve marks an issue resolved: the next event regresses it. With
// inNextRelease, only an event from a release newer than the issue's latest
// one does. For tests and tools; people's decisions come through DECISIONS.
func Resolve(ctx context.Context, pool *pgxpool.Pool, issueID int64, inNextRelease bool) error {
	kind := streams.DecideResolve
	if inNextRelease {
		kind = streams.DecideResolveInNextRelease
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return setStatus(ctx, tx, "grouping", issueID, kind, "", nil, decision{at: time.Now().UTC()})
	})
}

// Ignore marks an issue ignored until one of until's conditions is met.
func Ignore(ctx context.Context, pool *pgxpool.Pool, issueID int64, until streams.IgnoreUntil) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return setStatus(ctx, tx, "grouping", issueID, streams.DecideIgnore, "", &until, decision{at: time.Now().UTC()})
	})
}

// Unresolve puts an issue back to unresolved.
func Unresolve(ctx context.Context, pool *pgxpool.Pool, issueID int64) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return setStatus(ctx, tx, "grouping", issueID, streams.DecideUnresolve, "", nil, decision{at: time.Now().UTC()})
	})
}

// Assign sets an issue's assignee ("" unassigns).
func Assign(ctx context.Context, pool *pgxpool.Pool, issueID int64, assignee string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return assign(ctx, tx, "grouping", issueID, assignee, decision{at: time.Now().UTC()})
	})
}

// setStatus applies a status decision of the given kind to one issue.
func setStatus(ctx context.Context, tx pgx.Tx, schema string, issueID int64, kind, release string, until *streams.IgnoreUntil, d decision) error {
	var sql, change string
	args := []any{issueID, d.at}
	switch kind {
	case streams.DecideResolve, streams.DecideResolveInNextRelease, streams.DecideResolveInRelease:
		change = streams.ChangeResolved
		status := map[string]string{streams.DecideResolve: streams.StatusResolved,
			streams.DecideResolveInNextRelease: streams.StatusResolvedInNextRelease,
			streams.DecideResolveInRelease:     streams.StatusResolvedInRelease}[kind]
		sql = `UPDATE grouping.issues SET status = $3, substatus = '', status_changed_at = $2,
			resolved_in_release = CASE $3 WHEN 'resolved_in_next_release' THEN last_release WHEN 'resolved_in_release' THEN $4 ELSE '' END,
			ignore_until = NULL, ignore_until_count = NULL, ignore_until_users = NULL,
			ignore_until_window = NULL, ignore_window_seen = NULL, updated_at = now()
			WHERE id = $1`
		args = append(args, status, release)
	case streams.DecideIgnore:
		change = streams.ChangeIgnored
		var t *time.Time
		var n, u, w *int64
		if until != nil {
			if !until.Until.IsZero() {
				t = &until.Until
			}
			if until.Count > 0 {
				n = &until.Count
				if until.Window > 0 {
					w = &until.Window
				}
			}
			if until.Users > 0 {
				u = &until.Users
			}
		}
		sql = `UPDATE grouping.issues SET status = 'ignored', substatus = '', status_changed_at = $2,
			resolved_in_release = '', ignore_until = $3, ignore_until_count = $4, ignore_until_users = $5,
			ignore_until_window = $6, ignore_window_seen = NULL,
			ignore_base_count = times_seen, ignore_base_users = users_seen, updated_at = now()
			WHERE id = $1`
		args = append(args, t, n, u, w)
	case streams.DecideUnresolve:
		change = streams.ChangeUnresolved
		sql = `UPDATE grouping.issues SET status = 'unresolved', substatus = 'ongoing',
			status_changed_at = $2, resolved_in_release = '', ignore_until = NULL, ignore_until_count = NULL,
			ignore_until_users = NULL, ignore_until_window = NULL, ignore_window_seen = NULL, updated_at = now() WHERE id = $1`
	default:
		return fmt.Errorf("not a status decision: %q", kind)
	}
	return updateIssue(ctx, tx, schema, issueID, change, sq(schema, sql), args, d)
}

// assign sets an issue's assignee.
func assign(ctx context.Context, tx pgx.Tx, schema string, issueID int64, assignee string, d decision) error {
	return updateIssue(ctx, tx, schema, issueID, streams.ChangeAssigned,
		sq(schema, `UPDATE grouping.issues SET assignee = $2, updated_at = now() WHERE id = $1`),
		[]any{issueID, assignee}, d)
}

// sq rewrites a statement written against schema "grouping" for schema.
func sq(schema, sql string) string {
	if schema == "grouping" {
		return sql
	}
	return strings.ReplaceAll(sql, "grouping.", schema+".")
}

// updateIssue runs one decision's UPDATE and announces it.
func updateIssue(ctx context.Context, tx pgx.Tx, schema string, issueID int64, change, sql string, args []any, d decision) error {
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("issue %d: %w", issueID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("issue %d: %w", issueID, ErrNoIssue)
	}
	if schema != "grouping" {
		return nil // a replay announces nothing
	}
	return announceDecision(ctx, tx, issueID, change, d)
}

// announceDecision writes issues.<project>.<change> for a decision to the
// outbox; the sweeper publishes it.
func announceDecision(ctx context.Context, tx pgx.Tx, issueID int64, change string, d decision) error {
	m := streams.IssueMessage{IssueID: issueID, Change: change, Decision: d.id, Actor: d.actor, At: d.at}
	var assignee string
	if err := tx.QueryRow(ctx, `SELECT project_id, status, title, culprit, level, assignee FROM grouping.issues WHERE id = $1`,
		issueID).Scan(&m.ProjectID, &m.Status, &m.Title, &m.Culprit, &m.Level, &assignee); err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	if change == streams.ChangeAssigned {
		m.Assignee = &assignee
	}
	msgID := change + "-" + strconv.FormatInt(issueID, 10) + "-" + d.id
	if d.id == "" {
		msgID += strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if err := announce(ctx, tx, m, msgID); err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	return nil
}

// announce writes m, on issues.<project>.<change>, to the outbox as a row
// of its own: the grouping service's sweeper publishes such rows at once.
func announce(ctx context.Context, tx pgx.Tx, m streams.IssueMessage, msgID string) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO grouping.outbox (subjects, msg_ids, payloads, issue_ids, ts, event_ids, received)
		VALUES ($1, $2, $3, '{}', '{}', '{}', '{}')`,
		[]string{streams.IssueSubject(m.ProjectID, m.Change)}, []string{msgID}, [][]byte{body})
	return err
}

// deleteProject removes every row of a project from schema's tables.
func deleteProject(ctx context.Context, tx pgx.Tx, schema string, project int64) error {
	// Issues take their hashes and tag counts with them (ON DELETE CASCADE).
	for _, t := range []string{"events", "event_ids", "issues", "rejected", "project_rules", "rule_versions", "merges", "tombstones", "reprocessings", "monitors"} {
		if _, err := tx.Exec(ctx, "DELETE FROM "+schema+"."+t+" WHERE project_id = $1", project); err != nil {
			return fmt.Errorf("delete project %d: %s: %w", project, t, err)
		}
	}
	return nil
}

// issueIDs finds the issues refs name in project, now: by id while the
// issue exists, else by the hashes it had (it may have been merged or
// regrouped since). Refs that name nothing are left out.
func issueIDs(ctx context.Context, tx pgx.Tx, schema string, project int64, refs []streams.IssueRef) ([]int64, error) {
	var ids []int64
	for _, r := range refs {
		var id int64
		byID := func() error {
			return tx.QueryRow(ctx, sq(schema, `SELECT id FROM grouping.issues WHERE id = $1 AND project_id = $2`), r.ID, project).Scan(&id)
		}
		byHashes := func() error {
			if len(r.Hashes) == 0 {
				return pgx.ErrNoRows
			}
			return tx.QueryRow(ctx, sq(schema, `SELECT issue_id FROM grouping.issue_hashes WHERE project_id = $1 AND hash = ANY($2)
				ORDER BY array_position($2, hash) LIMIT 1`), project, r.Hashes).Scan(&id)
		}
		// Live, ids are stable and name the issue. A replay numbers issues
		// anew, so there an id would name another issue: hashes alone do.
		var err error
		switch {
		case schema == "grouping":
			if err = byID(); errors.Is(err, pgx.ErrNoRows) {
				err = byHashes()
			}
		case len(r.Hashes) > 0:
			err = byHashes()
		default:
			err = byID()
		}
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
