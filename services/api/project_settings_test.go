package api_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestProjectSettingsRoundTrip: every field the Terraform provider writes
// is stored and read back as written, a second identical write changes
// nothing (a plan converges), a field Faultline does not know is refused
// naming it, and a bad value changes nothing.
func TestProjectSettingsRoundTrip(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	e.startGrouping() // rule changes are decisions grouping applies
	admin := e.session(f.users["admin"])
	const path = "/api/0/projects/acme/web/"

	if res := admin.do("PUT", path, map[string]any{"name": "Renamed", "sentryAppInstallations": 1}); res.status != 400 ||
		!strings.Contains(string(res.body), "sentryAppInstallations") {
		t.Errorf("an unknown field: %d %s, want 400 naming it", res.status, res.body)
	}
	write := map[string]any{
		"resolveAge": 24, "digestsMinDelay": 120, "digestsMaxDelay": 600, "scrapeJavaScript": false,
		"verifySSL": true, "securityToken": "abc123DEF", "options": map[string]any{"sentry:token_header": "X-Token"},
		"fingerprintingRules": "error.type:DatabaseUnavailable -> system-down", "groupingEnhancements": "stack.module:vendor.* -app",
		"isBookmarked": true, "allowedDomains": []string{"shop.example.test"},
	}
	first := admin.do("PUT", path, write)
	if first.status != 200 {
		t.Fatalf("write: %d %s", first.status, first.body)
	}
	var got map[string]any
	waitUntil(t, "the rules applied", func() bool {
		got = admin.do("GET", path, nil).obj(t)
		return got["fingerprintingRules"] == write["fingerprintingRules"]
	})
	for k, want := range write {
		w, _ := json.Marshal(want)
		g, _ := json.Marshal(got[k])
		if string(w) != string(g) {
			t.Errorf("%s: wrote %s, read %s", k, w, g)
		}
	}
	if got["name"] == "Renamed" {
		t.Error("the refused write changed the name")
	}
	again := admin.do("PUT", path, write).obj(t)
	if !reflect.DeepEqual(again, got) {
		t.Errorf("a second identical write changed the project:\nbefore %v\nafter  %v", got, again)
	}

	for _, bad := range []map[string]any{
		{"name": "Bad", "resolveAge": 10000},
		{"name": "Bad", "digestsMinDelay": 3000, "digestsMaxDelay": 100},
		{"name": "Bad", "securityToken": "no spaces allowed"},
		{"name": "Bad", "fingerprintingRules": "error.type: -> "},
	} {
		if res := admin.do("PUT", path, bad); res.status != 400 {
			t.Errorf("%v: %d %s, want 400", bad, res.status, res.body)
		}
	}
	if got := admin.do("GET", path, nil).obj(t); got["name"] == "Bad" {
		t.Error("a refused write changed the name")
	}
	member := e.session(f.users["member"])
	if res := member.do("PUT", path, map[string]any{"securityToken": "xyz"}); res.status != 403 {
		t.Errorf("a member sets the security token: %d", res.status)
	}
	if got := member.do("GET", path, nil).obj(t); got["securityToken"] != nil || got["isBookmarked"] != false {
		t.Errorf("a member reads the security token or the admin's bookmark: %v %v", got["securityToken"], got["isBookmarked"])
	}
}

// TestResolveAge: with resolveAge set, the sweep resolves the issues that
// have had no event for that long, and only those.
func TestResolveAge(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	p := e.startGrouping()
	admin := e.session(f.users["admin"])
	old := p.send(f.project.ID, sdkEvent{excType: "StaleError", excValue: "long ago", function: "old", ts: time.Now().Add(-3 * time.Hour)})
	fresh := p.send(f.project.ID, sdkEvent{excType: "FreshError", excValue: "just now", function: "new"})
	if res := admin.do("PUT", "/api/0/projects/acme/web/", map[string]any{"resolveAge": 2}); res.status != 200 {
		t.Fatalf("resolveAge: %d %s", res.status, res.body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.api.RunAutoResolve(ctx, 100*time.Millisecond)
	status := func(issue string) string {
		return admin.do("GET", "/api/0/organizations/acme/issues/"+issue+"/", nil).obj(t)["status"].(string)
	}
	waitUntil(t, "the stale issue resolved", func() bool { return status(p.issueOf(old[0])) == "resolved" })
	if s := status(p.issueOf(fresh[0])); s != "unresolved" {
		t.Errorf("the fresh issue is %s", s)
	}
	var n int
	e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM grouping.decisions WHERE actor->>'name' = 'auto-resolve'`).Scan(&n)
	time.Sleep(300 * time.Millisecond) // more sweeps
	var m int
	e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM grouping.decisions WHERE actor->>'name' = 'auto-resolve'`).Scan(&m)
	if n != 1 || m != 1 {
		t.Errorf("auto-resolve decisions: %d, then %d after more sweeps; want 1", n, m)
	}
}

// waitUntil polls cond until it holds, failing after a generous deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
