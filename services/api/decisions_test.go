package api_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/libs/pg"
)

// TestAPIWritesNoGroupingTable runs people's decisions through the REST
// API over a database role that may only read grouping's tables: every
// change reaches them as a decision that the grouping replica applies.
func TestAPIWritesNoGroupingTable(t *testing.T) {
	w := newIssueWorld(t)
	ctx := context.Background()
	b := make([]byte, 4)
	rand.Read(b)
	role := "faultline_ro_" + hex.EncodeToString(b)
	for _, sql := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`GRANT USAGE ON SCHEMA api, grouping TO ` + role,
		`GRANT ALL ON ALL TABLES IN SCHEMA api TO ` + role,
		`GRANT ALL ON ALL SEQUENCES IN SCHEMA api TO ` + role,
		`GRANT SELECT ON ALL TABLES IN SCHEMA grouping TO ` + role,
	} {
		if _, err := w.e.db.Pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	u, _ := url.Parse(w.e.db.URL)
	u.User = url.User(role)
	ro, err := pg.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ro.Close()
		w.e.db.Pool.Exec(context.Background(), `DROP OWNED BY `+role)
		w.e.db.Pool.Exec(context.Background(), `DROP ROLE `+role)
	})
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
	if n != 6 {
		t.Errorf("%d decisions recorded, want 6", n)
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
