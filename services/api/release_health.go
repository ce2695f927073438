package api

import (
	"net/http"
	"time"

	"github.com/faultline/faultline/libs/analyticsquery"
)

// HealthData is a release's health in one project over summaryStatsPeriod
// (14d when not given), as Sentry's releases list answers it with
// health=1: crash-free rates in percent, null without sessions or users.
// Durations and adoption are not measured: null.
type HealthData struct {
	CrashFreeSessions *float64 `json:"crashFreeSessions"`
	CrashFreeUsers    *float64 `json:"crashFreeUsers"`
	SessionsCrashed   uint64   `json:"sessionsCrashed"`
	SessionsErrored   uint64   `json:"sessionsErrored"`
	TotalSessions     uint64   `json:"totalSessions"`
	TotalUsers        uint64   `json:"totalUsers"`
	HasHealthData     bool     `json:"hasHealthData"`
	Adoption          *float64 `json:"adoption"`
	DurationP50       *float64 `json:"durationP50"`
	DurationP90       *float64 `json:"durationP90"`
}

// addHealth sets the health of each release's projects the caller may
// read. Without ClickHouse it leaves them out: the list itself (what
// sentry-cli reads) keeps working.
func (a *API) addHealth(c *call, rs []*Release) error {
	s := a.analytics.Load()
	if s == nil || len(rs) == 0 {
		return nil
	}
	period := c.r.URL.Query().Get("summaryStatsPeriod")
	if period == "" {
		period = "14d"
	}
	d, ok := sentryDuration(period)
	if !ok || d > maxPeriod {
		return &httpError{http.StatusBadRequest, "summaryStatsPeriod: want a number and a unit (s, m, h, d, w), such as 24h or 14d"}
	}
	ps, err := readableProjects(c)
	if err != nil {
		return err
	}
	readable := map[int64]bool{}
	var ids []int64
	for _, p := range ps {
		readable[p.ID] = true
		ids = append(ids, p.ID)
	}
	versions := make([]string, 0, len(rs))
	for _, r := range rs {
		versions = append(versions, r.Version)
	}
	end := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	health, err := analyticsquery.RunReleaseHealth(c.r.Context(), s.ch, ids, versions, end.Add(-d), end)
	if err != nil {
		return analyticsErr(c, err)
	}
	percent := func(part, whole uint64) *float64 {
		if whole == 0 {
			return nil
		}
		v := 100 * (1 - float64(part)/float64(whole))
		return &v
	}
	for _, r := range rs {
		for i := range r.Projects {
			p := &r.Projects[i]
			if !readable[p.ID] {
				continue
			}
			h := health[analyticsquery.ReleaseHealthKey{ProjectID: p.ID, Release: r.Version}]
			if h == nil {
				h = &analyticsquery.ReleaseHealth{}
			}
			p.HealthData = &HealthData{CrashFreeSessions: percent(h.SessionsCrashed, h.Sessions), CrashFreeUsers: percent(h.UsersCrashed, h.Users),
				SessionsCrashed: h.SessionsCrashed, SessionsErrored: h.SessionsErrored, TotalSessions: h.Sessions, TotalUsers: h.Users,
				HasHealthData: h.Sessions > 0}
		}
	}
	return nil
}
