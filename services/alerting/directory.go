package alerting

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline/faultline/libs/alertrules"
	"github.com/faultline/faultline/libs/ownership"
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
// a member (by user id) or a team of the project's organisation, or the
// owners of the event by the project's ownership rules (the last matching
// rule's teams and members); with no owner, the fallthrough: the members
// of the project's teams (ActiveMembers), of its organisation
// (AllMembers), or nobody (NoOne).
func (d *directory) recipients(ctx context.Context, q pgx.Tx, project int64, a alertrules.Action, ev *alertrules.Event) ([]string, error) {
	var sql string
	var args []any
	const org = `(SELECT organization_id FROM api.projects WHERE id = $1)`
	if a.TargetType == "IssueOwners" && ev != nil && ev.Owned != nil {
		owners, err := d.owners(ctx, q, project, *ev.Owned)
		if err != nil {
			return nil, err
		}
		if len(owners) > 0 {
			return d.ownerEmails(ctx, q, project, owners)
		}
	}
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

// owners are the owners of an event by its project's ownership rules: the
// last matching rule's, nil when no rule matches or the project has none.
func (d *directory) owners(ctx context.Context, q pgx.Tx, project int64, subj ownership.Subject) ([]ownership.Owner, error) {
	var raw *string
	err := q.QueryRow(ctx, `SELECT raw FROM api.project_ownership WHERE project_id = $1`, project).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && raw == nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ownership: %w", err)
	}
	rules, err := ownership.Parse(*raw)
	if err != nil {
		return nil, nil // stored rules parsed when written; a later syntax change owns nothing
	}
	return ownership.Match(rules, subj), nil
}

// ownerEmails are the addresses of owners in the project's organisation:
// a team's members, a member by email.
func (d *directory) ownerEmails(ctx context.Context, q pgx.Tx, project int64, owners []ownership.Owner) ([]string, error) {
	var teams, users []string
	for _, o := range owners {
		if o.Kind == ownership.OwnerTeam {
			teams = append(teams, o.Identifier)
		} else {
			users = append(users, o.Identifier)
		}
	}
	rows, err := q.Query(ctx, `SELECT DISTINCT u.email FROM api.members m JOIN api.users u ON u.id = m.user_id
		WHERE m.organization_id = (SELECT organization_id FROM api.projects WHERE id = $1) AND u.is_active
		AND (lower(u.email) = ANY($3) OR m.id IN (SELECT tm.member_id FROM api.team_members tm JOIN api.teams t ON t.id = tm.team_id
			WHERE t.organization_id = m.organization_id AND t.slug = ANY($2)))
		ORDER BY u.email`, project, teams, users)
	if err != nil {
		return nil, fmt.Errorf("owner emails: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
