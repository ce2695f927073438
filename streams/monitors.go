package streams

import "errors"

// Monitor decisions: a person creates, changes or deletes a cron monitor
// through the API; grouping, the owner of grouping.monitors, applies it.
const (
	DecideUpsertMonitor = "upsert_monitor" // Monitor is created or replaced, by slug
	DecideDeleteMonitor = "delete_monitor" // Monitor.Slug is deleted with its check-ins
)

// RefusedNoMonitor is the reason grouping gives for a decision about a
// monitor that does not exist.
const RefusedNoMonitor = "no such monitor"

// Monitor is a cron monitor as a decision names it.
type Monitor struct {
	Slug   string        `json:"slug"`
	Name   string        `json:"name,omitempty"`
	Status string        `json:"status,omitempty"` // active or disabled
	Config MonitorConfig `json:"config"`
}

// MonitorConfig is a monitor's schedule and thresholds, as Sentry's
// check-in monitor_config and its monitors API describe them.
type MonitorConfig struct {
	ScheduleType string `json:"schedule_type"`           // crontab or interval
	Crontab      string `json:"crontab,omitempty"`       // five fields, crontab only
	Interval     int    `json:"interval,omitempty"`      // interval only
	Unit         string `json:"unit,omitempty"`          // minute, hour, day, week, month or year
	Margin       int    `json:"checkin_margin"`          // minutes a check-in may be late
	MaxRuntime   int    `json:"max_runtime"`             // minutes a job may stay in progress
	Timezone     string `json:"timezone,omitempty"`      // IANA name; UTC when empty
	FailureAfter int    `json:"failure_issue_threshold"` // failures in a row before an issue
	RecoverAfter int    `json:"recovery_threshold"`      // oks in a row that resolve it
}

func (d *Decision) validateMonitor() error {
	if d.Monitor == nil || d.Monitor.Slug == "" {
		return errors.New("decision " + d.Kind + ": no monitor")
	}
	return nil
}
