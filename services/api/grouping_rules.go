package api

import (
	"maps"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/issues"
)

// groupingRulesRoutes edit a project's grouping rules: Sentry's field names,
// groupingEnhancements for stack-trace rules and fingerprintingRules for
// server-side fingerprint rules.
func (a *API) groupingRulesRoutes() []route {
	const proj = "/api/0/projects/{org}/{project}/grouping-rules/"
	return []route{
		{"GET", proj, "A project's grouping rules (stack-trace and fingerprint rules)", user, accounts.LevelRead, 200, "", "GroupingRules", a.getGroupingRules},
		{"PUT", proj, "Change a project's grouping rules; rules that do not parse are refused with their line", user, accounts.LevelWrite, 200, "GroupingRules", "GroupingRules", a.setGroupingRules},
		{"POST", proj + "preview/", "Which of the project's last 500 events candidate rules would move to another issue", user, accounts.LevelWrite, 200, "GroupingRules", "GroupingRulesPreview", a.previewGroupingRules},
	}
}

// groupingRulesBody is the rules' JSON; absent fields keep their value.
type groupingRulesBody struct {
	Stack       *string `json:"groupingEnhancements"`
	Fingerprint *string `json:"fingerprintingRules"`
}

// GroupingRules is a project's grouping rules, as Sentry's project options
// name them; DateUpdated is null until they are first saved.
type GroupingRules struct {
	GroupingEnhancements string     `json:"groupingEnhancements"`
	FingerprintingRules  string     `json:"fingerprintingRules"`
	DateUpdated          *time.Time `json:"dateUpdated"`
}

// GroupingRulesPreview is what candidate rules would change.
type GroupingRulesPreview struct {
	Events       int                  `json:"events"`
	Moved        int                  `json:"moved"`
	IssuesSplit  int                  `json:"issuesSplit"`
	IssuesMerged int                  `json:"issuesMerged"`
	NewIssues    int                  `json:"newIssues"`
	Sample       []GroupingRuleChange `json:"sample"`
}

// GroupingRuleChange is one event that would move; ToIssue null is a new
// issue.
type GroupingRuleChange struct {
	EventID   string  `json:"eventID"`
	Title     string  `json:"title"`
	FromIssue string  `json:"fromIssue"`
	ToIssue   *string `json:"toIssue"`
	Hash      string  `json:"hash"`
}

func groupingRulesJSON(r issues.GroupingRules) GroupingRules {
	out := GroupingRules{GroupingEnhancements: r.Stack, FingerprintingRules: r.Fingerprint}
	if !r.UpdatedAt.IsZero() {
		u := r.UpdatedAt.UTC()
		out.DateUpdated = &u
	}
	return out
}

func (a *API) getGroupingRules(c *call) (any, error) {
	r, err := c.issues.GroupingRules(c.r.Context(), c.project.ID)
	if err != nil {
		return nil, err
	}
	return groupingRulesJSON(r), nil
}

// candidateRules reads a body over the project's current rules.
func (a *API) candidateRules(c *call) (string, string, error) {
	var body groupingRulesBody
	if err := c.decode(&body); err != nil {
		return "", "", err
	}
	cur, err := c.issues.GroupingRules(c.r.Context(), c.project.ID)
	if err != nil {
		return "", "", err
	}
	if body.Stack != nil {
		cur.Stack = *body.Stack
	}
	if body.Fingerprint != nil {
		cur.Fingerprint = *body.Fingerprint
	}
	if len(cur.Stack) > 64<<10 || len(cur.Fingerprint) > 64<<10 {
		return "", "", &httpError{400, "grouping rules: at most 64 KiB each"}
	}
	return cur.Stack, cur.Fingerprint, nil
}

func (a *API) setGroupingRules(c *call) (any, error) {
	stack, fp, err := a.candidateRules(c)
	if err != nil {
		return nil, err
	}
	r, err := c.issues.SetGroupingRules(c.r.Context(), c.project.ID, stack, fp)
	if err != nil {
		return nil, err
	}
	return groupingRulesJSON(r), nil
}

func (a *API) previewGroupingRules(c *call) (any, error) {
	stack, fp, err := a.candidateRules(c)
	if err != nil {
		return nil, err
	}
	pv, err := c.issues.PreviewGroupingRules(c.r.Context(), c.project.ID, stack, fp)
	if err != nil {
		return nil, err
	}
	sample := make([]GroupingRuleChange, 0, len(pv.Sample))
	for _, ch := range pv.Sample {
		var to *string
		if ch.ToIssue != 0 {
			to = strOrNil(idString(ch.ToIssue))
		}
		sample = append(sample, GroupingRuleChange{EventID: ch.EventID, Title: ch.Title, FromIssue: idString(ch.FromIssue), ToIssue: to, Hash: ch.Hash})
	}
	return GroupingRulesPreview{Events: pv.Events, Moved: pv.Moved, IssuesSplit: pv.IssuesSplit,
		IssuesMerged: pv.IssuesMerged, NewIssues: pv.NewIssues, Sample: sample}, nil
}

func init() {
	maps.Copy(schemas, map[string]any{
		"GroupingRules": obj(nil, map[string]any{
			"groupingEnhancements": map[string]any{"type": "string", "description": `Stack-trace rules, one a line ("stack.module:foo.* -app")`},
			"fingerprintingRules":  map[string]any{"type": "string", "description": `Fingerprint rules, one a line ("error.type:Timeout -> timeouts")`},
			"dateUpdated":          map[string]any{"type": []string{"string", "null"}, "format": "date-time"},
		}),
		"GroupingRulesPreview": obj([]string{"events", "moved", "issuesSplit", "issuesMerged", "newIssues", "sample"}, map[string]any{
			"events": integer, "moved": integer, "issuesSplit": integer, "issuesMerged": integer, "newIssues": integer,
			"sample": map[string]any{"type": "array", "items": obj(nil, map[string]any{"eventID": str, "title": str,
				"fromIssue": str, "toIssue": map[string]any{"type": []string{"string", "null"}, "description": "null: a new issue"}, "hash": str})},
		}),
	})
}
