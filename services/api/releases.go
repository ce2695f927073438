package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/streams"
)

// Releases and their deploys, as sentry-cli (releases new, finalize,
// set-commits, deploys new) and the dashboard use them.

func (a *API) releaseRoutes() []route {
	const rel = "/api/0/organizations/{org}/releases/"
	const prel = "/api/0/projects/{org}/{project}/releases/"
	return []route{
		{"GET", rel, "List an organisation's releases", user, accounts.LevelRead, 200, "", "[]Release", a.listReleases},
		{"GET", "/api/0/projects/{org}/{project}/releases/", "List a project's releases", user, accounts.LevelRead, 200, "", "[]Release", a.listReleases},
		{"POST", rel, "Create a release (or add projects to an existing one)", user, accounts.LevelWrite, 201, "NewRelease", "Release", a.createRelease},
		{"POST", "/api/0/projects/{org}/{project}/releases/", "Create a release of the project (sentry-cli 2.x's releases new with a project)", user, accounts.LevelWrite, 201, "NewRelease", "Release", a.createRelease},
		{"GET", rel + "{version}/", "Retrieve a release", user, accounts.LevelRead, 200, "", "Release", a.getRelease},
		{"PUT", rel + "{version}/", "Update a release: finalize it (dateReleased), set its ref, url or commits", user, accounts.LevelWrite, 200, "ReleaseUpdate", "Release", a.updateRelease},
		{"GET", prel + "{version}/", "Retrieve a release of the project", user, accounts.LevelRead, 200, "", "Release", a.getRelease},
		{"PUT", prel + "{version}/", "Update a release of the project (sentry-cli 2.x's releases finalize with a project)", user, accounts.LevelWrite, 200, "ReleaseUpdate", "Release", a.updateRelease},
		{"DELETE", rel + "{version}/", "Delete a release, and its source maps", user, accounts.LevelWrite, 204, "", "", a.deleteRelease},
		{"DELETE", prel + "{version}/", "Delete a release of the project, and its source maps (sentry-cli 2.x's releases delete with a project)", user, accounts.LevelWrite, 204, "", "", a.deleteRelease},
		{"GET", rel + "{version}/deploys/", "List a release's deploys", user, accounts.LevelRead, 200, "", "[]Deploy", a.listDeploys},
		{"POST", rel + "{version}/deploys/", "Record a deploy of a release", user, accounts.LevelWrite, 201, "NewDeploy", "Deploy", a.createDeploy},
	}
}

// Release is a release as Sentry shows it.
type Release struct {
	Version      string           `json:"version"`
	ShortVersion string           `json:"shortVersion"`
	Ref          *string          `json:"ref"`
	URL          *string          `json:"url"`
	DateCreated  time.Time        `json:"dateCreated"`
	DateReleased *time.Time       `json:"dateReleased"`
	Projects     []ReleaseProject `json:"projects"`
	CommitCount  int              `json:"commitCount"`
	DeployCount  int              `json:"deployCount"`
	NewGroups    int              `json:"newGroups"`
}

// ReleaseProject is a project a release belongs to.
type ReleaseProject struct {
	ID         int64       `json:"id"`
	Slug       string      `json:"slug"`
	Name       string      `json:"name"`
	HealthData *HealthData `json:"healthData,omitempty"` // with health=1 and ClickHouse (release_health.go)
}

// NewRelease creates a release.
type NewRelease struct {
	Version      string            `json:"version"`
	Ref          string            `json:"ref"`
	URL          string            `json:"url"`
	Projects     []slugOrID        `json:"projects"` // slugs, or ids as sentry-cli sends a numeric SENTRY_PROJECT
	DateReleased *time.Time        `json:"dateReleased"`
	Commits      []json.RawMessage `json:"commits"`
}

// slugOrID is a project named by its slug (a JSON string) or its id (a
// string or a number).
type slugOrID string

func (s *slugOrID) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*s = slugOrID(n.String())
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return errors.New("want a project slug or id")
	}
	*s = slugOrID(v)
	return nil
}

// ReleaseUpdate changes a release; absent fields stay.
type ReleaseUpdate struct {
	Ref          *string           `json:"ref"`
	URL          *string           `json:"url"`
	DateReleased *time.Time        `json:"dateReleased"`
	Commits      []json.RawMessage `json:"commits"`
	Refs         []json.RawMessage `json:"refs"` // set-commits --auto: kept with no repository integration
}

// Deploy is one deploy of a release.
type Deploy struct {
	ID           string     `json:"id"`
	Environment  string     `json:"environment"`
	Name         *string    `json:"name"`
	URL          *string    `json:"url"`
	DateStarted  *time.Time `json:"dateStarted"`
	DateFinished time.Time  `json:"dateFinished"`
}

// NewDeploy records a deploy.
type NewDeploy struct {
	Environment  string     `json:"environment"`
	Name         string     `json:"name"`
	URL          string     `json:"url"`
	DateStarted  *time.Time `json:"dateStarted"`
	DateFinished *time.Time `json:"dateFinished"`
}

const maxCommits = 10000

func validVersion(v string) error {
	if v == "" || len(v) > 200 || strings.ContainsAny(v, "\n\r\t/\\") || v == "." || v == ".." || v == "latest" {
		return &httpError{http.StatusBadRequest, "version: want 1 to 200 characters, no slash, newline or tab, not . .. or latest"}
	}
	return nil
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

const releaseColumns = `r.id, r.version, r.ref, r.url, r.date_created, r.date_released, jsonb_array_length(r.commits),
	(SELECT count(*) FROM api.deploys d WHERE d.release_id = r.id),
	COALESCE((SELECT json_agg(json_build_object('id', p.id, 'slug', p.slug, 'name', p.name) ORDER BY p.slug)
		FROM api.release_projects rp JOIN api.projects p ON p.id = rp.project_id WHERE rp.release_id = r.id), '[]')`

func scanRelease(row pgx.Row) (int64, *Release, error) {
	var (
		id       int64
		r        Release
		ref, url string
		projects []byte
	)
	err := row.Scan(&id, &r.Version, &ref, &url, &r.DateCreated, &r.DateReleased, &r.CommitCount, &r.DeployCount, &projects)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, errNotFound
	}
	if err != nil {
		return 0, nil, err
	}
	r.Ref, r.URL = nullIfEmpty(ref), nullIfEmpty(url)
	r.ShortVersion = r.Version
	if len(r.ShortVersion) > 12 && isHex(r.ShortVersion) {
		r.ShortVersion = r.ShortVersion[:12]
	}
	if err := json.Unmarshal(projects, &r.Projects); err != nil {
		return 0, nil, err
	}
	return id, &r, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// release is the release the path names; on a project's route, only a
// release of that project.
func (c *call) release(ctx context.Context) (int64, *Release, error) {
	id, r, err := scanRelease(c.store.Pool().QueryRow(ctx, `SELECT `+releaseColumns+` FROM api.releases r
		WHERE r.org_id = $1 AND r.version = $2`, c.org.ID, c.param("version")))
	if err != nil || c.project == nil {
		return id, r, err
	}
	for _, p := range r.Projects {
		if p.ID == c.project.ID {
			return id, r, nil
		}
	}
	return 0, nil, errNotFound
}

func (a *API) listReleases(c *call) (any, error) {
	q := c.r.URL.Query()
	rs, err := page(c, func(limit, offset int) ([]*Release, error) {
		args := []any{c.org.ID, limit, offset}
		where := ""
		if s := q.Get("query"); s != "" {
			args = append(args, "%"+likeEscape(s)+"%")
			where += fmt.Sprintf(" AND r.version ILIKE $%d", len(args))
		}
		p := q.Get("project")
		if c.project != nil { // /api/0/projects/{org}/{project}/releases/
			p = idString(c.project.ID)
		}
		if p != "" {
			args = append(args, p)
			where += fmt.Sprintf(` AND EXISTS (SELECT 1 FROM api.release_projects rp JOIN api.projects p ON p.id = rp.project_id
				WHERE rp.release_id = r.id AND (p.id::text = $%d OR p.slug = $%[1]d))`, len(args))
		}
		rows, err := c.store.Pool().Query(c.r.Context(), `SELECT `+releaseColumns+` FROM api.releases r
			WHERE r.org_id = $1`+where+` ORDER BY r.date_created DESC, r.id DESC LIMIT $2 OFFSET $3`, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []*Release
		for rows.Next() {
			_, r, err := scanRelease(rows)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, rows.Err()
	})
	if err != nil || q.Get("health") != "1" {
		return rs, err
	}
	return rs, a.addHealth(c, rs)
}

func (a *API) createRelease(c *call) (any, error) {
	var req NewRelease
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := validVersion(req.Version); err != nil {
		return nil, err
	}
	if c.project != nil { // /api/0/projects/{org}/{project}/releases/: the path names it
		req.Projects = append(req.Projects, slugOrID(c.project.Slug))
	}
	if len(req.Projects) == 0 {
		return nil, &httpError{http.StatusBadRequest, "projects: at least one project slug is required"}
	}
	if len(req.Commits) > maxCommits {
		return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("commits: at most %d", maxCommits)}
	}
	ctx := c.r.Context()
	var ids []int64
	for _, ref := range req.Projects {
		slug := string(ref)
		p, err := c.store.OrgProject(ctx, c.org.ID, slug)
		if errors.Is(err, accounts.ErrNotFound) {
			return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("projects: no project %q in this organization", slug)}
		}
		if err != nil {
			return nil, err
		}
		ids = append(ids, p.ID)
	}
	commits, err := json.Marshal(orEmpty(req.Commits))
	if err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, c.store.Pool(), func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO api.releases (org_id, version, ref, url, date_released, commits)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (org_id, version) DO UPDATE SET
				ref = CASE WHEN EXCLUDED.ref <> '' THEN EXCLUDED.ref ELSE api.releases.ref END,
				url = CASE WHEN EXCLUDED.url <> '' THEN EXCLUDED.url ELSE api.releases.url END,
				date_released = COALESCE(EXCLUDED.date_released, api.releases.date_released)
			RETURNING id`, c.org.ID, req.Version, req.Ref, req.URL, req.DateReleased, commits).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO api.release_projects (release_id, project_id)
			SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING`, id, ids)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create release: %w", err)
	}
	_, r, err := scanRelease(c.store.Pool().QueryRow(ctx, `SELECT `+releaseColumns+` FROM api.releases r
		WHERE r.org_id = $1 AND r.version = $2`, c.org.ID, req.Version))
	return r, err
}

func orEmpty(l []json.RawMessage) []json.RawMessage {
	if l == nil {
		return []json.RawMessage{}
	}
	return l
}

func (a *API) getRelease(c *call) (any, error) {
	_, r, err := c.release(c.r.Context())
	return r, err
}

func (a *API) updateRelease(c *call) (any, error) {
	var req ReleaseUpdate
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if len(req.Commits) > maxCommits {
		return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("commits: at most %d", maxCommits)}
	}
	ctx := c.r.Context()
	id, _, err := c.release(ctx)
	if err != nil {
		return nil, err
	}
	var commits []byte
	if req.Commits != nil {
		if commits, err = json.Marshal(req.Commits); err != nil {
			return nil, err
		}
	}
	if _, err := c.store.Pool().Exec(ctx, `UPDATE api.releases SET ref = COALESCE($2, ref), url = COALESCE($3, url),
		date_released = COALESCE($4, date_released), commits = COALESCE($5::jsonb, commits) WHERE id = $1`,
		id, req.Ref, req.URL, req.DateReleased, commits); err != nil {
		return nil, fmt.Errorf("update release: %w", err)
	}
	_, r, err := c.release(ctx)
	return r, err
}

func (a *API) deleteRelease(c *call) (any, error) {
	ctx := c.r.Context()
	id, rel, err := c.release(ctx)
	if err != nil {
		return nil, err
	}
	// The release's source maps go with it: the sourcemaps role drops its
	// files, and the objects no other file refers to.
	if u := a.uploads.Load(); u != nil && len(rel.Projects) > 0 {
		cmd := streams.DeleteCommand{OrgID: c.org.ID, Release: rel.Version, At: time.Now().UTC()}
		for _, p := range rel.Projects {
			cmd.ProjectIDs = append(cmd.ProjectIDs, p.ID)
		}
		if err := publishDelete(ctx, u, &cmd); err != nil {
			return nil, err
		}
	}
	_, err = c.store.Pool().Exec(ctx, `DELETE FROM api.releases WHERE id = $1`, id)
	return nil, err
}

func (a *API) listDeploys(c *call) (any, error) {
	ctx := c.r.Context()
	id, _, err := c.release(ctx)
	if err != nil {
		return nil, err
	}
	return page(c, func(limit, offset int) ([]*Deploy, error) {
		rows, err := c.store.Pool().Query(ctx, `SELECT id, environment, name, url, date_started, date_finished
			FROM api.deploys WHERE release_id = $1 ORDER BY date_finished DESC, id DESC LIMIT $2 OFFSET $3`, id, limit, offset)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, scanDeploy)
	})
}

func scanDeploy(row pgx.CollectableRow) (*Deploy, error) {
	var (
		d         Deploy
		id        int64
		name, url string
	)
	err := row.Scan(&id, &d.Environment, &name, &url, &d.DateStarted, &d.DateFinished)
	d.ID, d.Name, d.URL = fmt.Sprint(id), nullIfEmpty(name), nullIfEmpty(url)
	return &d, err
}

func (a *API) createDeploy(c *call) (any, error) {
	var req NewDeploy
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.Environment == "" || len(req.Environment) > 64 || len(req.Name) > 200 || len(req.URL) > 2000 {
		return nil, &httpError{http.StatusBadRequest, "environment: required, at most 64 characters (name 200, url 2000)"}
	}
	ctx := c.r.Context()
	id, _, err := c.release(ctx)
	if err != nil {
		return nil, err
	}
	finished := time.Now().UTC()
	if req.DateFinished != nil {
		finished = *req.DateFinished
	}
	rows, err := c.store.Pool().Query(ctx, `INSERT INTO api.deploys (release_id, environment, name, url, date_started, date_finished)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, environment, name, url, date_started, date_finished`,
		id, req.Environment, req.Name, req.URL, req.DateStarted, finished)
	if err != nil {
		return nil, fmt.Errorf("create deploy: %w", err)
	}
	return pgx.CollectExactlyOneRow(rows, scanDeploy)
}
