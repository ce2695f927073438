package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/issues"
)

// tagsOfEvent are the tags Sentry shows on an event: the event's own and
// the ones every event has.
func tagsOfEvent(ev *issues.EventSummary, own [][2]string) []map[string]string {
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

func eventSummaryJSON(ev *issues.EventSummary) map[string]any {
	return map[string]any{
		"id": ev.EventID, "eventID": ev.EventID, "groupID": idString(ev.IssueID), "projectID": idString(ev.ProjectID),
		"title": ev.Title, "event.type": ev.Type, "dateCreated": ev.Timestamp.UTC(), "dateReceived": ev.Received.UTC(),
		"tags": tagsOfEvent(ev, nil), "user": userOfKey(ev.UserKey),
	}
}

// eventJSON is Sentry's event detail: the stored normalized event's
// interfaces as "entries", its other fields at the top.
func eventJSON(ev *issues.StoredEvent, prev, next string) (map[string]any, error) {
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

func (a *API) listIssueEvents(c *call) (any, error) {
	is, _, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	return a.listEvents(c, func(cursor string, limit int) (issues.EventPage, error) {
		return c.issues.Events(c.r.Context(), is.ID, cursor, limit)
	})
}

// listProjectEvents lists a project's events of every issue, newest
// first (what sentry-cli events list reads).
func (a *API) listProjectEvents(c *call) (any, error) {
	return a.listEvents(c, func(cursor string, limit int) (issues.EventPage, error) {
		return c.issues.ProjectEvents(c.r.Context(), c.project.ID, cursor, limit)
	})
}

// listEvents answers a page of events, as summaries or (full=true) whole.
func (a *API) listEvents(c *call, list func(cursor string, limit int) (issues.EventPage, error)) (any, error) {
	limit, err := perPage(c, 100)
	if err != nil {
		return nil, err
	}
	ctx := c.r.Context()
	pg, err := list(c.r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return nil, err
	}
	keysetLinks(c, pg.Prev, pg.Next)
	out := make([]map[string]any, 0, len(pg.Events))
	full := c.r.URL.Query().Get("full") == "true" || c.r.URL.Query().Get("full") == "1"
	var bodies []json.RawMessage
	if full {
		if bodies, err = c.issues.EventsJSON(ctx, pg.Events); err != nil {
			return nil, err
		}
	}
	for i, ev := range pg.Events {
		if full && bodies[i] != nil {
			m, err := eventJSON(&issues.StoredEvent{EventSummary: *ev, JSON: bodies[i]}, "", "")
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
	st := c.issues
	var ev *issues.StoredEvent
	switch id := c.param("event_id"); {
	case strings.HasSuffix(c.r.URL.Path, "/events/latest/"):
		ev, err = st.LatestEvent(ctx, is.ID)
	case strings.HasSuffix(c.r.URL.Path, "/events/oldest/"):
		ev, err = st.OldestEvent(ctx, is.ID)
	default:
		ev, err = st.Event(ctx, is.ID, id)
	}
	if errors.Is(err, accounts.ErrNotFound) {
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

func (a *API) projectEvent(c *call) (*issues.StoredEvent, error) {
	ev, err := c.issues.ProjectEvent(c.r.Context(), c.project.ID, c.param("event_id"))
	if errors.Is(err, accounts.ErrNotFound) {
		return nil, errNotFound
	}
	return ev, err
}

func (a *API) getProjectEvent(c *call) (any, error) {
	ev, err := a.projectEvent(c)
	if err != nil {
		return nil, err
	}
	prev, next, err := c.issues.AdjacentEventIDs(c.r.Context(), &ev.EventSummary)
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
	res, err := c.issues.GroupingInfo(c.r.Context(), ev)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(res.Explain()), nil
}
