package api

import (
	"net/http"

	"github.com/faultline/faultline/libs/accounts"
)

func (a *API) listOrgs(c *call) (any, error) {
	items, err := page(c, func(limit, offset int) ([]*accounts.Organization, error) {
		return c.store.Organizations(c.r.Context(), c.p.Orgs(), limit, offset)
	})
	return mapList(items, err, func(o *accounts.Organization) map[string]any { return orgJSON(o, accounts.LevelNone, "") })
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
func orgJSON(o *accounts.Organization, l accounts.Level, role string) map[string]any {
	m := map[string]any{
		"id": idString(o.ID), "slug": o.Slug, "name": o.Name, "dateCreated": o.CreatedAt,
		"status": map[string]string{"id": "active", "name": "active"}, "isEarlyAdopter": false, "require2FA": false,
		"avatar":   map[string]any{"avatarType": "letter_avatar", "avatarUuid": nil},
		"features": []string{},
	}
	if l != accounts.LevelNone {
		m["access"] = accessScopes(l)
		m["role"], m["orgRole"] = role, role
		m["orgRoleList"], m["teamRoleList"] = orgRoleList(l), teamRoleList(l)
	}
	return m
}
