package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// issueRoutes are the issue, event, tag and stats endpoints, shaped like
// Sentry's. Issue ids in organisation paths are checked against the
// organisation: another organisation's issue is 404.
func (a *API) issueRoutes() []route {
	const org, proj = "/api/0/organizations/{org}/issues/{issue_id}/", "/api/0/projects/{org}/{project}/"
	return []route{
		{"GET", proj + "issues/", "List a project's issues (query, sort, statsPeriod, cursor)", user, LevelRead, 200, "", "[]Issue", a.listIssues},
		{"PUT", proj + "issues/", "Update issues in bulk (?id=1&id=2, or those matching query), or merge the selected ones", user, LevelWrite, 200, "IssueUpdate", "IssueUpdate", a.bulkUpdateIssues},
		{"GET", proj + "events/{event_id}/", "Retrieve a project's event", user, LevelRead, 200, "", "Event", a.getProjectEvent},
		{"GET", proj + "events/{event_id}/grouping-info/", "Explain how an event groups under the project's rules", user, LevelRead, 200, "", "GroupingInfo", a.groupingInfo},
		{"GET", proj + "stats/", "Events received by a project over time (statsPeriod 24h hourly, 30d daily)", user, LevelRead, 200, "", "Stats", a.projectStats},

		{"GET", org, "Retrieve an issue", user, LevelRead, 200, "", "Issue", a.getIssue},
		{"PUT", org, "Resolve, ignore, unresolve or assign an issue", user, LevelWrite, 200, "IssueUpdate", "Issue", a.updateIssue},
		{"DELETE", org, "Delete an issue and its events", user, LevelWrite, 202, "", "", a.deleteIssue},
		{"GET", org + "events/", "List an issue's events, newest first", user, LevelRead, 200, "", "[]Event", a.listIssueEvents},
		{"GET", org + "events/latest/", "An issue's latest event", user, LevelRead, 200, "", "Event", a.issueEvent},
		{"GET", org + "events/oldest/", "An issue's oldest event", user, LevelRead, 200, "", "Event", a.issueEvent},
		{"GET", org + "events/{event_id}/", "An issue's event by id", user, LevelRead, 200, "", "Event", a.issueEvent},
		{"GET", org + "tags/", "An issue's tag keys with their top values", user, LevelRead, 200, "", "[]TagKey", a.issueTags},
		{"GET", org + "tags/{key}/values/", "The values of one tag key in an issue", user, LevelRead, 200, "", "[]TagValue", a.issueTagValues},
		{"GET", org + "stats/", "An issue's events over time (statsPeriod 24h hourly, 30d daily)", user, LevelRead, 200, "", "Stats", a.issueStats},
	}
}

// issue loads the {issue_id} of the path and checks it belongs to the
// organisation of the path (and its project is the token's, for project
// tokens); otherwise 404 with nothing about it.
func (a *API) issue(c *call) (*Issue, *OrgProject, error) {
	id, err := strconv.ParseInt(c.param("issue_id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, nil, errNotFound
	}
	ctx := c.r.Context()
	is, err := c.store.Issues().Issue(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, errNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	p, err := c.store.OrgProject(ctx, c.org.ID, idString(is.ProjectID))
	if errors.Is(err, ErrNotFound) || (err == nil && p.ID != is.ProjectID) {
		return nil, nil, errNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	return is, p, nil
}

// --- JSON shapes

func statsJSON(pts []StatsPoint) [][2]int64 {
	out := make([][2]int64, len(pts))
	for i, p := range pts {
		out[i] = [2]int64{p.Time.Unix(), p.Count}
	}
	return out
}

// ShortID is an issue's short id as Sentry shows it: the project slug in
// capitals and the id in base 36.
func ShortID(projectSlug string, issueID int64) string {
	return strings.ToUpper(projectSlug) + "-" + strings.ToUpper(strconv.FormatInt(issueID, 36))
}

// issueMetadata is Sentry's metadata: type and value for errors (the title
// is "Type: value"), the title otherwise.
func issueMetadata(is *Issue) map[string]any {
	if is.Type == "error" {
		typ, val, ok := strings.Cut(is.Title, ": ")
		if !ok {
			typ, val = is.Title, ""
		}
		return map[string]any{"type": typ, "value": val, "title": is.Title}
	}
	return map[string]any{"title": is.Title}
}

// sentryStatus maps a stored status to Sentry's status, substatus and
// statusDetails.
func sentryStatus(is *Issue) (string, any, map[string]any) {
	details := map[string]any{}
	switch is.Status {
	case "resolved":
		return "resolved", nil, details
	case "resolved_in_next_release":
		details["inNextRelease"] = true
		return "resolved", nil, details
	case "ignored":
		sub := "archived_forever"
		if is.IgnoreUntilCount != nil {
			details["ignoreCount"] = *is.IgnoreUntilCount
		}
		if is.IgnoreUntilUsers != nil {
			details["ignoreUserCount"] = *is.IgnoreUntilUsers
		}
		if is.IgnoreUntil != nil {
			details["ignoreUntil"] = is.IgnoreUntil.UTC()
		}
		if len(details) > 0 {
			sub = "archived_until_condition_met"
		}
		return "ignored", sub, details
	}
	switch is.Substatus {
	case "regressed":
		return "unresolved", "regressed", details
	case "unignored":
		return "unresolved", "escalating", details
	case "new":
		return "unresolved", "new", details
	}
	return "unresolved", "ongoing", details
}

func releaseJSON(v string) any {
	if v == "" {
		return nil
	}
	return map[string]any{"version": v, "shortVersion": v}
}

func (a *API) issueJSON(c *call, is *Issue, p *OrgProject, stats map[string][]StatsPoint) map[string]any {
	status, sub, details := sentryStatus(is)
	m := map[string]any{
		"id": idString(is.ID), "shortId": ShortID(p.Slug, is.ID), "title": is.Title, "culprit": is.Culprit,
		"permalink": strings.TrimRight(c.store.PublicURL(), "/") + "/organizations/" + url.PathEscape(c.org.Slug) + "/issues/" + idString(is.ID) + "/",
		"logger":    nil, "level": is.Level, "status": status, "substatus": sub, "statusDetails": details,
		"isPublic": false, "platform": is.Platform, "type": is.Type, "issueType": is.Type, "issueCategory": "error",
		"project":  map[string]any{"id": idString(p.ID), "slug": p.Slug, "name": p.Name, "platform": nilIfEmpty(p.Platform)},
		"metadata": issueMetadata(is), "numComments": 0, "assignedTo": assignedToJSON(is.Assignee, is.AssigneeName, is.AssigneeEmail), "isBookmarked": false, "isSubscribed": false,
		"hasSeen": false, "annotations": []string{}, "isUnhandled": false, "shareId": nil,
		"count": strconv.FormatInt(is.TimesSeen, 10), "userCount": is.UsersSeen,
		"firstSeen": is.FirstSeen.UTC(), "lastSeen": is.LastSeen.UTC(),
		"firstRelease": releaseJSON(is.FirstRelease), "lastRelease": releaseJSON(is.LastRelease),
		"environments": is.Environments,
	}
	if stats != nil {
		st := map[string]any{}
		for k, v := range stats {
			st[k] = statsJSON(v)
		}
		m["stats"] = st
	}
	return m
}

// tagsOfEvent are the tags Sentry shows on an event: the event's own and
// the ones every event has.
func tagsOfEvent(ev *EventSummary, own [][2]string) []map[string]string {
	out := []map[string]string{}
	seen := map[string]bool{}
	add := func(k, v string) {
		if v == "" || seen[k] {
			return
		}
		seen[k] = true
		out = append(out, map[string]string{"key": k, "value": v})
	}
	add("level", ev.Level)
	add("environment", ev.Environment)
	add("release", ev.Release)
	add("user", ev.UserKey)
	for _, t := range own {
		add(t[0], t[1])
	}
	return out
}

func userOfKey(key string) any {
	kind, val, ok := strings.Cut(key, ":")
	if !ok {
		return nil
	}
	m := map[string]any{"id": nil, "email": nil, "username": nil, "ip_address": nil}
	switch kind {
	case "id", "email", "username":
		m[kind] = val
	case "ip":
		m["ip_address"] = val
	}
	return m
}

func eventSummaryJSON(ev *EventSummary) map[string]any {
	return map[string]any{
		"id": ev.EventID, "eventID": ev.EventID, "groupID": idString(ev.IssueID), "projectID": idString(ev.ProjectID),
		"title": ev.Title, "event.type": ev.Type, "dateCreated": ev.Timestamp.UTC(), "dateReceived": ev.Received.UTC(),
		"tags": tagsOfEvent(ev, nil), "user": userOfKey(ev.UserKey),
	}
}

// eventJSON is Sentry's event detail: the stored normalized event's
// interfaces as "entries", its other fields at the top.
func eventJSON(ev *StoredEvent, prev, next string) (map[string]any, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(ev.JSON, &doc); err != nil {
		return nil, fmt.Errorf("decode stored event %s: %w", ev.EventID, err)
	}
	str := func(k string) string {
		var s string
		json.Unmarshal(doc[k], &s)
		return s
	}
	raw := func(k string) any {
		if v, ok := doc[k]; ok {
			return v
		}
		return nil
	}
	var own [][2]string
	json.Unmarshal(doc["tags"], &own)
	var entries []map[string]any
	entry := func(typ string, data any) { entries = append(entries, map[string]any{"type": typ, "data": data}) }
	if v, ok := doc["exception"]; ok {
		entry("exception", v)
	}
	if v, ok := doc["stacktrace"]; ok {
		entry("stacktrace", v)
	}
	if v, ok := doc["threads"]; ok {
		entry("threads", v)
	}
	if msg := str("message"); msg != "" || doc["logentry"] != nil {
		var le struct {
			Formatted string   `json:"formatted"`
			Message   string   `json:"message"`
			Params    []string `json:"params"`
		}
		json.Unmarshal(doc["logentry"], &le)
		if msg == "" {
			msg = le.Formatted
		}
		entry("message", map[string]any{"formatted": msg, "message": le.Message, "params": le.Params})
	}
	if v, ok := doc["breadcrumbs"]; ok {
		entry("breadcrumbs", v)
	}
	if v, ok := doc["request"]; ok {
		entry("request", v)
	}
	for _, k := range []string{"csp", "hpkp", "expectct", "expectstaple"} {
		if v, ok := doc[k]; ok {
			entry(k, v)
		}
	}
	if entries == nil {
		entries = []map[string]any{}
	}
	message := str("message")
	prevID, nextID := any(nil), any(nil)
	if prev != "" {
		prevID = prev
	}
	if next != "" {
		nextID = next
	}
	return map[string]any{
		"id": ev.EventID, "eventID": ev.EventID, "groupID": idString(ev.IssueID), "projectID": idString(ev.ProjectID),
		"title": ev.Title, "message": message, "culprit": str("culprit"), "location": nil,
		"type": ev.Type, "platform": str("platform"), "level": ev.Level,
		"dateCreated": ev.Timestamp.UTC(), "dateReceived": ev.Received.UTC(),
		"release": releaseJSON(ev.Release), "environment": nilIfEmpty(ev.Environment), "dist": nilIfEmpty(str("dist")),
		"tags": tagsOfEvent(&ev.EventSummary, own), "user": raw("user"), "contexts": raw("contexts"), "sdk": raw("sdk"),
		"context": raw("extra"), "packages": raw("modules"), "fingerprints": raw("fingerprint"),
		"entries": entries, "errors": []string{}, "_meta": map[string]any{},
		"previousEventID": prevID, "nextEventID": nextID,
		"crashFile": nil, "size": len(ev.JSON),
	}, nil
}

// --- cursors and Link headers

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
func searchOf(c *call) (IssueQuery, error) {
	v := c.r.URL.Query()
	s := "is:unresolved"
	if v.Has("query") {
		s = v.Get("query")
	}
	q, err := ParseIssueSearch(s)
	if err != nil {
		return q, err
	}
	q.Me = c.p.User.ID
	if v.Has("sort") {
		if q.Sort, err = NormalizeIssueSort(v.Get("sort")); err != nil {
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
	if q.Limit, err = perPage(c, defaultIssueLimit); err != nil {
		return nil, err
	}
	q.Cursor = c.r.URL.Query().Get("cursor")
	period := "24h"
	if v := c.r.URL.Query(); v.Has("statsPeriod") {
		period = v.Get("statsPeriod")
	}
	if period != "" && !ValidStatsPeriod(period) {
		return nil, &httpError{http.StatusBadRequest, "statsPeriod: want 24h, 7d, 14d, 30d or 90d, or empty for none"}
	}
	ctx := c.r.Context()
	is := c.store.Issues()
	pg, err := is.ListIssues(ctx, c.project.ID, q)
	if err != nil {
		return nil, err
	}
	var stats map[int64][]StatsPoint
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
	out := make([]map[string]any, 0, len(pg.Issues))
	for _, it := range pg.Issues {
		var st map[string][]StatsPoint
		if period != "" {
			st = map[string][]StatsPoint{period: stats[it.ID]}
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
	st := map[string][]StatsPoint{}
	for _, period := range []string{"24h", "30d"} {
		if st[period], err = c.store.Issues().IssueStats(ctx, is.ID, period); err != nil {
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
		IgnoreCount     int64  `json:"ignoreCount"`
		IgnoreUserCount int64  `json:"ignoreUserCount"`
		IgnoreDuration  int64  `json:"ignoreDuration"` // minutes
		IgnoreWindow    int64  `json:"ignoreWindow"`
		IgnoreUntil     string `json:"ignoreUntil"`
	} `json:"statusDetails"`
	IgnoreDuration *int64 `json:"ignoreDuration"` // Sentry also takes it at the top
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

func (u *issueUpdate) statusUpdate() (StatusUpdate, error) {
	su := StatusUpdate{Status: u.Status}
	d := u.StatusDetails
	if su.Status == StatusResolved && d.InNextRelease {
		su.Status = StatusResolvedInNextRelease
	}
	if su.Status == "archived" {
		su.Status = StatusIgnored
	}
	if su.Status == "" {
		if len(u.AssignedTo) > 0 || u.merge() {
			return su, nil // no status change
		}
		return su, &httpError{http.StatusBadRequest, "status: want resolved, resolvedInNextRelease, ignored or unresolved (or assignedTo, or merge for several issues)"}
	}
	if su.Status == StatusIgnored {
		minutes := d.IgnoreDuration
		if u.IgnoreDuration != nil {
			minutes = *u.IgnoreDuration
		}
		if d.IgnoreCount < 0 || d.IgnoreUserCount < 0 || minutes < 0 || minutes > 10*365*24*60 {
			return su, &httpError{http.StatusBadRequest, "statusDetails: ignoreCount, ignoreUserCount and ignoreDuration (minutes, up to ten years) must be positive"}
		}
		su.IgnoreCount, su.IgnoreUserCount, su.IgnoreDuration = d.IgnoreCount, d.IgnoreUserCount, time.Duration(minutes)*time.Minute
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

// statusBody is what a bulk update answers, as Sentry does.
func statusBody(su StatusUpdate) map[string]any {
	details := map[string]any{}
	status := su.Status
	switch su.Status {
	case StatusResolvedInNextRelease:
		status, details["inNextRelease"] = StatusResolved, true
	case StatusIgnored:
		if su.IgnoreCount > 0 {
			details["ignoreCount"] = su.IgnoreCount
		}
		if su.IgnoreUserCount > 0 {
			details["ignoreUserCount"] = su.IgnoreUserCount
		}
		if su.IgnoreDuration > 0 {
			details["ignoreDuration"] = int64(su.IgnoreDuration / time.Minute)
		}
	}
	return map[string]any{"status": status, "statusDetails": details}
}

func (a *API) updateIssue(c *call) (any, error) {
	is, p, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	var req issueUpdate
	if err := c.decode(&req); err != nil {
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
	who, assign, err := req.assignee()
	if err != nil {
		return nil, err
	}
	if assign {
		ref, err := c.store.Issues().ResolveAssignee(ctx, c.org.ID, who)
		if err != nil {
			return nil, err
		}
		if err := c.store.Issues().Assign(ctx, is.ID, ref); err != nil {
			return nil, err
		}
	}
	if su.Status != "" {
		if err := c.store.Issues().SetStatus(ctx, is.ID, su); err != nil {
			return nil, err
		}
	}
	if is, err = c.store.Issues().Issue(ctx, is.ID); err != nil {
		return nil, err
	}
	return a.issueJSON(c, is, p, nil), nil
}

func (a *API) deleteIssue(c *call) (any, error) {
	is, _, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	return nil, c.store.Issues().DeleteIssue(c.r.Context(), is.ID)
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
		return c.store.Issues().IssueIDs(ctx, c.project.ID, q, maxBulk)
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
	return c.store.Issues().ProjectIssues(ctx, c.project.ID, ids)
}

func (a *API) bulkUpdateIssues(c *call) (any, error) {
	var req issueUpdate
	if err := c.decode(&req); err != nil {
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
		if ref, err = c.store.Issues().ResolveAssignee(ctx, c.org.ID, who); err != nil {
			return nil, err
		}
	}
	ids, err := a.bulkIDs(c)
	if err != nil {
		return nil, err
	}
	if req.merge() {
		if len(ids) != len(c.r.URL.Query()["id"]) {
			return nil, errNotFound // an id of another project, or none at all
		}
		parent, children, err := c.store.Issues().Merge(ctx, ids)
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
			if err := c.store.Issues().Assign(ctx, id, ref); err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
		if su.Status != "" {
			if err := c.store.Issues().SetStatus(ctx, id, su); err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
	}
	body := map[string]any{}
	if su.Status != "" {
		body = statusBody(su)
	}
	if assign {
		name, email, err := c.store.Issues().AssigneeNames(ctx, ref)
		if err != nil {
			return nil, err
		}
		body["assignedTo"] = assignedToJSON(ref, name, email)
	}
	return body, nil
}

func (a *API) listIssueEvents(c *call) (any, error) {
	is, _, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	limit, err := perPage(c, 100)
	if err != nil {
		return nil, err
	}
	ctx := c.r.Context()
	pg, err := c.store.Issues().Events(ctx, is.ID, c.r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return nil, err
	}
	keysetLinks(c, pg.Prev, pg.Next)
	out := make([]map[string]any, 0, len(pg.Events))
	full := c.r.URL.Query().Get("full") == "true" || c.r.URL.Query().Get("full") == "1"
	var bodies []json.RawMessage
	if full {
		if bodies, err = c.store.Issues().EventsJSON(ctx, pg.Events); err != nil {
			return nil, err
		}
	}
	for i, ev := range pg.Events {
		if full && bodies[i] != nil {
			m, err := eventJSON(&StoredEvent{EventSummary: *ev, JSON: bodies[i]}, "", "")
			if err != nil {
				return nil, err
			}
			delete(m, "previousEventID")
			delete(m, "nextEventID")
			out = append(out, m)
			continue
		}
		out = append(out, eventSummaryJSON(ev))
	}
	return out, nil
}

// issueEvent answers .../events/latest/, oldest/ and {event_id}/.
func (a *API) issueEvent(c *call) (any, error) {
	is, _, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	ctx := c.r.Context()
	st := c.store.Issues()
	var ev *StoredEvent
	switch id := c.param("event_id"); {
	case strings.HasSuffix(c.r.URL.Path, "/events/latest/"):
		ev, err = st.LatestEvent(ctx, is.ID)
	case strings.HasSuffix(c.r.URL.Path, "/events/oldest/"):
		ev, err = st.OldestEvent(ctx, is.ID)
	default:
		ev, err = st.Event(ctx, is.ID, id)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	prev, next, err := st.AdjacentEventIDs(ctx, &ev.EventSummary)
	if err != nil {
		return nil, err
	}
	return eventJSON(ev, prev, next)
}

func (a *API) projectEvent(c *call) (*StoredEvent, error) {
	ev, err := c.store.Issues().ProjectEvent(c.r.Context(), c.project.ID, c.param("event_id"))
	if errors.Is(err, ErrNotFound) {
		return nil, errNotFound
	}
	return ev, err
}

func (a *API) getProjectEvent(c *call) (any, error) {
	ev, err := a.projectEvent(c)
	if err != nil {
		return nil, err
	}
	prev, next, err := c.store.Issues().AdjacentEventIDs(c.r.Context(), &ev.EventSummary)
	if err != nil {
		return nil, err
	}
	return eventJSON(ev, prev, next)
}

func (a *API) groupingInfo(c *call) (any, error) {
	ev, err := a.projectEvent(c)
	if err != nil {
		return nil, err
	}
	res, err := c.store.Issues().GroupingInfo(c.r.Context(), ev)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(res.Explain()), nil
}

func tagValueJSON(v TagValue) map[string]any {
	return map[string]any{"key": v.Key, "name": v.Value, "value": v.Value, "count": v.Count,
		"firstSeen": v.FirstSeen.UTC(), "lastSeen": v.LastSeen.UTC()}
}

func tagName(key string) string {
	if key == "" {
		return key
	}
	return strings.ToUpper(key[:1]) + key[1:]
}

func (a *API) issueTags(c *call) (any, error) {
	is, _, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	keys, err := c.store.Issues().TagKeys(c.r.Context(), is.ID, 9)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		top := make([]map[string]any, 0, len(k.TopValues))
		for _, v := range k.TopValues {
			top = append(top, tagValueJSON(v))
		}
		out = append(out, map[string]any{"key": k.Key, "name": tagName(k.Key), "totalValues": k.TotalValues,
			"uniqueValues": k.UniqueValues, "topValues": top})
	}
	return out, nil
}

func (a *API) issueTagValues(c *call) (any, error) {
	is, _, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	key := c.param("key")
	return listOf(c, func(limit, offset int) ([]TagValue, error) {
		return c.store.Issues().TagValues(c.r.Context(), is.ID, key, limit, offset)
	}, tagValueJSON)
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
	if !ValidStatsPeriod(p) {
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
	pts, err := c.store.Issues().IssueStats(c.r.Context(), is.ID, p)
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
	pts, err := c.store.Issues().ProjectStats(c.r.Context(), c.project.ID, p)
	if err != nil {
		return nil, err
	}
	return statsJSON(pts), nil
}

// issueSchemas are the OpenAPI schemas of the issue routes.
var issueSchemas = map[string]any{
	"Issue": obj([]string{"id", "shortId", "title", "status", "count", "userCount", "firstSeen", "lastSeen", "project"}, map[string]any{
		"id": str, "shortId": str, "title": str, "culprit": str, "permalink": str, "level": str, "type": str, "platform": str,
		"status":    map[string]any{"type": "string", "enum": []string{"unresolved", "resolved", "ignored"}},
		"substatus": nullStr, "statusDetails": obj(nil, map[string]any{"inNextRelease": boolean, "ignoreCount": integer,
			"ignoreUserCount": integer, "ignoreUntil": dateTime}),
		"count": map[string]any{"type": "string", "description": "Events, as a decimal string"}, "userCount": integer,
		"firstSeen": dateTime, "lastSeen": dateTime, "environments": strList,
		"project":  obj(nil, map[string]any{"id": str, "slug": str, "name": str}),
		"metadata": obj(nil, map[string]any{"type": str, "value": str, "title": str}),
		"assignedTo": map[string]any{"type": []string{"object", "null"}, "properties": map[string]any{
			"type": map[string]any{"type": "string", "enum": []string{"user", "team"}}, "id": str, "name": str, "email": str, "slug": str}},
		"stats": map[string]any{"type": "object", "description": `{"24h": [[unix seconds, count], ...]}`},
	}),
	"IssueUpdate": obj(nil, map[string]any{
		"assignedTo": map[string]any{"type": []string{"string", "null"}, "description": `A member's email, "user:<id>", "team:<id>" or "#team-slug"; null unassigns`},
		"merge":      map[string]any{"type": "integer", "description": "1 merges the issues selected with ?id= (bulk only); answers {\"merge\": {\"parent\", \"children\"}}"},
		"status":     map[string]any{"type": "string", "enum": []string{"resolved", "resolvedInNextRelease", "ignored", "unresolved"}},
		"statusDetails": obj(nil, map[string]any{"inNextRelease": boolean, "ignoreCount": integer, "ignoreUserCount": integer,
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
