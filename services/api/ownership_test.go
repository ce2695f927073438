package api_test

import (
	"reflect"
	"strings"
	"testing"
)

// TestOwnershipRoundTrip: a project's ownership rules in Sentry's syntax
// and its settings are stored and read back as written, a second identical
// write changes nothing (lastUpdated included), rules that do not parse or
// name owners the organisation does not have are refused in Sentry's
// {"raw": [...]} shape and change nothing, and another organisation sees
// nothing.
func TestOwnershipRoundTrip(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	member := e.session(f.users["member"])
	const path = "/api/0/projects/acme/web/ownership/"

	def := member.do("GET", path, nil).obj(t)
	if def["raw"] != nil || def["fallthrough"] != true || def["autoAssignment"] != "Auto Assign to Issue Owner" {
		t.Errorf("defaults %v", def)
	}
	write := map[string]any{
		"raw":            "# payments\npath:src/payments/* #backend member@example.test\ntags.service:billing #backend",
		"fallthrough":    false,
		"autoAssignment": "Turn off Auto-Assignment",
	}
	first := member.do("PUT", path, write)
	if first.status != 200 {
		t.Fatalf("write: %d %s", first.status, first.body)
	}
	got := member.do("GET", path, nil).obj(t)
	for k, v := range write {
		if got[k] != v {
			t.Errorf("%s: wrote %v, read %v", k, v, got[k])
		}
	}
	if got["lastUpdated"] == nil || got["dateCreated"] == nil {
		t.Errorf("dates %v %v", got["dateCreated"], got["lastUpdated"])
	}
	if again := member.do("PUT", path, write).obj(t); !reflect.DeepEqual(again, got) {
		t.Errorf("a second identical write changed the ownership:\nbefore %v\nafter  %v", got, again)
	}
	for _, bad := range []struct {
		body map[string]any
		says string
	}{
		{map[string]any{"raw": "path:src/* #nope stranger@example.test"}, "Invalid rule owners: #nope, stranger@example.test"},
		{map[string]any{"raw": "path:src/* #backend\nfile:x #backend"}, "line 2"},
		{map[string]any{"raw": "path:src/*"}, "no owner"},
		{map[string]any{"raw": "path:src/* other@example.test"}, "Invalid rule owners"}, // another organisation's user
		{map[string]any{"autoAssignment": "Always"}, "autoAssignment"},
		{map[string]any{"raw": "path:x #backend", "schema": map[string]any{}}, "schema"},
	} {
		res := member.do("PUT", path, bad.body)
		if res.status != 400 || !strings.Contains(string(res.body), bad.says) {
			t.Errorf("PUT %v: %d %s, want 400 saying %q", bad.body, res.status, res.body, bad.says)
		}
	}
	if res := member.do("PUT", path, map[string]any{"raw": "path:src/* #nope"}); !strings.HasPrefix(string(res.body), `{"raw":[`) {
		t.Errorf("refusal not in Sentry's shape: %s", res.body)
	}
	if after := member.do("GET", path, nil).obj(t); !reflect.DeepEqual(after, got) {
		t.Errorf("refused writes changed the ownership:\nbefore %v\nafter  %v", got, after)
	}
	if res := e.session(f.users["viewer"]).do("PUT", path, write); res.status != 403 {
		t.Errorf("viewer: %d, want 403", res.status)
	}
	if res := e.session(f.users["other"]).do("GET", path, nil); res.status != 404 {
		t.Errorf("another organisation: %d, want 404", res.status)
	}
}
