package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	alertsvc "github.com/faultline/faultline/services/alerting"
	"github.com/faultline/faultline/services/api"
	"github.com/faultline/faultline/streams"
)

// The alert-rule routes' access, as Sentry's: project:read reads,
// project:write changes. Merged into the authorisation walks' table.
func init() {
	const proj = "/api/0/projects/{org}/{project}/"
	for route, need := range map[string]string{
		"GET " + proj + "rules/":              "viewer",
		"POST " + proj + "rules/":             "member",
		"GET " + proj + "rules/{rule_id}/":    "viewer",
		"PUT " + proj + "rules/{rule_id}/":    "member",
		"DELETE " + proj + "rules/{rule_id}/": "member",
		"GET " + proj + "plugins/webhooks/":   "viewer",
		"PUT " + proj + "plugins/webhooks/":   "member",
		"GET " + proj + "alert-deliveries/":   "viewer",
	} {
		wantNeed[route] = need
	}
	issueBodies["POST "+proj+"rules/"] = walkRule
	issueBodies["PUT "+proj+"rules/{rule_id}/"] = walkRule
	issueBodies["PUT "+proj+"plugins/webhooks/"] = map[string]any{"urls": "https://hooks.example.test/faultline"}
}

// walkRule is a valid issue-alert rule in Sentry's JSON.
var walkRule = map[string]any{
	"name": "WalkRule new issues", "actionMatch": "all", "filterMatch": "all", "frequency": 30,
	"conditions": []any{map[string]any{"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}},
	"filters":    []any{map[string]any{"id": "sentry.rules.filters.level.LevelFilter", "match": "gte", "level": "40"}},
	"actions":    []any{map[string]any{"id": "sentry.rules.actions.notify_event_service.NotifyEventServiceAction", "service": "webhooks"}},
}

// startAlerting runs a real alerting replica against e's database and
// JetStream until the test ends: it applies the rule commands the api
// publishes.
func (e *restEnv) startAlerting() {
	t := e.t
	t.Helper()
	opt := alertsvc.DefaultOptions()
	opt.RulesRefresh = 50 * time.Millisecond
	svc, err := alertsvc.New(e.db.Pool, e.nc, opt, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := svc.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { stop(); <-done })
}

// alertingTimeout bounds how long the api waits for the alerting role.
func (e *restEnv) alertingTimeout(d time.Duration) {
	e.api.SetAlerting(&api.AlertingBus{NC: e.nc.NC, JS: e.nc.JS, Timeout: d})
}

// ruleParams creates walkRule in acme's web project as its owner.
func (e *restEnv) ruleParams(f *fixture) map[string]string {
	e.t.Helper()
	res := e.session(f.users["owner"]).do("POST", "/api/0/projects/acme/web/rules/", walkRule)
	if res.status != http.StatusCreated {
		e.t.Fatalf("create rule: %d %s", res.status, res.body)
	}
	return map[string]string{"rule_id": res.obj(e.t)["id"].(string)}
}

// TestAlertRules: the rule routes create, list, read, replace and delete
// rules in Sentry's shape through the alerting role, refuse invalid rules
// naming the field, and keep each project's rules to itself.
func TestAlertRules(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	e.startAlerting()
	tok, _ := e.token(f.users["member"], "project:read", "project:write")
	c := e.withToken(tok)
	const base = "/api/0/projects/acme/web/rules/"

	res := c.do("POST", base, walkRule)
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	created := res.obj(t)
	id, _ := created["id"].(string)
	if id == "" || created["name"] != "WalkRule new issues" || created["actionMatch"] != "all" || created["frequency"] != float64(30) ||
		fmt.Sprint(created["projects"]) != "[web]" || created["dateCreated"] == "" {
		t.Fatalf("created rule: %s", res.body)
	}
	if acts, _ := created["actions"].([]any); len(acts) != 1 || acts[0].(map[string]any)["service"] != "webhooks" {
		t.Errorf("actions: %v", created["actions"])
	}

	if res := c.do("GET", base, nil); res.status != 200 || len(res.list(t)) != 1 || res.list(t)[0]["id"] != id {
		t.Errorf("list: %d %s", res.status, res.body)
	}
	if res := c.do("GET", base+id+"/", nil); res.status != 200 || res.obj(t)["name"] != "WalkRule new issues" {
		t.Errorf("get: %d %s", res.status, res.body)
	}

	changed := map[string]any{}
	for k, v := range walkRule {
		changed[k] = v
	}
	changed["name"], changed["frequency"] = "renamed", 60
	if res := c.do("PUT", base+id+"/", changed); res.status != 200 || res.obj(t)["name"] != "renamed" || res.obj(t)["frequency"] != float64(60) {
		t.Errorf("put: %d %s", res.status, res.body)
	}
	if res := c.do("GET", base+id+"/", nil); res.obj(t)["name"] != "renamed" {
		t.Errorf("after put: %s", res.body)
	}

	// Invalid rules answer Sentry's field errors.
	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"name": "x", "conditions": []any{}, "actions": walkRule["actions"]}, "conditions"},
		{map[string]any{"conditions": walkRule["conditions"], "actions": walkRule["actions"]}, "name"},
		{map[string]any{"name": "x", "frequency": 99999, "conditions": walkRule["conditions"], "actions": walkRule["actions"]}, "frequency"},
	} {
		res := c.do("POST", base, tc.body)
		if res.status != http.StatusBadRequest {
			t.Errorf("invalid rule: %d %s", res.status, res.body)
			continue
		}
		if msgs, _ := res.obj(t)[tc.field].([]any); len(msgs) == 0 {
			t.Errorf("invalid rule: errors %s do not name %q", res.body, tc.field)
		}
	}
	if res := c.do("PUT", base+"99999/", walkRule); res.status != http.StatusNotFound {
		t.Errorf("put of a missing rule: %d %s", res.status, res.body)
	}
	if res := c.do("GET", base+"nope/", nil); res.status != http.StatusNotFound {
		t.Errorf("get rule nope: %d %s", res.status, res.body)
	}

	// The webhooks plugin's URLs, one a line.
	if res := c.do("PUT", "/api/0/projects/acme/web/plugins/webhooks/", map[string]string{"urls": "ftp://x"}); res.status != http.StatusBadRequest ||
		!strings.Contains(string(res.body), `"urls"`) {
		t.Errorf("invalid webhook url: %d %s", res.status, res.body)
	}
	urls := "https://a.example.test/hook\nhttps://b.example.test/hook"
	if res := c.do("PUT", "/api/0/projects/acme/web/plugins/webhooks/", map[string]string{"urls": urls}); res.status != 200 {
		t.Errorf("set webhooks: %d %s", res.status, res.body)
	}
	if res := c.do("GET", "/api/0/projects/acme/web/plugins/webhooks/", nil); res.status != 200 || res.obj(t)["urls"] != urls {
		t.Errorf("get webhooks: %d %s", res.status, res.body)
	}

	// Another organisation reaches neither acme's rules nor, through its
	// own project, acme's rule id.
	other, _ := e.token(f.users["other"], "project:read", "project:write", "project:admin")
	oc := e.withToken(other)
	for _, rq := range []struct{ method, path string }{
		{"GET", base}, {"GET", base + id + "/"}, {"PUT", base + id + "/"}, {"DELETE", base + id + "/"},
		{"GET", "/api/0/projects/rival/secret/rules/" + id + "/"}, {"PUT", "/api/0/projects/rival/secret/rules/" + id + "/"},
		{"DELETE", "/api/0/projects/rival/secret/rules/" + id + "/"},
		{"GET", "/api/0/projects/acme/web/plugins/webhooks/"}, {"PUT", "/api/0/projects/acme/web/plugins/webhooks/"},
	} {
		res := oc.do(rq.method, rq.path, changed)
		if res.status != http.StatusNotFound && res.status != http.StatusForbidden {
			t.Errorf("other organisation %s %s: %d %s", rq.method, rq.path, res.status, res.body)
		}
		if strings.Contains(string(res.body), "renamed") || strings.Contains(string(res.body), "example.test") {
			t.Errorf("other organisation %s %s leaks acme's rule: %s", rq.method, rq.path, res.body)
		}
	}
	if res := oc.do("GET", "/api/0/projects/rival/secret/rules/", nil); res.status != 200 || len(res.list(t)) != 0 {
		t.Errorf("rival's rules: %d %s", res.status, res.body)
	}
	if res := c.do("GET", base+id+"/", nil); res.status != 200 || res.obj(t)["name"] != "renamed" {
		t.Errorf("acme's rule after the other organisation's calls: %d %s", res.status, res.body)
	}

	if res := c.do("DELETE", base+id+"/", nil); res.status != http.StatusAccepted {
		t.Errorf("delete: %d %s", res.status, res.body)
	}
	if res := c.do("GET", base+id+"/", nil); res.status != http.StatusNotFound {
		t.Errorf("after delete: %d %s", res.status, res.body)
	}
	if res := c.do("DELETE", base+id+"/", nil); res.status != http.StatusNotFound {
		t.Errorf("delete again: %d %s", res.status, res.body)
	}

	// Before an alerting replica has migrated its schema, reads answer 503.
	if _, err := e.db.Pool.Exec(context.Background(), `DROP SCHEMA alerting CASCADE`); err != nil {
		t.Fatal(err)
	}
	if res := c.do("GET", base, nil); res.status != http.StatusServiceUnavailable || !strings.Contains(string(res.body), "alerting") {
		t.Errorf("without the alerting schema: %d %s", res.status, res.body)
	}
}

// TestAlertRulesWithoutAlerting: with no alerting role answering, a change
// is queued on ALERTING and answered 202, never lost or failed.
func TestAlertRulesWithoutAlerting(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	e.alertingTimeout(300 * time.Millisecond)
	c := e.session(f.users["owner"])
	if res := c.do("POST", "/api/0/projects/acme/web/rules/", walkRule); res.status != http.StatusAccepted {
		t.Fatalf("create with no alerting role: %d %s", res.status, res.body)
	}
	stream, err := e.nc.JS.Stream(context.Background(), streams.Alerting)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("ALERTING holds %d commands, want 1", info.State.Msgs)
	}
}

func (r response) list(t *testing.T) []map[string]any {
	t.Helper()
	var l []map[string]any
	r.json(t, &l)
	return l
}
