package alerting

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline/faultline/libs/alertrules"
)

// directory reads who and what notifications name from the accounts
// schema (api.*), read-only.
type directory struct {
	pool *pgxpool.Pool
}

type projectInfo struct {
	Slug, Org string
}

func (d *directory) project(ctx context.Context, q pgx.Tx, id int64) (projectInfo, error) {
	var p projectInfo
	err := q.QueryRow(ctx, `SELECT p.slug, o.slug FROM api.projects p JOIN api.organizations o ON o.id = p.organization_id WHERE p.id = $1`, id).
		Scan(&p.Slug, &p.Org)
	if errors.Is(err, pgx.ErrNoRows) {
		return projectInfo{Slug: fmt.Sprint(id), Org: "-"}, nil
	}
	return p, err
}

// recipients are the addresses an email action mails for a project:
// a member (by user id) or a team of the project's organisation, or, for
// issue owners (Faultline has no ownership rules), the fallthrough: the
// members of the project's teams (ActiveMembers) or of its organisation
// (AllMembers).
func (d *directory) recipients(ctx context.Context, q pgx.Tx, project int64, a alertrules.Action) ([]string, error) {
	var sql string
	var args []any
	const org = `(SELECT organization_id FROM api.projects WHERE id = $1)`
	switch {
	case a.TargetType == "Member":
		sql, args = `SELECT u.email FROM api.members m JOIN api.users u ON u.id = m.user_id
			WHERE m.organization_id = `+org+` AND m.user_id = $2`, []any{project, a.TargetID}
	case a.TargetType == "Team":
		sql, args = `SELECT DISTINCT u.email FROM api.team_members tm JOIN api.teams t ON t.id = tm.team_id
			JOIN api.members m ON m.id = tm.member_id JOIN api.users u ON u.id = m.user_id
			WHERE t.id = $2 AND t.organization_id = `+org, []any{project, a.TargetID}
	case a.Fallthrough == "AllMembers":
		sql, args = `SELECT u.email FROM api.members m JOIN api.users u ON u.id = m.user_id WHERE m.organization_id = `+org, []any{project}
	case a.Fallthrough == "ActiveMembers":
		sql, args = `SELECT DISTINCT u.email FROM api.project_teams pt JOIN api.team_members tm ON tm.team_id = pt.team_id
			JOIN api.members m ON m.id = tm.member_id JOIN api.users u ON u.id = m.user_id WHERE pt.project_id = $1`, []any{project}
	default:
		return nil, nil
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("mail recipients: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
