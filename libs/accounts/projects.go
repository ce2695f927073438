// Package accounts owns accounts and tenancy (schema api): users, sessions,
// API tokens, organisations, members, teams, projects and their DSN keys,
// and what people do with them (sign-in within limits, passwords,
// invitations and their mail: service.go). It keeps the gateway's key
// bucket in step with the keys (keysync.go). The REST API (services/api)
// and the dashboard (services/web) are two HTTP layers over it; the
// authenticator (auth.go) resolves who is asking for both.
package accounts

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/libs/projectkeys"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations are the api service's schema migrations.
var Migrations = pg.Migrations{Service: "api", FS: migrationsFS, Dir: "migrations"}

// Store reads and writes the api schema.
type Store struct {
	pool      *pgxpool.Pool
	publicURL string
	decisions *decide.Publisher
}

// SetDecisions gives the store the publisher it records people's decisions
// with (without one, they are refused with decide.ErrNoPublisher).
func (s *Store) SetDecisions(d *decide.Publisher) { s.decisions = d }

// Decisions is the store's decisions publisher, nil when it has none.
func (s *Store) Decisions() *decide.Publisher { return s.decisions }

// Pool is the store's database, for the read models over other schemas
// that share it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// NewStore returns a store; publicURL builds DSNs.
func NewStore(pool *pgxpool.Pool, publicURL string) *Store {
	return &Store{pool: pool, publicURL: publicURL}
}

// Project is a project with its organisation and keys.
type Project struct {
	ID        int64
	OrgSlug   string
	Slug      string
	Name      string
	CreatedAt time.Time
	Keys      []ProjectKey
}

// ProjectKey is a DSN key.
type ProjectKey struct {
	ID                 int64
	PublicKey          string
	Label              string
	Disabled           bool
	RateLimitPerMinute int64
	RateLimitPerHour   int64
	// RateLimitCount events per RateLimitWindow seconds is Sentry's key
	// rate limit; 0 is none.
	RateLimitCount    int64
	RateLimitWindow   int64
	SecretKey         string // the secret half of the legacy DSN form
	BrowserSDKVersion string // the JavaScript loader's SDK version: "latest" or "8.x"
	LoaderOptions     LoaderOptions
	DSN               string
	ProjectID         int64     // set by the key routes
	CreatedAt         time.Time // set by the key routes
}

// SentryRateLimit is the key's limit as Sentry shows it: its {count,
// window}, else its per-minute limit over 60 s, else its per-hour limit
// over 3600 s; a zero count when it has none.
func (k *ProjectKey) SentryRateLimit() projectkeys.RateLimit {
	switch {
	case k.RateLimitCount > 0 && k.RateLimitWindow > 0:
		return projectkeys.RateLimit{Count: k.RateLimitCount, Window: k.RateLimitWindow}
	case k.RateLimitPerMinute > 0:
		return projectkeys.RateLimit{Count: k.RateLimitPerMinute, Window: 60}
	case k.RateLimitPerHour > 0:
		return projectkeys.RateLimit{Count: k.RateLimitPerHour, Window: 3600}
	}
	return projectkeys.RateLimit{}
}

var nonSlug = regexp.MustCompile(`[^a-z0-9_-]+`)

// Slugify turns a name into a slug: lower case, dashes for runs of other
// characters, at most 50 characters.
func Slugify(name string) string {
	s := strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(strings.TrimSpace(name)), "-"), "-_")
	if len(s) > 50 {
		s = strings.TrimRight(s[:50], "-_")
	}
	return s
}

// ErrInvalid is returned for names that make no slug.
var ErrInvalid = errors.New("invalid name")

// CreateProject creates the organisation orgSlug when missing, the project
// name in it, and a default DSN key. Creating a project that exists returns it
// unchanged with its keys, so the command is safe to repeat.
func (s *Store) CreateProject(ctx context.Context, orgSlug, name string) (*Project, error) {
	org := Slugify(orgSlug)
	slug := Slugify(name)
	if org == "" || slug == "" {
		return nil, fmt.Errorf("%w: organisation %q and project %q need letters or digits", ErrInvalid, orgSlug, name)
	}
	var projectID int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var orgID int64
		if err := tx.QueryRow(ctx, `
			INSERT INTO api.organizations (slug, name) VALUES ($1, $2)
			ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug
			RETURNING id`, org, orgSlug).Scan(&orgID); err != nil {
			return fmt.Errorf("create organisation %q: %w", org, err)
		}
		var created bool
		if err := tx.QueryRow(ctx, `
			INSERT INTO api.projects (organization_id, slug, name) VALUES ($1, $2, $3)
			ON CONFLICT (organization_id, slug) DO UPDATE SET slug = EXCLUDED.slug
			RETURNING id, (xmax = 0)`, orgID, slug, name).Scan(&projectID, &created); err != nil {
			return fmt.Errorf("create project %q: %w", slug, err)
		}
		if !created {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO api.project_keys (project_id, public_key) VALUES ($1, $2)`, projectID, NewPublicKey())
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Project(ctx, projectID)
}

// NewPublicKey returns a random 32-hex-digit DSN public key.
func NewPublicKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Project returns one project with its keys.
func (s *Store) Project(ctx context.Context, id int64) (*Project, error) {
	ps, err := s.projects(ctx, `WHERE p.id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, pgx.ErrNoRows
	}
	return ps[0], nil
}

// Projects lists every project with its keys, by organisation and slug.
func (s *Store) Projects(ctx context.Context) ([]*Project, error) {
	return s.projects(ctx, ``)
}

func (s *Store) projects(ctx context.Context, where string, args ...any) ([]*Project, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT p.id, o.slug, p.slug, p.name, p.created_at,
		       k.id, k.public_key, k.label, k.disabled, k.rate_limit_per_minute, k.rate_limit_per_hour
		FROM api.projects p
		JOIN api.organizations o ON o.id = p.organization_id
		LEFT JOIN api.project_keys k ON k.project_id = p.id
		`+where+`
		ORDER BY o.slug, p.slug, k.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	var out []*Project
	for rows.Next() {
		var p Project
		var kid *int64
		var k ProjectKey
		var pk, label *string
		var disabled *bool
		var perMin, perHour *int64
		if err := rows.Scan(&p.ID, &p.OrgSlug, &p.Slug, &p.Name, &p.CreatedAt, &kid, &pk, &label, &disabled, &perMin, &perHour); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ID != p.ID {
			out = append(out, &p)
		}
		if kid != nil {
			k.ID, k.PublicKey, k.Label, k.Disabled, k.RateLimitPerMinute, k.RateLimitPerHour = *kid, *pk, *label, *disabled, *perMin, *perHour
			k.DSN = DSN(s.publicURL, k.PublicKey, p.ID)
			last := out[len(out)-1]
			last.Keys = append(last.Keys, k)
		}
	}
	return out, rows.Err()
}

// DSN builds the DSN SDKs are configured with:
// scheme://public_key@host[:port][/path]/project_id.
func DSN(publicURL, publicKey string, projectID int64) string {
	return projectkeys.DSN(publicURL, publicKey, projectID)
}
