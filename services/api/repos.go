package api

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/faultline/faultline/libs/accounts"
)

// An organisation's repositories, named as sentry-cli releases set-commits
// names them (owner/name), added by name and URL without a code-host
// integration.

func (a *API) repoRoutes() []route {
	const repos = "/api/0/organizations/{org}/repos/"
	return []route{
		{"GET", repos, "List an organisation's repositories (query: by name)", user, accounts.LevelRead, 200, "", "[]Repository", a.listRepos},
		{"POST", repos, "Add a repository by name and URL", user, accounts.LevelWrite, 201, "NewRepository", "Repository", a.createRepo},
		{"DELETE", repos + "{repo_id}/", "Remove a repository", user, accounts.LevelWrite, 204, "", "", a.deleteRepo},
	}
}

// Repository is a repository as Sentry shows it.
type Repository struct {
	ID            string       `json:"id"`
	Name          string       `json:"name"`
	URL           *string      `json:"url"`
	Provider      RepoProvider `json:"provider"`
	Status        string       `json:"status"`
	DateCreated   time.Time    `json:"dateCreated"`
	IntegrationID *string      `json:"integrationId"`
	ExternalSlug  string       `json:"externalSlug"`
	ExternalID    *string      `json:"externalId"`
}

// RepoProvider names where a repository lives.
type RepoProvider struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// NewRepository adds a repository.
type NewRepository struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Provider string `json:"provider"`
}

const repoColumns = `id, name, url, provider, date_created`

func scanRepo(row pgx.CollectableRow) (*Repository, error) {
	var r Repository
	var id int64
	var u string
	if err := row.Scan(&id, &r.Name, &u, &r.Provider.ID, &r.DateCreated); err != nil {
		return nil, err
	}
	r.ID, r.Status, r.ExternalSlug = idString(id), "active", r.Name
	if u != "" {
		r.URL = &u
	}
	r.Provider.Name = "Custom"
	if name, ok := strings.CutPrefix(r.Provider.ID, "integrations:"); ok && name != "custom" {
		r.Provider.Name = name
	}
	return &r, nil
}

func (a *API) listRepos(c *call) (any, error) {
	q := c.r.URL.Query()
	if st := q.Get("status"); st != "" && st != "active" {
		return []*Repository{}, nil // none is hidden, disabled or being deleted
	}
	return page(c, func(limit, offset int) ([]*Repository, error) {
		rows, err := c.store.Pool().Query(c.r.Context(), `SELECT `+repoColumns+` FROM api.repositories
			WHERE org_id = $1 AND ($2 = '' OR name ILIKE '%' || $2 || '%') ORDER BY name, id LIMIT $3 OFFSET $4`,
			c.org.ID, likeEscape(q.Get("query")), limit, offset)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, scanRepo)
	})
}

func (a *API) createRepo(c *call) (any, error) {
	var req NewRepository
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 200 {
		return nil, &httpError{http.StatusBadRequest, "name: want the repository's name (owner/name), at most 200 characters"}
	}
	if req.URL != "" {
		u, err := url.Parse(req.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, &httpError{http.StatusBadRequest, "url: want an http(s) URL"}
		}
	}
	provider := "integrations:custom"
	if req.Provider != "" {
		provider = req.Provider
		if !strings.HasPrefix(provider, "integrations:") {
			provider = "integrations:" + provider
		}
		if len(provider) > 64 {
			return nil, &httpError{http.StatusBadRequest, "provider: at most 64 characters"}
		}
	}
	rows, err := c.store.Pool().Query(c.r.Context(), `INSERT INTO api.repositories (org_id, name, url, provider)
		VALUES ($1, $2, $3, $4) RETURNING `+repoColumns, c.org.ID, req.Name, req.URL, provider)
	if err != nil {
		return nil, err
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRepo)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return nil, &httpError{http.StatusConflict, fmt.Sprintf("a repository named %q exists", req.Name)}
	}
	return r, err
}

func (a *API) deleteRepo(c *call) (any, error) {
	tag, err := c.store.Pool().Exec(c.r.Context(), `DELETE FROM api.repositories WHERE org_id = $1 AND id::text = $2`,
		c.org.ID, c.param("repo_id"))
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return nil, errNotFound
	}
	return nil, nil
}

// likeEscape quotes LIKE's wildcards in s.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}

var repoSchemas = map[string]any{
	"Repository": obj([]string{"id", "name", "provider", "status"}, map[string]any{"id": str, "name": str, "url": nullStr,
		"provider": obj(nil, map[string]any{"id": str, "name": str}), "status": str, "dateCreated": dateTime,
		"integrationId": nullStr, "externalSlug": str, "externalId": nullStr}),
	"NewRepository": obj([]string{"name"}, map[string]any{"name": str, "url": str, "provider": str}),
	"Index": obj([]string{"version"}, map[string]any{"version": str,
		"auth": map[string]any{"type": []string{"object", "null"}, "properties": map[string]any{"scopes": strList}},
		"user": map[string]any{"type": []string{"object", "null"}}}),
}

func init() { maps.Copy(schemas, repoSchemas) }
