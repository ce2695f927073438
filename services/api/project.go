package api

import (
	"net/http"

	"github.com/faultline/faultline/libs/accounts"
)

func (a *API) listProjects(c *call) (any, error) {
	return a.projectPage(c, accounts.ProjectFilter{Orgs: c.p.Orgs()})
}

func (a *API) getProject(c *call) (any, error) { return projectJSON(c.project), nil }

func (a *API) updateProject(c *call) (any, error) {
	var req struct {
		Name           *string   `json:"name"`
		Slug           *string   `json:"slug"`
		Platform       *string   `json:"platform"`
		AllowedDomains *[]string `json:"allowedDomains"`
		// Data scrubbing, with Sentry's names.
		DataScrubber         *bool     `json:"dataScrubber"`
		DataScrubberDefaults *bool     `json:"dataScrubberDefaults"`
		SensitiveFields      *[]string `json:"sensitiveFields"`
		SafeFields           *[]string `json:"safeFields"`
		ScrubIPAddresses     *bool     `json:"scrubIPAddresses"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	sc := accounts.ScrubUpdate{DataScrubber: req.DataScrubber, DataScrubberDefaults: req.DataScrubberDefaults,
		SensitiveFields: req.SensitiveFields, SafeFields: req.SafeFields, ScrubIPAddresses: req.ScrubIPAddresses}
	// Turning scrubbing down lets secrets into storage: admins only, as
	// the slug and the origins allowed to send.
	if (req.Slug != nil || req.AllowedDomains != nil || sc != (accounts.ScrubUpdate{})) && c.level < accounts.LevelAdmin {
		return nil, &httpError{http.StatusForbidden, "Changing a project's slug, allowed domains or data scrubbing needs the admin role."}
	}
	p, err := c.store.UpdateProject(c.r.Context(), c.project, accounts.ProjectUpdate{Name: req.Name, Slug: req.Slug,
		Platform: req.Platform, AllowedOrigins: req.AllowedDomains, Scrub: sc})
	if err != nil {
		return nil, err
	}
	return projectJSON(p), nil
}

func (a *API) deleteProject(c *call) (any, error) {
	return nil, c.store.DeleteProject(c.r.Context(), c.project.ID)
}

func (a *API) setProjectTeam(c *call, in bool) (any, error) {
	if err := c.store.SetProjectTeam(c.r.Context(), c.project.ID, c.team.ID, in); err != nil {
		return nil, err
	}
	p, err := c.store.OrgProject(c.r.Context(), c.org.ID, idString(c.project.ID))
	if err != nil {
		return nil, err
	}
	return projectJSON(p), nil
}

func (a *API) addProjectTeam(c *call) (any, error) { return a.setProjectTeam(c, true) }

func (a *API) removeProjectTeam(c *call) (any, error) { return a.setProjectTeam(c, false) }

func projectJSON(p *accounts.OrgProject) map[string]any {
	teams := []map[string]any{}
	for _, t := range p.Teams {
		teams = append(teams, map[string]any{"id": idString(t.ID), "slug": t.Slug, "name": t.Name})
	}
	var team any
	if len(teams) > 0 {
		team = teams[0]
	}
	return map[string]any{
		"id": idString(p.ID), "slug": p.Slug, "name": p.Name, "platform": nilIfEmpty(p.Platform),
		"dateCreated": p.CreatedAt, "isBookmarked": false, "isMember": true, "hasAccess": true, "features": []string{},
		"status": "active", "allowedDomains": p.AllowedOrigins, "teams": teams, "team": team,
		"organization": map[string]any{"id": idString(p.Org.ID), "slug": p.Org.Slug, "name": p.Org.Name},
		"dataScrubber": p.Scrub.DataScrubber, "dataScrubberDefaults": p.Scrub.DataScrubberDefaults,
		"sensitiveFields": nonNilStrings(p.Scrub.SensitiveFields), "safeFields": nonNilStrings(p.Scrub.SafeFields),
		"scrubIPAddresses": p.Scrub.ScrubIPAddresses,
	}
}

func (a *API) listOrgProjects(c *call) (any, error) {
	return a.projectPage(c, accounts.ProjectFilter{Orgs: c.p.Orgs(), OrgID: c.org.ID})
}

func (a *API) projectPage(c *call, f accounts.ProjectFilter) (any, error) {
	if c.p.Token != nil {
		f.ProjectID = c.p.Token.ProjectID
	}
	if c.p.User.IsSuperuser {
		f.Orgs.AllOrgs = true
	}
	return listOf(c, func(limit, offset int) ([]*accounts.OrgProject, error) {
		return c.store.OrgProjects(c.r.Context(), f, limit, offset)
	}, projectJSON)
}

func (a *API) listTeamProjects(c *call) (any, error) {
	return a.projectPage(c, accounts.ProjectFilter{Orgs: c.p.Orgs(), OrgID: c.org.ID, TeamID: c.team.ID})
}

func (a *API) createProject(c *call) (any, error) {
	var req struct {
		Name     string `json:"name"`
		Slug     string `json:"slug"`
		Platform string `json:"platform"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	p, err := c.store.CreateTeamProject(c.r.Context(), c.team, req.Name, req.Slug, req.Platform)
	if err != nil {
		return nil, err
	}
	return projectJSON(p), nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
