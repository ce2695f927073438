package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/decide"
)

// TestAPIWritesNoGroupingTable runs people's decisions through the REST
// API over a database role that may only read grouping's tables: every
// change reaches them as a decision that the grouping replica applies.
func TestAPIWritesNoGroupingTable(t *testing.T) {
	w := newIssueWorld(t)
	ctx := context.Background()
	ro := w.e.db.Restricted(t, []string{"api"}, []string{"grouping"})
	// The read-only pool really is read-only for grouping.*.
	if _, err := ro.Exec(ctx, `UPDATE grouping.issues SET assignee = ''`); err == nil {
		t.Fatal("the restricted role may write grouping.issues")
	}
	store := accounts.NewStore(ro, w.e.srv.URL)
	store.SetDecisions(decide.New(w.e.nc.NC, w.e.nc.JS, 10*time.Second))
	w.e.api.SetStore(store)

	issue := func(name string) string { return "/api/0/organizations/acme/issues/" + w.ids[name] + "/" }
	for _, step := range []struct {
		method, path string
		body         any
	}{
		{"PUT", issue("typeerror"), map[string]any{"status": "resolved"}},
		{"PUT", issue("valueerror"), map[string]any{"status": "ignored", "statusDetails": map[string]any{"ignoreCount": 5}}},
		{"PUT", issue("disk"), map[string]any{"assignedTo": "member@example.test"}},
		{"PUT", "/api/0/projects/acme/" + w.f.project.Slug + "/grouping-rules/", map[string]any{"fingerprintingRules": "error.type:WalkError -> walk"}},
		{"PUT", fmt.Sprintf("/api/0/projects/acme/%s/issues/?id=%s&id=%s", w.f.project.Slug, w.ids["typeerror"], w.ids["conn"]), map[string]any{"merge": 1}},
		{"DELETE", issue("disk"), nil},
	} {
		if res := w.owner.do(step.method, step.path, step.body); res.status >= 300 {
			t.Fatalf("%s %s: %d %s", step.method, step.path, res.status, res.body)
		}
	}
	// Unmerge: the merged issue's hashes are listed, each with its latest
	// event; splitting the ConnectionError's off brings it back as an
	// issue of its own.
	parent := w.ids["typeerror"]
	res := w.owner.do("GET", issue("typeerror")+"hashes/", nil)
	if res.status == 404 {
		parent = w.ids["conn"]
		res = w.owner.do("GET", issue("conn")+"hashes/", nil)
	}
	var hashes []struct {
		ID          string `json:"id"`
		LatestEvent *struct {
			Title string `json:"title"`
		} `json:"latestEvent"`
	}
	res.json(t, &hashes)
	if res.status != 200 || len(hashes) < 2 {
		t.Fatalf("hashes of the merged issue: %d %s", res.status, res.body)
	}
	var split string
	for _, h := range hashes {
		if h.LatestEvent != nil && strings.HasPrefix(h.LatestEvent.Title, "ConnectionError") {
			split = h.ID
		}
	}
	if split == "" {
		t.Fatalf("no hash of the merged issue has a ConnectionError as its latest event: %s", res.body)
	}
	path := "/api/0/organizations/acme/issues/" + parent + "/hashes/"
	if res := w.owner.do("DELETE", path+"?id=ffffffffffffffffffffffffffffffff", nil); res.status != 400 {
		t.Errorf("unmerge of a hash the issue does not have: %d %s, want 400", res.status, res.body)
	}
	if res := w.owner.do("DELETE", path, nil); res.status != 400 {
		t.Errorf("unmerge without hashes: %d %s, want 400", res.status, res.body)
	}
	if res := w.owner.do("DELETE", path+"?id="+split, nil); res.status != 202 {
		t.Fatalf("unmerge: %d %s", res.status, res.body)
	}
	var splitOff int
	ro.QueryRow(ctx, `SELECT count(*) FROM grouping.issues i JOIN grouping.issue_hashes h ON h.issue_id = i.id
		WHERE h.hash = $1 AND i.id <> $2 AND i.title LIKE 'ConnectionError%'`, split, parent).Scan(&splitOff)
	if splitOff != 1 {
		t.Error("after the unmerge, the ConnectionError hash is not an issue of its own")
	}

	var status string
	if err := ro.QueryRow(ctx, `SELECT status FROM grouping.issues WHERE id = $1`, w.ids["valueerror"]).Scan(&status); err != nil || status != "ignored" {
		t.Errorf("valueerror: status %q (%v), want ignored", status, err)
	}
	var n int
	ro.QueryRow(ctx, `SELECT count(*) FROM grouping.issues WHERE id = $1`, w.ids["disk"]).Scan(&n)
	if n != 0 {
		t.Error("the deleted issue is still there")
	}
	ro.QueryRow(ctx, `SELECT count(*) FROM grouping.decisions`).Scan(&n)
	if n != 8 { // 7 applied, and the unmerge of a hash the issue does not have, refused
		t.Errorf("%d decisions recorded, want 8", n)
	}
}

// TestDeletingAProjectDeletesItsData: the project's issues, events and
// rules go with it; another organisation's project keeps its own.
func TestDeletingAProjectDeletesItsData(t *testing.T) {
	w := newIssueWorld(t)
	ctx := context.Background()
	tok, _ := w.e.token(w.f.users["owner"], accounts.ScopeAdmin)
	if res := w.e.withToken(tok).do("DELETE", "/api/0/projects/acme/"+w.f.project.Slug+"/", nil); res.status != 204 {
		t.Fatalf("delete project: %d %s", res.status, res.body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		left := 0
		for _, table := range []string{"issues", "issue_hashes", "events", "event_ids"} {
			var n int
			if err := w.e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM grouping.`+table+` WHERE project_id = $1`, w.f.project.ID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			left += n
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows of the deleted project left in grouping's tables", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var n int
	w.e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM grouping.events WHERE project_id = $1`, w.f.otherProj.ID).Scan(&n)
	if n != 1 {
		t.Errorf("the other organisation's project has %d events, want 1", n)
	}
}
