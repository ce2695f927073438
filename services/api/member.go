package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

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
func (c *call) memberJSON(m *accounts.Member) Member {
	status := "approved"
	var u *MemberUser
	if m.Pending {
		status = "pending"
	} else {
		u = &MemberUser{ID: idString(m.UserID), Email: m.Email, Name: m.Name, Username: m.Email}
	}
	teamRoles := make([]MemberTeam, len(m.Teams))
	for i, slug := range m.Teams {
		var role *string
		if i < len(m.TeamRoles) {
			role = m.TeamRoles[i]
		}
		teamRoles[i] = MemberTeam{TeamSlug: slug, Role: role}
	}
	return Member{ID: idString(m.ID), Email: m.Email, Name: m.Name, Role: m.Role, OrgRole: m.Role, RoleName: roleName(m.Role),
		Pending: m.Pending, Expired: m.Expired, InviteStatus: status, DateCreated: m.CreatedAt,
		Teams: m.Teams, TeamRoles: teamRoles, User: u, OrgRoleList: orgRoleList(c.level), TeamRoleList: teamRoleList(c.level)}
}

// Member is a member or a pending invitation as Sentry answers it (User
// null while pending); TeamMembership only in a team's member list.
type Member struct {
	ID           string         `json:"id"`
	Email        string         `json:"email"`
	Name         string         `json:"name"`
	Role         string         `json:"role"`
	OrgRole      string         `json:"orgRole"`
	RoleName     string         `json:"roleName"`
	Pending      bool           `json:"pending"`
	Expired      bool           `json:"expired"`
	InviteStatus string         `json:"inviteStatus"`
	DateCreated  time.Time      `json:"dateCreated"`
	Teams        []string       `json:"teams"`
	TeamRoles    []MemberTeam   `json:"teamRoles"`
	User         *MemberUser    `json:"user"`
	OrgRoleList  []OrgRoleItem  `json:"orgRoleList"`
	TeamRoleList []TeamRoleItem `json:"teamRoleList"`
	*TeamMembership
}

// MemberTeam is one of a member's teams with its stored role (null: the
// default).
type MemberTeam struct {
	TeamSlug string  `json:"teamSlug"`
	Role     *string `json:"role"`
}

// MemberUser is a member's user.
type MemberUser struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Username string `json:"username"`
}

// TeamMembership is a member's effective role in the team listed.
type TeamMembership struct {
	TeamRole string `json:"teamRole"`
	TeamSlug string `json:"teamSlug"`
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
	}, func(m *accounts.Member) Member {
		j := c.memberJSON(m)
		var stored *string
		if i := slices.Index(m.Teams, c.team.Slug); i >= 0 && i < len(m.TeamRoles) {
			stored = m.TeamRoles[i]
		}
		j.TeamMembership = &TeamMembership{TeamRole: accounts.EffectiveTeamRole(m.Role, stored), TeamSlug: c.team.Slug}
		return j
	})
}
