package api

import (
	"errors"
	"slices"

	"github.com/faultline/faultline/libs/accounts"
)

// indexRoutes is GET /api/0/: who the credentials belong to and what they
// may do, as sentry-cli info checks it.
func (a *API) indexRoutes() []route {
	return []route{
		{"GET", "/api/0/", "Who the credentials belong to and their scopes (auth and user are null without credentials)", public, accounts.LevelNone, 200, "", "Index", a.index},
	}
}

// sentryScopes are Sentry's resource scopes each of Faultline's levels
// grants, as Sentry names them.
var sentryScopes = map[string][]string{
	accounts.ScopeRead:  {"alerts:read", "event:read", "member:read", "org:read", "project:read", "team:read"},
	accounts.ScopeWrite: {"alerts:write", "event:write", "member:write", "org:write", "project:releases", "project:write", "team:write"},
	accounts.ScopeAdmin: {"event:admin", "member:admin", "org:admin", "project:admin", "team:admin"},
}

// Index is the API root: who is asking, with what scopes.
type Index struct {
	Version string     `json:"version"`
	Auth    *IndexAuth `json:"auth"`
	User    *User      `json:"user"`
}

// IndexAuth is the caller's scopes, in Sentry's names.
type IndexAuth struct {
	Scopes []string `json:"scopes"`
}

func (a *API) index(c *call) (any, error) {
	body := Index{Version: "0"}
	p, err := a.acc.Auth().Principal(c.r.Context(), c.r)
	switch {
	case errors.Is(err, accounts.ErrUnauthenticated) && c.r.Header.Get("Authorization") == "":
		return body, nil // no credentials (or a stale cookie): anonymous, as Sentry answers
	case err != nil:
		return nil, err // credentials that do not hold: 401
	}
	levels := []string{accounts.ScopeRead, accounts.ScopeWrite, accounts.ScopeAdmin}
	if p.Token != nil {
		levels = p.Token.Scopes
	}
	var scopes []string
	for _, l := range levels {
		scopes = append(scopes, sentryScopes[l]...)
	}
	slices.Sort(scopes)
	u := userJSON(p.User)
	body.Auth, body.User = &IndexAuth{Scopes: scopes}, &u
	return body, nil
}
