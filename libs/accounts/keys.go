package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/libs/projectkeys"
)

const keyColumns = `k.id, k.public_key, k.label, k.disabled, k.rate_limit_per_minute, k.rate_limit_per_hour,
	k.rate_limit_count, k.rate_limit_window, k.secret_key, k.browser_sdk_version, k.loader_options, k.project_id, k.created_at`

func (s *Store) scanKey(row pgx.Row) (*ProjectKey, error) {
	var k ProjectKey
	var loader []byte
	if err := row.Scan(&k.ID, &k.PublicKey, &k.Label, &k.Disabled, &k.RateLimitPerMinute, &k.RateLimitPerHour,
		&k.RateLimitCount, &k.RateLimitWindow, &k.SecretKey, &k.BrowserSDKVersion, &loader, &k.ProjectID, &k.CreatedAt); err != nil {
		return nil, notFound(err)
	}
	if err := json.Unmarshal(loader, &k.LoaderOptions); err != nil {
		return nil, fmt.Errorf("key %s: loader options: %w", k.PublicKey, err)
	}
	k.DSN = DSN(s.publicURL, k.PublicKey, k.ProjectID)
	return &k, nil
}

// LoaderOptions are what the JavaScript loader script loads beside the SDK
// (Sentry's dynamicSdkLoaderOptions).
type LoaderOptions struct {
	HasReplay      bool `json:"hasReplay"`
	HasPerformance bool `json:"hasPerformance"`
	HasDebug       bool `json:"hasDebug"`
}

// BrowserSDKVersions are the loader's SDK versions a key may choose, as
// Sentry offers them.
var BrowserSDKVersions = []string{"latest", "10.x", "9.x", "8.x", "7.x"}

// PublicURL is the URL DSNs are built from.
func (s *Store) PublicURL() string { return s.publicURL }

// Keys lists a project's DSN keys, oldest first; active selects by state
// when not nil.
func (s *Store) Keys(ctx context.Context, projectID int64, active *bool, limit, offset int) ([]*ProjectKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api.project_keys k
		WHERE k.project_id = $1 AND ($2::boolean IS NULL OR k.disabled <> $2) ORDER BY k.id LIMIT $3 OFFSET $4`,
		projectID, active, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return collect(rows, s.scanKey)
}

// Key returns a project's key by its public key.
func (s *Store) Key(ctx context.Context, projectID int64, publicKey string) (*ProjectKey, error) {
	return s.scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api.project_keys k WHERE k.project_id = $1 AND k.public_key = $2`,
		projectID, publicKey))
}

// KeyUpdate holds the fields to change; nil leaves one as it is. Zero rate
// limits mean none.
type KeyUpdate struct {
	Label              *string
	Disabled           *bool
	RateLimitPerMinute *int64
	RateLimitPerHour   *int64
	// RateLimit is Sentry's {count, window}; a zero count removes it.
	RateLimit         *projectkeys.RateLimit
	BrowserSDKVersion *string
	HasReplay         *bool // the loader options to change
	HasPerformance    *bool
	HasDebug          *bool
}

func (u *KeyUpdate) check() error {
	if u.Label != nil {
		l := strings.TrimSpace(*u.Label)
		if l == "" || len(l) > 64 {
			return fmt.Errorf("%w: a key name of 1 to 64 characters is required", ErrInvalid)
		}
		u.Label = &l
	}
	for _, n := range []*int64{u.RateLimitPerMinute, u.RateLimitPerHour} {
		if n != nil && (*n < 0 || *n > 1<<40) {
			return fmt.Errorf("%w: rate limit %d out of range", ErrInvalid, *n)
		}
	}
	if rl := u.RateLimit; rl != nil {
		switch {
		case rl.Count < 0 || rl.Count > 1<<40:
			return fmt.Errorf("%w: rateLimit.count: want 0 to %d", ErrInvalid, int64(1<<40))
		case rl.Count == 0:
			*rl = projectkeys.RateLimit{}
		case rl.Window < projectkeys.MinRateLimitWindow || rl.Window > projectkeys.MaxRateLimitWindow:
			return fmt.Errorf("%w: rateLimit.window: want %d to %d seconds", ErrInvalid, projectkeys.MinRateLimitWindow, projectkeys.MaxRateLimitWindow)
		}
	}
	if v := u.BrowserSDKVersion; v != nil && !slices.Contains(BrowserSDKVersions, *v) {
		return fmt.Errorf("%w: browserSdkVersion: want one of %s", ErrInvalid, strings.Join(BrowserSDKVersions, ", "))
	}
	return nil
}

// loaderPatch is the loader options u changes, as a JSON object merged into
// the stored ones.
func (u *KeyUpdate) loaderPatch() []byte {
	m := map[string]bool{}
	for name, v := range map[string]*bool{"hasReplay": u.HasReplay, "hasPerformance": u.HasPerformance, "hasDebug": u.HasDebug} {
		if v != nil {
			m[name] = *v
		}
	}
	b, _ := json.Marshal(m)
	return b
}

// rateLimit splits u's Sentry rate limit into its columns; nil leaves them.
func (u *KeyUpdate) rateLimit() (count, window *int64) {
	if u.RateLimit == nil {
		return nil, nil
	}
	return &u.RateLimit.Count, &u.RateLimit.Window
}

// CreateKey creates a DSN key; every change to keys reaches the gateway's
// bucket through the NOTIFY trigger and KeySync.
func (s *Store) CreateKey(ctx context.Context, projectID int64, u KeyUpdate) (*ProjectKey, error) {
	if u.Label == nil {
		def := "Default"
		u.Label = &def
	}
	if err := u.check(); err != nil {
		return nil, err
	}
	zero := int64(0)
	if u.RateLimitPerMinute == nil {
		u.RateLimitPerMinute = &zero
	}
	if u.RateLimitPerHour == nil {
		u.RateLimitPerHour = &zero
	}
	count, window := u.rateLimit()
	return s.scanKey(s.pool.QueryRow(ctx, `INSERT INTO api.project_keys AS k (project_id, public_key, label, disabled, rate_limit_per_minute, rate_limit_per_hour,
			rate_limit_count, rate_limit_window, browser_sdk_version, loader_options)
		VALUES ($1, $2, $3, COALESCE($4, false), $5, $6, COALESCE($7, 0), COALESCE($8, 0), COALESCE($9, 'latest'), $10) RETURNING `+keyColumns,
		projectID, NewPublicKey(), *u.Label, u.Disabled, *u.RateLimitPerMinute, *u.RateLimitPerHour, count, window, u.BrowserSDKVersion, u.loaderPatch()))
}

// UpdateKey renames, disables, enables or re-limits a key.
func (s *Store) UpdateKey(ctx context.Context, projectID int64, publicKey string, u KeyUpdate) (*ProjectKey, error) {
	if err := u.check(); err != nil {
		return nil, err
	}
	count, window := u.rateLimit()
	return s.scanKey(s.pool.QueryRow(ctx, `UPDATE api.project_keys k SET label = COALESCE($3, label), disabled = COALESCE($4, disabled),
		rate_limit_per_minute = COALESCE($5, rate_limit_per_minute), rate_limit_per_hour = COALESCE($6, rate_limit_per_hour),
		rate_limit_count = COALESCE($7, rate_limit_count), rate_limit_window = COALESCE($8, rate_limit_window),
		browser_sdk_version = COALESCE($9, browser_sdk_version), loader_options = loader_options || $10::jsonb,
		updated_at = now()
		WHERE k.project_id = $1 AND k.public_key = $2 RETURNING `+keyColumns,
		projectID, publicKey, u.Label, u.Disabled, u.RateLimitPerMinute, u.RateLimitPerHour, count, window, u.BrowserSDKVersion, u.loaderPatch()))
}

// RotateKey gives a key a new public key; the old one stops working at once
// (the trigger announces both).
func (s *Store) RotateKey(ctx context.Context, projectID int64, publicKey string) (*ProjectKey, error) {
	return s.scanKey(s.pool.QueryRow(ctx, `UPDATE api.project_keys k SET public_key = $3, updated_at = now()
		WHERE k.project_id = $1 AND k.public_key = $2 RETURNING `+keyColumns, projectID, publicKey, NewPublicKey()))
}

// DeleteKey deletes a key.
func (s *Store) DeleteKey(ctx context.Context, projectID int64, publicKey string) error {
	return s.execOne(ctx, `DELETE FROM api.project_keys WHERE project_id = $1 AND public_key = $2`, projectID, publicKey)
}
