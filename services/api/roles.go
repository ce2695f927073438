package api

import (
	"slices"

	"github.com/faultline/faultline/libs/accounts"
)

// OrgRoleItem is one entry of Sentry's orgRoleList: an organisation role,
// what it grants, and whether the caller may give it.
type OrgRoleItem struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name"`
	Desc               string   `json:"desc"`
	Scopes             []string `json:"scopes"`
	Allowed            bool     `json:"allowed"` // Sentry's older name for isAllowed
	IsAllowed          bool     `json:"isAllowed"`
	IsRetired          bool     `json:"isRetired"`
	IsGlobal           bool     `json:"isGlobal"`
	IsTeamRolesAllowed bool     `json:"isTeamRolesAllowed"`
	MinimumTeamRole    string   `json:"minimumTeamRole"`
}

// TeamRoleItem is one entry of Sentry's teamRoleList.
type TeamRoleItem struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Desc             string   `json:"desc"`
	Scopes           []string `json:"scopes"`
	Allowed          bool     `json:"allowed"`
	IsAllowed        bool     `json:"isAllowed"`
	IsRetired        bool     `json:"isRetired"`
	IsMinimumRoleFor *string  `json:"isMinimumRoleFor"`
}

var orgRoleDesc = map[string]string{
	accounts.RoleViewer: "Viewers see the organisation's issues, events and settings, and change nothing.",
	accounts.RoleMember: "Members triage issues, manage releases and DSN keys, and join or leave teams.",
	accounts.RoleAdmin:  "Admins also manage teams, projects and members, and are admins of every team.",
	accounts.RoleOwner:  "Owners have unrestricted access to the organisation, its owners included.",
}

// orgRoleList is the organisation roles, least powerful first, as the
// caller at level sees them.
func orgRoleList(caller accounts.Level) []OrgRoleItem {
	roles := slices.Clone(accounts.Roles)
	slices.Reverse(roles)
	out := make([]OrgRoleItem, 0, len(roles))
	for _, r := range roles {
		l := accounts.RoleLevel(r)
		allowed := caller >= accounts.LevelAdmin && (r != accounts.RoleOwner || caller >= accounts.LevelOwner)
		out = append(out, OrgRoleItem{ID: r, Name: roleName(r), Desc: orgRoleDesc[r], Scopes: accessScopes(l),
			Allowed: allowed, IsAllowed: allowed, IsGlobal: l >= accounts.LevelAdmin,
			IsTeamRolesAllowed: accounts.TeamRolesAllowed(r), MinimumTeamRole: accounts.MinimumTeamRole(r)})
	}
	return out
}

// teamRoleScopes are what each team role grants within its team.
var teamRoleScopes = map[string][]string{
	accounts.TeamRoleContributor: {"event:read", "event:write", "team:read", "project:read", "project:releases", "org:read", "member:read"},
	accounts.TeamRoleAdmin: {"event:read", "event:write", "event:admin", "team:read", "team:write", "team:admin",
		"project:read", "project:write", "project:admin", "project:releases", "org:read", "member:read"},
}

var teamRoleDesc = map[string]string{
	accounts.TeamRoleContributor: "Contributors work on the team's projects.",
	accounts.TeamRoleAdmin:       "Team admins also add and remove the team's members and change their team roles.",
}

// teamRoleList is the team roles, least powerful first; the caller at
// level may give them when an organisation admin (a team admin may too,
// in their team).
func teamRoleList(caller accounts.Level) []TeamRoleItem {
	out := make([]TeamRoleItem, 0, len(accounts.TeamRoles))
	for _, r := range accounts.TeamRoles {
		minFor := accounts.RoleMember
		if r == accounts.TeamRoleAdmin {
			minFor = accounts.RoleAdmin
		}
		allowed := caller >= accounts.LevelAdmin
		out = append(out, TeamRoleItem{ID: r, Name: roleName(r), Desc: teamRoleDesc[r], Scopes: teamRoleScopes[r],
			Allowed: allowed, IsAllowed: allowed, IsMinimumRoleFor: &minFor})
	}
	return out
}
