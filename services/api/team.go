package api

import (
	"time"

	"github.com/faultline/faultline/libs/accounts"
)

func (a *API) listTeams(c *call) (any, error) {
	return listOf(c, func(limit, offset int) ([]*accounts.Team, error) {
		return c.store.Teams(c.r.Context(), c.org.ID, c.p.User.ID, limit, offset)
	}, teamJSON)
}

type teamRequest struct {
	Name *string `json:"name"`
	Slug *string `json:"slug"`
}

func (a *API) createTeam(c *call) (any, error) {
	var req teamRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	t, err := c.store.CreateTeam(c.r.Context(), c.org.ID, deref(req.Name), deref(req.Slug))
	if err != nil {
		return nil, err
	}
	return teamJSON(t), nil
}

func (a *API) getTeam(c *call) (any, error) { return teamJSON(c.team), nil }

func (a *API) updateTeam(c *call) (any, error) {
	var req teamRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	t, err := c.store.UpdateTeam(c.r.Context(), c.team, req.Name, req.Slug)
	if err != nil {
		return nil, err
	}
	return teamJSON(t), nil
}

func (a *API) deleteTeam(c *call) (any, error) {
	return nil, c.store.DeleteTeam(c.r.Context(), c.team.ID)
}

// Team is a team as Sentry answers it.
type Team struct {
	ID          string    `json:"id"`
	Slug        string    `json:"slug"`
	Name        string    `json:"name"`
	DateCreated time.Time `json:"dateCreated"`
	IsMember    bool      `json:"isMember"`
	MemberCount int       `json:"memberCount"`
	HasAccess   bool      `json:"hasAccess"`
	IsPending   bool      `json:"isPending"`
	TeamRole    *string   `json:"teamRole"` // the caller's, null when not a member
	Avatar      Avatar    `json:"avatar"`
}

// Avatar is Sentry's avatar of a team or organisation: always the letters.
type Avatar struct {
	AvatarType string  `json:"avatarType"`
	AvatarUUID *string `json:"avatarUuid"`
}

var letterAvatar = Avatar{AvatarType: "letter_avatar"}

func teamJSON(t *accounts.Team) Team {
	return Team{ID: idString(t.ID), Slug: t.Slug, Name: t.Name, DateCreated: t.CreatedAt,
		IsMember: t.IsMember, MemberCount: t.MemberCount, HasAccess: true, TeamRole: t.TeamRole, Avatar: letterAvatar}
}
