package api

import (
	"maps"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/inboundfilter"
)

// A project's inbound data filters, in Sentry's shapes: the gateway drops
// the events they match before anything is stored.

func (a *API) filterRoutes() []route {
	const filters = "/api/0/projects/{org}/{project}/filters/"
	return []route{
		{"GET", filters, "A project's inbound data filters and whether each is on", user, accounts.LevelRead, 200, "", "[]Filter", a.listFilters},
		{"PUT", filters + "{filter_id}/", "Switch an inbound filter on or off (legacy-browser: subfilters)", user, accounts.LevelWrite, 204, "FilterUpdate", "", a.updateFilter},
	}
}

// Filter is one of a project's inbound filters; Active is a boolean, or
// for legacy-browsers the list of subfilters on.
type Filter struct {
	ID          string `json:"id"`
	Active      any    `json:"active"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Hello       string `json:"hello"`
}

func (a *API) listFilters(c *call) (any, error) {
	s, err := c.store.ProjectFilters(c.r.Context(), c.project.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Filter, 0, len(inboundfilter.Filters))
	for _, id := range inboundfilter.Filters {
		var active any = s.On(id)
		if id == inboundfilter.LegacyBrowsers && len(s.LegacyBrowsers) > 0 {
			active = s.LegacyBrowsers
		}
		about := inboundfilter.About[id]
		out = append(out, Filter{ID: id, Active: active, Name: about[0], Description: about[1], Hello: id + " - " + about[0]})
	}
	return out, nil
}

func (a *API) updateFilter(c *call) (any, error) {
	var req struct {
		Active     *bool    `json:"active"`
		Subfilters []string `json:"subfilters"`
	}
	if err := c.decodeStrict(&req); err != nil {
		return nil, err
	}
	id := c.param("filter_id")
	active := req.Active != nil && *req.Active
	subs := req.Subfilters
	if id == inboundfilter.LegacyBrowsers && req.Subfilters == nil && req.Active != nil {
		subs = nil
		if active {
			subs = []string{"default"}
		}
	}
	return nil, c.store.SetProjectFilter(c.r.Context(), c.project.ID, id, active, subs)
}

var filterSchemas = map[string]any{
	"Filter": obj([]string{"id", "active"}, map[string]any{"id": str, "name": str, "description": str, "hello": str,
		"active": map[string]any{"description": "true or false; for legacy-browser, false or the list of subfilters on"}}),
	"FilterUpdate": obj(nil, map[string]any{"active": boolean,
		"subfilters": map[string]any{"type": "array", "items": str, "description": "legacy-browser: ie_pre_9, ie9, ie10, ie11, opera_pre_15, opera_mini_pre_8, android_pre_4, safari_pre_6, edge_pre_79, or default (all)"}}),
}

func init() { maps.Copy(schemas, filterSchemas) }
