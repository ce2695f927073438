// Package monitorstore reads the cron monitors and check-ins the grouping
// role keeps, for the HTTP layers, and publishes people's decisions about
// monitors for grouping to apply.
package monitorstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/libs/issues"
	"github.com/faultline/faultline/streams"
)

// ErrNotFound is a monitor that does not exist.
var ErrNotFound = errors.New("no such monitor")

// Monitor is a monitor as the grouping role keeps it.
type Monitor struct {
	ID            int64
	ProjectID     int64
	Slug          string
	Name          string
	Status        string // active or disabled
	Config        streams.MonitorConfig
	CreatedAt     time.Time
	LastCheckIn   *time.Time
	LastStatus    string // the latest check-in's status, "" before the first
	NextCheckIn   *time.Time
	Incident      bool // failing: its issue is open
	FailuresInRow int
}

// CheckIn is a recorded check-in.
type CheckIn struct {
	ID          string
	Status      string
	Environment string
	DurationMS  *int64
	Received    time.Time
	Updated     time.Time
}

const columns = `id, project_id, slug, name, status, config, created_at, last_checkin_at, last_status, next_due, incident, failures`

func scan(row pgx.CollectableRow) (*Monitor, error) {
	var m Monitor
	var cfg []byte
	if err := row.Scan(&m.ID, &m.ProjectID, &m.Slug, &m.Name, &m.Status, &cfg, &m.CreatedAt, &m.LastCheckIn,
		&m.LastStatus, &m.NextCheckIn, &m.Incident, &m.FailuresInRow); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(cfg, &m.Config); err != nil {
		return nil, fmt.Errorf("monitor %d: %w", m.ID, err)
	}
	return &m, nil
}

// List is the monitors of the given projects, by slug.
func List(ctx context.Context, pool *pgxpool.Pool, projects []int64) ([]*Monitor, error) {
	rows, err := pool.Query(ctx, `SELECT `+columns+` FROM grouping.monitors WHERE project_id = ANY($1) ORDER BY slug, project_id`, projects)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan)
}

// Find is the monitors named slug among the given projects' (one at most
// in each project).
func Find(ctx context.Context, pool *pgxpool.Pool, projects []int64, slug string) ([]*Monitor, error) {
	rows, err := pool.Query(ctx, `SELECT `+columns+` FROM grouping.monitors WHERE project_id = ANY($1) AND slug = $2 ORDER BY project_id`,
		projects, strings.ToLower(slug))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan)
}

// CheckIns is a monitor's latest check-ins, newest first, at most limit.
func CheckIns(ctx context.Context, pool *pgxpool.Pool, monitorID int64, limit int) ([]*CheckIn, error) {
	rows, err := pool.Query(ctx, `SELECT checkin_id, status, environment, duration_ms, received, updated_at
		FROM grouping.monitor_checkins WHERE monitor_id = $1 ORDER BY received DESC, id DESC LIMIT $2`, monitorID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*CheckIn, error) {
		var c CheckIn
		err := row.Scan(&c.ID, &c.Status, &c.Environment, &c.DurationMS, &c.Received, &c.Updated)
		return &c, err
	})
}

// Decide publishes a monitor decision and waits for grouping to apply it:
// issues.ErrNotApplied when the wait ran out, ErrNotFound or
// issues.ErrInvalid when grouping refused it.
func Decide(ctx context.Context, p *decide.Publisher, d *streams.Decision) error {
	d.Actor = decide.ActorFrom(ctx)
	applied, err := p.Decide(ctx, d)
	switch {
	case errors.Is(err, decide.ErrRefused) && strings.HasSuffix(err.Error(), ": "+streams.RefusedNoMonitor):
		return ErrNotFound
	case errors.Is(err, decide.ErrRefused):
		return fmt.Errorf("%w: %w", issues.ErrInvalid, err)
	case err != nil:
		return err
	case !applied:
		return issues.ErrNotApplied
	}
	return nil
}
