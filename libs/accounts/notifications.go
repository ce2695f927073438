package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // time zones resolve without the system's database (the image has none)

	"github.com/jackc/pgx/v5"
)

// NotificationSettings are a user's digest mail choices.
type NotificationSettings struct {
	DailyDigest  bool   `json:"dailyDigest"`
	WeeklyDigest bool   `json:"weeklyReports"` // Sentry's name for its weekly mail
	DigestHour   int    `json:"digestHour"`    // 0-23, in Timezone
	Timezone     string `json:"timezone"`      // IANA name
}

// DefaultNotificationSettings are a user's before they choose: no digests,
// at 9:00 UTC once turned on.
var DefaultNotificationSettings = NotificationSettings{DigestHour: 9, Timezone: "UTC"}

// Check refuses an hour outside the day and an unknown time zone.
func (n NotificationSettings) Check() error {
	if n.DigestHour < 0 || n.DigestHour > 23 {
		return fmt.Errorf("%w: digestHour: want 0 to 23", ErrInvalid)
	}
	if n.Timezone == "" || len(n.Timezone) > 64 {
		return fmt.Errorf("%w: timezone: want an IANA time zone such as Europe/Paris", ErrInvalid)
	}
	if _, err := time.LoadLocation(n.Timezone); err != nil {
		return fmt.Errorf("%w: timezone: %q is not an IANA time zone", ErrInvalid, clipName(n.Timezone))
	}
	return nil
}

// NotificationSettings returns a user's choices, the defaults when none.
func (s *Store) NotificationSettings(ctx context.Context, userID int64) (NotificationSettings, error) {
	n := DefaultNotificationSettings
	err := s.pool.QueryRow(ctx, `SELECT daily_digest, weekly_digest, digest_hour, timezone
		FROM api.notification_settings WHERE user_id = $1`, userID).Scan(&n.DailyDigest, &n.WeeklyDigest, &n.DigestHour, &n.Timezone)
	if errors.Is(err, pgx.ErrNoRows) {
		return n, nil
	}
	if err != nil {
		return n, fmt.Errorf("notification settings: %w", err)
	}
	return n, nil
}

// SetNotificationSettings stores a user's choices.
func (s *Store) SetNotificationSettings(ctx context.Context, userID int64, n NotificationSettings) error {
	if err := n.Check(); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO api.notification_settings (user_id, daily_digest, weekly_digest, digest_hour, timezone)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET daily_digest = $2, weekly_digest = $3, digest_hour = $4, timezone = $5, updated_at = now()`,
		userID, n.DailyDigest, n.WeeklyDigest, n.DigestHour, n.Timezone)
	if err != nil {
		return fmt.Errorf("notification settings: %w", err)
	}
	return nil
}
