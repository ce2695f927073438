package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/faultline/faultline/libs/accounts"
)

func (a *API) listMembers(c *call) (any, error) {
	return listOf(c, func(limit, offset int) ([]*accounts.Member, error) {
		return c.store.Members(c.r.Context(), c.org.ID, limit, offset)
	}, c.memberJSON)
}

func (a *API) member(c *call) (*accounts.Member, error) {
	m, err := c.store.Member(c.r.Context(), c.org.ID, c.param("member_id"), c.p.User.ID)
	if errors.Is(err, accounts.ErrNotFound) {
		return nil, errNotFound
	}
	return m, err
}

func (a *API) getMember(c *call) (any, error) {
	m, err := a.member(c)
	if err != nil {
		return nil, err
	}
	return c.memberJSON(m), nil
}

type memberRequest struct {
	Email   string   `json:"email"`
	Role    string   `json:"role"`
	OrgRole string   `json:"orgRole"`
	Teams   []string `json:"teams"`
	// TeamRoles, on a member's update, are the member's teams with their
	// roles, as Sentry's: the member is in exactly these afterwards.
	TeamRoles []accounts.TeamAssignment `json:"teamRoles"`
}

func (r memberRequest) role() string {
	if r.OrgRole != "" {
		return r.OrgRole
	}
	return r.Role
}

func (a *API) inviteMember(c *call) (any, error) {
	var req memberRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	m, err := a.acc.Invite(c.r.Context(), c.org, c.p.User, c.level, req.Email, req.role(), req.Teams)
	if err != nil {
		return nil, err
	}
	return c.memberJSON(m), nil
}

// guardOwner keeps admins from changing owners or making them.

func guardOwner(c *call, m *accounts.Member, newRole string) error {
	if c.level < accounts.LevelOwner && (m.Role == accounts.RoleOwner || newRole == accounts.RoleOwner) {
		return &httpError{http.StatusForbidden, "Only an owner can change an owner or make one."}
	}
	return nil
}

func (a *API) updateMember(c *call) (any, error) {
	m, err := a.member(c)
	if err != nil {
		return nil, err
	}
	var req memberRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if role := req.role(); role != "" && role != m.Role {
		if err := guardOwner(c, m, role); err != nil {
			return nil, err
		}
		if err := c.store.UpdateMemberRole(c.r.Context(), m, role); err != nil {
			return nil, err
		}
		m.Role = role
	}
	if req.TeamRoles != nil {
		if err := c.store.SetMemberTeams(c.r.Context(), m, req.TeamRoles); err != nil {
			return nil, err
		}
	}
	return a.getMember(c)
}

func (a *API) removeMember(c *call) (any, error) {
	m, err := a.member(c)
	if err != nil {
		return nil, err
	}
	if err := guardOwner(c, m, ""); err != nil {
		return nil, err
	}
	return nil, c.store.RemoveMember(c.r.Context(), m)
}

// mayManageTeam reports whether the caller may change who is in c.team
// and their team roles: organisation admins and the team's admins may.
func (c *call) mayManageTeam() bool {
	return c.level >= accounts.LevelAdmin ||
		(c.level >= accounts.LevelWrite && c.team.TeamRole != nil && *c.team.TeamRole == accounts.TeamRoleAdmin)
}

// setMemberTeam adds a member to c.team or takes them out. Organisation
// admins and the team's admins may for anyone; a member may join or leave
// a team themselves (Sentry's open membership). The answer is the team, as
// the caller sees it, as Sentry's.
func (a *API) setMemberTeam(c *call, in bool) (any, error) {
	m, err := a.member(c)
	if err != nil {
		return nil, err
	}
	if !c.mayManageTeam() && (m.UserID == 0 || m.UserID != c.p.User.ID) {
		return nil, errForbidden
	}
	if err := c.store.SetTeamMember(c.r.Context(), c.team.ID, m.ID, in); err != nil {
		return nil, err
	}
	t, err := c.store.Team(c.r.Context(), c.org.ID, idString(c.team.ID), c.p.User.ID)
	if err != nil {
		return nil, err
	}
	return teamJSON(t), nil
}

func (a *API) addMemberTeam(c *call) (any, error) { return a.setMemberTeam(c, true) }

func (a *API) removeMemberTeam(c *call) (any, error) { return a.setMemberTeam(c, false) }

// TeamRoleUpdate is the body of a team-role change.
type TeamRoleUpdate struct {
	TeamRole string `json:"teamRole"`
}

// MemberTeamRole is the answer to a team-role change, as Sentry's.
type MemberTeamRole struct {
	IsActive bool   `json:"isActive"`
	TeamRole string `json:"teamRole"`
}

// setMemberTeamRole changes a team member's teamRole; organisation admins
// and the team's admins may.
func (a *API) setMemberTeamRole(c *call) (any, error) {
	m, err := a.member(c)
	if err != nil {
		return nil, err
	}
	if !c.mayManageTeam() {
		return nil, &httpError{http.StatusForbidden, "Only organization admins and the team's admins change team roles."}
	}
	var req TeamRoleUpdate
	if err := c.decodeStrict(&req); err != nil {
		return nil, err
	}
	if err := c.store.SetTeamRole(c.r.Context(), c.team.ID, m, req.TeamRole); errors.Is(err, accounts.ErrNotFound) {
		return nil, &httpError{http.StatusNotFound, "The member is not in the team."}
	} else if err != nil {
		return nil, err
	}
	return MemberTeamRole{IsActive: true, TeamRole: accounts.EffectiveTeamRole(m.Role, &req.TeamRole)}, nil
}

// memberJSON is a member as the caller sees it: Sentry's shape with the
// role lists, and the member's teams with their roles.
func (c *call) memberJSON(m *accounts.Member) map[string]any {
	status := "approved"
	var u any
	if m.Pending {
		status = "pending"
	} else {
		u = map[string]any{"id": idString(m.UserID), "email": m.Email, "name": m.Name, "username": m.Email}
	}
	teamRoles := make([]map[string]any, len(m.Teams))
	for i, slug := range m.Teams {
		var role *string
		if i < len(m.TeamRoles) {
			role = m.TeamRoles[i]
		}
		teamRoles[i] = map[string]any{"teamSlug": slug, "role": role}
	}
	return map[string]any{
		"id": idString(m.ID), "email": m.Email, "name": m.Name, "role": m.Role, "orgRole": m.Role, "roleName": roleName(m.Role),
		"pending": m.Pending, "expired": m.Expired, "inviteStatus": status, "dateCreated": m.CreatedAt,
		"teams": m.Teams, "teamRoles": teamRoles, "user": u,
		"orgRoleList": orgRoleList(c.level), "teamRoleList": teamRoleList(c.level),
	}
}

func roleName(r string) string {
	if r == "" {
		return ""
	}
	return strings.ToUpper(r[:1]) + r[1:]
}

// listTeamMembers lists a team's members, each with its teamRole and
// teamSlug, as Sentry's.
func (a *API) listTeamMembers(c *call) (any, error) {
	return listOf(c, func(limit, offset int) ([]*accounts.Member, error) {
		return c.store.TeamMembers(c.r.Context(), c.team.ID, limit, offset)
	}, func(m *accounts.Member) map[string]any {
		j := c.memberJSON(m)
		var stored *string
		if i := slices.Index(m.Teams, c.team.Slug); i >= 0 && i < len(m.TeamRoles) {
			stored = m.TeamRoles[i]
		}
		j["teamRole"], j["teamSlug"] = accounts.EffectiveTeamRole(m.Role, stored), c.team.Slug
		return j
	})
}
