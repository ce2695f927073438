package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/issues"
)

// issueRoutes are the issue, event, tag and stats endpoints, shaped like
// Sentry's. Issue ids in organisation paths are checked against the
// organisation: another organisation's issue is 404.
func (a *API) issueRoutes() []route {
	const org, proj = "/api/0/organizations/{org}/issues/{issue_id}/", "/api/0/projects/{org}/{project}/"
	return []route{
		{"GET", proj + "issues/", "List a project's issues (query, sort, statsPeriod, cursor)", user, accounts.LevelRead, 200, "", "[]Issue", a.listIssues},
		{"PUT", proj + "issues/", "Update issues in bulk (?id=1&id=2, or those matching query), or merge the selected ones", user, accounts.LevelWrite, 200, "IssueUpdate", "IssueBulkUpdate", a.bulkUpdateIssues},
		{"GET", proj + "events/", "List a project's events of every issue, newest first (full=true: whole events)", user, accounts.LevelRead, 200, "", "[]Event", a.listProjectEvents},
		{"GET", proj + "events/{event_id}/", "Retrieve a project's event", user, accounts.LevelRead, 200, "", "Event", a.getProjectEvent},
		{"GET", proj + "events/{event_id}/grouping-info/", "Explain how an event groups under the project's rules", user, accounts.LevelRead, 200, "", "GroupingInfo", a.groupingInfo},
		{"GET", proj + "stats/", "Events received by a project over time (statsPeriod 24h hourly, 30d daily)", user, accounts.LevelRead, 200, "", "Stats", a.projectStats},

		{"GET", org, "Retrieve an issue", user, accounts.LevelRead, 200, "", "Issue", a.getIssue},
		{"PUT", org, "Resolve, ignore, unresolve or assign an issue", user, accounts.LevelWrite, 200, "IssueUpdate", "Issue", a.updateIssue},
		{"DELETE", org, "Delete an issue and its events", user, accounts.LevelWrite, 202, "", "", a.deleteIssue},
		{"GET", org + "events/", "List an issue's events, newest first", user, accounts.LevelRead, 200, "", "[]Event", a.listIssueEvents},
		{"GET", org + "events/latest/", "An issue's latest event", user, accounts.LevelRead, 200, "", "Event", a.issueEvent},
		{"GET", org + "events/oldest/", "An issue's oldest event", user, accounts.LevelRead, 200, "", "Event", a.issueEvent},
		{"GET", org + "events/{event_id}/", "An issue's event by id", user, accounts.LevelRead, 200, "", "Event", a.issueEvent},
		{"GET", org + "tags/", "An issue's tag keys with their top values", user, accounts.LevelRead, 200, "", "[]TagKey", a.issueTags},
		{"GET", org + "tags/{key}/values/", "The values of one tag key in an issue", user, accounts.LevelRead, 200, "", "[]TagValue", a.issueTagValues},
		{"GET", org + "stats/", "An issue's events over time (statsPeriod 24h hourly, 30d daily)", user, accounts.LevelRead, 200, "", "Stats", a.issueStats},
	}
}

// issue loads the {issue_id} of the path and checks it belongs to the
// organisation of the path (and its project is the token's, for project
// tokens); otherwise 404 with nothing about it.
func (a *API) issue(c *call) (*issues.Issue, *accounts.OrgProject, error) {
	id, err := strconv.ParseInt(c.param("issue_id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, errNotFound
	}
	ctx := c.r.Context()
	is, err := c.issues.Issue(ctx, id)
	if errors.Is(err, accounts.ErrNotFound) {
		return nil, nil, errNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	p, err := c.orgProject(ctx, is.ProjectID)
	if err != nil {
		return nil, nil, err
	}
	return is, p, nil
}

// orgProject is project id of the path's organisation; errNotFound when
// it is another organisation's.
func (c *call) orgProject(ctx context.Context, id int64) (*accounts.OrgProject, error) {
	p, err := c.store.OrgProject(ctx, c.org.ID, idString(id))
	if errors.Is(err, accounts.ErrNotFound) || (err == nil && p.ID != id) {
		return nil, errNotFound
	}
	return p, err
}

// --- JSON shapes

// issueMetadata is Sentry's metadata: type and value for errors (the title
// is "Type: value"), the title otherwise.
// IssueMetadata is an issue's title, and for errors its type and value.
type IssueMetadata struct {
	Type  *string `json:"type,omitempty"`
	Value *string `json:"value,omitempty"`
	Title string  `json:"title"`
}

func issueMetadata(is *issues.Issue) IssueMetadata {
	if is.Type == "error" {
		typ, val, ok := strings.Cut(is.Title, ": ")
		if !ok {
			typ, val = is.Title, ""
		}
		return IssueMetadata{Type: &typ, Value: &val, Title: is.Title}
	}
	return IssueMetadata{Title: is.Title}
}

// IssueStatusDetails says until when an issue is resolved or ignored;
// fields that do not apply are left out.
type IssueStatusDetails struct {
	InNextRelease   *bool      `json:"inNextRelease,omitempty"`
	InRelease       *string    `json:"inRelease,omitempty"`
	IgnoreCount     *int64     `json:"ignoreCount,omitempty"`
	IgnoreUserCount *int64     `json:"ignoreUserCount,omitempty"`
	IgnoreWindow    *int64     `json:"ignoreWindow,omitempty"`
	IgnoreUntil     *time.Time `json:"ignoreUntil,omitempty"`
	IgnoreDuration  *int64     `json:"ignoreDuration,omitempty"`
}

// sentryStatus maps a stored status to Sentry's status, substatus and
// statusDetails.
func sentryStatus(is *issues.Issue) (string, *string, IssueStatusDetails) {
	var details IssueStatusDetails
	sub := func(s string) *string { return &s }
	switch is.Status {
	case "resolved":
		return "resolved", nil, details
	case "resolved_in_next_release":
		yes := true
		details.InNextRelease = &yes
		return "resolved", nil, details
	case "resolved_in_release":
		details.InRelease = &is.ResolvedInRelease
		return "resolved", nil, details
	case "ignored":
		details.IgnoreCount, details.IgnoreUserCount, details.IgnoreWindow = is.IgnoreUntilCount, is.IgnoreUntilUsers, is.IgnoreUntilWindow
		if is.IgnoreUntil != nil {
			u := is.IgnoreUntil.UTC()
			details.IgnoreUntil = &u
		}
		if details != (IssueStatusDetails{}) {
			return "ignored", sub("archived_until_condition_met"), details
		}
		return "ignored", sub("archived_forever"), details
	}
	switch is.Substatus {
	case "regressed":
		return "unresolved", sub("regressed"), details
	case "unignored":
		return "unresolved", sub("escalating"), details
	case "new":
		return "unresolved", sub("new"), details
	}
	return "unresolved", sub("ongoing"), details
}

// IssueRelease is a release an issue was first or last seen in.
type IssueRelease struct {
	Version      string `json:"version"`
	ShortVersion string `json:"shortVersion"`
}

func releaseJSON(v string) *IssueRelease {
	if v == "" {
		return nil
	}
	return &IssueRelease{Version: v, ShortVersion: v}
}

// Issue is an issue as Sentry answers it; Stats only where asked for.
type Issue struct {
	ID            string                `json:"id"`
	ShortID       string                `json:"shortId"`
	Title         string                `json:"title"`
	Culprit       string                `json:"culprit"`
	Permalink     string                `json:"permalink"`
	Logger        *string               `json:"logger"`
	Level         string                `json:"level"`
	Status        string                `json:"status"`
	Substatus     *string               `json:"substatus"`
	StatusDetails IssueStatusDetails    `json:"statusDetails"`
	IsPublic      bool                  `json:"isPublic"`
	Platform      string                `json:"platform"`
	Type          string                `json:"type"`
	IssueType     string                `json:"issueType"`
	IssueCategory string                `json:"issueCategory"`
	Project       IssueProject          `json:"project"`
	Metadata      IssueMetadata         `json:"metadata"`
	NumComments   int                   `json:"numComments"`
	AssignedTo    *Assignee             `json:"assignedTo"`
	IsBookmarked  bool                  `json:"isBookmarked"`
	IsSubscribed  bool                  `json:"isSubscribed"`
	HasSeen       bool                  `json:"hasSeen"`
	Annotations   []string              `json:"annotations"`
	IsUnhandled   bool                  `json:"isUnhandled"`
	ShareID       *string               `json:"shareId"`
	Count         string                `json:"count"` // events, as a decimal string
	UserCount     int64                 `json:"userCount"`
	FirstSeen     time.Time             `json:"firstSeen"`
	LastSeen      time.Time             `json:"lastSeen"`
	FirstRelease  *IssueRelease         `json:"firstRelease"`
	LastRelease   *IssueRelease         `json:"lastRelease"`
	Environments  []string              `json:"environments"`
	Stats         map[string][][2]int64 `json:"stats,omitempty"` // by period: [unix seconds, count] per bucket
}

// IssueProject is the project of an issue.
type IssueProject struct {
	ID       string  `json:"id"`
	Slug     string  `json:"slug"`
	Name     string  `json:"name"`
	Platform *string `json:"platform"`
}

func (a *API) issueJSON(c *call, is *issues.Issue, p *accounts.OrgProject, stats map[string][]issues.StatsPoint) Issue {
	status, sub, details := sentryStatus(is)
	m := Issue{ID: idString(is.ID), ShortID: issues.ShortID(p.Slug, is.ID), Title: is.Title, Culprit: is.Culprit,
		Permalink: strings.TrimRight(c.store.PublicURL(), "/") + "/organizations/" + url.PathEscape(c.org.Slug) + "/issues/" + idString(is.ID) + "/",
		Level:     is.Level, Status: status, Substatus: sub, StatusDetails: details,
		Platform: is.Platform, Type: is.Type, IssueType: is.Type, IssueCategory: "error",
		Project:  IssueProject{ID: idString(p.ID), Slug: p.Slug, Name: p.Name, Platform: strOrNil(p.Platform)},
		Metadata: issueMetadata(is), AssignedTo: assignedToJSON(is.Assignee, is.AssigneeName, is.AssigneeEmail),
		Annotations: []string{}, Count: strconv.FormatInt(is.TimesSeen, 10), UserCount: is.UsersSeen,
		FirstSeen: is.FirstSeen.UTC(), LastSeen: is.LastSeen.UTC(),
		FirstRelease: releaseJSON(is.FirstRelease), LastRelease: releaseJSON(is.LastRelease),
		Environments: is.Environments,
	}
	if stats != nil {
		m.Stats = map[string][][2]int64{}
		for k, v := range stats {
			m.Stats[k] = statsJSON(v)
		}
	}
	return m
}

// keysetLinks sets Sentry's Link header for a keyset page: previous and
// next, each with results="true|false".
func keysetLinks(c *call, prev, next string) {
	q := c.r.URL.Query()
	link := func(rel, cursor string) string {
		q.Set("cursor", cursor)
		u := strings.TrimRight(c.store.PublicURL(), "/") + c.r.URL.Path + "?" + q.Encode()
		return fmt.Sprintf(`<%s>; rel="%s"; results="%t"; cursor="%s"`, u, rel, cursor != "", cursor)
	}
	c.w.Header().Set("Link", link("previous", prev)+", "+link("next", next))
}

func perPage(c *call, def int) (int, error) {
	s := c.r.URL.Query().Get("per_page")
	if s == "" {
		s = c.r.URL.Query().Get("limit")
	}
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPerPage {
		return 0, &httpError{http.StatusBadRequest, fmt.Sprintf("per_page: want 1 to %d", maxPerPage)}
	}
	return n, nil
}

// searchOf reads query= (default is:unresolved, as Sentry) and sort=.
func searchOf(c *call) (issues.IssueQuery, error) {
	v := c.r.URL.Query()
	s := "is:unresolved"
	if v.Has("query") {
		s = v.Get("query")
	}
	q, err := issues.ParseIssueSearch(s)
	if err != nil {
		return q, err
	}
	q.Me = c.p.User.ID
	if v.Has("sort") {
		if q.Sort, err = issues.NormalizeIssueSort(v.Get("sort")); err != nil {
			return q, err
		}
	}
	return q, nil
}

// --- handlers

func (a *API) listIssues(c *call) (any, error) {
	q, err := searchOf(c)
	if err != nil {
		return nil, err
	}
	if q.Limit, err = perPage(c, issues.DefaultLimit); err != nil {
		return nil, err
	}
	q.Cursor = c.r.URL.Query().Get("cursor")
	period := "24h"
	if v := c.r.URL.Query(); v.Has("statsPeriod") {
		period = v.Get("statsPeriod")
	}
	if period != "" && !issues.ValidStatsPeriod(period) {
		return nil, &httpError{http.StatusBadRequest, "statsPeriod: want 24h, 7d, 14d, 30d or 90d, or empty for none"}
	}
	ctx := c.r.Context()
	is := c.issues
	pg, err := is.ListIssues(ctx, c.project.ID, q)
	if err != nil {
		return nil, err
	}
	var stats map[int64][]issues.StatsPoint
	if period != "" {
		ids := make([]int64, len(pg.Issues))
		for i, it := range pg.Issues {
			ids[i] = it.ID
		}
		if stats, err = is.IssuesStats(ctx, ids, period); err != nil {
			return nil, err
		}
	}
	keysetLinks(c, pg.Prev, pg.Next)
	c.w.Header().Set("X-Hits", strconv.Itoa(len(pg.Issues)))
	out := make([]Issue, 0, len(pg.Issues))
	for _, it := range pg.Issues {
		var st map[string][]issues.StatsPoint
		if period != "" {
			st = map[string][]issues.StatsPoint{period: stats[it.ID]}
		}
		out = append(out, a.issueJSON(c, it, c.project, st))
	}
	return out, nil
}

func (a *API) getIssue(c *call) (any, error) {
	is, p, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	ctx := c.r.Context()
	st := map[string][]issues.StatsPoint{}
	for _, period := range []string{"24h", "30d"} {
		if st[period], err = c.issues.IssueStats(ctx, is.ID, period); err != nil {
			return nil, err
		}
	}
	return a.issueJSON(c, is, p, st), nil
}

// issueUpdate is Sentry's body for changing issues.
type issueUpdate struct {
	Status        string `json:"status"`
	StatusDetails struct {
		InNextRelease   bool   `json:"inNextRelease"`
		InRelease       string `json:"inRelease"` // a version, or "latest": the project's newest release
		IgnoreCount     int64  `json:"ignoreCount"`
		IgnoreUserCount int64  `json:"ignoreUserCount"`
		IgnoreDuration  int64  `json:"ignoreDuration"` // minutes
		IgnoreWindow    int64  `json:"ignoreWindow"`
		// IgnoreUserWindow (N users within a window) is Sentry's and not
		// kept here: refused rather than dropped.
		IgnoreUserWindow int64  `json:"ignoreUserWindow"`
		IgnoreUntil      string `json:"ignoreUntil"`
	} `json:"statusDetails"`
	// Substatus is accepted when it says what status and statusDetails
	// already say; Faultline has no "until escalating".
	Substatus      string `json:"substatus"`
	IgnoreDuration *int64 `json:"ignoreDuration"` // Sentry also takes it at the top
	SnoozeDuration *int64 `json:"snoozeDuration"` // the older name, as sentry-cli sends it (minutes)
	// AssignedTo is absent (no change), null or "" (unassign), or an
	// assignee: an email, "user:<id>", "team:<id>" or "#team-slug".
	AssignedTo json.RawMessage `json:"assignedTo"`
	// Merge (bulk only) merges the selected issues into one.
	Merge json.RawMessage `json:"merge"`
}

// assignee reads assignedTo: whether it is there, and its value.
func (u *issueUpdate) assignee() (string, bool, error) {
	if len(u.AssignedTo) == 0 {
		return "", false, nil
	}
	if string(u.AssignedTo) == "null" {
		return "", true, nil
	}
	var v string
	if err := json.Unmarshal(u.AssignedTo, &v); err != nil {
		return "", false, &httpError{http.StatusBadRequest, `assignedTo: want a member's email, "user:<id>", "team:<id>", or null`}
	}
	return v, true, nil
}

// merge reads merge: true, 1 or "1" ask for a merge.
func (u *issueUpdate) merge() bool {
	switch strings.Trim(string(u.Merge), `"`) {
	case "true", "1":
		return true
	}
	return false
}

func (u *issueUpdate) statusUpdate() (issues.StatusUpdate, error) {
	su := issues.StatusUpdate{Status: u.Status}
	d := u.StatusDetails
	if su.Status == issues.StatusResolved && d.InNextRelease {
		su.Status = issues.StatusResolvedInNextRelease
	}
	if (su.Status == issues.StatusResolved || su.Status == issues.StatusResolvedInRelease) && d.InRelease != "" {
		su.Status, su.InRelease = issues.StatusResolvedInRelease, d.InRelease
		if d.InRelease != latestRelease {
			if err := issues.CheckRelease(d.InRelease); err != nil {
				return su, err
			}
		}
	}
	if su.Status == issues.StatusResolvedInRelease && su.InRelease == "" {
		return su, &httpError{http.StatusBadRequest, "statusDetails.inRelease: name the release the fix ships in, or latest"}
	}
	if su.Status == "archived" || su.Status == "muted" { // Sentry's newer and older words for ignored
		su.Status = issues.StatusIgnored
	}
	if su.Status != "" {
		if err := issues.CheckStatus(su.Status); err != nil {
			return su, err // refused before any issue is chosen, even when none would be
		}
	}
	if su.Status == "" {
		if len(u.AssignedTo) > 0 || u.merge() {
			return su, nil // no status change
		}
		return su, &httpError{http.StatusBadRequest, "status: want resolved, resolvedInNextRelease, resolvedInRelease, ignored or unresolved (or assignedTo, or merge for several issues)"}
	}
	if err := u.checkSubstatus(su); err != nil {
		return su, err
	}
	if su.Status == issues.StatusIgnored {
		minutes := d.IgnoreDuration
		if u.IgnoreDuration != nil {
			minutes = *u.IgnoreDuration
		}
		if u.SnoozeDuration != nil { // sentry-cli issues mute
			minutes = *u.SnoozeDuration
		}
		if d.IgnoreCount < 0 || d.IgnoreUserCount < 0 || minutes < 0 || minutes > 10*365*24*60 {
			return su, &httpError{http.StatusBadRequest, "statusDetails: ignoreCount, ignoreUserCount and ignoreDuration (minutes, up to ten years) must be positive"}
		}
		su.IgnoreCount, su.IgnoreUserCount, su.IgnoreDuration = d.IgnoreCount, d.IgnoreUserCount, time.Duration(minutes)*time.Minute
		if d.IgnoreUserWindow != 0 {
			return su, &httpError{http.StatusBadRequest, "statusDetails.ignoreUserWindow: not supported; ignoreUserCount counts users without a window"}
		}
		if d.IgnoreWindow != 0 {
			if d.IgnoreWindow < 0 || d.IgnoreWindow > int64(issues.MaxIgnoreWindow/time.Minute) || d.IgnoreCount <= 0 || d.IgnoreCount > issues.MaxWindowedCount {
				return su, &httpError{http.StatusBadRequest, fmt.Sprintf("statusDetails.ignoreWindow: minutes, up to a week (10080), with an ignoreCount of 1 to %d", issues.MaxWindowedCount)}
			}
			su.IgnoreWindow = time.Duration(d.IgnoreWindow) * time.Minute
		}
		if d.IgnoreUntil != "" {
			t, err := time.Parse(time.RFC3339, d.IgnoreUntil)
			if err != nil {
				return su, &httpError{http.StatusBadRequest, "statusDetails.ignoreUntil: want an RFC 3339 time"}
			}
			su.IgnoreDuration = max(time.Until(t), time.Second)
		}
	}
	return su, nil
}

// latestRelease, as statusDetails.inRelease, names the project's newest
// release, as Sentry's "resolve in the current release" does.
const latestRelease = "latest"

// newestRelease is the version of the project's most recently created
// release.
func newestRelease(c *call, projectID int64) (string, error) {
	var v string
	err := c.store.Pool().QueryRow(c.r.Context(), `SELECT r.version FROM api.releases r
		JOIN api.release_projects rp ON rp.release_id = r.id
		WHERE r.org_id = $1 AND rp.project_id = $2 ORDER BY r.date_created DESC, r.id DESC LIMIT 1`,
		c.org.ID, projectID).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", &httpError{http.StatusBadRequest, "statusDetails.inRelease: the project has no release yet to resolve the issue in"}
	}
	return v, err
}

// checkSubstatus refuses a substatus that asks for more than su does.
func (u *issueUpdate) checkSubstatus(su issues.StatusUpdate) error {
	if u.Substatus == "" {
		return nil
	}
	d := u.StatusDetails
	var ok bool
	switch su.Status {
	case issues.StatusIgnored:
		conditional := d.IgnoreCount > 0 || d.IgnoreUserCount > 0 || d.IgnoreDuration > 0 || d.IgnoreUntil != "" ||
			u.IgnoreDuration != nil || u.SnoozeDuration != nil
		ok = u.Substatus == "archived_forever" && !conditional || u.Substatus == "archived_until_condition_met" && conditional
	case issues.StatusUnresolved:
		ok = u.Substatus == "ongoing"
	}
	if !ok {
		return &httpError{http.StatusBadRequest, fmt.Sprintf("substatus: %.40q is not supported with this status (Faultline has archived_forever, archived_until_condition_met and ongoing, and no archiving until escalating)", u.Substatus)}
	}
	return nil
}

// statusBody is what a bulk update answers, as Sentry does.
func statusBody(su issues.StatusUpdate) map[string]any {
	var details IssueStatusDetails
	status := su.Status
	n := func(set bool, v int64) *int64 {
		if !set {
			return nil
		}
		return &v
	}
	switch su.Status {
	case issues.StatusResolvedInNextRelease:
		yes := true
		status, details.InNextRelease = issues.StatusResolved, &yes
	case issues.StatusResolvedInRelease:
		status, details.InRelease = issues.StatusResolved, &su.InRelease
	case issues.StatusIgnored:
		details.IgnoreCount, details.IgnoreUserCount = n(su.IgnoreCount > 0, su.IgnoreCount), n(su.IgnoreUserCount > 0, su.IgnoreUserCount)
		details.IgnoreWindow = n(su.IgnoreWindow > 0, int64(su.IgnoreWindow/time.Minute))
		details.IgnoreDuration = n(su.IgnoreDuration > 0, int64(su.IgnoreDuration/time.Minute))
	}
	return map[string]any{"status": status, "statusDetails": details}
}

func (a *API) updateIssue(c *call) (any, error) {
	is, p, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	var req issueUpdate
	if err := c.decodeStrict(&req); err != nil { // a field Faultline does not keep is refused, never dropped
		return nil, err
	}
	su, err := req.statusUpdate()
	if err != nil {
		return nil, err
	}
	if req.merge() {
		return nil, &httpError{http.StatusBadRequest, "merge: select the issues with PUT /api/0/projects/{org}/{project}/issues/?id=...&id=..."}
	}
	ctx := c.r.Context()
	if su.InRelease == latestRelease {
		if su.InRelease, err = newestRelease(c, p.ID); err != nil {
			return nil, err
		}
	}
	who, assign, err := req.assignee()
	if err != nil {
		return nil, err
	}
	if assign {
		ref, err := c.issues.ResolveAssignee(ctx, c.org.ID, who)
		if err != nil {
			return nil, err
		}
		if err := c.issues.Assign(ctx, is.ID, ref); err != nil {
			return nil, err
		}
	}
	if su.Status != "" {
		if err := c.issues.SetStatus(ctx, is.ID, su); err != nil {
			return nil, err
		}
	}
	if is, err = c.issues.Issue(ctx, is.ID); err != nil {
		return nil, err
	}
	return a.issueJSON(c, is, p, nil), nil
}

func (a *API) deleteIssue(c *call) (any, error) {
	is, _, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	return nil, c.issues.DeleteIssue(c.r.Context(), is.ID)
}

const maxBulk = 1000

// bulkIDs reads ?id=... and keeps those of the path's project; without ids
// it selects up to maxBulk issues matching query.
func (a *API) bulkIDs(c *call) ([]int64, error) {
	ctx := c.r.Context()
	raw := c.r.URL.Query()["id"]
	if len(raw) == 0 {
		q, err := searchOf(c)
		if err != nil {
			return nil, err
		}
		return c.issues.IssueIDs(ctx, c.project.ID, q, maxBulk)
	}
	if len(raw) > maxBulk {
		return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("id: at most %d issues at once", maxBulk)}
	}
	ids := make([]int64, 0, len(raw))
	for _, s := range raw {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return nil, &httpError{http.StatusBadRequest, "id: want issue ids"}
		}
		ids = append(ids, n)
	}
	return c.issues.ProjectIssues(ctx, c.project.ID, ids)
}

func (a *API) bulkUpdateIssues(c *call) (any, error) {
	var req issueUpdate
	if err := c.decodeStrict(&req); err != nil { // a field Faultline does not keep is refused, never dropped
		return nil, err
	}
	su, err := req.statusUpdate()
	if err != nil {
		return nil, err
	}
	ctx := c.r.Context()
	if req.merge() {
		if len(c.r.URL.Query()["id"]) < 2 {
			return nil, &httpError{http.StatusBadRequest, "merge: select at least two issues with ?id=...&id=..."}
		}
		if su.Status != "" || len(req.AssignedTo) > 0 {
			return nil, &httpError{http.StatusBadRequest, "merge: cannot be combined with status or assignedTo"}
		}
	}
	who, assign, err := req.assignee()
	if err != nil {
		return nil, err
	}
	var ref string
	if assign {
		if ref, err = c.issues.ResolveAssignee(ctx, c.org.ID, who); err != nil {
			return nil, err
		}
	}
	ids, err := a.bulkIDs(c)
	if err != nil {
		return nil, err
	}
	if su.InRelease == latestRelease {
		if su.InRelease, err = newestRelease(c, c.project.ID); err != nil {
			return nil, err
		}
	}
	if req.merge() {
		if len(ids) != len(c.r.URL.Query()["id"]) {
			return nil, errNotFound // an id of another project, or none at all
		}
		parent, children, err := c.issues.Merge(ctx, ids)
		if err != nil {
			return nil, err
		}
		kids := make([]string, len(children))
		for i, id := range children {
			kids[i] = idString(id)
		}
		return map[string]any{"merge": map[string]any{"parent": idString(parent), "children": kids}}, nil
	}
	for _, id := range ids {
		if assign {
			if err := c.issues.Assign(ctx, id, ref); err != nil && !errors.Is(err, accounts.ErrNotFound) {
				return nil, err
			}
		}
		if su.Status != "" {
			if err := c.issues.SetStatus(ctx, id, su); err != nil && !errors.Is(err, accounts.ErrNotFound) {
				return nil, err
			}
		}
	}
	body := map[string]any{}
	if su.Status != "" {
		body = statusBody(su)
	}
	if assign {
		name, email, err := c.issues.AssigneeNames(ctx, ref)
		if err != nil {
			return nil, err
		}
		body["assignedTo"] = assignedToJSON(ref, name, email)
	}
	return body, nil
}

// assignee is the schema of an issue's assignee: a user or a team, or null.
var assignee = map[string]any{"type": []string{"object", "null"}, "properties": map[string]any{
	"type": map[string]any{"type": "string", "enum": []string{"user", "team"}}, "id": str, "name": str, "email": str, "slug": str}}

// issueSchemas are the OpenAPI schemas of the issue routes.
var issueSchemas = map[string]any{
	"Issue": obj([]string{"id", "shortId", "title", "status", "count", "userCount", "firstSeen", "lastSeen", "project"}, map[string]any{
		"id": str, "shortId": str, "title": str, "culprit": str, "permalink": str, "level": str, "type": str, "platform": str,
		"status":    map[string]any{"type": "string", "enum": []string{"unresolved", "resolved", "ignored"}},
		"substatus": nullStr, "statusDetails": obj(nil, map[string]any{"inNextRelease": boolean, "inRelease": str, "ignoreCount": integer,
			"ignoreUserCount": integer, "ignoreWindow": integer, "ignoreUntil": dateTime}),
		"count": map[string]any{"type": "string", "description": "Events, as a decimal string"}, "userCount": integer,
		"firstSeen": dateTime, "lastSeen": dateTime, "environments": strList,
		"project":    obj(nil, map[string]any{"id": str, "slug": str, "name": str}),
		"metadata":   obj(nil, map[string]any{"type": str, "value": str, "title": str}),
		"assignedTo": assignee,
		"stats":      map[string]any{"type": "object", "description": `{"24h": [[unix seconds, count], ...]}`},
	}),
	"IssueBulkUpdate": obj(nil, map[string]any{
		"assignedTo": assignee,
		"merge":      obj([]string{"parent", "children"}, map[string]any{"parent": str, "children": strList}),
		"status":     str, "substatus": nullStr,
		"statusDetails": map[string]any{"type": "object", "description": "As the request's statusDetails"},
	}),
	"IssueUpdate": obj(nil, map[string]any{
		"assignedTo": map[string]any{"type": []string{"string", "null"}, "description": `A member's email, "user:<id>", "team:<id>" or "#team-slug"; null unassigns`},
		"merge":      map[string]any{"type": "integer", "description": "1 merges the issues selected with ?id= (bulk only); answers {\"merge\": {\"parent\", \"children\"}}"},
		"status":     map[string]any{"type": "string", "enum": []string{"resolved", "resolvedInNextRelease", "resolvedInRelease", "ignored", "unresolved"}},
		"statusDetails": obj(nil, map[string]any{"inNextRelease": boolean,
			"inRelease":   map[string]any{"type": "string", "description": `The release the fix ships in (its events and newer ones regress the issue), or "latest": the project's newest release`},
			"ignoreCount": integer, "ignoreUserCount": integer, "ignoreWindow": integer,
			"ignoreDuration": map[string]any{"type": "integer", "description": "minutes"}, "ignoreUntil": dateTime}),
	}),
	"Event": obj([]string{"id", "eventID", "groupID"}, map[string]any{"id": str, "eventID": str, "groupID": str, "projectID": str,
		"title": str, "dateCreated": dateTime, "dateReceived": dateTime,
		"tags":            map[string]any{"type": "array", "items": obj(nil, map[string]any{"key": str, "value": str})},
		"entries":         map[string]any{"type": "array", "items": obj(nil, map[string]any{"type": str, "data": map[string]any{}})},
		"previousEventID": nullStr, "nextEventID": nullStr}),
	"GroupingInfo": obj([]string{"hashes", "variants"}, map[string]any{"hashes": strList,
		"variants": map[string]any{"type": "array", "items": obj(nil, map[string]any{"name": str, "hash": str, "contributes": boolean, "components": map[string]any{}})}}),
	"Stats": map[string]any{"type": "array", "description": "[unix seconds, count] per bucket, oldest first",
		"items": map[string]any{"type": "array", "items": integer}},
	"TagValue": obj(nil, map[string]any{"key": str, "name": str, "value": str, "count": integer, "firstSeen": dateTime, "lastSeen": dateTime}),
	"TagKey": obj(nil, map[string]any{"key": str, "name": str, "totalValues": integer, "uniqueValues": integer,
		"topValues": map[string]any{"type": "array", "items": ref("TagValue")}}),
}

func init() { maps.Copy(schemas, issueSchemas) }

// Assignee is who an issue is assigned to: a user (with an email) or a
// team (with a slug).
type Assignee struct {
	Type  string  `json:"type"`
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Email *string `json:"email,omitempty"`
	Slug  *string `json:"slug,omitempty"`
}

func assignedToJSON(ref, name, email string) *Assignee {
	kind, id, ok := strings.Cut(ref, ":")
	if !ok {
		return nil
	}
	m := &Assignee{Type: kind, ID: id, Name: name}
	if kind == "user" {
		if name == "" {
			m.Name = email
		}
		m.Email = &email
	} else {
		m.Slug = &email
	}
	return m
}
