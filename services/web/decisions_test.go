package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/decide"
)

// TestDashboardWritesNoGroupingTable runs the dashboard on a Postgres role
// that may only read grouping.*: every decision a person makes there
// (resolve, ignore, assign, merge, unmerge, rules, delete) still takes
// effect, because the dashboard publishes it and grouping applies it.
func TestDashboardWritesNoGroupingTable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner := e.user("owner@acme.test", false)
	acme := e.project("acme", "backend", map[*accounts.User]string{owner: "owner"})
	e.send(acme.ID, messageEvent("disk full", "error", "1.0"), messageEvent("disk full", "error", "1.0"),
		messageEvent("queue stalled", "warning", "1.0"), messageEvent("cache cold", "info", "1.0"))
	ids := e.waitEvents(acme.ID, 4)
	disk, queue, cache := ids["disk full"], ids["queue stalled"], ids["cache cold"]

	ro := e.db.Restricted(t, []string{"api"}, []string{"grouping"})
	if _, err := ro.Exec(ctx, `UPDATE grouping.issues SET assignee = ''`); err == nil {
		t.Fatal("the restricted role may write grouping.issues")
	}
	store := accounts.NewStore(ro, e.srv.URL)
	store.SetDecisions(decide.New(e.nc.NC, e.nc.JS, 10*time.Second))
	e.dash.SetBackend(store, ro)

	b := e.signIn("owner@acme.test")
	page := func(id int64) string { return fmt.Sprintf("/organizations/acme/issues/%d/", id) }
	list := "/organizations/acme/issues/?project=backend"
	var queueHash string
	if err := ro.QueryRow(ctx, `SELECT primary_hash FROM grouping.issues WHERE id = $1`, queue).Scan(&queueHash); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		form, action string
		values       url.Values
	}{
		{page(disk), page(disk), url.Values{"action": {"resolve"}}},
		{page(cache), page(cache), url.Values{"action": {"ignore"}, "ignore_count": {"10"}}},
		{page(disk), page(disk), url.Values{"action": {"assign"}, "assignee": {fmt.Sprintf("user:%d", owner.ID)}}},
		{list, "/organizations/acme/issues/bulk/", url.Values{"action": {"merge"}, "project": {"backend"},
			"issue": {fmt.Sprint(disk), fmt.Sprint(queue)}}},
		{page(disk), page(disk), url.Values{"action": {"unmerge"}, "hash": {queueHash}}},
		{page(disk), page(disk), url.Values{"action": {"reprocess"}}},
		{"/settings/acme/projects/backend/", "/settings/acme/projects/backend/grouping-rules/",
			url.Values{"action": {"save"}, "fingerprinting": {"message:cache* -> cache"}}},
		{page(cache), page(cache), url.Values{"action": {"delete"}}},
	} {
		p := b.submit(step.form, step.action, step.values)
		if p.status != http.StatusSeeOther || strings.Contains(p.header.Get("Location"), "done=pending") {
			t.Fatalf("%s %v: %d to %q", step.action, step.values, p.status, p.header.Get("Location"))
		}
	}
	var status, assignee string
	var times int
	ro.QueryRow(ctx, `SELECT status, assignee, times_seen FROM grouping.issues WHERE id = $1`, disk).Scan(&status, &assignee, &times)
	if status != "resolved" || assignee != fmt.Sprintf("user:%d", owner.ID) || times != 2 {
		t.Errorf("disk: %s, assigned to %q, %d events; want resolved, the owner, 2 (the queue's split off again)", status, assignee, times)
	}
	var n int
	ro.QueryRow(ctx, `SELECT count(*) FROM grouping.issues WHERE project_id = $1`, acme.ID).Scan(&n)
	if n != 2 {
		t.Errorf("%d issues, want 2 (disk and the split-off queue; cache deleted)", n)
	}
	ro.QueryRow(ctx, `SELECT count(*) FROM grouping.decisions WHERE refused = ''`).Scan(&n)
	if n != 8 {
		t.Errorf("%d decisions applied, want 8", n)
	}
}
