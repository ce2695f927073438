package api

import (
	"errors"
	"time"

	"github.com/faultline/faultline/libs/accounts"
)

// The ownership routes: a project's ownership rules in Sentry's syntax.
// Grouping assigns new issues by them (services/grouping/owners.go) and
// alerting mails issue owners by them.
func (a *API) ownershipRoutes() []route {
	const path = "/api/0/projects/{org}/{project}/ownership/"
	return []route{
		{"GET", path, "A project's ownership rules (Sentry's syntax) and settings", user, accounts.LevelRead, 200, "", "ProjectOwnership", a.getOwnership},
		{"PUT", path, "Change a project's ownership rules or settings; rules that do not parse or name unknown owners are refused", user, accounts.LevelWrite, 200, "ProjectOwnershipUpdate", "ProjectOwnership", a.setOwnership},
	}
}

// ProjectOwnership is a project's ownership as Sentry answers it.
type ProjectOwnership struct {
	Raw                *string    `json:"raw"`
	Fallthrough        bool       `json:"fallthrough"`
	DateCreated        *time.Time `json:"dateCreated"`
	LastUpdated        *time.Time `json:"lastUpdated"`
	IsActive           bool       `json:"isActive"`
	AutoAssignment     string     `json:"autoAssignment"`
	CodeownersAutoSync bool       `json:"codeownersAutoSync"`
}

// ProjectOwnershipUpdate is the body of a change; fields left out keep
// their value.
type ProjectOwnershipUpdate struct {
	Raw                *string `json:"raw"`
	Fallthrough        *bool   `json:"fallthrough"`
	AutoAssignment     *string `json:"autoAssignment"`
	CodeownersAutoSync *bool   `json:"codeownersAutoSync"`
}

func init() {
	schemas["ProjectOwnership"] = obj([]string{"raw", "fallthrough", "autoAssignment"}, map[string]any{
		"raw": nullStr, "fallthrough": boolean, "dateCreated": map[string]any{"type": []string{"string", "null"}, "format": "date-time"},
		"lastUpdated": map[string]any{"type": []string{"string", "null"}, "format": "date-time"}, "isActive": boolean,
		"autoAssignment": map[string]any{"type": "string", "enum": accounts.AutoAssignments}, "codeownersAutoSync": boolean})
	schemas["ProjectOwnershipUpdate"] = obj(nil, map[string]any{
		"raw":                map[string]any{"type": "string", "description": "Rules, one a line: path:, module:, url:, codeowners: or tags.<key>: a pattern, then owners (#team or a member's email)"},
		"fallthrough":        boolean,
		"autoAssignment":     map[string]any{"type": "string", "enum": accounts.AutoAssignments, "description": "Assign new issues to the first owner of the last rule their first event matches, unless turned off"},
		"codeownersAutoSync": boolean})
}

func ownershipJSON(o *accounts.Ownership) ProjectOwnership {
	return ProjectOwnership{Raw: o.Raw, Fallthrough: o.Fallthrough, DateCreated: o.CreatedAt, LastUpdated: o.UpdatedAt,
		IsActive: true, AutoAssignment: o.AutoAssignment, CodeownersAutoSync: o.CodeownersAutoSync}
}

func (a *API) getOwnership(c *call) (any, error) {
	o, err := c.store.ProjectOwnership(c.r.Context(), c.project.ID)
	if err != nil {
		return nil, err
	}
	return ownershipJSON(o), nil
}

func (a *API) setOwnership(c *call) (any, error) {
	var req ProjectOwnershipUpdate
	if err := c.decodeStrict(&req); err != nil {
		return nil, err
	}
	o, err := c.store.SetProjectOwnership(c.r.Context(), c.project, accounts.OwnershipUpdate(req))
	var oe *accounts.OwnershipError
	if errors.As(err, &oe) {
		// Sentry's shape: the field and its errors.
		if a.answerFields(c, fieldErrors{"raw": {oe.Msg}}) {
			return nil, errAnswered
		}
	}
	if err != nil {
		return nil, err
	}
	return ownershipJSON(o), nil
}
