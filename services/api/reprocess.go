package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/issues"
)

// reprocessRoutes reprocess an issue's events (Sentry's reprocessing: its
// events read again, symbolicated with the source maps uploaded since, and
// grouped again) and show how the latest reprocessing went.
func (a *API) reprocessRoutes() []route {
	const org = "/api/0/organizations/{org}/issues/{issue_id}/"
	return []route{
		{"POST", org + "reprocessing/", "Reprocess an issue's events with the source maps there are now; they may move to other issues (202 while queued)",
			user, accounts.LevelWrite, 200, "ReprocessRequest", "Reprocessing", a.reprocessIssue},
		{"GET", org + "reprocessing/", "An issue's latest reprocessing: what became of its events", user, accounts.LevelRead, 200, "", "Reprocessing", a.getReprocessing},
	}
}

// ReprocessRequest is Sentry's reprocessing request: maxEvents, the latest
// events to reprocess (none: all); remainingEvents, what becomes of the
// others (only "keep", Sentry's default, is supported).
type ReprocessRequest struct {
	MaxEvents       *int   `json:"maxEvents"`
	RemainingEvents string `json:"remainingEvents"`
}

// Reprocessing is where an issue's reprocessing is: queued until grouping
// applied it, then done with what became of the events.
type Reprocessing struct {
	ID            string     `json:"id"`
	Status        string     `json:"status"`
	IssueID       string     `json:"issueId"`
	Events        int64      `json:"events"`
	MovedEvents   int64      `json:"movedEvents"`
	UpdatedEvents int64      `json:"updatedEvents"`
	Issues        []string   `json:"issues"`
	IssueRemoved  bool       `json:"issueRemoved"`
	DateDecided   time.Time  `json:"dateDecided"`
	DateDone      *time.Time `json:"dateDone"`
}

func reprocessingJSON(r *issues.Reprocessing) Reprocessing {
	out := Reprocessing{ID: r.ID, Status: r.Status, IssueID: idString(r.IssueID), Events: r.Events, MovedEvents: r.Moved,
		UpdatedEvents: r.Updated, Issues: make([]string, 0, len(r.Issues)), IssueRemoved: r.Removed,
		DateDecided: r.DecidedAt, DateDone: r.DoneAt}
	for _, id := range r.Issues {
		out.Issues = append(out.Issues, idString(id))
	}
	return out
}

func (a *API) reprocessIssue(c *call) (any, error) {
	is, _, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	var req ReprocessRequest
	if c.r.ContentLength != 0 {
		if err := c.decodeStrict(&req); err != nil {
			return nil, err
		}
	}
	if req.RemainingEvents != "" && req.RemainingEvents != "keep" {
		return nil, &httpError{http.StatusBadRequest, `remainingEvents: only "keep" is supported`}
	}
	maxEvents := 0
	if req.MaxEvents != nil {
		if *req.MaxEvents <= 0 {
			return nil, &httpError{http.StatusBadRequest, "maxEvents: want a positive number, or null for every event"}
		}
		maxEvents = *req.MaxEvents
	}
	r, err := c.issues.Reprocess(c.r.Context(), is.ID, maxEvents)
	if err != nil {
		return nil, err
	}
	if r.Status == issues.ReprocessingQueued {
		a.respond(c.w, http.StatusAccepted, reprocessingJSON(r))
		return nil, errAnswered
	}
	return reprocessingJSON(r), nil
}

// getReprocessing answers an issue's latest reprocessing, also when the
// reprocessing removed the issue (every event moved): then it says where
// they went, to whoever may see the issue's project.
func (a *API) getReprocessing(c *call) (any, error) {
	ctx := c.r.Context()
	is, _, err := a.issue(c)
	if errors.Is(err, errNotFound) {
		id, perr := strconv.ParseInt(c.param("issue_id"), 10, 64)
		if perr != nil || id <= 0 {
			return nil, errNotFound
		}
		r, rerr := c.issues.LatestReprocessing(ctx, id)
		if rerr != nil || !r.Removed {
			return nil, errNotFound
		}
		if _, err := c.orgProject(ctx, r.ProjectID); err != nil {
			return nil, err
		}
		return reprocessingJSON(r), nil
	}
	if err != nil {
		return nil, err
	}
	r, err := c.issues.LatestReprocessing(ctx, is.ID)
	if err != nil {
		return nil, err
	}
	return reprocessingJSON(r), nil
}

func init() {
	schemas["ReprocessRequest"] = obj(nil, map[string]any{
		"maxEvents":       map[string]any{"type": []string{"integer", "null"}, "minimum": 1},
		"remainingEvents": map[string]any{"type": "string", "enum": []string{"keep"}},
	})
	schemas["Reprocessing"] = obj([]string{"id", "status", "issueId", "events", "movedEvents", "updatedEvents", "issues", "issueRemoved"},
		map[string]any{
			"id": str, "status": map[string]any{"type": "string", "enum": []string{issues.ReprocessingQueued, issues.ReprocessingDone}},
			"issueId": str, "events": integer, "movedEvents": integer, "updatedEvents": integer, "issues": strList,
			"issueRemoved": boolean, "dateDecided": dateTime, "dateDone": map[string]any{"type": []string{"string", "null"}, "format": "date-time"},
		})
}
