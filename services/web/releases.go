package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/go-chi/chi/v5"
	"golang.org/x/sync/errgroup"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/analyticsquery"
)

// The release pages list an organisation's releases (as sentry-cli and the
// REST API record them in the api schema) with the issues first seen in
// each (the grouping projection) and, with ClickHouse, their health: the
// crash-free rates of their sessions and users over the period, read
// through libs/analyticsquery as the REST API's sessions/ route and
// healthData read them. Without ClickHouse they show what Postgres knows
// and say that health needs analytics.

// maxReleases bounds the Releases list; maxReleaseIssues the new issues a
// release page lists.
const (
	maxReleases      = 100
	maxReleaseIssues = 50
)

// releasesData is the Releases page.
type releasesData struct {
	*scope
	State  analyticsState
	Health bool // the health columns have figures
	Rows   []releaseRow
}

// releaseRow is one release of the list.
type releaseRow struct {
	Version, URL                        string
	Projects                            []string
	Created, Released                   string // formatted; Released "" when not released
	CreatedISO                          string
	NewIssues                           int64
	Sessions                            string
	CrashFreeSessions, CrashFreeUsers   string // "" without sessions (users)
	Adoption                            string // share of the period's sessions of its projects
	LastDeploy, LastDeployEnv, DeployAt string
}

// releaseURL is a release's page.
func releaseURL(org, version string) string {
	return "/organizations/" + org + "/releases/" + url.PathEscape(version) + "/"
}

func (w *Web) mountReleases(r chi.Router) {
	r.Get("/organizations/{org}/releases/", w.orgPage(accounts.LevelRead, w.releasesPage))
	r.Get("/organizations/{org}/releases/{version}/", w.orgPage(accounts.LevelRead, w.releasePage))
}

// pct writes part/whole as a percentage, "" when whole is 0; free writes
// 1 - part/whole (a crash-free rate).
func pct(part, whole uint64, free bool) string {
	if whole == 0 {
		return ""
	}
	r := float64(part) / float64(whole)
	if free {
		r = 1 - r
	}
	return fmtPct(r)
}

func (w *Web) releasesPage(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	oa := orgOf(ctx)
	v := &view{Title: "Releases", Crumbs: []crumb{{Label: oa.org.Name, Href: "/"}, {Label: "Releases"}}}
	s, err := w.scopeOf(r)
	if s == nil {
		w.renderAnalytics(rw, r, "releases", v, &analyticsState{}, err)
		return
	}
	d := &releasesData{scope: s}
	v.Data = d
	ch, st := w.chOf()
	d.State = st
	if err != nil || len(s.Projects) == 0 {
		w.renderAnalytics(rw, r, "releases", v, &d.State, err)
		return
	}
	be := w.backend()
	ids := s.ids()
	rs, err := be.store.Releases(ctx, oa.org.ID, ids, maxReleases)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	versions := make([]string, len(rs))
	for i, rel := range rs {
		versions[i] = rel.Version
	}
	var (
		newIssues map[string]int64
		health    map[analyticsquery.ReleaseHealthKey]*analyticsquery.ReleaseHealth
		totals    = map[int64]uint64{} // the period's sessions per project
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		newIssues, err = be.issues.NewIssuesByRelease(gctx, ids, versions)
		return err
	})
	if ch != nil && len(rs) > 0 {
		g.Go(func() error {
			var err error
			health, err = analyticsquery.RunReleaseHealth(gctx, ch, ids, versions, s.Start, s.End)
			return err
		})
		g.Go(func() error {
			se, err := analyticsquery.RunSessions(gctx, ch, analyticsquery.SessionsQuery{Projects: ids, Start: s.Start, End: s.End,
				Interval: s.Period.d, Fields: []string{"sum(session)"}, GroupBy: []string{"project"}})
			if err != nil {
				return err
			}
			for _, grp := range se.Groups {
				p, _ := grp.By["project"].(int64)
				n, _ := grp.Totals["sum(session)"].(uint64)
				totals[p] = n
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		w.renderAnalytics(rw, r, "releases", v, &d.State, err)
		return
	}
	d.Health = health != nil
	for _, rel := range rs {
		row := releaseRow{Version: rel.Version, URL: releaseURL(s.Org, rel.Version), Created: ago(rel.DateCreated),
			CreatedISO: when(rel.DateCreated), NewIssues: newIssues[rel.Version]}
		if rel.DateReleased != nil {
			row.Released = ago(*rel.DateReleased)
		}
		if dp := rel.LastDeploy; dp != nil {
			row.LastDeployEnv, row.DeployAt = dp.Environment, ago(dp.DateFinished)
		}
		var h analyticsquery.ReleaseHealth
		var all uint64
		for _, id := range rel.ProjectIDs {
			if slug := s.slug(uint64(id)); slug != "" && slices.Contains(ids, id) {
				row.Projects = append(row.Projects, slug)
				if x := health[analyticsquery.ReleaseHealthKey{ProjectID: id, Release: rel.Version}]; x != nil {
					h.Sessions += x.Sessions
					h.SessionsCrashed += x.SessionsCrashed
					h.Users += x.Users
					h.UsersCrashed += x.UsersCrashed
				}
				all += totals[id]
			}
		}
		slices.Sort(row.Projects)
		if d.Health {
			row.Sessions = fmtCount(float64(h.Sessions))
			row.CrashFreeSessions = pct(h.SessionsCrashed, h.Sessions, true)
			row.CrashFreeUsers = pct(h.UsersCrashed, h.Users, true)
			row.Adoption = pct(h.Sessions, all, false)
		}
		d.Rows = append(d.Rows, row)
	}
	w.renderAnalytics(rw, r, "releases", v, &d.State, nil)
}

// releaseData is a release's page.
type releaseData struct {
	*scope
	State       analyticsState
	Release     *accounts.ReleaseDetail
	Recorded    bool // in the api's releases, not only named by events
	Projects    []string
	Created     string
	Released    string
	NewIssues   []releaseIssue
	HasHealth   bool // sessions in the period
	Totals      healthTotals
	CrashFree   LineChart
	ByStatus    []statusCount
	CommitCount int
}

type releaseIssue struct {
	Title, Culprit, Project, URL, LastSeen string
	Events                                 int64
}

type healthTotals struct {
	Sessions, Users, CrashFreeSessions, CrashFreeUsers string
}

type statusCount struct {
	Status, Count, Share string
}

func (w *Web) releasePage(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	oa := orgOf(ctx)
	version := chi.URLParam(r, "version")
	if r.URL.RawPath != "" { // chi routed on the escaped path
		if u, err := url.PathUnescape(version); err == nil {
			version = u
		}
	}
	v := &view{Title: "Release " + version, Crumbs: []crumb{{Label: oa.org.Name, Href: "/"},
		{Label: "Releases", Href: "/organizations/" + oa.org.Slug + "/releases/"}, {Label: version}}}
	s, err := w.scopeOf(r)
	if s == nil {
		w.renderAnalytics(rw, r, "release", v, &analyticsState{}, err)
		return
	}
	be := w.backend()
	rel, rerr := be.store.Release(ctx, oa.org.ID, version)
	if rerr != nil {
		w.fail(rw, r, rerr)
		return
	}
	// A version events named but no one recorded (sentry-cli releases
	// new): a release of the projects with its issues, without summary.
	recorded := rel != nil
	if !recorded {
		ps, err := be.issues.ReleaseProjects(ctx, s.ids(), version)
		if err != nil {
			w.fail(rw, r, err)
			return
		}
		if len(ps) > 0 {
			rel = &accounts.ReleaseDetail{ReleaseSummary: accounts.ReleaseSummary{Version: version, ProjectIDs: ps}}
		}
	}
	// Only the release's projects the person may read: none is a release
	// they cannot see.
	var ids []int64
	var slugs []string
	if rel != nil {
		for _, id := range s.ids() {
			if slices.Contains(rel.ProjectIDs, id) {
				ids, slugs = append(ids, id), append(slugs, s.slug(uint64(id)))
			}
		}
	}
	if len(ids) == 0 {
		w.notFound(rw, r)
		return
	}
	d := &releaseData{scope: s, Release: rel, Projects: slugs, Recorded: recorded}
	if recorded {
		d.Created = when(rel.DateCreated)
	}
	if rel.DateReleased != nil {
		d.Released = when(*rel.DateReleased)
	}
	v.Data = d
	ch, st := w.chOf()
	d.State = st
	if err != nil {
		w.renderAnalytics(rw, r, "release", v, &d.State, err)
		return
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		is, err := be.issues.ReleaseNewIssues(gctx, ids, rel.Version, maxReleaseIssues)
		for _, i := range is {
			d.NewIssues = append(d.NewIssues, releaseIssue{Title: i.Title, Culprit: i.Culprit, Project: s.slug(uint64(i.ProjectID)),
				URL: "/organizations/" + s.Org + "/issues/" + strconv.FormatInt(i.ID, 10) + "/", LastSeen: ago(i.LastSeen), Events: i.TimesSeen})
		}
		return err
	})
	if ch != nil {
		search := "release:" + analyticsquery.Quote(rel.Version)
		g.Go(func() error {
			se, err := analyticsquery.RunSessions(gctx, ch, analyticsquery.SessionsQuery{Projects: ids, Start: s.Start, End: s.End,
				Interval: s.Period.interval, Search: search,
				Fields: []string{"sum(session)", "count_unique(user)", "crash_free_rate(session)", "crash_free_rate(user)"}})
			if err != nil || len(se.Groups) == 0 {
				return err
			}
			grp := se.Groups[0]
			sessions, _ := grp.Totals["sum(session)"].(uint64)
			d.HasHealth = sessions > 0
			users, _ := grp.Totals["count_unique(user)"].(uint64)
			d.Totals = healthTotals{Sessions: fmtCount(float64(sessions)), Users: fmtCount(float64(users)),
				CrashFreeSessions: rateText(grp.Totals["crash_free_rate(session)"]), CrashFreeUsers: rateText(grp.Totals["crash_free_rate(user)"])}
			percents := func(f string) []float64 {
				out := make([]float64, len(grp.Series[f]))
				for i, x := range grp.Series[f] {
					if x == nil { // no session in the bucket: nothing crashed
						out[i] = 100
						continue
					}
					out[i] = 100 * number(x)
				}
				return out
			}
			d.CrashFree = NewLineChart([]string{"Crash-free sessions", "Crash-free users"},
				[][]float64{percents("crash_free_rate(session)"), percents("crash_free_rate(user)")},
				se.Start, s.Period.interval, 720, 120, "Crash-free sessions and users", func(x float64) string { return fmtPct(x / 100) })
			return nil
		})
		g.Go(func() error {
			se, err := analyticsquery.RunSessions(gctx, ch, analyticsquery.SessionsQuery{Projects: ids, Start: s.Start, End: s.End,
				Interval: s.Period.d, Search: search, Fields: []string{"sum(session)"}, GroupBy: []string{"session.status"}})
			if err != nil {
				return err
			}
			var all uint64
			for _, grp := range se.Groups {
				n, _ := grp.Totals["sum(session)"].(uint64)
				all += n
			}
			for _, grp := range se.Groups {
				n, _ := grp.Totals["sum(session)"].(uint64)
				st, _ := grp.By["session.status"].(string)
				d.ByStatus = append(d.ByStatus, statusCount{Status: st, Count: fmtCount(float64(n)), Share: pct(n, all, false)})
			}
			return nil
		})
	}
	w.renderAnalytics(rw, r, "release", v, &d.State, g.Wait())
}

// rateText writes a rate of the sessions query, "" when it is nil (no
// sessions or users).
func rateText(v any) string {
	if v == nil {
		return ""
	}
	return fmtPct(number(v))
}
