package grouping

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/faultline/faultline/streams"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Delete removes an issue with its hashes, tag counts and events, for the
// api service (a user's decision, like Resolve), and records a tombstone of
// its hashes in grouping.tombstones.
//
// What comes back, and what does not:
//   - A redelivered envelope does not bring its events back: the event ids
//     stay claimed.
//   - A new event with one of the issue's hashes starts a new issue, as in
//     Sentry (where discarding future events is a separate feature).
//   - A replay drops the events received before the deletion whose primary
//     hash the deleted issue had, and keeps those received after it, so the
//     new generation has the issues the live one has.
func Delete(ctx context.Context, pool *pgxpool.Pool, issueID int64) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := lockProjectChanges(ctx, tx, []int64{issueID}); err != nil {
			return fmt.Errorf("issue %d: %w", issueID, err)
		}
		return deleteIssue(ctx, tx, "grouping", issueID, decision{at: time.Now().UTC()})
	})
}

// deleteIssue deletes an issue in tx, which holds its project's
// issue-changes lock, and announces it.
func deleteIssue(ctx context.Context, tx pgx.Tx, schema string, issueID int64, d decision) error {
	m := streams.IssueMessage{IssueID: issueID, Change: streams.ChangeDeleted, Decision: d.id, Actor: d.actor, At: d.at}
	err := tx.QueryRow(ctx, sq(schema, `SELECT project_id, status, title, culprit, level FROM grouping.issues WHERE id = $1`), issueID).
		Scan(&m.ProjectID, &m.Status, &m.Title, &m.Culprit, &m.Level)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("issue %d: %w", issueID, ErrNoIssue)
	}
	if err != nil {
		return fmt.Errorf("issue %d: %w", issueID, err)
	}
	if _, err := tx.Exec(ctx, sq(schema, `INSERT INTO grouping.tombstones (project_id, issue_id, hashes, deleted_at)
		SELECT project_id, issue_id, array_agg(hash ORDER BY hash), $2 FROM grouping.issue_hashes
		WHERE issue_id = $1 GROUP BY project_id, issue_id`), issueID, d.at); err != nil {
		return fmt.Errorf("issue %d: record tombstone: %w", issueID, err)
	}
	if _, err := tx.Exec(ctx, sq(schema, `DELETE FROM grouping.issues WHERE id = $1`), issueID); err != nil {
		return fmt.Errorf("issue %d: delete: %w", issueID, err)
	}
	if _, err := tx.Exec(ctx, sq(schema, `DELETE FROM grouping.events WHERE issue_id = $1`), issueID); err != nil {
		return fmt.Errorf("issue %d: delete events: %w", issueID, err)
	}
	if schema != "grouping" {
		return nil
	}
	return announce(ctx, tx, m, streams.ChangeDeleted+"-"+strconv.FormatInt(issueID, 10))
}

// tombstones maps each hash of a deleted issue to when its (latest)
// deletion was: a replay drops the events received before it whose primary
// hash is there.
type tombstones map[hashKey]time.Time

// loadTombstones reads the tombstones of project (0: every project) and
// returns them with the highest id read.
func loadTombstones(ctx context.Context, pool *pgxpool.Pool, project int64) (tombstones, int64, error) {
	rows, err := pool.Query(ctx, `SELECT id, project_id, hashes, deleted_at FROM grouping.tombstones
		WHERE $1 = 0 OR project_id = $1 ORDER BY id`, project)
	if err != nil {
		return nil, 0, fmt.Errorf("read tombstones: %w", err)
	}
	defer rows.Close()
	out := tombstones{}
	var last int64
	for rows.Next() {
		var p int64
		var hashes []string
		var at time.Time
		if err := rows.Scan(&last, &p, &hashes, &at); err != nil {
			return nil, 0, fmt.Errorf("read tombstones: %w", err)
		}
		for _, h := range hashes {
			if k := (hashKey{p, h}); at.After(out[k]) {
				out[k] = at
			}
		}
	}
	return out, last, rows.Err()
}

// drop returns events without those a deletion removed.
func (t tombstones) drop(events []*prepared) []*prepared {
	if len(t) == 0 {
		return events
	}
	out := events[:0]
	for _, p := range events {
		if at, ok := t[hashKey{p.projectID, p.hashes[0]}]; ok && p.received.Before(at) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// applyTombstones deletes, in schema's tables, the issues (with their
// events) that own a hash of the tombstones after id afterID (of project,
// or every project when it is 0): deletions made while a replay ran.
func applyTombstones(ctx context.Context, tx pgx.Tx, schema string, project, afterID int64) (int64, error) {
	tag, err := tx.Exec(ctx, `WITH gone AS (
			DELETE FROM `+schema+`.issues i USING `+schema+`.issue_hashes h, grouping.tombstones t
			WHERE t.id > $1 AND ($2 = 0 OR t.project_id = $2)
				AND h.issue_id = i.id AND h.project_id = t.project_id AND h.hash = ANY(t.hashes)
			RETURNING i.id)
		DELETE FROM `+schema+`.events WHERE issue_id IN (SELECT id FROM gone)`, afterID, project)
	if err != nil {
		return 0, fmt.Errorf("apply deletions: %w", err)
	}
	return tag.RowsAffected(), nil
}
