package accounts

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Team roles, Sentry's teamRole: what a member may do in one team.
const (
	TeamRoleContributor = "contributor"
	TeamRoleAdmin       = "admin" // manages the team's members and their team roles
)

// TeamRoles lists the team roles, least powerful first, as Sentry's
// teamRoleList does.
var TeamRoles = []string{TeamRoleContributor, TeamRoleAdmin}

// MinimumTeamRole is the team role a member has in every team of theirs
// by their organisation role: organisation owners and admins are team
// admins.
func MinimumTeamRole(orgRole string) string {
	if RoleLevel(orgRole) >= LevelAdmin {
		return TeamRoleAdmin
	}
	return TeamRoleContributor
}

// TeamRolesAllowed reports whether a member with orgRole can be given a
// team role above the minimum: viewers cannot (Sentry's billing role).
func TeamRolesAllowed(orgRole string) bool { return orgRole != RoleViewer }

// EffectiveTeamRole is the team role of a member with orgRole whose stored
// team role is stored (nil: the default).
func EffectiveTeamRole(orgRole string, stored *string) string {
	if floor := MinimumTeamRole(orgRole); floor == TeamRoleAdmin || stored == nil || !TeamRolesAllowed(orgRole) {
		return floor
	}
	return *stored
}

// effectiveTeamRoleSQL is EffectiveTeamRole over m (api.members) and tm
// (api.team_members).
const effectiveTeamRoleSQL = `CASE WHEN m.role IN ('owner', 'admin') THEN 'admin' WHEN m.role = 'viewer' THEN 'contributor'
	ELSE COALESCE(tm.role, 'contributor') END`

// SetTeamRole sets a team member's team role; ErrNotFound when the member
// is not in the team.
func (s *Store) SetTeamRole(ctx context.Context, teamID int64, m *Member, role string) error {
	switch {
	case role != TeamRoleContributor && role != TeamRoleAdmin:
		return fmt.Errorf("%w: teamRole: want contributor or admin", ErrInvalid)
	case !TeamRolesAllowed(m.Role):
		return fmt.Errorf("%w: teamRole: a member with the %q role cannot have team-level permissions", ErrInvalid, m.Role)
	}
	return s.execOne(ctx, `UPDATE api.team_members SET role = $3 WHERE team_id = $1 AND member_id = $2`, teamID, m.ID, role)
}

// TeamAssignment is one team of a member and their role in it (nil: the
// default), as Sentry's teamRoles.
type TeamAssignment struct {
	TeamSlug string  `json:"teamSlug"`
	Role     *string `json:"role"`
}

// SetMemberTeams makes the member's teams exactly those listed, with their
// roles. An unknown team is ErrInvalid and changes nothing.
func (s *Store) SetMemberTeams(ctx context.Context, m *Member, teams []TeamAssignment) error {
	for _, a := range teams {
		if a.Role != nil && *a.Role != TeamRoleContributor && *a.Role != TeamRoleAdmin {
			return fmt.Errorf("%w: teamRoles: role %q (want contributor, admin or null)", ErrInvalid, *a.Role)
		}
		if a.Role != nil && *a.Role == TeamRoleAdmin && !TeamRolesAllowed(m.Role) {
			return fmt.Errorf("%w: teamRoles: a member with the %q role cannot have team-level permissions", ErrInvalid, m.Role)
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		slugs := make([]string, len(teams))
		for i, a := range teams {
			slugs[i] = a.TeamSlug
			tag, err := tx.Exec(ctx, `INSERT INTO api.team_members (team_id, member_id, role)
				SELECT t.id, $2::bigint, $4::text FROM api.teams t WHERE t.organization_id = $1 AND t.slug = $3
				ON CONFLICT (team_id, member_id) DO UPDATE SET role = EXCLUDED.role`, m.OrgID, m.ID, a.TeamSlug, a.Role)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("%w: teamRoles: no team %q", ErrInvalid, a.TeamSlug)
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM api.team_members tm USING api.teams t
			WHERE tm.team_id = t.id AND tm.member_id = $1 AND NOT (t.slug = ANY($2))`, m.ID, slugs)
		return err
	})
}
