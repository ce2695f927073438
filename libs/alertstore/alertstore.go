// Package alertstore reads the alerting role's schema: rules, the webhooks
// plugin's URLs and delivery attempts. It never writes: changes are
// commands on the ALERTING stream (streams.AlertCommand) that the alerting
// role applies.
package alertstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/faultline/faultline/libs/alertrules"
)

// ErrNotFound is returned for a rule that does not exist in the project.
var ErrNotFound = errors.New("alertstore: not found")

// Querier is a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Rule is a stored rule.
type Rule struct {
	ID        int64
	ProjectID int64
	Spec      alertrules.Spec
	CreatedBy int64
	CreatedAt time.Time
}

// RuleJSON is a rule as Sentry's API answers it.
type RuleJSON struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	ActionMatch string            `json:"actionMatch"`
	FilterMatch string            `json:"filterMatch"`
	Frequency   int               `json:"frequency"`
	Environment *string           `json:"environment"`
	Owner       *string           `json:"owner"`
	Conditions  []alertrules.Node `json:"conditions"`
	Filters     []alertrules.Node `json:"filters"`
	Actions     []alertrules.Node `json:"actions"`
	DateCreated string            `json:"dateCreated"`
	CreatedBy   *CreatedBy        `json:"createdBy"`
	Projects    []string          `json:"projects"`
	Status      string            `json:"status"`
	Snooze      bool              `json:"snooze"`
}

// CreatedBy names a rule's author.
type CreatedBy struct {
	ID int64 `json:"id"`
}

// JSON is r in Sentry's shape, for the project with slug project.
func (r *Rule) JSON(project string) RuleJSON {
	out := RuleJSON{ID: strconv.FormatInt(r.ID, 10), Name: r.Spec.Name, ActionMatch: r.Spec.ActionMatch, FilterMatch: r.Spec.FilterMatch,
		Frequency: r.Spec.Frequency, Environment: r.Spec.Environment, Owner: r.Spec.Owner, Conditions: r.Spec.Conditions,
		Filters: r.Spec.Filters, Actions: r.Spec.Actions, DateCreated: r.CreatedAt.UTC().Format(time.RFC3339Nano),
		Projects: []string{project}, Status: "active"}
	if r.CreatedBy != 0 {
		out.CreatedBy = &CreatedBy{ID: r.CreatedBy}
	}
	return out
}

const ruleCols = `id, project_id, spec, coalesce(created_by, 0), created_at`

func scanRules(rows pgx.Rows) ([]Rule, error) {
	defer rows.Close()
	var out []Rule
	for rows.Next() {
		var r Rule
		var spec []byte
		if err := rows.Scan(&r.ID, &r.ProjectID, &spec, &r.CreatedBy, &r.CreatedAt); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(spec, &r.Spec); err != nil {
			return nil, fmt.Errorf("rule %d: %w", r.ID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Rules lists a project's rules, oldest first; project 0 lists every
// project's.
func Rules(ctx context.Context, q Querier, project int64, limit, offset int) ([]Rule, error) {
	rows, err := q.Query(ctx, `SELECT `+ruleCols+` FROM alerting.rules WHERE $1 = 0 OR project_id = $1 ORDER BY id LIMIT $2 OFFSET $3`,
		project, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	return scanRules(rows)
}

// GetRule is one rule of a project.
func GetRule(ctx context.Context, q Querier, project, id int64) (Rule, error) {
	rows, err := q.Query(ctx, `SELECT `+ruleCols+` FROM alerting.rules WHERE project_id = $1 AND id = $2`, project, id)
	if err != nil {
		return Rule{}, fmt.Errorf("get rule: %w", err)
	}
	rs, err := scanRules(rows)
	if err != nil {
		return Rule{}, err
	}
	if len(rs) == 0 {
		return Rule{}, ErrNotFound
	}
	return rs[0], nil
}

// Version changes whenever a rule does.
func Version(ctx context.Context, q Querier) (int64, error) {
	var v int64
	err := q.QueryRow(ctx, `SELECT v FROM alerting.rules_version`).Scan(&v)
	return v, err
}

// WebhookURLs are the webhooks plugin's URLs of a project, and the setting
// as it was written (one URL a line).
func WebhookURLs(ctx context.Context, q Querier, project int64) ([]string, string, error) {
	var raw string
	err := q.QueryRow(ctx, `SELECT coalesce(config->>'urls', '') FROM alerting.plugins WHERE project_id = $1 AND plugin = 'webhooks'`, project).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("webhook urls: %w", err)
	}
	return alertrules.SplitURLs(raw), raw, nil
}

// Attempt is one delivery attempt.
type Attempt struct {
	ID      int64     `json:"id,string"`
	RuleID  int64     `json:"ruleId,string"`
	IssueID int64     `json:"issueId,string"`
	Channel string    `json:"channel"`
	Target  string    `json:"target"`
	Status  string    `json:"status"` // sent, retrying, failed
	Error   string    `json:"error"`
	At      time.Time `json:"dateCreated"`
}

// Attempts lists a project's delivery attempts, newest first.
func Attempts(ctx context.Context, q Querier, project int64, limit, offset int) ([]Attempt, error) {
	rows, err := q.Query(ctx, `SELECT id, rule_id, issue_id, channel, target, status, error, at FROM alerting.attempts
		WHERE project_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3`, project, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list attempts: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Attempt, error) {
		var a Attempt
		err := r.Scan(&a.ID, &a.RuleID, &a.IssueID, &a.Channel, &a.Target, &a.Status, &a.Error, &a.At)
		return a, err
	})
}
