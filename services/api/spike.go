package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/faultline/faultline/libs/accounts"
)

// Spike protection, per project, as Sentry keeps it: the project option
// quotas:spike-protection-disabled, false when on (readable in the
// project's options). POST turns it on, DELETE off, for the projects named
// by slug or for "$all". The option reaches the gateway with the project's
// key records (libs/spike caps the spikes).
func (a *API) spikeProtectionRoutes() []route {
	const path = "/api/0/organizations/{org}/spike-protections/"
	return []route{
		{"POST", path, "Turn spike protection on for projects (by slug, or $all)", user, accounts.LevelWrite, 204, "SpikeProtectionParams", "", a.enableSpikeProtection},
		{"DELETE", path, "Turn spike protection off for projects (by slug, or $all)", user, accounts.LevelWrite, 204, "SpikeProtectionParams", "", a.disableSpikeProtection},
	}
}

// SpikeProtectionOption is the project option that says spike protection
// is off.
const SpikeProtectionOption = accounts.OptionSpikeProtectionDisabled

// SpikeProtectionParams names the projects.
type SpikeProtectionParams struct {
	Projects []string `json:"projects"`
}

func init() {
	schemas["SpikeProtectionParams"] = obj([]string{"projects"}, map[string]any{
		"projects": map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": `Project slugs, or ["$all"]`}})
}

func (a *API) enableSpikeProtection(c *call) (any, error) { return nil, a.setSpikeProtection(c, true) }
func (a *API) disableSpikeProtection(c *call) (any, error) {
	return nil, a.setSpikeProtection(c, false)
}

func (a *API) setSpikeProtection(c *call, on bool) error {
	var req SpikeProtectionParams
	if err := c.decodeStrict(&req); err != nil {
		return err
	}
	if len(req.Projects) == 0 || len(req.Projects) > 1000 {
		return &httpError{http.StatusBadRequest, "projects: want project slugs or [\"$all\"]"}
	}
	ctx := c.r.Context()
	var projects []*accounts.OrgProject
	if len(req.Projects) == 1 && req.Projects[0] == "$all" {
		var err error
		if projects, err = c.store.OrgProjects(ctx, accounts.ProjectFilter{Orgs: accounts.OrgFilter{AllOrgs: true}, OrgID: c.org.ID}, 100000, 0); err != nil {
			return err
		}
	} else {
		for _, slug := range req.Projects {
			p, err := c.store.OrgProject(ctx, c.org.ID, slug)
			if errors.Is(err, accounts.ErrNotFound) {
				if len(slug) > 64 {
					slug = slug[:64] + "…"
				}
				return &httpError{http.StatusBadRequest, fmt.Sprintf("projects: %q is not a project of this organization", slug)}
			}
			if err != nil {
				return err
			}
			projects = append(projects, p)
		}
	}
	for _, p := range projects {
		if _, err := c.store.UpdateProject(ctx, p, accounts.ProjectUpdate{Settings: accounts.SettingsUpdate{
			Options: map[string]any{SpikeProtectionOption: !on}}}); err != nil {
			return err
		}
	}
	return nil
}
