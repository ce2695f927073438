package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/spike"
)

// Spike protection, per project, as Sentry keeps it: the project option
// quotas:spike-protection-disabled, false when on (readable in the
// project's options). POST turns it on, DELETE off, for the projects named
// by slug or for "$all". The option reaches the gateway with the project's
// key records (libs/spike caps the spikes).
func (a *API) spikeProtectionRoutes() []route {
	const path = "/api/0/organizations/{org}/spike-protections/"
	return []route{
		{"POST", path, "Turn spike protection on for projects (by slug, or $all)", user, accounts.LevelWrite, 204, "SpikeProtectionParams", "", a.enableSpikeProtection},
		{"DELETE", path, "Turn spike protection off for projects (by slug, or $all)", user, accounts.LevelWrite, 204, "SpikeProtectionParams", "", a.disableSpikeProtection},
		{"GET", "/api/0/projects/{org}/{project}/spike-protection/", "A project's spike protection: its switch, baseline, cap and drops, as the gateways count them",
			user, accounts.LevelRead, 200, "", "SpikeProtectionStatus", a.spikeProtectionStatus},
	}
}

// SpikeProtectionOption is the project option that says spike protection
// is off.
const SpikeProtectionOption = accounts.OptionSpikeProtectionDisabled

// SpikeProtectionParams names the projects.
type SpikeProtectionParams struct {
	Projects []string `json:"projects"`
}

func init() {
	schemas["SpikeProtectionParams"] = obj([]string{"projects"}, map[string]any{
		"projects": map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "description": `Project slugs, or ["$all"]`}})
}

// SpikeProtectionStatus is a project's spike protection now.
type SpikeProtectionStatus struct {
	// Enabled: SPIKE_PROTECTION is on and so is the project's switch.
	Enabled bool `json:"enabled"`
	// Counted: the gateways' counts were read; the numbers below are 0
	// when not.
	Counted           bool    `json:"counted"`
	WindowMinutes     int     `json:"windowMinutes"`
	HasBaseline       bool    `json:"hasBaseline"`
	BaselinePerMinute float64 `json:"baselinePerMinute"`
	CapPerMinute      int64   `json:"capPerMinute"` // 0: not capped
	CurrentMinute     int64   `json:"currentMinute"`
	DroppedInWindow   int64   `json:"droppedInWindow"`
}

func init() {
	integer, boolean := map[string]any{"type": "integer"}, map[string]any{"type": "boolean"}
	schemas["SpikeProtectionStatus"] = obj([]string{"enabled", "counted", "windowMinutes", "hasBaseline", "baselinePerMinute", "capPerMinute", "currentMinute", "droppedInWindow"}, map[string]any{
		"enabled": boolean, "counted": boolean, "windowMinutes": integer, "hasBaseline": boolean,
		"baselinePerMinute": map[string]any{"type": "number"}, "capPerMinute": integer, "currentMinute": integer, "droppedInWindow": integer})
}

// spikeCounts is the bucket the gateways share their spike counts in, and
// the configuration they cap by.
type spikeCounts struct {
	kv  jetstream.KeyValue
	cfg spike.Config
}

// SetSpikes lets the API answer a project's spike protection from the
// gateways' counts in kv (the limits bucket), capped as cfg says; until
// then the answer says nothing was counted.
func (a *API) SetSpikes(kv jetstream.KeyValue, cfg spike.Config) {
	a.spikes.Store(&spikeCounts{kv: kv, cfg: cfg})
}

func (a *API) spikeProtectionStatus(c *call) (any, error) {
	off, _ := c.project.Settings.Options[SpikeProtectionOption].(bool)
	sc := a.spikes.Load()
	if sc == nil {
		return SpikeProtectionStatus{}, nil
	}
	ans := SpikeProtectionStatus{Enabled: sc.cfg.Enabled && !off, WindowMinutes: sc.cfg.Window}
	if !sc.cfg.Enabled {
		return ans, nil
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), 2*time.Second)
	defer cancel()
	st, err := spike.Read(ctx, sc.kv, sc.cfg, c.project.ID, time.Now())
	if err != nil {
		a.log.Warn("spike counts not read", slog.Any("error", err))
		return ans, nil
	}
	ans.Counted, ans.HasBaseline, ans.BaselinePerMinute, ans.CapPerMinute = true, st.HasBaseline, st.Baseline, st.Cap
	ans.CurrentMinute, ans.DroppedInWindow = st.Current, st.Dropped
	return ans, nil
}

func (a *API) enableSpikeProtection(c *call) (any, error) { return nil, a.setSpikeProtection(c, true) }
func (a *API) disableSpikeProtection(c *call) (any, error) {
	return nil, a.setSpikeProtection(c, false)
}

func (a *API) setSpikeProtection(c *call, on bool) error {
	var req SpikeProtectionParams
	if err := c.decodeStrict(&req); err != nil {
		return err
	}
	if len(req.Projects) == 0 || len(req.Projects) > 1000 {
		return &httpError{http.StatusBadRequest, "projects: want project slugs or [\"$all\"]"}
	}
	ctx := c.r.Context()
	var projects []*accounts.OrgProject
	if len(req.Projects) == 1 && req.Projects[0] == "$all" {
		var err error
		if projects, err = c.store.OrgProjects(ctx, accounts.ProjectFilter{Orgs: accounts.OrgFilter{AllOrgs: true}, OrgID: c.org.ID}, 100000, 0); err != nil {
			return err
		}
	} else {
		for _, slug := range req.Projects {
			p, err := c.store.OrgProject(ctx, c.org.ID, slug)
			if errors.Is(err, accounts.ErrNotFound) {
				if len(slug) > 64 {
					slug = slug[:64] + "…"
				}
				return &httpError{http.StatusBadRequest, fmt.Sprintf("projects: %q is not a project of this organization", slug)}
			}
			if err != nil {
				return err
			}
			projects = append(projects, p)
		}
	}
	for _, p := range projects {
		if _, err := c.store.UpdateProject(ctx, p, accounts.ProjectUpdate{Settings: accounts.SettingsUpdate{
			Options: map[string]any{SpikeProtectionOption: !on}}}); err != nil {
			return err
		}
	}
	return nil
}
