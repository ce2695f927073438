package web

import (
	"net/http"
	"time"

	"github.com/faultline/faultline/libs/accounts"
)

// maxProjects bounds the overview; larger installs search instead.
const maxProjects = 200

type projectsData struct {
	Orgs []*orgProjects
}

type orgProjects struct {
	Org      accounts.Organization
	Projects []*projectRow
}

type projectRow struct {
	P         *accounts.OrgProject
	Chart     Chart
	Events24h int64
	NewIssues int64
}

// projectsPage lists the projects the user can see, by organisation, with
// each one's event volume over 24 hours and new issues.
func (w *Web) projectsPage(rw http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	be := w.backend()
	projects, err := be.store.OrgProjects(r.Context(), accounts.ProjectFilter{Orgs: p.Orgs()}, maxProjects, 0)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	rows := make([]*projectRow, len(projects))
	ids := make([]int64, len(projects))
	for i, pr := range projects {
		rows[i] = &projectRow{P: pr}
		ids[i] = pr.ID
	}
	iss := be.issues
	stats, err := iss.ProjectsStats(r.Context(), ids, "24h")
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	fresh, err := iss.NewIssueCounts(r.Context(), ids, time.Now().Add(-24*time.Hour))
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	for _, row := range rows {
		row.Chart = chartOf(stats[row.P.ID], time.Hour, 240, 40, "Events per hour, last 24 hours")
		row.Events24h = row.Chart.Total
		row.NewIssues = fresh[row.P.ID]
	}
	var d projectsData
	for _, row := range rows {
		if n := len(d.Orgs); n == 0 || d.Orgs[n-1].Org.ID != row.P.Org.ID {
			d.Orgs = append(d.Orgs, &orgProjects{Org: row.P.Org})
		}
		o := d.Orgs[len(d.Orgs)-1]
		o.Projects = append(o.Projects, row)
	}
	w.render(rw, r, http.StatusOK, "projects", &view{Title: "Projects", Data: d})
}
