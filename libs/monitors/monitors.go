// Package monitors holds what cron monitoring shares between roles: the
// check-in payload SDKs and sentry-cli send (parsed strictly: it is
// untrusted), monitor configurations with their validation, and the
// schedule arithmetic that says when the next check-in is due. The grouping
// role owns the monitors' tables; libs/monitorstore reads them.
package monitors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/streams"
)

// Check-in statuses: what a client sends, then what grouping records for a
// check-in that never came or never finished.
const (
	StatusInProgress = "in_progress"
	StatusOK         = "ok"
	StatusError      = "error"
	StatusMissed     = "missed"
	StatusTimeout    = "timeout"
)

// Bounds of a configuration, as Sentry has them.
const (
	MaxMinutes   = 40320 // 28 days: checkin_margin and max_runtime
	MaxThreshold = 720
	MaxSlug      = 50
)

// FieldError is a configuration refused because of one field.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Defaults fills a configuration's zero thresholds and durations with
// Sentry's defaults.
func Defaults(c *streams.MonitorConfig) {
	if c.Margin == 0 {
		c.Margin = 1
	}
	if c.MaxRuntime == 0 {
		c.MaxRuntime = 30
	}
	if c.FailureAfter == 0 {
		c.FailureAfter = 1
	}
	if c.RecoverAfter == 0 {
		c.RecoverAfter = 1
	}
	if c.ScheduleType == "crontab" {
		c.Crontab = strings.Join(strings.Fields(c.Crontab), " ")
	}
}

// Validate checks c once Defaults filled it; a *FieldError names the field
// at fault.
func Validate(c *streams.MonitorConfig) error {
	switch c.ScheduleType {
	case "crontab":
		if c.Crontab == "" {
			return &FieldError{"schedule", "a crontab schedule is required"}
		}
		if _, err := parseCrontab(c.Crontab, ""); err != nil {
			return &FieldError{"schedule", "invalid crontab: " + err.Error()}
		}
	case "interval":
		if c.Interval <= 0 || c.Interval > 1000 {
			return &FieldError{"schedule", "an interval must be between 1 and 1000"}
		}
		if _, ok := units[c.Unit]; !ok {
			return &FieldError{"schedule", fmt.Sprintf("unknown interval unit %q: minute, hour, day, week, month or year", c.Unit)}
		}
	default:
		return &FieldError{"schedule_type", fmt.Sprintf("unknown schedule type %q: crontab or interval", c.ScheduleType)}
	}
	if c.Margin < 1 || c.Margin > MaxMinutes {
		return &FieldError{"checkin_margin", fmt.Sprintf("must be between 1 and %d minutes", MaxMinutes)}
	}
	if c.MaxRuntime < 1 || c.MaxRuntime > MaxMinutes {
		return &FieldError{"max_runtime", fmt.Sprintf("must be between 1 and %d minutes", MaxMinutes)}
	}
	if c.FailureAfter < 1 || c.FailureAfter > MaxThreshold {
		return &FieldError{"failure_issue_threshold", fmt.Sprintf("must be between 1 and %d", MaxThreshold)}
	}
	if c.RecoverAfter < 1 || c.RecoverAfter > MaxThreshold {
		return &FieldError{"recovery_threshold", fmt.Sprintf("must be between 1 and %d", MaxThreshold)}
	}
	if c.Timezone != "" {
		if _, err := loadLocation(c.Timezone); err != nil {
			return &FieldError{"timezone", fmt.Sprintf("unknown time zone %q", c.Timezone)}
		}
	}
	return nil
}

// units are the interval units, as calendar steps.
var units = map[string]struct{ y, m, d int }{
	"minute": {}, "hour": {}, "day": {0, 0, 1}, "week": {0, 0, 7}, "month": {0, 1, 0}, "year": {1, 0, 0},
}

func loadLocation(name string) (*time.Location, error) {
	// time.LoadLocation also opens paths; a zone name never holds these.
	if strings.ContainsAny(name, `.\`) || strings.HasPrefix(name, "/") || len(name) > 64 {
		return nil, fmt.Errorf("invalid time zone")
	}
	return time.LoadLocation(name)
}

var crontabParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func parseCrontab(spec, tz string) (cron.Schedule, error) {
	// The parser reads a CRON_TZ= prefix itself; the zone comes from the
	// configuration only.
	if strings.Contains(spec, "TZ=") {
		return nil, fmt.Errorf("a time zone goes in the timezone field")
	}
	if strings.HasPrefix(spec, "@every") {
		return nil, fmt.Errorf("@every is not a crontab: use an interval schedule")
	}
	if tz != "" {
		spec = "CRON_TZ=" + tz + " " + spec
	}
	return crontabParser.Parse(spec)
}

// Next is when the check-in after one at t is due under c (a valid
// configuration); the zero time when the schedule never fires again.
func Next(c *streams.MonitorConfig, t time.Time) time.Time {
	switch c.ScheduleType {
	case "crontab":
		s, err := parseCrontab(c.Crontab, c.Timezone)
		if err != nil {
			return time.Time{}
		}
		return s.Next(t)
	case "interval":
		n := max(c.Interval, 1)
		switch c.Unit {
		case "minute":
			return t.Add(time.Duration(n) * time.Minute)
		case "hour":
			return t.Add(time.Duration(n) * time.Hour)
		}
		u := units[c.Unit]
		return t.AddDate(u.y*n, u.m*n, u.d*n)
	}
	return time.Time{}
}

// CheckIn is one check_in item, as SDKs and sentry-cli send it.
type CheckIn struct {
	ID          string                 `json:"check_in_id"`
	Slug        string                 `json:"monitor_slug"`
	Status      string                 `json:"status"`
	Duration    *float64               `json:"duration,omitempty"` // seconds
	Environment string                 `json:"environment,omitempty"`
	Config      *streams.MonitorConfig `json:"-"`
}

// sentryConfig is a check-in's monitor_config.
type sentryConfig struct {
	Schedule struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
		Unit  string          `json:"unit"`
	} `json:"schedule"`
	Margin       *int   `json:"checkin_margin"`
	MaxRuntime   *int   `json:"max_runtime"`
	Timezone     string `json:"timezone"`
	FailureAfter *int   `json:"failure_issue_threshold"`
	RecoverAfter *int   `json:"recovery_threshold"`
}

// ParseCheckIn reads a check_in item's payload: a clear error for anything
// that is not a valid check-in. The slug is normalized and the check-in id,
// when present, is 32 lowercase hex digits; without one (or with
// "latest"), a closing check-in closes its monitor's latest in-progress one.
func ParseCheckIn(payload []byte) (CheckIn, error) {
	var raw struct {
		CheckIn
		Config json.RawMessage `json:"monitor_config"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&raw); err != nil {
		return CheckIn{}, fmt.Errorf("check-in is not a JSON object: %w", err)
	}
	ci := raw.CheckIn
	var err error
	if ci.Slug, err = Slug(ci.Slug); err != nil {
		return CheckIn{}, &FieldError{"monitor_slug", err.Error()}
	}
	switch ci.Status {
	case StatusInProgress, StatusOK, StatusError:
	default:
		return CheckIn{}, &FieldError{"status", fmt.Sprintf("unknown status %q: in_progress, ok or error", clip(ci.Status))}
	}
	if ci.ID == "latest" {
		ci.ID = "" // the monitor's latest in-progress check-in, for a closing one
	}
	if ci.ID != "" {
		if ci.ID = envelope.NormalizeEventID(ci.ID); ci.ID == "" {
			return CheckIn{}, &FieldError{"check_in_id", "not a UUID"}
		}
	}
	if ci.Duration != nil && (*ci.Duration < 0 || *ci.Duration > 1e9) {
		return CheckIn{}, &FieldError{"duration", "out of range"}
	}
	if len(ci.Environment) > 64 {
		return CheckIn{}, &FieldError{"environment", "longer than 64"}
	}
	if len(raw.Config) > 0 && string(raw.Config) != "null" {
		c, err := ConfigFromSentry(raw.Config)
		if err != nil {
			return CheckIn{}, err
		}
		ci.Config = c
	}
	return ci, nil
}

// ConfigFromSentry reads a check-in's monitor_config, fills its defaults
// and validates it.
func ConfigFromSentry(b []byte) (*streams.MonitorConfig, error) {
	var sc sentryConfig
	if err := json.Unmarshal(b, &sc); err != nil {
		return nil, &FieldError{"monitor_config", "not a valid object: " + err.Error()}
	}
	c := &streams.MonitorConfig{ScheduleType: sc.Schedule.Type, Timezone: sc.Timezone}
	for _, f := range []struct {
		p   *int
		dst *int
	}{{sc.Margin, &c.Margin}, {sc.MaxRuntime, &c.MaxRuntime}, {sc.FailureAfter, &c.FailureAfter}, {sc.RecoverAfter, &c.RecoverAfter}} {
		if f.p != nil {
			*f.dst = *f.p
		}
	}
	switch c.ScheduleType {
	case "crontab":
		if err := json.Unmarshal(sc.Schedule.Value, &c.Crontab); err != nil {
			return nil, &FieldError{"schedule", "a crontab schedule's value is a string"}
		}
	case "interval":
		if err := json.Unmarshal(sc.Schedule.Value, &c.Interval); err != nil {
			return nil, &FieldError{"schedule", "an interval schedule's value is an integer"}
		}
		c.Unit = sc.Schedule.Unit
	}
	Defaults(c)
	if err := Validate(c); err != nil {
		return nil, err
	}
	return c, nil
}

// Slug normalizes a monitor slug as Sentry does: lowercase letters, digits,
// '-' and '_', other runs of characters turned into one '-'.
func Slug(s string) (string, error) {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if out == "" {
		return "", fmt.Errorf("a monitor slug is required")
	}
	if len(out) > MaxSlug {
		return "", fmt.Errorf("longer than %d characters", MaxSlug)
	}
	return out, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}
