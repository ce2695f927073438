package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Releases as the dashboard reads them (the REST API writes them through
// its own routes): a release of an organisation, the projects it belongs
// to, its deploys and the commits sentry-cli stored with it.

// ReleaseSummary is one release with what its list shows.
type ReleaseSummary struct {
	ID           int64
	Version      string
	Ref, URL     string
	DateCreated  time.Time
	DateReleased *time.Time
	CommitCount  int
	DeployCount  int
	LastDeploy   *Deploy // nil: never deployed
	ProjectIDs   []int64
}

// Deploy is one deploy of a release.
type Deploy struct {
	Environment  string
	Name, URL    string
	DateStarted  *time.Time
	DateFinished time.Time
}

// Commit is one commit stored with a release, as sentry-cli sent it.
type Commit struct {
	ID         string `json:"id"`
	Repository string `json:"repository"`
	Message    string `json:"message"`
	AuthorName string `json:"author_name"`
	Timestamp  string `json:"timestamp"`
}

// ReleaseDetail is a release with its deploys and commits.
type ReleaseDetail struct {
	ReleaseSummary
	Deploys []Deploy // newest first
	Commits []Commit
}

const releaseSummaryColumns = `r.id, r.version, r.ref, r.url, r.date_created, r.date_released, jsonb_array_length(r.commits),
	(SELECT count(*) FROM api.deploys d WHERE d.release_id = r.id),
	(SELECT ARRAY[d.environment, d.name, d.url] FROM api.deploys d WHERE d.release_id = r.id
		ORDER BY d.date_finished DESC, d.id DESC LIMIT 1),
	(SELECT max(d.date_finished) FROM api.deploys d WHERE d.release_id = r.id),
	ARRAY(SELECT rp.project_id FROM api.release_projects rp WHERE rp.release_id = r.id ORDER BY rp.project_id)`

func scanReleaseSummary(row pgx.Row) (*ReleaseSummary, error) {
	var r ReleaseSummary
	var last []string
	var lastAt *time.Time
	if err := row.Scan(&r.ID, &r.Version, &r.Ref, &r.URL, &r.DateCreated, &r.DateReleased, &r.CommitCount, &r.DeployCount,
		&last, &lastAt, &r.ProjectIDs); err != nil {
		return nil, err
	}
	if len(last) == 3 && lastAt != nil {
		r.LastDeploy = &Deploy{Environment: last[0], Name: last[1], URL: last[2], DateFinished: *lastAt}
	}
	return &r, nil
}

// Releases lists the releases of org that belong to one of projects, newest
// first, at most limit.
func (s *Store) Releases(ctx context.Context, orgID int64, projects []int64, limit int) ([]*ReleaseSummary, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+releaseSummaryColumns+` FROM api.releases r
		WHERE r.org_id = $1 AND EXISTS (SELECT 1 FROM api.release_projects rp WHERE rp.release_id = r.id AND rp.project_id = ANY($2))
		ORDER BY r.date_created DESC, r.id DESC LIMIT $3`, orgID, projects, limit)
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	defer rows.Close()
	var out []*ReleaseSummary
	for rows.Next() {
		r, err := scanReleaseSummary(rows)
		if err != nil {
			return nil, fmt.Errorf("list releases: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Release reads org's release version with its deploys and commits; nil
// when org has none of that version.
func (s *Store) Release(ctx context.Context, orgID int64, version string) (*ReleaseDetail, error) {
	sum, err := scanReleaseSummary(s.pool.QueryRow(ctx, `SELECT `+releaseSummaryColumns+` FROM api.releases r
		WHERE r.org_id = $1 AND r.version = $2`, orgID, version))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	d := &ReleaseDetail{ReleaseSummary: *sum}
	rows, err := s.pool.Query(ctx, `SELECT environment, name, url, date_started, date_finished FROM api.deploys
		WHERE release_id = $1 ORDER BY date_finished DESC, id DESC LIMIT 100`, sum.ID)
	if err != nil {
		return nil, fmt.Errorf("release deploys: %w", err)
	}
	d.Deploys, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Deploy, error) {
		var dp Deploy
		err := row.Scan(&dp.Environment, &dp.Name, &dp.URL, &dp.DateStarted, &dp.DateFinished)
		return dp, err
	})
	if err != nil {
		return nil, fmt.Errorf("release deploys: %w", err)
	}
	var commits []byte
	if err := s.pool.QueryRow(ctx, `SELECT commits FROM api.releases WHERE id = $1`, sum.ID).Scan(&commits); err != nil {
		return nil, fmt.Errorf("release commits: %w", err)
	}
	// Commits are stored as sent: a field of another type is left out
	// rather than failing the page.
	var raw []json.RawMessage
	if json.Unmarshal(commits, &raw) == nil {
		for _, c := range raw {
			var cm Commit
			if json.Unmarshal(c, &cm) == nil {
				d.Commits = append(d.Commits, cm)
			}
		}
	}
	return d, nil
}
