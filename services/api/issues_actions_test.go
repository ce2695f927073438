package api_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAssignIssues(t *testing.T) {
	w := newIssueWorld(t)
	typeerror := "/api/0/organizations/acme/issues/" + w.ids["typeerror"] + "/"
	assigned := func(t *testing.T, res response) map[string]any {
		t.Helper()
		if res.status != 200 {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		a, _ := res.obj(t)["assignedTo"].(map[string]any)
		return a
	}
	t.Run("validation", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			to   any
			want int
		}{
			{"member by email", "member@example.test", 200},
			{"member by email, capitals", "Member@Example.test", 200},
			{"member by user id", fmt.Sprintf("user:%d", w.f.users["viewer"].ID), 200},
			{"team by id", fmt.Sprintf("team:%d", w.f.team.ID), 200},
			{"team by slug", "#backend", 200},
			{"unassign", nil, 200},
			{"another organisation's user", "other@example.test", 400},
			{"another organisation's user by id", fmt.Sprintf("user:%d", w.f.users["other"].ID), 400},
			{"unknown email", "nobody@example.test", 400},
			{"another organisation's team", "#secret-team", 400},
			{"malformed team", "team:x", 400},
			{"not a string", 42, 400},
		} {
			t.Run(tt.name, func(t *testing.T) {
				res := w.owner.do("PUT", typeerror, map[string]any{"assignedTo": tt.to})
				if res.status != tt.want {
					t.Fatalf("status %d, want %d: %s", res.status, tt.want, res.body)
				}
				if tt.want == 400 && !strings.Contains(string(res.body), "assignedTo") {
					t.Errorf("400 without naming assignedTo: %s", res.body)
				}
			})
		}
	})
	t.Run("shape", func(t *testing.T) {
		a := assigned(t, w.owner.do("PUT", typeerror, map[string]any{"assignedTo": "member@example.test"}))
		want := map[string]any{"type": "user", "id": fmt.Sprint(w.f.users["member"].ID), "name": "Member", "email": "member@example.test"}
		for k, v := range want {
			if a[k] != v {
				t.Errorf("assignedTo.%s = %v, want %v (%v)", k, a[k], v, a)
			}
		}
		// The issue keeps its status; GET shows the assignee too.
		res := w.owner.do("GET", typeerror, nil)
		if a := assigned(t, res); a["email"] != "member@example.test" || res.obj(t)["status"] != "unresolved" {
			t.Errorf("GET after assign: %s", res.body)
		}
		a = assigned(t, w.owner.do("PUT", typeerror, map[string]any{"assignedTo": "#backend", "status": "resolved"}))
		if a["type"] != "team" || a["id"] != fmt.Sprint(w.f.team.ID) || a["name"] != "Backend" {
			t.Errorf("team assignedTo = %v", a)
		}
		if a := assigned(t, w.owner.do("PUT", typeerror, map[string]any{"assignedTo": nil, "status": "unresolved"})); a != nil {
			t.Errorf("after unassign assignedTo = %v", a)
		}
	})
	t.Run("search", func(t *testing.T) {
		owner := w.e.session(w.f.users["owner"])
		member := w.e.session(w.f.users["member"])
		if res := owner.do("PUT", "/api/0/organizations/acme/issues/"+w.ids["conn"]+"/", map[string]any{"assignedTo": "owner@example.test"}); res.status != 200 {
			t.Fatalf("assign conn: %d %s", res.status, res.body)
		}
		// Bulk: valueerror and disk to the team.
		res := owner.do("PUT", "/api/0/projects/acme/web/issues/?id="+w.ids["valueerror"]+"&id="+w.ids["disk"], map[string]any{"assignedTo": "#backend"})
		if a, _ := res.obj(t)["assignedTo"].(map[string]any); res.status != 200 || a["type"] != "team" {
			t.Fatalf("bulk assign: %d %s", res.status, res.body)
		}
		for _, tt := range []struct {
			c     *client
			query string
			want  []string
		}{
			{owner, "assigned:me", []string{"conn"}},
			{member, "assigned:me", nil},
			{member, "assigned:owner@example.test", []string{"conn"}},
			{member, "assigned:#backend", []string{"disk", "valueerror"}},
			{member, "is:unassigned", []string{"typeerror"}},
			{member, "is:assigned", []string{"conn", "disk", "valueerror"}},
			{member, "!is:unassigned level:info", []string{"disk"}},
			{member, "assigned:none", []string{"typeerror"}},
		} {
			got, _ := w.list(t, tt.c, q(tt.query))
			if !slices.Equal(sorted(got), tt.want) {
				t.Errorf("%q = %v, want %v", tt.query, got, tt.want)
			}
		}
	})
	t.Run("another organisation's issue", func(t *testing.T) {
		res := w.owner.do("PUT", "/api/0/organizations/acme/issues/"+w.secret+"/", map[string]any{"assignedTo": "member@example.test"})
		if res.status != 404 {
			t.Errorf("status %d, want 404", res.status)
		}
	})
}

func TestMergeIssues(t *testing.T) {
	w := newIssueWorld(t)
	ctx := context.Background()
	merge := func(ids ...string) response {
		return w.owner.do("PUT", "/api/0/projects/acme/web/issues/?id="+strings.Join(ids, "&id="), map[string]any{"merge": 1})
	}
	for _, tt := range []struct {
		name string
		ids  []string
		want int
	}{
		{"one issue", []string{w.ids["conn"]}, 400},
		{"another organisation's issue", []string{w.ids["conn"], w.secret}, 404},
		{"no such issue", []string{w.ids["conn"], "999999"}, 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if res := merge(tt.ids...); res.status != tt.want {
				t.Errorf("status %d, want %d: %s", res.status, tt.want, res.body)
			}
		})
	}
	if res := w.owner.do("PUT", "/api/0/projects/acme/web/issues/?id="+w.ids["conn"]+"&id="+w.ids["typeerror"], map[string]any{"merge": 1, "status": "resolved"}); res.status != 400 {
		t.Errorf("merge with a status: %d", res.status)
	}

	before := w.owner.do("GET", "/api/0/organizations/acme/issues/"+w.ids["conn"]+"/", nil).obj(t)
	res := merge(w.ids["conn"], w.ids["typeerror"])
	if res.status != 200 {
		t.Fatalf("merge: %d %s", res.status, res.body)
	}
	var body struct {
		Merge struct {
			Parent   string   `json:"parent"`
			Children []string `json:"children"`
		} `json:"merge"`
	}
	res.json(t, &body)
	if body.Merge.Parent != w.ids["typeerror"] || !slices.Equal(body.Merge.Children, []string{w.ids["conn"]}) {
		t.Fatalf("merge answer %s: want parent typeerror (most events), child conn", res.body)
	}
	parent := w.owner.do("GET", "/api/0/organizations/acme/issues/"+w.ids["typeerror"]+"/", nil).obj(t)
	if parent["count"] != "4" || parent["userCount"] != float64(2) {
		t.Errorf("parent count %v users %v, want 4 and 2", parent["count"], parent["userCount"])
	}
	if parent["firstSeen"] != before["firstSeen"] {
		t.Errorf("parent firstSeen %v, want the child's %v", parent["firstSeen"], before["firstSeen"])
	}
	if res := w.owner.do("GET", "/api/0/organizations/acme/issues/"+w.ids["conn"]+"/", nil); res.status != 404 {
		t.Errorf("merged child: %d", res.status)
	}
	var evs []map[string]any
	w.owner.do("GET", "/api/0/organizations/acme/issues/"+w.ids["typeerror"]+"/events/", nil).json(t, &evs)
	if len(evs) != 4 {
		t.Errorf("parent has %d events, want 4", len(evs))
	}
	var relCount float64
	var tags []map[string]any
	w.owner.do("GET", "/api/0/organizations/acme/issues/"+w.ids["typeerror"]+"/tags/", nil).json(t, &tags)
	for _, tk := range tags {
		if tk["key"] == "release" {
			relCount = tk["totalValues"].(float64)
		}
	}
	if relCount != 4 {
		t.Errorf("release tag total %v, want 4 (merged)", relCount)
	}
	// A later event like the child's lands in the parent.
	ids := w.p.send(w.f.project.ID, sdkEvent{excType: "ConnectionError", excValue: "connection refused", function: "dial",
		release: "1.2", environment: "prod", ts: time.Now()})
	if got := w.p.issueOf(ids[0]); got != w.ids["typeerror"] {
		t.Errorf("a later event of the child went to issue %s, want the parent %s", got, w.ids["typeerror"])
	}
	var n int
	w.e.db.Pool.QueryRow(ctx, `SELECT times_seen FROM grouping.issues WHERE id = $1`, w.ids["typeerror"]).Scan(&n)
	if n != 5 {
		t.Errorf("parent times_seen %d after a later event, want 5", n)
	}
	w.e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM grouping.merges`).Scan(&n)
	if n != 1 {
		t.Errorf("%d merges recorded, want 1", n)
	}
}

func TestGroupingRulesRoutes(t *testing.T) {
	w := newIssueWorld(t)
	const path = "/api/0/projects/acme/web/grouping-rules/"
	res := w.owner.do("GET", path, nil)
	if res.status != 200 || res.obj(t)["groupingEnhancements"] != "" || res.obj(t)["dateUpdated"] != nil {
		t.Fatalf("rules of a new project: %d %s", res.status, res.body)
	}
	for _, tt := range []struct {
		name string
		body map[string]any
		want string // in the 400's detail
	}{
		{"bad stack rule", map[string]any{"groupingEnhancements": "stack.module:foo.* -app\nstack.nope:x +app"}, "line 2"},
		{"bad fingerprint rule", map[string]any{"fingerprintingRules": "error.type:Timeout -> timeouts\n\nerror.type:X ->"}, "line 3"},
		{"not a string", map[string]any{"fingerprintingRules": 3}, "invalid JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range []string{path, path + "preview/"} {
				method := map[bool]string{true: "PUT", false: "POST"}[p == path]
				res := w.owner.do(method, p, tt.body)
				if res.status != 400 || !strings.Contains(string(res.body), tt.want) {
					t.Errorf("%s %s: %d %s, want 400 naming %q", method, p, res.status, res.body, tt.want)
				}
			}
		})
	}
	if res := w.owner.do("GET", path, nil); res.obj(t)["dateUpdated"] != nil {
		t.Errorf("a refused PUT stored rules: %s", res.body)
	}

	t.Run("preview", func(t *testing.T) {
		// One more TypeError, from staging: the same issue.
		ids := w.p.send(w.f.project.ID, sdkEvent{excType: "TypeError", excValue: "x is undefined", function: "render",
			release: "1.2", environment: "staging", ts: time.Now()})
		if w.p.issueOf(ids[0]) != w.ids["typeerror"] {
			t.Fatal("the staging TypeError started another issue")
		}
		for _, tt := range []struct {
			name                         string
			body                         map[string]any
			moved, merged, split, sample int
		}{
			{"no rules change nothing", map[string]any{"fingerprintingRules": ""}, 0, 0, 0, 0},
			// typeerror (3 events), valueerror and conn go together:
			// valueerror's and conn's events move into typeerror.
			{"one fingerprint for every error", map[string]any{"fingerprintingRules": "error.type:* -> every-error"}, 2, 2, 0, 2},
			// The staging TypeError leaves the other three.
			{"split by environment", map[string]any{"fingerprintingRules": "error.type:TypeError environment:staging -> staging-type"}, 1, 0, 1, 1},
		} {
			t.Run(tt.name, func(t *testing.T) {
				res := w.owner.do("POST", path+"preview/", tt.body)
				if res.status != 200 {
					t.Fatalf("preview: %d %s", res.status, res.body)
				}
				var pv struct {
					Events, Moved, IssuesSplit, IssuesMerged int
					Sample                                   []map[string]any
				}
				res.json(t, &pv)
				if pv.Events != 8 || pv.Moved != tt.moved || pv.IssuesMerged != tt.merged || pv.IssuesSplit != tt.split || len(pv.Sample) != tt.sample {
					t.Errorf("preview %s, want 8 events, %d moved, %d merged, %d split", res.body, tt.moved, tt.merged, tt.split)
				}
			})
		}
	})

	res = w.owner.do("PUT", path, map[string]any{"groupingEnhancements": "stack.module:vendor.* -app", "fingerprintingRules": "error.type:Timeout -> timeouts"})
	if res.status != 200 {
		t.Fatalf("PUT: %d %s", res.status, res.body)
	}
	// A PUT with one field keeps the other.
	res = w.owner.do("PUT", path, map[string]any{"fingerprintingRules": "error.type:Slow -> slow"})
	got := w.owner.do("GET", path, nil).obj(t)
	if res.status != 200 || got["groupingEnhancements"] != "stack.module:vendor.* -app" || got["fingerprintingRules"] != "error.type:Slow -> slow" || got["dateUpdated"] == nil {
		t.Errorf("after PUTs: %v", got)
	}
	// What grouping-info explains follows the stored rules (the same table).
	var fp string
	w.e.db.Pool.QueryRow(context.Background(), `SELECT fingerprint_rules FROM grouping.project_rules WHERE project_id = $1`, w.f.project.ID).Scan(&fp)
	if fp != "error.type:Slow -> slow" {
		t.Errorf("stored fingerprint rules %q", fp)
	}
	// Another organisation's project: 404.
	if res := w.owner.do("GET", "/api/0/projects/rival/secret/grouping-rules/", nil); res.status != 404 {
		t.Errorf("rival's rules: %d", res.status)
	}
}
