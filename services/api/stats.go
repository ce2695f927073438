package api

import (
	"net/http"

	"github.com/faultline/faultline/libs/issues"
)

func statsJSON(pts []issues.StatsPoint) [][2]int64 {
	out := make([][2]int64, len(pts))
	for i, p := range pts {
		out[i] = [2]int64{p.Time.Unix(), p.Count}
	}
	return out
}

// statsPeriodOf reads statsPeriod (default 24h), or Sentry's resolution
// (1h: the last 24 hours, 1d: the last 30 days).
func statsPeriodOf(c *call) (string, error) {
	v := c.r.URL.Query()
	p := v.Get("statsPeriod")
	switch v.Get("resolution") {
	case "":
	case "1h":
		p = "24h"
	case "1d":
		if p == "" {
			p = "30d"
		}
	default:
		return "", &httpError{http.StatusBadRequest, "resolution: want 1h or 1d"}
	}
	if p == "" {
		p = "24h"
	}
	if !issues.ValidStatsPeriod(p) {
		return "", &httpError{http.StatusBadRequest, "statsPeriod: want 24h, 7d, 14d, 30d or 90d"}
	}
	return p, nil
}

func (a *API) issueStats(c *call) (any, error) {
	is, _, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	p, err := statsPeriodOf(c)
	if err != nil {
		return nil, err
	}
	pts, err := c.issues.IssueStats(c.r.Context(), is.ID, p)
	if err != nil {
		return nil, err
	}
	return statsJSON(pts), nil
}

func (a *API) projectStats(c *call) (any, error) {
	if s := c.r.URL.Query().Get("stat"); s != "" && s != "received" {
		return nil, &httpError{http.StatusBadRequest, "stat: only received is counted"}
	}
	p, err := statsPeriodOf(c)
	if err != nil {
		return nil, err
	}
	pts, err := c.issues.ProjectStats(c.r.Context(), c.project.ID, p)
	if err != nil {
		return nil, err
	}
	return statsJSON(pts), nil
}
