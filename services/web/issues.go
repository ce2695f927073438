package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/sync/errgroup"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/issues"
)

func (w *Web) mountIssues(r chi.Router) {
	r.Get("/organizations/{org}/issues/", w.orgPage(accounts.LevelRead, w.issueList))
	r.Post("/organizations/{org}/issues/bulk/", w.orgPage(accounts.LevelWrite, w.issueBulk))
	r.Get("/organizations/{org}/issues/{issue}/", w.orgPage(accounts.LevelRead, w.issuePage))
	r.Get("/organizations/{org}/issues/{issue}/events/{event}/", w.orgPage(accounts.LevelRead, w.issuePage))
	r.Post("/organizations/{org}/issues/{issue}/", w.orgPage(accounts.LevelWrite, w.issueAction))
}

// defaultSearch is the issue list's search when the URL has none, as in
// Sentry.
const defaultSearch = "is:unresolved"

// sorts are the issue list's orders, in the select's order.
var sorts = []struct{ Value, Label string }{
	{issues.SortDate, "Last seen"}, {issues.SortNew, "First seen"}, {issues.SortFreq, "Events"}, {issues.SortUser, "Users"},
}

type issueListData struct {
	Project  *accounts.OrgProject
	Projects []*accounts.OrgProject // of the organisation, to switch between
	Query    string
	Sort     string
	Sorts    any
	Rows     []issueRow
	NextURL  string
	PrevURL  string
	Here     string // this page, for the bulk form to come back to
	CanWrite bool
}

type issueRow struct {
	I     *issues.Issue
	Chart Chart
}

func issueURL(org string, id int64) string {
	return "/organizations/" + org + "/issues/" + strconv.FormatInt(id, 10) + "/"
}

// listURL is the issue list with its filters, for links that keep them.
func listURL(org, project, query, sort, cursor string) string {
	q := url.Values{}
	q.Set("project", project)
	q.Set("query", query)
	if sort != "" && sort != issues.SortDate {
		q.Set("sort", sort)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	return "/organizations/" + org + "/issues/?" + q.Encode()
}

func (w *Web) issueList(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	oa := orgOf(ctx)
	be := w.backend()
	projects, err := be.store.OrgProjects(ctx, accounts.ProjectFilter{Orgs: accounts.OrgFilter{AllOrgs: true}, OrgID: oa.org.ID}, maxProjects, 0)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	if len(projects) == 0 {
		w.notFound(rw, r)
		return
	}
	qs := r.URL.Query()
	var pr *accounts.OrgProject
	for _, p := range projects {
		if p.Slug == qs.Get("project") || strconv.FormatInt(p.ID, 10) == qs.Get("project") {
			pr = p
			break
		}
	}
	if pr == nil {
		if qs.Get("project") != "" {
			w.notFound(rw, r)
			return
		}
		http.Redirect(rw, r, listURL(oa.org.Slug, projects[0].Slug, defaultSearch, "", ""), http.StatusSeeOther)
		return
	}
	query := defaultSearch
	if qs.Has("query") {
		query = strings.TrimSpace(qs.Get("query"))
	}
	d := issueListData{Project: pr, Projects: projects, Query: query, Sorts: sorts, CanWrite: oa.level >= accounts.LevelWrite,
		Here: r.URL.RequestURI()}
	v := &view{Title: pr.Name + " issues", Data: &d, Crumbs: []crumb{{Label: oa.org.Name, Href: "/"}, {Label: pr.Name}}}
	search, err := issues.ParseIssueSearch(query)
	if err == nil {
		search.Sort, err = issues.NormalizeIssueSort(qs.Get("sort"))
	}
	if err != nil {
		v.Error = "The search is not valid: " + strings.TrimPrefix(err.Error(), accounts.ErrInvalid.Error()+": ")
		w.render(rw, r, http.StatusBadRequest, "issues", v)
		return
	}
	d.Sort = search.Sort
	search.Cursor = qs.Get("cursor")
	search.Me = principalOf(ctx).User.ID
	iss := be.issues
	page, err := iss.ListIssues(ctx, pr.ID, search)
	if errors.Is(err, accounts.ErrInvalid) {
		v.Error = strings.TrimPrefix(err.Error(), accounts.ErrInvalid.Error()+": ")
		w.render(rw, r, http.StatusBadRequest, "issues", v)
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	ids := make([]int64, len(page.Issues))
	for i, is := range page.Issues {
		ids[i] = is.ID
	}
	stats, err := iss.IssuesStats(ctx, ids, "24h")
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	for _, is := range page.Issues {
		d.Rows = append(d.Rows, issueRow{I: is, Chart: chartOf(stats[is.ID], time.Hour, 120, 28, "Events in the last 24 hours")})
	}
	if page.Next != "" {
		d.NextURL = listURL(oa.org.Slug, pr.Slug, query, d.Sort, page.Next)
	}
	if page.Prev != "" {
		d.PrevURL = listURL(oa.org.Slug, pr.Slug, query, d.Sort, page.Prev)
	}
	w.render(rw, r, http.StatusOK, "issues", v)
}

func chartOf(pts []issues.StatsPoint, step time.Duration, width, height int, label string) Chart {
	counts := make([]int64, len(pts))
	var start time.Time
	for i, p := range pts {
		counts[i] = p.Count
		if i == 0 {
			start = p.Time
		}
	}
	return NewChart(counts, start, step, width, height, label)
}

// maxBulk bounds one bulk change.
const maxBulk = 100

// issueBulk resolves, ignores or unresolves the selected issues of one
// project.
func (w *Web) issueBulk(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	oa := orgOf(ctx)
	pr, err := w.backend().store.OrgProject(ctx, oa.org.ID, r.PostFormValue("project"))
	if errors.Is(err, accounts.ErrNotFound) {
		w.notFound(rw, r)
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	back := localPath(r.PostFormValue("back"))
	if back == "/" {
		back = listURL(oa.org.Slug, pr.Slug, defaultSearch, "", "")
	}
	var ids []int64
	for _, s := range r.PostForm["issue"] {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			w.refuse(rw, r, http.StatusBadRequest, errors.New("invalid issue id"))
			return
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		w.refuse(rw, r, http.StatusBadRequest, errors.New("select at least one issue"))
		return
	}
	if len(ids) > maxBulk {
		w.refuse(rw, r, http.StatusBadRequest, fmt.Errorf("select at most %d issues at once", maxBulk))
		return
	}
	iss := w.backend().issues
	owned, err := iss.ProjectIssues(ctx, pr.ID, ids)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	if len(owned) != len(ids) {
		w.notFound(rw, r)
		return
	}
	if r.PostFormValue("action") == "merge" {
		if len(owned) < 2 {
			w.refuse(rw, r, http.StatusBadRequest, errors.New("select at least two issues to merge"))
			return
		}
		parent, _, err := iss.Merge(ctx, owned)
		to := back
		if parent != 0 {
			to = issueURL(oa.org.Slug, parent)
		}
		w.decided(rw, r, err, to, "merged")
		return
	}
	su, done, err := statusUpdateOf(r)
	if err != nil {
		w.refuse(rw, r, http.StatusBadRequest, err)
		return
	}
	for _, id := range owned {
		if err = iss.SetStatus(ctx, id, su); errors.Is(err, accounts.ErrNotFound) || errors.Is(err, issues.ErrNotApplied) {
			err = nil // gone meanwhile, or applied shortly
		}
		if err != nil {
			w.fail(rw, r, err)
			return
		}
	}
	redirectDone(rw, r, back, done)
}

// statusUpdateOf reads a decision from a form: action resolve,
// resolve_next, resolve_in_release (with release), unresolve or ignore (with ignore_minutes, ignore_count or
// ignore_users, none meaning for good).
func statusUpdateOf(r *http.Request) (issues.StatusUpdate, string, error) {
	switch r.PostFormValue("action") {
	case "resolve":
		return issues.StatusUpdate{Status: issues.StatusResolved}, "resolved", nil
	case "resolve_next":
		return issues.StatusUpdate{Status: issues.StatusResolvedInNextRelease}, "resolved_next", nil
	case "resolve_in_release":
		su := issues.StatusUpdate{Status: issues.StatusResolvedInRelease, InRelease: strings.TrimSpace(r.PostFormValue("release"))}
		if err := issues.CheckRelease(su.InRelease); err != nil {
			return su, "", errors.New("name the release the fix ships in (1 to 200 characters, no slash)")
		}
		return su, "resolved_in_release", nil
	case "unresolve":
		return issues.StatusUpdate{Status: issues.StatusUnresolved}, "unresolved", nil
	case "ignore":
		su := issues.StatusUpdate{Status: issues.StatusIgnored}
		mins, err := formInt(r, "ignore_minutes")
		if err != nil {
			return su, "", err
		}
		n, err := formInt(r, "ignore_count")
		if err != nil {
			return su, "", err
		}
		u, err := formInt(r, "ignore_users")
		if err != nil {
			return su, "", err
		}
		win, err := formInt(r, "ignore_window")
		if err != nil {
			return su, "", err
		}
		if win != nil {
			su.IgnoreWindow = time.Duration(*win) * time.Minute
		}
		if mins != nil {
			if *mins > 10*365*24*60 {
				return su, "", errors.New("ignore for at most ten years")
			}
			su.IgnoreDuration = time.Duration(*mins) * time.Minute
		}
		if n != nil {
			su.IgnoreCount = *n
		}
		if u != nil {
			su.IgnoreUserCount = *u
		}
		return su, "ignored", nil
	}
	return issues.StatusUpdate{}, "", errors.New("unknown action")
}

// windowText reads an ignore's window in minutes as the form offers it.
func windowText(minutes int64) string {
	switch minutes {
	case 1:
		return "a minute"
	case 60:
		return "an hour"
	case 1440:
		return "a day"
	case 10080:
		return "a week"
	}
	return strconv.FormatInt(minutes, 10) + " minutes"
}

// issueOf loads the {issue} of the path and its project, which must be the
// organisation's: anything else is errNotFoundPage.
func (w *Web) issueOf(r *http.Request) (*issues.Issue, *accounts.OrgProject, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, "issue"), 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, errNotFoundPage
	}
	ctx := r.Context()
	be := w.backend()
	is, err := be.issues.Issue(ctx, id)
	if errors.Is(err, accounts.ErrNotFound) {
		return nil, nil, errNotFoundPage
	}
	if err != nil {
		return nil, nil, err
	}
	pr, err := be.store.OrgProject(ctx, orgOf(ctx).org.ID, strconv.FormatInt(is.ProjectID, 10))
	if errors.Is(err, accounts.ErrNotFound) || (err == nil && pr.ID != is.ProjectID) {
		return nil, nil, errNotFoundPage
	}
	if err != nil {
		return nil, nil, err
	}
	return is, pr, nil
}

type issuePageData struct {
	I         *issues.Issue
	Project   *accounts.OrgProject
	URL       string // the issue's page
	Chart24h  Chart
	Chart30d  Chart
	Tags      []Distribution
	Event     *eventView
	EventURLs struct{ Latest, Oldest, Newer, Older string }
	Grouping  *groupingView
	EventTags []tagLink
	Status    string // for people: "Unresolved", "Ignored until …"
	CanWrite  bool
	ListURL   string
	Assignees []assigneeOption // for the assign control
	Hashes    []hashView       // when the issue has more than one: what can be split off
	TraceURL  string           // the event's trace, when it has one and analytics is configured
	// Reprocessing is the issue's latest reprocessing, with links to the
	// issues its events went to; nil when it was never reprocessed.
	Reprocessing *reprocessingView
}

// reprocessingView is what an issue's latest reprocessing did.
type reprocessingView struct {
	R      *issues.Reprocessing
	When   string
	Issues []issueLink // the issues the moved events went to
}

// issueLink is an issue's id and page.
type issueLink struct {
	ID  int64
	URL string
}

// hashView is one of an issue's hashes with its latest event.
type hashView struct {
	ID, Title, When string
}

// assigneeOption is one choice of the assign control.
type assigneeOption struct {
	Value, Label string
	Selected     bool
}

// assigneeOptions are the organisation's members (with accounts) and teams,
// the issue's assignee selected.
func (w *Web) assigneeOptions(r *http.Request, is *issues.Issue) ([]assigneeOption, error) {
	ctx := r.Context()
	oa := orgOf(ctx)
	st := w.backend().store
	members, err := st.Members(ctx, oa.org.ID, 200, 0)
	if err != nil {
		return nil, err
	}
	teams, err := st.Teams(ctx, oa.org.ID, principalOf(ctx).User.ID, 200, 0)
	if err != nil {
		return nil, err
	}
	opts := []assigneeOption{{Value: "", Label: "Nobody", Selected: is.Assignee == ""}}
	for _, m := range members {
		if m.Pending {
			continue
		}
		ref := "user:" + strconv.FormatInt(m.UserID, 10)
		label := m.Email
		if m.Name != "" {
			label = m.Name + " (" + m.Email + ")"
		}
		opts = append(opts, assigneeOption{Value: ref, Label: label, Selected: is.Assignee == ref})
	}
	for _, t := range teams {
		ref := "team:" + strconv.FormatInt(t.ID, 10)
		opts = append(opts, assigneeOption{Value: ref, Label: "Team " + t.Name + " (#" + t.Slug + ")", Selected: is.Assignee == ref})
	}
	return opts, nil
}

func (w *Web) issuePage(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	oa := orgOf(ctx)
	is, pr, err := w.issueOf(r)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	iss := w.backend().issues
	d := &issuePageData{I: is, Project: pr, URL: issueURL(oa.org.Slug, is.ID), CanWrite: oa.level >= accounts.LevelWrite,
		ListURL: listURL(oa.org.Slug, pr.Slug, defaultSearch, "", ""), Status: statusText(is)}
	if d.CanWrite {
		if d.Assignees, err = w.assigneeOptions(r, is); err != nil {
			w.fail(rw, r, err)
			return
		}
	}

	var stored *issues.StoredEvent
	switch ev := chi.URLParam(r, "event"); ev {
	case "", "latest":
		stored, err = iss.LatestEvent(ctx, is.ID)
	case "oldest":
		stored, err = iss.OldestEvent(ctx, is.ID)
	default:
		stored, err = iss.Event(ctx, is.ID, ev)
		if errors.Is(err, accounts.ErrNotFound) {
			w.notFound(rw, r)
			return
		}
	}
	if err != nil && !errors.Is(err, accounts.ErrNotFound) {
		w.fail(rw, r, err)
		return
	}

	if stored != nil {
		e, err := stored.Normalized()
		if err != nil {
			w.fail(rw, r, err)
			return
		}
		d.Event = newEventView(e, stored.JSON)
		for _, t := range d.Event.Tags {
			d.EventTags = append(d.EventTags, tagLink{K: t[0], V: t[1],
				Href: listURL(oa.org.Slug, pr.Slug, "is:unresolved "+searchTerm(t[0], t[1]), "", "")})
		}
		if e.TraceID != "" && w.analyticsConfigured() {
			d.TraceURL = traceURL(oa.org.Slug, e.TraceID)
		}
		d.EventURLs.Latest = d.URL + "events/latest/"
		d.EventURLs.Oldest = d.URL + "events/oldest/"
	}

	// The rest is independent: run it side by side.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		pts, err := iss.IssueStats(gctx, is.ID, "24h")
		d.Chart24h = chartOf(pts, time.Hour, 480, 90, "Events per hour, last 24 hours")
		return err
	})
	g.Go(func() error {
		pts, err := iss.IssueStats(gctx, is.ID, "30d")
		d.Chart30d = chartOf(pts, 24*time.Hour, 480, 90, "Events per day, last 30 days")
		return err
	})
	g.Go(func() error {
		keys, err := iss.TagKeys(gctx, is.ID, 5)
		for _, k := range keys {
			vals := make([]string, len(k.TopValues))
			counts := make([]int64, len(k.TopValues))
			for i, tv := range k.TopValues {
				vals[i], counts[i] = tv.Value, tv.Count
			}
			d.Tags = append(d.Tags, NewDistribution(k.Key, vals, counts, k.TotalValues))
		}
		return err
	})
	g.Go(func() error {
		rp, err := iss.LatestReprocessing(gctx, is.ID)
		if errors.Is(err, accounts.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v := &reprocessingView{R: rp, When: when(rp.DecidedAt)}
		for _, id := range rp.Issues {
			v.Issues = append(v.Issues, issueLink{ID: id, URL: issueURL(oa.org.Slug, id)})
		}
		d.Reprocessing = v
		return nil
	})
	g.Go(func() error {
		hs, err := iss.Hashes(gctx, is.ID)
		if len(hs) < 2 {
			return err
		}
		for _, h := range hs {
			v := hashView{ID: h.ID, Title: "(no stored event)"}
			if h.LatestEvent != nil {
				v.Title, v.When = h.LatestEvent.Title, when(h.LatestEvent.Timestamp)
			}
			d.Hashes = append(d.Hashes, v)
		}
		return err
	})
	if stored != nil {
		g.Go(func() error {
			prev, next, err := iss.AdjacentEventIDs(gctx, &stored.EventSummary)
			if prev != "" {
				d.EventURLs.Older = d.URL + "events/" + prev + "/"
			}
			if next != "" {
				d.EventURLs.Newer = d.URL + "events/" + next + "/"
			}
			return err
		})
		g.Go(func() error {
			res, err := iss.GroupingInfo(gctx, stored)
			if err == nil {
				d.Grouping = newGroupingView(res)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, http.StatusOK, "issue", &view{Title: is.Title, Data: d, Crumbs: []crumb{
		{Label: oa.org.Name, Href: "/"}, {Label: pr.Name, Href: d.ListURL}, {Label: issues.ShortID(pr.Slug, is.ID)}}})
}

// statusText says an issue's status in words.
func statusText(is *issues.Issue) string {
	switch is.Status {
	case "resolved":
		return "Resolved"
	case "resolved_in_release":
		return "Resolved in release " + is.ResolvedInRelease
	case "resolved_in_next_release":
		if is.ResolvedInRelease != "" {
			return "Resolved in the release after " + is.ResolvedInRelease
		}
		return "Resolved in the next release"
	case "ignored":
		var until []string
		if is.IgnoreUntil != nil {
			until = append(until, "until "+when(*is.IgnoreUntil))
		}
		if is.IgnoreUntilCount != nil {
			events := "until " + strconv.FormatInt(*is.IgnoreUntilCount, 10) + " more events"
			if is.IgnoreUntilWindow != nil {
				events = "until " + strconv.FormatInt(*is.IgnoreUntilCount, 10) + " events within " + windowText(*is.IgnoreUntilWindow)
			}
			until = append(until, events)
		}
		if is.IgnoreUntilUsers != nil {
			until = append(until, "until "+strconv.FormatInt(*is.IgnoreUntilUsers, 10)+" more users")
		}
		if len(until) == 0 {
			return "Ignored forever"
		}
		return "Ignored " + strings.Join(until, " or ")
	}
	switch is.Substatus {
	case "regressed":
		return "Unresolved (regressed)"
	case "new":
		return "Unresolved (new)"
	}
	return "Unresolved"
}

// issueAction records a decision on one issue, or deletes it.
func (w *Web) issueAction(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	oa := orgOf(ctx)
	is, pr, err := w.issueOf(r)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	iss := w.backend().issues
	here := issueURL(oa.org.Slug, is.ID)
	switch r.PostFormValue("action") {
	case "assign":
		ref, err := iss.ResolveAssignee(ctx, oa.org.ID, r.PostFormValue("assignee"))
		if err == nil {
			err = iss.Assign(ctx, is.ID, ref)
		}
		w.decided(rw, r, err, here, "assigned")
		return
	case "delete":
		w.decided(rw, r, iss.DeleteIssue(ctx, is.ID), listURL(oa.org.Slug, pr.Slug, defaultSearch, "", ""), "deleted")
		return
	case "unmerge":
		hashes := r.PostForm["hash"]
		if len(hashes) == 0 {
			w.refuse(rw, r, http.StatusBadRequest, errors.New("select the hashes to split off"))
			return
		}
		id, err := iss.Unmerge(ctx, is.ID, hashes)
		if err == nil && id != 0 {
			here = issueURL(oa.org.Slug, id)
		}
		w.decided(rw, r, err, here, "unmerged")
		return
	case "reprocess":
		rp, err := iss.Reprocess(ctx, is.ID, 0)
		notice := "reprocessed"
		switch {
		case err != nil:
		case rp.Status == issues.ReprocessingQueued:
			notice = "pending"
		case rp.Removed && len(rp.Issues) > 0:
			// Every event moved: the issue is gone; show where the first went.
			here, notice = issueURL(oa.org.Slug, rp.Issues[0]), "reprocessed_moved"
		}
		w.decided(rw, r, err, here, notice)
		return
	}
	su, done, err := statusUpdateOf(r)
	if err != nil {
		w.refuse(rw, r, http.StatusBadRequest, err)
		return
	}
	w.decided(rw, r, iss.SetStatus(ctx, is.ID, su), here, done)
}

// decided answers a decision's outcome: applied, back to to with notice;
// stored but not applied yet, back to to saying so; refused, the refusal.
func (w *Web) decided(rw http.ResponseWriter, r *http.Request, err error, to, notice string) {
	switch {
	case err == nil:
		redirectDone(rw, r, to, notice)
	case errors.Is(err, issues.ErrNotApplied):
		redirectDone(rw, r, to, "pending")
	default:
		w.storeRefusal(rw, r, err)
	}
}

// tagLink is one of an event's tags, linked to the issues that have it.
type tagLink struct {
	K, V, Href string
}

// searchTerm writes key:value in the search syntax, quoting the value when
// it holds spaces or quotes.
func searchTerm(key, value string) string {
	if issues.IsSearchKeyword(key) {
		key = "tags[" + key + "]"
	}
	if value != "" && !strings.ContainsAny(value, " \t\r\n\"\\") {
		return key + ":" + value
	}
	return key + ":\"" + strings.NewReplacer("\\", "\\\\", "\"", "\\\"").Replace(value) + "\""
}
