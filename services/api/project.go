package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/grouping"
	"github.com/faultline/faultline/libs/issues"
)

func (a *API) listProjects(c *call) (any, error) {
	return a.projectPage(c, accounts.ProjectFilter{Orgs: c.p.Orgs()})
}

func (a *API) getProject(c *call) (any, error) { return a.projectDetail(c, c.project) }

// projectUpdate is the body of PUT /api/0/projects/{org}/{project}/, with
// Sentry's names: every field a Sentry client (the Terraform provider)
// writes, and nothing else.
type projectUpdate struct {
	Name           *string   `json:"name"`
	Slug           *string   `json:"slug"`
	Platform       *string   `json:"platform"`
	AllowedDomains *[]string `json:"allowedDomains"`
	IsBookmarked   *bool     `json:"isBookmarked"`
	// Data scrubbing.
	DataScrubber         *bool     `json:"dataScrubber"`
	DataScrubberDefaults *bool     `json:"dataScrubberDefaults"`
	SensitiveFields      *[]string `json:"sensitiveFields"`
	SafeFields           *[]string `json:"safeFields"`
	ScrubIPAddresses     *bool     `json:"scrubIPAddresses"`
	// Settings.
	ResolveAge       *int           `json:"resolveAge"`
	DigestsMinDelay  *int           `json:"digestsMinDelay"`
	DigestsMaxDelay  *int           `json:"digestsMaxDelay"`
	ScrapeJavaScript *bool          `json:"scrapeJavaScript"`
	VerifySSL        *bool          `json:"verifySSL"`
	SecurityToken    *string        `json:"securityToken"`
	Options          map[string]any `json:"options"`
	// Grouping rules in Sentry's syntax: a decision grouping applies.
	FingerprintingRules  *string `json:"fingerprintingRules"`
	GroupingEnhancements *string `json:"groupingEnhancements"`
}

func (a *API) updateProject(c *call) (any, error) {
	var req projectUpdate
	if err := c.decodeStrict(&req); err != nil {
		return nil, err
	}
	ctx := c.r.Context()
	sc := accounts.ScrubUpdate{DataScrubber: req.DataScrubber, DataScrubberDefaults: req.DataScrubberDefaults,
		SensitiveFields: req.SensitiveFields, SafeFields: req.SafeFields, ScrubIPAddresses: req.ScrubIPAddresses}
	// Turning scrubbing down lets secrets into storage: admins only, as
	// the slug, the origins allowed to send and the security token.
	if (req.Slug != nil || req.AllowedDomains != nil || req.SecurityToken != nil || sc != (accounts.ScrubUpdate{})) &&
		c.level < accounts.LevelAdmin {
		return nil, &httpError{http.StatusForbidden, "Changing a project's slug, allowed domains, security token or data scrubbing needs the admin role."}
	}
	// The rules are checked before anything changes, and published after
	// the rest is stored, so a refusal of either leaves the project as it was.
	var setRules func() error
	if req.FingerprintingRules != nil || req.GroupingEnhancements != nil {
		cur, err := c.issues.GroupingRules(ctx, c.project.ID)
		if err != nil {
			return nil, err
		}
		stack, fp := cur.Stack, cur.Fingerprint
		if req.GroupingEnhancements != nil {
			stack = *req.GroupingEnhancements
		}
		if req.FingerprintingRules != nil {
			fp = *req.FingerprintingRules
		}
		if _, err := grouping.ParseRules(stack, fp); err != nil {
			return nil, &httpError{http.StatusBadRequest, "fingerprintingRules, groupingEnhancements: " + err.Error()}
		}
		if stack != cur.Stack || fp != cur.Fingerprint {
			setRules = func() error {
				_, err := c.issues.SetGroupingRules(ctx, c.project.ID, stack, fp)
				if errors.Is(err, issues.ErrNotApplied) {
					return nil // stored; grouping applies it shortly
				}
				return err
			}
		}
	}
	p, err := c.store.UpdateProject(ctx, c.project, accounts.ProjectUpdate{Name: req.Name, Slug: req.Slug,
		Platform: req.Platform, AllowedOrigins: req.AllowedDomains, Scrub: sc,
		Settings: accounts.SettingsUpdate{ResolveAge: req.ResolveAge, DigestsMinDelay: req.DigestsMinDelay,
			DigestsMaxDelay: req.DigestsMaxDelay, ScrapeJavaScript: req.ScrapeJavaScript, VerifySSL: req.VerifySSL,
			Options: req.Options, SecurityToken: req.SecurityToken}})
	if err != nil {
		return nil, err
	}
	if req.IsBookmarked != nil {
		if err := c.store.SetBookmark(ctx, c.p.User.ID, c.project.ID, *req.IsBookmarked); err != nil {
			return nil, err
		}
	}
	if setRules != nil {
		if err := setRules(); err != nil {
			return nil, err
		}
	}
	return a.projectDetail(c, p)
}

// projectDetail is a project as GET and PUT answer it: projectJSON with
// its settings, its grouping rules and the caller's bookmark.
func (a *API) projectDetail(c *call, p *accounts.OrgProject) (any, error) {
	ctx := c.r.Context()
	m := projectJSON(p)
	rules, err := c.issues.GroupingRules(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	marks, err := c.store.Bookmarked(ctx, c.p.User.ID)
	if err != nil {
		return nil, err
	}
	st := p.Settings
	m.IsBookmarked = marks[p.ID]
	m.ProjectDetails = &ProjectDetails{ProjectSettings: &st, FingerprintingRules: rules.Fingerprint, GroupingEnhancements: rules.Stack}
	if c.level >= accounts.LevelAdmin {
		m.SecurityToken = p.SecurityToken // a secret of the project's security-report endpoint
	}
	return m, nil
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

func projectJSON(p *accounts.OrgProject) Project {
	teams := []Ref{}
	for _, t := range p.Teams {
		teams = append(teams, Ref{ID: idString(t.ID), Slug: t.Slug, Name: t.Name})
	}
	var team *Ref
	if len(teams) > 0 {
		team = &teams[0]
	}
	return Project{ID: idString(p.ID), Slug: p.Slug, Name: p.Name, Platform: strOrNil(p.Platform),
		DateCreated: p.CreatedAt, IsMember: true, HasAccess: true, Features: []string{},
		Status: "active", AllowedDomains: p.AllowedOrigins, Teams: teams, Team: team,
		Organization: Ref{ID: idString(p.Org.ID), Slug: p.Org.Slug, Name: p.Org.Name},
		DataScrubber: p.Scrub.DataScrubber, DataScrubberDefaults: p.Scrub.DataScrubberDefaults,
		SensitiveFields: nonNilStrings(p.Scrub.SensitiveFields), SafeFields: nonNilStrings(p.Scrub.SafeFields),
		ScrubIPAddresses: p.Scrub.ScrubIPAddresses}
}

// Project is a project as Sentry answers it; ProjectDetails only where one
// project is read or written.
type Project struct {
	ID                   string    `json:"id"`
	Slug                 string    `json:"slug"`
	Name                 string    `json:"name"`
	Platform             *string   `json:"platform"`
	DateCreated          time.Time `json:"dateCreated"`
	IsBookmarked         bool      `json:"isBookmarked"`
	IsMember             bool      `json:"isMember"`
	HasAccess            bool      `json:"hasAccess"`
	Features             []string  `json:"features"`
	Status               string    `json:"status"`
	AllowedDomains       []string  `json:"allowedDomains"`
	Teams                []Ref     `json:"teams"`
	Team                 *Ref      `json:"team"`
	Organization         Ref       `json:"organization"`
	DataScrubber         bool      `json:"dataScrubber"`
	DataScrubberDefaults bool      `json:"dataScrubberDefaults"`
	SensitiveFields      []string  `json:"sensitiveFields"`
	SafeFields           []string  `json:"safeFields"`
	ScrubIPAddresses     bool      `json:"scrubIPAddresses"`
	*ProjectDetails
}

// ProjectDetails are a project's settings and grouping rules, and for
// admins the token of its security-report endpoint.
type ProjectDetails struct {
	*accounts.ProjectSettings
	FingerprintingRules  string `json:"fingerprintingRules"`
	GroupingEnhancements string `json:"groupingEnhancements"`
	SecurityToken        string `json:"securityToken,omitempty"`
}

// Ref names a team or an organisation.
type Ref struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
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
