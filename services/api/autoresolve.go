package api

import (
	"context"
	"log/slog"
	"time"
)

// RunAutoResolve resolves, every interval until ctx ends, the issues of
// each project with a resolveAge that have had no event for that many
// hours. Every api replica may run it: the decisions' ids make a second
// sweep of the same issue a no-op.
func (a *API) RunAutoResolve(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		a.autoResolveOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// autoResolveBatch bounds one project's sweep; the next sweep goes on.
const autoResolveBatch = 500

func (a *API) autoResolveOnce(ctx context.Context) {
	be := a.be.Load()
	if be == nil {
		return // Postgres not ready yet
	}
	projects, err := be.store.AutoResolveProjects(ctx)
	if err != nil {
		a.log.Warn("auto-resolve: list projects", slog.Any("error", err))
		return
	}
	for id, hours := range projects {
		n, err := be.issues.AutoResolve(ctx, id, time.Duration(hours)*time.Hour, autoResolveBatch)
		if err != nil {
			a.log.Warn("auto-resolve", slog.Int64("project_id", id), slog.Any("error", err))
			continue
		}
		if n > 0 {
			a.log.Info("auto-resolved issues", slog.Int64("project_id", id), slog.Int("issues", n), slog.Int("resolve_age_hours", hours))
		}
	}
}
