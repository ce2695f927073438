package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/libs/ownership"
)

// AutoAssignments are Sentry's autoAssignment choices.
var AutoAssignments = []string{"Auto Assign to Issue Owner", "Auto Assign to Suspect Commits", "Turn off Auto-Assignment"}

// Ownership is a project's ownership rules and settings.
type Ownership struct {
	Raw                *string // nil until set
	Fallthrough        bool
	AutoAssignment     string
	CodeownersAutoSync bool
	CreatedAt          *time.Time // nil until set
	UpdatedAt          *time.Time
}

// OwnershipUpdate holds the fields to change; nil leaves one as it is.
type OwnershipUpdate struct {
	Raw                *string
	Fallthrough        *bool
	AutoAssignment     *string
	CodeownersAutoSync *bool
}

// ProjectOwnership returns a project's ownership, Sentry's defaults when
// none was set.
func (s *Store) ProjectOwnership(ctx context.Context, projectID int64) (*Ownership, error) {
	var o Ownership
	var created, updated time.Time
	err := s.pool.QueryRow(ctx, `SELECT raw, fallthrough, auto_assignment, codeowners_auto_sync, created_at, updated_at
		FROM api.project_ownership WHERE project_id = $1`, projectID).Scan(&o.Raw, &o.Fallthrough, &o.AutoAssignment, &o.CodeownersAutoSync, &created, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return &Ownership{Fallthrough: true, AutoAssignment: AutoAssignments[0], CodeownersAutoSync: true}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ownership: %w", err)
	}
	o.CreatedAt, o.UpdatedAt = &created, &updated
	return &o, nil
}

// OwnershipError is rules that do not parse or name owners the
// organisation does not have.
type OwnershipError struct{ Msg string }

func (e *OwnershipError) Error() string { return e.Msg }

// SetProjectOwnership changes a project's ownership. The rules must parse
// and every owner they name must be a team of the organisation or one of
// its members (by email); otherwise nothing changes.
func (s *Store) SetProjectOwnership(ctx context.Context, p *OrgProject, u OwnershipUpdate) (*Ownership, error) {
	if u.AutoAssignment != nil && !slices.Contains(AutoAssignments, *u.AutoAssignment) {
		return nil, fmt.Errorf("%w: autoAssignment: want one of %s", ErrInvalid, strings.Join(AutoAssignments, ", "))
	}
	if u.Raw != nil {
		rules, err := ownership.Parse(*u.Raw)
		if err != nil {
			return nil, &OwnershipError{Msg: "Parse error: " + err.Error()}
		}
		var unknown []string
		for _, o := range ownership.Owners(rules) {
			var ok bool
			q := `SELECT EXISTS (SELECT 1 FROM api.teams WHERE organization_id = $1 AND slug = $2)`
			if o.Kind == ownership.OwnerUser {
				q = `SELECT EXISTS (SELECT 1 FROM api.members m JOIN api.users u ON u.id = m.user_id
					WHERE m.organization_id = $1 AND lower(u.email) = $2 AND u.is_active)`
			}
			if err := s.pool.QueryRow(ctx, q, p.Org.ID, o.Identifier).Scan(&ok); err != nil {
				return nil, fmt.Errorf("check owner: %w", err)
			}
			if !ok {
				unknown = append(unknown, o.String())
			}
		}
		if len(unknown) > 0 {
			return nil, &OwnershipError{Msg: "Invalid rule owners: " + strings.Join(unknown, ", ")}
		}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO api.project_ownership AS o (project_id, raw, fallthrough, auto_assignment, codeowners_auto_sync)
		VALUES ($1, $2, COALESCE($3, true), COALESCE($4, 'Auto Assign to Issue Owner'), COALESCE($5, true))
		ON CONFLICT (project_id) DO UPDATE SET raw = COALESCE($2, o.raw), fallthrough = COALESCE($3, o.fallthrough),
			auto_assignment = COALESCE($4, o.auto_assignment), codeowners_auto_sync = COALESCE($5, o.codeowners_auto_sync),
			-- an identical write leaves lastUpdated, so a plan converges
			updated_at = CASE WHEN (COALESCE($2, o.raw), COALESCE($3, o.fallthrough), COALESCE($4, o.auto_assignment),
				COALESCE($5, o.codeowners_auto_sync)) IS DISTINCT FROM (o.raw, o.fallthrough, o.auto_assignment, o.codeowners_auto_sync)
				THEN now() ELSE o.updated_at END`, p.ID, u.Raw, u.Fallthrough, u.AutoAssignment, u.CodeownersAutoSync)
	if err != nil {
		return nil, fmt.Errorf("write ownership: %w", err)
	}
	return s.ProjectOwnership(ctx, p.ID)
}
