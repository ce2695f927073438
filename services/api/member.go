package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/faultline/faultline/libs/accounts"
)

func (a *API) listMembers(c *call) (any, error) {
	return listOf(c, func(limit, offset int) ([]*accounts.Member, error) {
		return c.store.Members(c.r.Context(), c.org.ID, limit, offset)
	}, memberJSON)
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
	return memberJSON(m), nil
}

type memberRequest struct {
	Email   string   `json:"email"`
	Role    string   `json:"role"`
	OrgRole string   `json:"orgRole"`
	Teams   []string `json:"teams"`
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
	return memberJSON(m), nil
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

func (a *API) setMemberTeam(c *call, in bool) (any, error) {
	m, err := a.member(c)
	if err != nil {
		return nil, err
	}
	if err := c.store.SetTeamMember(c.r.Context(), c.team.ID, m.ID, in); err != nil {
		return nil, err
	}
	return a.getMember(c)
}

func (a *API) addMemberTeam(c *call) (any, error) { return a.setMemberTeam(c, true) }

func (a *API) removeMemberTeam(c *call) (any, error) { return a.setMemberTeam(c, false) }

func memberJSON(m *accounts.Member) map[string]any {
	status := "approved"
	var u any
	if m.Pending {
		status = "pending"
	} else {
		u = map[string]any{"id": idString(m.UserID), "email": m.Email, "name": m.Name, "username": m.Email}
	}
	return map[string]any{
		"id": idString(m.ID), "email": m.Email, "name": m.Name, "role": m.Role, "orgRole": m.Role, "roleName": roleName(m.Role),
		"pending": m.Pending, "expired": m.Expired, "inviteStatus": status, "dateCreated": m.CreatedAt,
		"teams": m.Teams, "user": u,
	}
}

func roleName(r string) string {
	if r == "" {
		return ""
	}
	return strings.ToUpper(r[:1]) + r[1:]
}

func (a *API) listTeamMembers(c *call) (any, error) {
	return listOf(c, func(limit, offset int) ([]*accounts.Member, error) {
		return c.store.TeamMembers(c.r.Context(), c.team.ID, limit, offset)
	}, memberJSON)
}
