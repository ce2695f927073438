package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
)

// ProjectSettings are Sentry's project settings, under Sentry's names. They
// are stored as the fields changed from DefaultProjectSettings, so a new
// default reaches every project that never changed it.
type ProjectSettings struct {
	// ResolveAge resolves issues that have had no event for this many
	// hours (0: never); the api role's auto-resolve sweep acts on it.
	ResolveAge       int            `json:"resolveAge"`
	DigestsMinDelay  int            `json:"digestsMinDelay"` // seconds
	DigestsMaxDelay  int            `json:"digestsMaxDelay"` // seconds
	ScrapeJavaScript bool           `json:"scrapeJavaScript"`
	VerifySSL        bool           `json:"verifySSL"`
	Options          map[string]any `json:"options"`
}

// DefaultProjectSettings are Sentry's defaults.
var DefaultProjectSettings = ProjectSettings{DigestsMinDelay: 300, DigestsMaxDelay: 1800, ScrapeJavaScript: true,
	Options: map[string]any{}}

// SettingsUpdate holds the settings to change; nil leaves one as it is.
type SettingsUpdate struct {
	ResolveAge, DigestsMinDelay, DigestsMaxDelay *int
	ScrapeJavaScript, VerifySSL                  *bool
	Options                                      map[string]any
	SecurityToken                                *string
}

// Limits, as Sentry's project serializer sets them.
const (
	maxResolveAge  = 720 // hours
	minDigestDelay = 60  // seconds
	maxDigestDelay = 3600
	maxOptions     = 100
	maxOptionsJSON = 16 << 10
)

var securityTokenRE = regexp.MustCompile(`^[A-Za-z0-9]{1,255}$`)

// patch is the JSON object of the settings to change, nil when none is;
// cur are the settings now, to check the digest delays against each other.
func (u SettingsUpdate) patch(cur ProjectSettings) ([]byte, error) {
	p := map[string]any{}
	if u.ResolveAge != nil {
		if *u.ResolveAge < 0 || *u.ResolveAge > maxResolveAge {
			return nil, fmt.Errorf("%w: resolveAge: want 0 (never) to %d hours", ErrInvalid, maxResolveAge)
		}
		p["resolveAge"] = *u.ResolveAge
	}
	lo, hi := cur.DigestsMinDelay, cur.DigestsMaxDelay
	for name, v := range map[string]*int{"digestsMinDelay": u.DigestsMinDelay, "digestsMaxDelay": u.DigestsMaxDelay} {
		if v == nil {
			continue
		}
		if *v < minDigestDelay || *v > maxDigestDelay {
			return nil, fmt.Errorf("%w: %s: want %d to %d seconds", ErrInvalid, name, minDigestDelay, maxDigestDelay)
		}
		p[name] = *v
	}
	if u.DigestsMinDelay != nil {
		lo = *u.DigestsMinDelay
	}
	if u.DigestsMaxDelay != nil {
		hi = *u.DigestsMaxDelay
	}
	if lo > hi {
		return nil, fmt.Errorf("%w: digestsMinDelay cannot exceed digestsMaxDelay", ErrInvalid)
	}
	for name, v := range map[string]*bool{"scrapeJavaScript": u.ScrapeJavaScript, "verifySSL": u.VerifySSL} {
		if v != nil {
			p[name] = *v
		}
	}
	if u.Options != nil {
		b, err := json.Marshal(u.Options)
		if err != nil || len(u.Options) > maxOptions || len(b) > maxOptionsJSON {
			return nil, fmt.Errorf("%w: options: at most %d keys and %d bytes of JSON", ErrInvalid, maxOptions, maxOptionsJSON)
		}
		for k := range u.Options {
			if k == "" || len(k) > 200 {
				return nil, fmt.Errorf("%w: options: key %q", ErrInvalid, clipName(k))
			}
		}
		merged := map[string]any{} // each option given is set; the others stay, as Sentry does
		maps.Copy(merged, cur.Options)
		maps.Copy(merged, u.Options)
		if err := checkFilterOptions(merged); err != nil {
			return nil, err
		}
		p["options"] = merged
	}
	if len(p) == 0 {
		return nil, nil
	}
	return json.Marshal(p)
}

// projectSettings reads a stored api.projects.settings over the defaults.
func projectSettings(b []byte) (ProjectSettings, error) {
	s := DefaultProjectSettings
	s.Options = map[string]any{}
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read project settings: %w", err)
	}
	if s.Options == nil {
		s.Options = map[string]any{}
	}
	return s, nil
}

// SetBookmark bookmarks a project for a user, or removes the bookmark.
func (s *Store) SetBookmark(ctx context.Context, userID, projectID int64, on bool) error {
	sql := `INSERT INTO api.project_bookmarks (user_id, project_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`
	if !on {
		sql = `DELETE FROM api.project_bookmarks WHERE user_id = $1 AND project_id = $2`
	}
	if _, err := s.pool.Exec(ctx, sql, userID, projectID); err != nil {
		return fmt.Errorf("bookmark: %w", err)
	}
	return nil
}

// Bookmarked returns which of a user's projects they bookmarked.
func (s *Store) Bookmarked(ctx context.Context, userID int64) (map[int64]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT project_id FROM api.project_bookmarks WHERE user_id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("bookmarks: %w", err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// AutoResolveProjects are the projects with a resolveAge, in hours.
func (s *Store) AutoResolveProjects(ctx context.Context) (map[int64]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, (settings->>'resolveAge')::int FROM api.projects
		WHERE (settings->>'resolveAge')::int > 0`)
	if err != nil {
		return nil, fmt.Errorf("auto-resolve projects: %w", err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var hours int
		if err := rows.Scan(&id, &hours); err != nil {
			return nil, err
		}
		out[id] = hours
	}
	return out, rows.Err()
}
