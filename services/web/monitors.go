package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/monitorstore"
	"github.com/faultline/faultline/streams"
)

// A project's cron monitors: the list with each one's state, and a
// monitor's page with its latest check-ins on a timeline. Read only: the
// monitors API changes them.

func (w *Web) mountMonitors(r chi.Router) {
	r.Get("/organizations/{org}/projects/{project}/monitors/", w.orgPage(accounts.LevelRead, w.monitorList))
	r.Get("/organizations/{org}/projects/{project}/monitors/{monitor}/", w.orgPage(accounts.LevelRead, w.monitorPage))
}

// monitorRow is one monitor as the dashboard shows it.
type monitorRow struct {
	*monitorstore.Monitor
	Href     string
	Schedule string
	Health   string // a check-in status, "new" before the first
}

func monitorRowOf(pr *accounts.OrgProject, m *monitorstore.Monitor) monitorRow {
	h := m.LastStatus
	if h == "" {
		h = "new"
	}
	return monitorRow{Monitor: m, Href: monitorsPath(pr) + m.Slug + "/", Schedule: scheduleText(m.Config), Health: h}
}

func monitorsPath(pr *accounts.OrgProject) string {
	return "/organizations/" + pr.Org.Slug + "/projects/" + pr.Slug + "/monitors/"
}

// scheduleText says a schedule in a few words.
func scheduleText(c streams.MonitorConfig) string {
	s := c.Crontab
	if c.ScheduleType == "interval" {
		s = fmt.Sprintf("every %d %s", c.Interval, c.Unit)
		if c.Interval != 1 {
			s += "s"
		}
	}
	if c.Timezone != "" {
		s += " (" + c.Timezone + ")"
	}
	return s
}

func (w *Web) monitorList(rw http.ResponseWriter, r *http.Request) {
	pr, err := w.projectOf(r)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	ms, err := monitorstore.List(r.Context(), w.backend().pool, []int64{pr.ID})
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	rows := make([]monitorRow, 0, len(ms))
	for _, m := range ms {
		rows = append(rows, monitorRowOf(pr, m))
	}
	w.render(rw, r, http.StatusOK, "monitors", &view{Title: "Cron monitors of " + pr.Name,
		Crumbs: []crumb{{Label: pr.Org.Name, Href: "/"}, {Label: pr.Name}, {Label: "Monitors"}},
		Data:   map[string]any{"Project": pr, "Monitors": rows}})
}

// timelineSlot is one check-in on the monitor page's timeline.
type timelineSlot struct {
	X      int
	Status string
	Title  string
}

func (w *Web) monitorPage(rw http.ResponseWriter, r *http.Request) {
	pr, err := w.projectOf(r)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	ctx := r.Context()
	ms, err := monitorstore.Find(ctx, w.backend().pool, []int64{pr.ID}, chi.URLParam(r, "monitor"))
	if err == nil && len(ms) == 0 {
		err = errNotFoundPage
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	m := ms[0]
	cis, err := monitorstore.CheckIns(ctx, w.backend().pool, m.ID, 60)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	// Oldest on the left.
	slots := make([]timelineSlot, 0, len(cis))
	counts := map[string]int{}
	for i := range cis {
		ci := cis[len(cis)-1-i]
		counts[ci.Status]++
		slots = append(slots, timelineSlot{X: i * 12, Status: ci.Status,
			Title: ci.Status + " at " + ci.Received.UTC().Format(time.RFC3339)})
	}
	w.render(rw, r, http.StatusOK, "monitor", &view{Title: m.Name,
		Crumbs: []crumb{{Label: pr.Org.Name, Href: "/"}, {Label: pr.Name, Href: monitorsPath(pr)}, {Label: m.Name}},
		Data: map[string]any{"Project": pr, "Monitor": monitorRowOf(pr, m), "CheckIns": cis, "Slots": slots,
			"Width": max(len(slots)*12, 12), "Counts": counts}})
}
