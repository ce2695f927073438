package grouping

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline/faultline/streams"
)

// unignoreDue unignores the issues whose ignore_until has passed, without
// waiting for their next event, and publishes issues.<project>.unignored for
// each through the outbox. Issues a batch holds are skipped: the batch
// decides them, and the next sweep sees what it decided. It returns how many
// issues it unignored.
func (s *Service) unignoreDue(ctx context.Context) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("unignore: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, s.q(`UPDATE grouping.issues SET status = 'unresolved', substatus = 'unignored',
			status_changed_at = ignore_until, resolved_in_release = '', ignore_until = NULL, ignore_until_count = NULL,
			ignore_until_users = NULL, ignore_until_window = NULL, ignore_window_seen = NULL,
			ignore_base_count = 0, ignore_base_users = 0, updated_at = now()
		WHERE id IN (SELECT id FROM grouping.issues WHERE status = 'ignored' AND ignore_until <= now()
			ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED)
		RETURNING id, project_id, title, culprit, level, status_changed_at`))
	if err != nil {
		return 0, fmt.Errorf("unignore: %w", err)
	}
	pubs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (publication, error) {
		var m streams.IssueMessage
		if err := r.Scan(&m.IssueID, &m.ProjectID, &m.Title, &m.Culprit, &m.Level, &m.At); err != nil {
			return publication{}, err
		}
		m.Change, m.Status, m.At = streams.ChangeUnignored, streams.StatusUnresolved, m.At.UTC()
		body, err := json.Marshal(m)
		if err != nil {
			return publication{}, err
		}
		p := strconv.FormatInt(m.ProjectID, 10)
		return publication{
			project: m.ProjectID,
			subject: "issues." + p + "." + streams.ChangeUnignored,
			msgID:   streams.ChangeUnignored + "-" + strconv.FormatInt(m.IssueID, 10) + "-" + strconv.FormatInt(m.At.UnixMicro(), 36),
			data:    body,
		}, nil
	})
	if err != nil {
		return 0, fmt.Errorf("unignore: %w", err)
	}
	if len(pubs) == 0 {
		return 0, nil
	}
	outboxID, err := s.writeOutbox(ctx, tx, pubs)
	if err != nil {
		return 0, err
	}
	if err := commit(ctx, tx); err != nil {
		return 0, fmt.Errorf("unignore: %w", err)
	}
	if done := s.publish(ctx, pubs, trace.SpanContext{}); len(done) == len(pubs) {
		s.addPending(outboxID)
	}
	return len(pubs), nil
}

// sweepIgnores runs unignoreDue until nothing more is due.
func (s *Service) sweepIgnores(ctx context.Context) error {
	for {
		n, err := s.unignoreDue(ctx)
		if err != nil || n < 500 {
			return err
		}
	}
}
