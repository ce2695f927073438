package api

import (
	"net/http"
	"time"

	"github.com/faultline/faultline/libs/accounts"
)

func (a *API) listOrgs(c *call) (any, error) {
	items, err := page(c, func(limit, offset int) ([]*accounts.Organization, error) {
		return c.store.Organizations(c.r.Context(), c.p.Orgs(), limit, offset)
	})
	return mapList(items, err, func(o *accounts.Organization) Organization { return orgJSON(o, accounts.LevelNone, "") })
}

func (a *API) createOrg(c *call) (any, error) {
	if c.p.Token != nil && c.p.Token.OrgID != 0 {
		return nil, errForbidden
	}
	if !a.opt.AllowOrgCreation && !c.p.User.IsSuperuser {
		return nil, &httpError{http.StatusForbidden, "Only superusers create organizations here (ALLOW_ORG_CREATION=all lets every user)."}
	}
	var req struct {
		Name string `json:"name"`
		Slug string `json:"slug"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	o, err := c.store.CreateOrganization(c.r.Context(), c.p.User.ID, req.Name, req.Slug)
	if err != nil {
		return nil, err
	}
	return orgJSON(o, min(accounts.LevelOwner, c.p.Cap()), accounts.RoleOwner), nil
}

func (a *API) getOrg(c *call) (any, error) { return orgJSON(c.org, c.level, c.role), nil }

func (a *API) updateOrg(c *call) (any, error) {
	var req struct {
		Name *string `json:"name"`
		Slug *string `json:"slug"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	o, err := c.store.UpdateOrganization(c.r.Context(), c.org.ID, req.Name, req.Slug)
	if err != nil {
		return nil, err
	}
	return orgJSON(o, c.level, c.role), nil
}

func (a *API) deleteOrg(c *call) (any, error) {
	return nil, c.store.DeleteOrganization(c.r.Context(), c.org.ID)
}

func accessScopes(l accounts.Level) []string {
	var out []string
	if l >= accounts.LevelRead {
		out = append(out, "org:read", "project:read", "team:read", "member:read", "event:read")
	}
	if l >= accounts.LevelWrite {
		out = append(out, "project:write", "project:releases", "event:write", "event:admin")
	}
	if l >= accounts.LevelAdmin {
		out = append(out, "org:write", "project:admin", "team:write", "team:admin", "member:write", "member:admin")
	}
	if l >= accounts.LevelOwner {
		out = append(out, "org:admin")
	}
	return out
}

// orgJSON is an organisation as a caller at level l with the given role
// sees it; with a level, it carries the caller's access, role and Sentry's
// role lists.
func orgJSON(o *accounts.Organization, l accounts.Level, role string) Organization {
	m := Organization{ID: idString(o.ID), Slug: o.Slug, Name: o.Name, DateCreated: o.CreatedAt,
		Status: OrgStatus{ID: "active", Name: "active"}, Avatar: letterAvatar, Features: []string{}}
	if l != accounts.LevelNone {
		m.OrgAccess = &OrgAccess{Access: accessScopes(l), Role: role, OrgRole: role, OrgRoleList: orgRoleList(l), TeamRoleList: teamRoleList(l)}
	}
	return m
}

// Organization is an organisation as Sentry answers it; OrgAccess only
// where the caller's level is known.
type Organization struct {
	ID             string    `json:"id"`
	Slug           string    `json:"slug"`
	Name           string    `json:"name"`
	DateCreated    time.Time `json:"dateCreated"`
	Status         OrgStatus `json:"status"`
	IsEarlyAdopter bool      `json:"isEarlyAdopter"`
	Require2FA     bool      `json:"require2FA"`
	Avatar         Avatar    `json:"avatar"`
	Features       []string  `json:"features"`
	*OrgAccess
}

// OrgStatus is an organisation's status: always active.
type OrgStatus struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// OrgAccess is the caller's access to an organisation, its role, and the
// roles it may hand out.
type OrgAccess struct {
	Access       []string       `json:"access"`
	Role         string         `json:"role"`
	OrgRole      string         `json:"orgRole"`
	OrgRoleList  []OrgRoleItem  `json:"orgRoleList"`
	TeamRoleList []TeamRoleItem `json:"teamRoleList"`
}
