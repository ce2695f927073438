package api

import "github.com/faultline/faultline/libs/accounts"

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

func teamJSON(t *accounts.Team) map[string]any {
	return map[string]any{
		"id": idString(t.ID), "slug": t.Slug, "name": t.Name, "dateCreated": t.CreatedAt,
		"isMember": t.IsMember, "memberCount": t.MemberCount, "hasAccess": true, "isPending": false,
		"teamRole": t.TeamRole, // the caller's, null when not a member
		"avatar":   map[string]any{"avatarType": "letter_avatar", "avatarUuid": nil},
	}
}
