package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/issues"
	"github.com/faultline/faultline/libs/monitors"
	"github.com/faultline/faultline/libs/monitorstore"
	"github.com/faultline/faultline/streams"
)

// Cron monitors in Sentry's shape. grouping owns them: reads come from its
// tables through monitorstore, writes are decisions it applies. A slug
// names one monitor per project; where two readable projects have one of
// that slug, ?project= picks.

func (a *API) monitorRoutes() []route {
	const list = "/api/0/organizations/{org}/monitors/"
	const one = list + "{monitor_slug}/"
	return []route{
		{"GET", list, "List the monitors of the projects one can read (query: project)", orgProjects, accounts.LevelRead, 200, "", "[]Monitor", a.listMonitors},
		{"POST", list, "Create a cron monitor in a project", orgProjects, accounts.LevelWrite, 201, "NewMonitor", "Monitor", a.createMonitor},
		{"GET", one, "Retrieve a monitor", orgProjects, accounts.LevelRead, 200, "", "Monitor", a.getMonitor},
		{"PUT", one, "Update a monitor's name, status or configuration (fields left out keep their value)", orgProjects, accounts.LevelWrite, 200, "MonitorUpdate", "Monitor", a.updateMonitor},
		{"DELETE", one, "Delete a monitor with its check-ins", orgProjects, accounts.LevelWrite, 202, "", "", a.deleteMonitor},
		{"GET", one + "checkins/", "A monitor's latest check-ins, newest first", orgProjects, accounts.LevelRead, 200, "", "[]MonitorCheckIn", a.listMonitorCheckIns},
	}
}

// Monitor is a monitor as Sentry shows it.
type Monitor struct {
	ID          string         `json:"id"`
	Slug        string         `json:"slug"`
	Name        string         `json:"name"`
	Status      string         `json:"status"`
	Type        string         `json:"type"`
	Config      MonitorConfig  `json:"config"`
	DateCreated time.Time      `json:"dateCreated"`
	Project     ProjectSummary `json:"project"`
	// Faultline's summary of its check-ins: Sentry keeps these per
	// environment.
	Health      string     `json:"health"` // ok, error, missed_checkin, timeout, in_progress or new
	LastCheckIn *time.Time `json:"lastCheckIn"`
	NextCheckIn *time.Time `json:"nextCheckIn"`
}

// ProjectSummary names a project.
type ProjectSummary struct {
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// MonitorConfig is a monitor's configuration in Sentry's API shape:
// schedule is a crontab string, or [n, unit] for an interval.
type MonitorConfig struct {
	ScheduleType  string          `json:"schedule_type"`
	Schedule      json.RawMessage `json:"schedule"`
	CheckinMargin *int            `json:"checkin_margin"`
	MaxRuntime    *int            `json:"max_runtime"`
	Timezone      string          `json:"timezone"`
	FailureAfter  *int            `json:"failure_issue_threshold"`
	RecoverAfter  *int            `json:"recovery_threshold"`
}

// NewMonitor creates a monitor.
type NewMonitor struct {
	Project string         `json:"project"` // id or slug
	Name    string         `json:"name"`
	Slug    string         `json:"slug"`
	Type    string         `json:"type"`
	Status  string         `json:"status"`
	Config  *MonitorConfig `json:"config"`
}

// MonitorUpdate changes a monitor.
type MonitorUpdate struct {
	Name   *string        `json:"name"`
	Status *string        `json:"status"`
	Config *MonitorConfig `json:"config"`
}

// MonitorCheckIn is one check-in.
type MonitorCheckIn struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	Environment string    `json:"environment"`
	Duration    *int64    `json:"duration"` // milliseconds
	DateCreated time.Time `json:"dateCreated"`
	DateUpdated time.Time `json:"dateUpdated"`
}

var monitorSchemas = func() map[string]any {
	nullDate := map[string]any{"type": []string{"string", "null"}, "format": "date-time"}
	status := map[string]any{"type": "string", "enum": []string{"active", "disabled"}}
	cfg := obj([]string{"schedule_type", "schedule"}, map[string]any{
		"schedule_type":  map[string]any{"type": "string", "enum": []string{"crontab", "interval"}},
		"schedule":       map[string]any{"description": `a crontab ("0 * * * *") or an interval ([5, "minute"])`},
		"checkin_margin": integer, "max_runtime": integer, "timezone": str,
		"failure_issue_threshold": integer, "recovery_threshold": integer})
	return map[string]any{
		"Monitor": obj([]string{"id", "slug", "name", "status", "config", "project"}, map[string]any{"id": str, "slug": str,
			"name": str, "status": status, "type": str, "config": cfg, "dateCreated": dateTime,
			"project": obj(nil, map[string]any{"id": str, "slug": str, "name": str}),
			"health":  str, "lastCheckIn": nullDate, "nextCheckIn": nullDate}),
		"NewMonitor": obj([]string{"project", "name", "config"}, map[string]any{"project": str, "name": str, "slug": str,
			"type": str, "status": status, "config": cfg}),
		"MonitorUpdate": obj(nil, map[string]any{"name": str, "status": status, "config": cfg}),
		"MonitorCheckIn": obj([]string{"id", "status", "dateCreated"}, map[string]any{"id": str,
			"status":      map[string]any{"type": "string", "enum": []string{"in_progress", "ok", "error", "missed", "timeout"}},
			"environment": str, "duration": map[string]any{"type": []string{"integer", "null"}}, "dateCreated": dateTime, "dateUpdated": dateTime}),
	}
}()

func init() { maps.Copy(schemas, monitorSchemas) }

// health is a monitor's state in one word, as Sentry's list shows it.
func health(m *monitorstore.Monitor) string {
	switch m.LastStatus {
	case "":
		return "new"
	case monitors.StatusMissed:
		return "missed_checkin"
	}
	return m.LastStatus
}

func monitorJSON(m *monitorstore.Monitor, p *accounts.OrgProject) *Monitor {
	out := &Monitor{ID: idString(m.ID), Slug: m.Slug, Name: m.Name, Status: m.Status, Type: "cron_job",
		Config: apiConfig(m.Config), DateCreated: m.CreatedAt, Health: health(m),
		LastCheckIn: m.LastCheckIn, NextCheckIn: m.NextCheckIn,
		Project: ProjectSummary{ID: idString(p.ID), Slug: p.Slug, Name: p.Name}}
	return out
}

func apiConfig(c streams.MonitorConfig) MonitorConfig {
	out := MonitorConfig{ScheduleType: c.ScheduleType, CheckinMargin: &c.Margin, MaxRuntime: &c.MaxRuntime,
		Timezone: c.Timezone, FailureAfter: &c.FailureAfter, RecoverAfter: &c.RecoverAfter}
	if out.Timezone == "" {
		out.Timezone = "UTC"
	}
	if c.ScheduleType == "interval" {
		out.Schedule, _ = json.Marshal([]any{c.Interval, c.Unit})
	} else {
		out.Schedule, _ = json.Marshal(c.Crontab)
	}
	return out
}

// applyConfig merges an API configuration into c and validates the result;
// a refusal names the field.
func applyConfig(c *streams.MonitorConfig, in *MonitorConfig) error {
	if in.ScheduleType != "" {
		c.ScheduleType = in.ScheduleType
	}
	if len(in.Schedule) > 0 {
		switch c.ScheduleType {
		case "crontab":
			c.Interval, c.Unit = 0, ""
			if err := json.Unmarshal(in.Schedule, &c.Crontab); err != nil {
				return badRequest("config.schedule: a crontab schedule is a string")
			}
		case "interval":
			c.Crontab = ""
			var pair []json.RawMessage
			if json.Unmarshal(in.Schedule, &pair) != nil || len(pair) != 2 ||
				json.Unmarshal(pair[0], &c.Interval) != nil || json.Unmarshal(pair[1], &c.Unit) != nil {
				return badRequest(`config.schedule: an interval schedule is [n, "unit"]`)
			}
		}
	}
	for _, f := range []struct {
		in  *int
		dst *int
	}{{in.CheckinMargin, &c.Margin}, {in.MaxRuntime, &c.MaxRuntime}, {in.FailureAfter, &c.FailureAfter}, {in.RecoverAfter, &c.RecoverAfter}} {
		if f.in != nil {
			*f.dst = *f.in
		}
	}
	if in.Timezone != "" {
		c.Timezone = in.Timezone
		if c.Timezone == "UTC" {
			c.Timezone = ""
		}
	}
	monitors.Defaults(c)
	var fe *monitors.FieldError
	if err := monitors.Validate(c); errors.As(err, &fe) {
		return badRequest("config." + fe.Error())
	} else if err != nil {
		return err
	}
	return nil
}

func badRequest(detail string) error { return &httpError{http.StatusBadRequest, detail} }

// monitorProjects are the projects whose monitors the call reads.
func monitorProjects(c *call) ([]*accounts.OrgProject, map[int64]*accounts.OrgProject, error) {
	ps, err := readableProjects(c)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[int64]*accounts.OrgProject, len(ps))
	for _, p := range ps {
		byID[p.ID] = p
	}
	return ps, byID, nil
}

func (a *API) listMonitors(c *call) (any, error) {
	ps, byID, err := monitorProjects(c)
	if err != nil {
		return nil, err
	}
	ms, err := monitorstore.List(c.r.Context(), c.store.Pool(), projectIDs(ps))
	if err != nil {
		return nil, err
	}
	out := make([]*Monitor, 0, len(ms))
	for _, m := range ms {
		out = append(out, monitorJSON(m, byID[m.ProjectID]))
	}
	return out, nil
}

// monitor finds the monitor the path names.
func (a *API) monitor(c *call) (*monitorstore.Monitor, *accounts.OrgProject, error) {
	ps, byID, err := monitorProjects(c)
	if err != nil {
		return nil, nil, err
	}
	ms, err := monitorstore.Find(c.r.Context(), c.store.Pool(), projectIDs(ps), c.param("monitor_slug"))
	if err != nil {
		return nil, nil, err
	}
	switch len(ms) {
	case 0:
		return nil, nil, errNotFound
	case 1:
		return ms[0], byID[ms[0].ProjectID], nil
	}
	return nil, nil, badRequest(fmt.Sprintf("%d projects have a monitor %q: name one with ?project=<id>", len(ms), ms[0].Slug))
}

func (a *API) getMonitor(c *call) (any, error) {
	m, p, err := a.monitor(c)
	if err != nil {
		return nil, err
	}
	return monitorJSON(m, p), nil
}

func (a *API) createMonitor(c *call) (any, error) {
	var in NewMonitor
	if err := c.decodeStrict(&in); err != nil {
		return nil, err
	}
	if in.Project == "" {
		return nil, badRequest("project: required")
	}
	p, err := c.store.OrgProject(c.r.Context(), c.org.ID, in.Project)
	if errors.Is(err, accounts.ErrNotFound) || (err == nil && c.p.Token != nil && c.p.Token.ProjectID != 0 && c.p.Token.ProjectID != p.ID) {
		return nil, badRequest("project: no such project")
	}
	if err != nil {
		return nil, err
	}
	if in.Type != "" && in.Type != "cron_job" {
		return nil, badRequest("type: only cron_job")
	}
	slug := in.Slug
	if slug == "" {
		slug = in.Name
	}
	if slug, err = monitors.Slug(slug); err != nil {
		return nil, badRequest("slug: " + err.Error())
	}
	if in.Name == "" || len(in.Name) > 128 {
		return nil, badRequest("name: required, at most 128 characters")
	}
	if in.Config == nil {
		return nil, badRequest("config: required")
	}
	if in.Status != "" && in.Status != "active" && in.Status != "disabled" {
		return nil, badRequest("status: active or disabled")
	}
	var cfg streams.MonitorConfig
	if err := applyConfig(&cfg, in.Config); err != nil {
		return nil, err
	}
	if ms, err := monitorstore.Find(c.r.Context(), c.store.Pool(), []int64{p.ID}, slug); err != nil {
		return nil, err
	} else if len(ms) > 0 {
		return nil, &httpError{http.StatusConflict, "slug: the project has a monitor " + strconv.Quote(slug) + " already"}
	}
	mon := &streams.Monitor{Slug: slug, Name: in.Name, Status: in.Status, Config: cfg}
	return a.decideMonitor(c, p, streams.DecideUpsertMonitor, mon)
}

func (a *API) updateMonitor(c *call) (any, error) {
	m, p, err := a.monitor(c)
	if err != nil {
		return nil, err
	}
	var in MonitorUpdate
	if err := c.decodeStrict(&in); err != nil {
		return nil, err
	}
	mon := &streams.Monitor{Slug: m.Slug, Name: m.Name, Status: m.Status, Config: m.Config}
	if in.Name != nil {
		if *in.Name == "" || len(*in.Name) > 128 {
			return nil, badRequest("name: required, at most 128 characters")
		}
		mon.Name = *in.Name
	}
	if in.Status != nil {
		if *in.Status != "active" && *in.Status != "disabled" {
			return nil, badRequest("status: active or disabled")
		}
		mon.Status = *in.Status
	}
	if in.Config != nil {
		if err := applyConfig(&mon.Config, in.Config); err != nil {
			return nil, err
		}
	}
	return a.decideMonitor(c, p, streams.DecideUpsertMonitor, mon)
}

func (a *API) deleteMonitor(c *call) (any, error) {
	m, p, err := a.monitor(c)
	if err != nil {
		return nil, err
	}
	if _, err := a.decideMonitor(c, p, streams.DecideDeleteMonitor, &streams.Monitor{Slug: m.Slug}); err != nil {
		return nil, err
	}
	return nil, nil
}

// decideMonitor publishes a monitor decision, waits for grouping to apply
// it, and answers the monitor as it is then.
func (a *API) decideMonitor(c *call, p *accounts.OrgProject, kind string, mon *streams.Monitor) (any, error) {
	ctx := c.r.Context()
	err := monitorstore.Decide(ctx, c.store.Decisions(), &streams.Decision{Kind: kind, ProjectID: p.ID, Monitor: mon})
	switch {
	case errors.Is(err, monitorstore.ErrNotFound):
		return nil, errNotFound
	case errors.Is(err, issues.ErrInvalid):
		return nil, badRequest(err.Error())
	case err != nil:
		return nil, err
	case kind == streams.DecideDeleteMonitor:
		return nil, nil
	}
	ms, err := monitorstore.Find(ctx, c.store.Pool(), []int64{p.ID}, mon.Slug)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, errNotFound
	}
	return monitorJSON(ms[0], p), nil
}

func (a *API) listMonitorCheckIns(c *call) (any, error) {
	m, _, err := a.monitor(c)
	if err != nil {
		return nil, err
	}
	limit := 100
	if v := c.r.URL.Query().Get("per_page"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
			return nil, badRequest("per_page: 1 to 1000")
		} else {
			limit = n
		}
	}
	cs, err := monitorstore.CheckIns(c.r.Context(), c.store.Pool(), m.ID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*MonitorCheckIn, 0, len(cs))
	for _, ci := range cs {
		out = append(out, &MonitorCheckIn{ID: ci.ID, Status: ci.Status, Environment: ci.Environment, Duration: ci.DurationMS,
			DateCreated: ci.Received, DateUpdated: ci.Updated})
	}
	return out, nil
}
