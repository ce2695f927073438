package issues

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// StatsPoint is the number of events received in the bucket starting at
// Time.
type StatsPoint struct {
	Time  time.Time
	Count int64
}

// statsBuckets returns the bucket width and count of a period: "24h" is 24
// hourly buckets, "14d" and "30d" daily ones ("" means 24h).
func statsBuckets(period string) (time.Duration, int, error) {
	switch period {
	case "", "24h", "1d":
		return time.Hour, 24, nil
	case "7d":
		return 24 * time.Hour, 7, nil
	case "14d":
		return 24 * time.Hour, 14, nil
	case "30d":
		return 24 * time.Hour, 30, nil
	case "90d":
		return 24 * time.Hour, 90, nil
	}
	return 0, 0, fmt.Errorf("%w: statsPeriod: want 24h, 7d, 14d, 30d or 90d, not %q", ErrInvalid, clipForError(period))
}

// ValidStatsPeriod reports whether period is one the stats accept.
func ValidStatsPeriod(period string) bool { _, _, err := statsBuckets(period); return err == nil }

// counts groups events by owner (issue or project) into the period's
// buckets, ending with the bucket that holds now.
func (s *Store) counts(ctx context.Context, col string, owners []int64, period string) (map[int64][]StatsPoint, error) {
	width, n, err := statsBuckets(period)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	start := now.Truncate(width).Add(-time.Duration(n-1) * width)
	out := make(map[int64][]StatsPoint, len(owners))
	for _, o := range owners {
		pts := make([]StatsPoint, n)
		for i := range pts {
			pts[i].Time = start.Add(time.Duration(i) * width)
		}
		out[o] = pts
	}
	if len(owners) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+col+`, floor(extract(epoch FROM received - $2::timestamptz) / $3)::int AS bucket, count(*)
		FROM grouping.events WHERE `+col+` = ANY($1) AND received >= $2 GROUP BY 1, 2`, owners, start, width.Seconds())
	if err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var owner, count int64
		var bucket int
		if err := rows.Scan(&owner, &bucket, &count); err != nil {
			return nil, fmt.Errorf("count events: %w", err)
		}
		if pts := out[owner]; bucket >= 0 && bucket < len(pts) {
			pts[bucket].Count += count
		}
	}
	return out, rows.Err()
}

// IssueStats counts issueID's events over period ("24h": hourly, "30d":
// daily), oldest bucket first.
func (s *Store) IssueStats(ctx context.Context, issueID int64, period string) ([]StatsPoint, error) {
	m, err := s.counts(ctx, "issue_id", []int64{issueID}, period)
	return m[issueID], err
}

// IssuesStats is IssueStats for several issues in one query.
func (s *Store) IssuesStats(ctx context.Context, issueIDs []int64, period string) (map[int64][]StatsPoint, error) {
	return s.counts(ctx, "issue_id", issueIDs, period)
}

// ProjectStats counts projectID's grouped events over period.
func (s *Store) ProjectStats(ctx context.Context, projectID int64, period string) ([]StatsPoint, error) {
	m, err := s.counts(ctx, "project_id", []int64{projectID}, period)
	return m[projectID], err
}

// ProjectsStats is ProjectStats for several projects in one query.
func (s *Store) ProjectsStats(ctx context.Context, projectIDs []int64, period string) (map[int64][]StatsPoint, error) {
	return s.counts(ctx, "project_id", projectIDs, period)
}

// NewIssueCounts counts, per project, the issues first seen at or after
// since.
func (s *Store) NewIssueCounts(ctx context.Context, projectIDs []int64, since time.Time) (map[int64]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT project_id, count(*) FROM grouping.issues
		WHERE project_id = ANY($1) AND first_seen >= $2 GROUP BY project_id`, projectIDs, since)
	if err != nil {
		return nil, fmt.Errorf("count new issues: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]int64, len(projectIDs))
	for _, p := range projectIDs {
		out[p] = 0
	}
	for rows.Next() {
		var p, n int64
		if err := rows.Scan(&p, &n); err != nil {
			return nil, fmt.Errorf("count new issues: %w", err)
		}
		out[p] = n
	}
	return out, rows.Err()
}

// NewIssuesByRelease counts, per release of releases, the issues of
// projectIDs first seen in it.
func (s *Store) NewIssuesByRelease(ctx context.Context, projectIDs []int64, releases []string) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT first_release, count(*) FROM grouping.issues
		WHERE project_id = ANY($1) AND first_release = ANY($2) GROUP BY first_release`, projectIDs, releases)
	if err != nil {
		return nil, fmt.Errorf("count new issues by release: %w", err)
	}
	defer rows.Close()
	out := make(map[string]int64, len(releases))
	for rows.Next() {
		var r string
		var n int64
		if err := rows.Scan(&r, &n); err != nil {
			return nil, fmt.Errorf("count new issues by release: %w", err)
		}
		out[r] = n
	}
	return out, rows.Err()
}

// ReleaseNewIssues lists the issues of projectIDs first seen in release,
// most recently seen first, at most limit.
func (s *Store) ReleaseNewIssues(ctx context.Context, projectIDs []int64, release string, limit int) ([]*Issue, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+issueColumns+` FROM grouping.issues i
		WHERE i.project_id = ANY($1) AND i.first_release = $2 ORDER BY i.last_seen DESC, i.id DESC LIMIT $3`, projectIDs, release, limit)
	if err != nil {
		return nil, fmt.Errorf("new issues of release: %w", err)
	}
	defer rows.Close()
	var out []*Issue
	for rows.Next() {
		is, err := scanIssue(rows)
		if err != nil {
			return nil, fmt.Errorf("new issues of release: %w", err)
		}
		out = append(out, is)
	}
	return out, rows.Err()
}

// ReleaseProjects lists the projects of projectIDs with an issue first or
// last seen in release: the projects of a release events named but no one
// recorded.
func (s *Store) ReleaseProjects(ctx context.Context, projectIDs []int64, release string) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT project_id FROM grouping.issues
		WHERE project_id = ANY($1) AND (first_release = $2 OR last_release = $2) ORDER BY project_id`, projectIDs, release)
	if err != nil {
		return nil, fmt.Errorf("projects of release: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
