package api

import (
	"maps"

	"github.com/faultline/faultline/libs/accounts"
)

// hashRoutes list an issue's grouping hashes and split some of them off
// into a new issue (Sentry's unmerge).
func (a *API) hashRoutes() []route {
	const org = "/api/0/organizations/{org}/issues/{issue_id}/"
	return []route{
		{"GET", org + "hashes/", "An issue's grouping hashes, each with its latest event", user, accounts.LevelRead, 200, "", "[]Hash", a.listHashes},
		{"DELETE", org + "hashes/", "Unmerge: split the hashes named by ?id= off into a new issue, with their events", user, accounts.LevelWrite, 202, "", "", a.unmergeHashes},
	}
}

func (a *API) listHashes(c *call) (any, error) {
	is, _, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	hashes, err := c.issues.Hashes(c.r.Context(), is.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Hash, 0, len(hashes))
	for _, h := range hashes {
		hj := Hash{ID: h.ID}
		if h.LatestEvent != nil {
			if hj.LatestEvent, err = eventJSON(h.LatestEvent, "", ""); err != nil {
				return nil, err
			}
		}
		out = append(out, hj)
	}
	return out, nil
}

// unmergeHashes answers 202, as Sentry does, once the decision is stored;
// it waits briefly for grouping to apply it so that the next read sees the
// new issue, and a hash the issue does not have is 400.
func (a *API) unmergeHashes(c *call) (any, error) {
	is, _, err := a.issue(c)
	if err != nil {
		return nil, err
	}
	_, err = c.issues.Unmerge(c.r.Context(), is.ID, c.r.URL.Query()["id"])
	return nil, err
}

// Hash is one of an issue's grouping hashes with its newest event (null
// when it has none).
type Hash struct {
	ID           string         `json:"id"`
	LatestEvent  map[string]any `json:"latestEvent"`
	MergedBySeer bool           `json:"mergedBySeer"`
}

var hashSchemas = map[string]any{
	"Hash": obj([]string{"id"}, map[string]any{"id": str, "latestEvent": ref("Event"), "mergedBySeer": boolean}),
}

func init() { maps.Copy(schemas, hashSchemas) }
