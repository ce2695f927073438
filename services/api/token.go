package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/faultline/faultline/libs/accounts"
)

func (a *API) listTokens(c *call) (any, error) {
	return listOf(c, func(limit, offset int) ([]*accounts.Token, error) {
		return c.store.Tokens(c.r.Context(), c.p.User.ID, limit, offset)
	}, tokenJSON)
}

func (a *API) createToken(c *call) (any, error) {
	var req struct {
		Name         string     `json:"name"`
		Scopes       []string   `json:"scopes"`
		Organization string     `json:"organization"`
		Project      string     `json:"project"`
		ExpiresAt    *time.Time `json:"expiresAt"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	nt := accounts.NewToken{UserID: c.p.User.ID, Name: req.Name, Scopes: req.Scopes, ExpiresAt: req.ExpiresAt}
	ctx := c.r.Context()
	if req.Project != "" && req.Organization == "" {
		return nil, &httpError{http.StatusBadRequest, "a project token needs its organization"}
	}
	if req.Organization != "" {
		org, role, err := c.store.OrgRole(ctx, req.Organization, c.p.User.ID)
		if err != nil || (role == "" && !c.p.User.IsSuperuser) {
			return nil, &httpError{http.StatusBadRequest, "no such organization: " + req.Organization}
		}
		nt.OrgID = org.ID
		if req.Project != "" {
			p, err := c.store.OrgProject(ctx, org.ID, req.Project)
			if err != nil {
				return nil, &httpError{http.StatusBadRequest, "no such project: " + req.Project}
			}
			nt.ProjectID = p.ID
		}
	}
	t, tok, err := c.store.CreateToken(ctx, nt)
	if err != nil {
		return nil, err
	}
	m := tokenJSON(t)
	m.Token = tok
	return m, nil
}

func (a *API) revokeToken(c *call) (any, error) {
	id, err := strconv.ParseInt(c.param("token_id"), 10, 64)
	if err != nil {
		return nil, errNotFound
	}
	return nil, c.store.RevokeToken(c.r.Context(), c.p.User.ID, id)
}

// ApiToken is an API token as Sentry answers it; Token only when created.
type ApiToken struct {
	ID                  string     `json:"id"`
	Name                string     `json:"name"`
	Scopes              []string   `json:"scopes"`
	DateCreated         time.Time  `json:"dateCreated"`
	ExpiresAt           *time.Time `json:"expiresAt"`
	LastUsedAt          *time.Time `json:"lastUsedAt"`
	TokenLastCharacters string     `json:"tokenLastCharacters"`
	Organization        *string    `json:"organization"`
	Project             *string    `json:"project"`
	Token               string     `json:"token,omitempty"`
}

func tokenJSON(t *accounts.Token) ApiToken {
	return ApiToken{ID: idString(t.ID), Name: t.Name, Scopes: t.Scopes, DateCreated: t.CreatedAt, ExpiresAt: t.ExpiresAt,
		LastUsedAt: t.LastUsedAt, TokenLastCharacters: t.LastChars, Organization: strOrNil(t.OrgSlug), Project: strOrNil(t.Project)}
}
