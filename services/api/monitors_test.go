package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/monitorstore"
	groupsvc "github.com/faultline/faultline/services/grouping"
	"github.com/faultline/faultline/streams"
)

const monitorsPath = "/api/0/organizations/{org}/monitors/"

// The monitor routes' access and walk bodies.
func init() {
	one := monitorsPath + "{monitor_slug}/"
	for route, need := range map[string]string{
		"GET " + monitorsPath:      "viewer",
		"POST " + monitorsPath:     "member",
		"GET " + one:               "viewer",
		"PUT " + one:               "member",
		"DELETE " + one:            "member",
		"GET " + one + "checkins/": "viewer",
	} {
		wantNeed[route] = need
	}
	issueBodies["POST "+monitorsPath] = map[string]any{"project": "web", "name": "Walk Created",
		"config": map[string]any{"schedule_type": "crontab", "schedule": "0 * * * *"}}
	issueBodies["PUT "+one] = map[string]any{"name": "Walk Renamed"}
}

// walkMonitor creates the monitor the route walks read, update and delete.
func (e *restEnv) walkMonitor(f *fixture) string {
	e.t.Helper()
	err := monitorstore.Decide(context.Background(), e.store.Decisions(), &streams.Decision{Kind: streams.DecideUpsertMonitor,
		ProjectID: f.project.ID, Monitor: &streams.Monitor{Slug: "walk-nightly", Name: "Walk Nightly",
			Config: streams.MonitorConfig{ScheduleType: "crontab", Crontab: "0 3 * * *"}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return "walk-nightly"
}

// TestMonitorsAPI: monitors are created, listed, changed and deleted
// through grouping's decisions; bad configurations are refused naming the
// field; a token of one project sees that project's monitors only.
func TestMonitorsAPI(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	e.startGrouping()
	ctx := context.Background()
	c := e.session(f.users["member"])
	const list = "/api/0/organizations/acme/monitors/"

	res := c.do("POST", list, map[string]any{"project": "web", "name": "Nightly Backup",
		"config": map[string]any{"schedule_type": "crontab", "schedule": "0  3 * * *", "checkin_margin": 5, "max_runtime": 20,
			"timezone": "Europe/Paris", "failure_issue_threshold": 2, "recovery_threshold": 3}})
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	var m struct {
		Slug    string `json:"slug"`
		Name    string `json:"name"`
		Status  string `json:"status"`
		Health  string `json:"health"`
		Project struct {
			Slug string `json:"slug"`
		} `json:"project"`
		Config map[string]any `json:"config"`
	}
	res.json(t, &m)
	if m.Slug != "nightly-backup" || m.Name != "Nightly Backup" || m.Status != "active" || m.Health != "new" || m.Project.Slug != "web" {
		t.Errorf("created: %+v", m)
	}
	if got := fmt.Sprint(m.Config["schedule"], " ", m.Config["timezone"], " ", m.Config["checkin_margin"], " ", m.Config["recovery_threshold"]); got != "0 3 * * * Europe/Paris 5 3" {
		t.Errorf("config: %s", got)
	}
	// Written by grouping, the tables' owner, from the decision.
	var kind string
	if err := e.db.Pool.QueryRow(ctx, `SELECT kind FROM grouping.decisions WHERE project_id = $1 ORDER BY decided_at DESC LIMIT 1`, f.project.ID).Scan(&kind); err != nil || kind != streams.DecideUpsertMonitor {
		t.Errorf("decision recorded: %q %v", kind, err)
	}
	if res := c.do("POST", list, map[string]any{"project": "web", "name": "Every ten", "slug": "ten",
		"config": map[string]any{"schedule_type": "interval", "schedule": []any{10, "minute"}}}); res.status != http.StatusCreated {
		t.Fatalf("create interval: %d %s", res.status, res.body)
	}
	if res := c.do("POST", list, map[string]any{"project": "web", "name": "Nightly Backup",
		"config": map[string]any{"schedule_type": "crontab", "schedule": "0 3 * * *"}}); res.status != http.StatusConflict {
		t.Errorf("duplicate slug: %d %s", res.status, res.body)
	}

	for _, tc := range []struct {
		name   string
		config map[string]any
		field  string
	}{
		{"bad crontab", map[string]any{"schedule_type": "crontab", "schedule": "every night"}, "config.schedule"},
		{"six fields", map[string]any{"schedule_type": "crontab", "schedule": "0 0 3 * * *"}, "config.schedule"},
		{"zone in crontab", map[string]any{"schedule_type": "crontab", "schedule": "CRON_TZ=UTC 0 3 * * *"}, "config.schedule"},
		{"bad unit", map[string]any{"schedule_type": "interval", "schedule": []any{2, "fortnight"}}, "config.schedule"},
		{"bad interval", map[string]any{"schedule_type": "interval", "schedule": "2 minutes"}, "config.schedule"},
		{"bad type", map[string]any{"schedule_type": "weekly", "schedule": "x"}, "config.schedule_type"},
		{"bad zone", map[string]any{"schedule_type": "crontab", "schedule": "0 3 * * *", "timezone": "Mars/Olympus"}, "config.timezone"},
		{"zone path", map[string]any{"schedule_type": "crontab", "schedule": "0 3 * * *", "timezone": "../../etc/passwd"}, "config.timezone"},
		{"bad margin", map[string]any{"schedule_type": "crontab", "schedule": "0 3 * * *", "checkin_margin": -1}, "config.checkin_margin"},
		{"bad runtime", map[string]any{"schedule_type": "crontab", "schedule": "0 3 * * *", "max_runtime": 99999}, "config.max_runtime"},
		{"bad threshold", map[string]any{"schedule_type": "crontab", "schedule": "0 3 * * *", "failure_issue_threshold": 1000}, "config.failure_issue_threshold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := c.do("POST", list, map[string]any{"project": "web", "name": "Bad " + tc.name, "config": tc.config})
			if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), `"`+tc.field+":") {
				t.Errorf("%d %s, want 400 naming %s", res.status, res.body, tc.field)
			}
		})
	}
	if res := c.do("PUT", list+"ten/", map[string]any{"config": map[string]any{"schedule": []any{0, "minute"}}}); res.status != http.StatusBadRequest ||
		!strings.Contains(string(res.body), "config.schedule") {
		t.Errorf("bad update: %d %s", res.status, res.body)
	}

	res = c.do("PUT", list+"ten/", map[string]any{"name": "Every five", "status": "disabled",
		"config": map[string]any{"schedule": []any{5, "hour"}, "max_runtime": 45}})
	if res.status != http.StatusOK {
		t.Fatalf("update: %d %s", res.status, res.body)
	}
	res.json(t, &m)
	if m.Name != "Every five" || m.Status != "disabled" || fmt.Sprintf("%v %v", m.Config["schedule"], m.Config["max_runtime"]) != "[5 hour] 45" {
		t.Errorf("updated: %+v", m)
	}

	// Another project of acme, and a token restricted to web.
	p2, err := e.store.CreateProject(ctx, "acme", "Backend Jobs")
	if err != nil {
		t.Fatal(err)
	}
	if res := c.do("POST", list, map[string]any{"project": fmt.Sprint(p2.ID), "name": "Secret Job",
		"config": map[string]any{"schedule_type": "crontab", "schedule": "@hourly"}}); res.status != http.StatusCreated {
		t.Fatalf("create in the second project: %d %s", res.status, res.body)
	}
	slugs := func(c *client, path string) string {
		t.Helper()
		res := c.do("GET", path, nil)
		if res.status != http.StatusOK {
			t.Fatalf("list %s: %d %s", path, res.status, res.body)
		}
		var ms []struct {
			Slug string `json:"slug"`
		}
		res.json(t, &ms)
		var out []string
		for _, m := range ms {
			out = append(out, m.Slug)
		}
		return strings.Join(out, ",")
	}
	if got := slugs(c, list); got != "nightly-backup,secret-job,ten" {
		t.Errorf("member lists %s", got)
	}
	_, tok, err := e.store.CreateToken(ctx, accounts.NewToken{UserID: f.users["member"].ID, Scopes: []string{"project:read", "project:write"},
		OrgID: f.acme.ID, ProjectID: f.project.ID})
	if err != nil {
		t.Fatal(err)
	}
	web := e.withToken(tok)
	if got := slugs(web, list); got != "nightly-backup,ten" {
		t.Errorf("web's token lists %s", got)
	}
	for _, r := range []struct{ method, path string }{{"GET", list + "secret-job/"}, {"GET", list + "secret-job/checkins/"},
		{"PUT", list + "secret-job/"}, {"DELETE", list + "secret-job/"}} {
		var body any
		if r.method == "PUT" {
			body = map[string]any{"name": "Taken"}
		}
		if res := web.do(r.method, r.path, body); res.status != http.StatusNotFound || strings.Contains(string(res.body), "Secret") {
			t.Errorf("web's token %s %s: %d %s", r.method, r.path, res.status, res.body)
		}
	}
	if res := web.do("POST", list, map[string]any{"project": p2.Slug, "name": "Planted",
		"config": map[string]any{"schedule_type": "crontab", "schedule": "@hourly"}}); res.status != http.StatusBadRequest {
		t.Errorf("web's token creating in another project: %d %s", res.status, res.body)
	}
	other := e.session(f.users["other"])
	if res := other.do("GET", list, nil); res.status != http.StatusNotFound {
		t.Errorf("another organisation lists acme's monitors: %d %s", res.status, res.body)
	}
	if res := e.session(f.users["viewer"]).do("DELETE", list+"ten/", nil); res.status != http.StatusForbidden {
		t.Errorf("viewer deletes: %d", res.status)
	}

	if res := c.do("DELETE", list+"ten/", nil); res.status != http.StatusAccepted {
		t.Fatalf("delete: %d %s", res.status, res.body)
	}
	if res := c.do("GET", list+"ten/", nil); res.status != http.StatusNotFound {
		t.Errorf("deleted monitor: %d %s", res.status, res.body)
	}
	if got := slugs(c, list); got != "nightly-backup,secret-job" {
		t.Errorf("after the deletion: %s", got)
	}
}

// checkInEnvelope is an SDK's check_in envelope.
func checkInEnvelope(ci map[string]any) string {
	p, _ := json.Marshal(ci)
	return fmt.Sprintf("{\"sent_at\":%q}\n{\"type\":\"check_in\",\"length\":%d}\n%s\n", time.Now().UTC().Format(time.RFC3339), len(p), p)
}

// TestMonitorCheckInsMakeIssues sends check-ins through a real gateway, to
// a real grouping replica whose clock the test moves: errors, missed and
// timed-out check-ins make the monitor's issue once failure_issue_threshold
// of them come in a row; recovery_threshold oks in a row resolve it.
func TestMonitorCheckInsMakeIssues(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	var skew atomic.Int64
	e.startGroupingWith(func(o *groupsvc.Options) {
		o.MonitorTick = 50 * time.Millisecond
		o.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	pid := f.project.ID
	_, gw := e.startGateway(0, nil, pid)
	ctx := context.Background()
	send := func(ci map[string]any) {
		t.Helper()
		ci["monitor_slug"] = "nightly"
		if code := sendEnvelope(t, gw, pid, checkInEnvelope(ci)); code != http.StatusOK {
			t.Fatalf("check-in %v: %d", ci, code)
		}
	}
	cron := func(query string) int {
		t.Helper()
		res, err := http.Get(fmt.Sprintf("%s/api/%d/cron/nightly/k%d/?%s", gw, pid, pid, query))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	wait := func(what string, cond func() (bool, string)) {
		t.Helper()
		var last string
		defer func() {
			if t.Failed() {
				t.Logf("%s: last seen %s", what, last)
			}
		}()
		waitUntil(t, what, func() (ok bool) { ok, last = cond(); return ok })
	}
	checkIns := func(status string) int {
		var n int
		if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM grouping.monitor_checkins c JOIN grouping.monitors m ON m.id = c.monitor_id
			WHERE m.project_id = $1 AND m.slug = 'nightly' AND c.status = $2`, pid, status).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitCheckIns := func(status string, n int) {
		t.Helper()
		wait(fmt.Sprintf("%d %s check-ins", n, status), func() (bool, string) {
			got := checkIns(status)
			return got >= n, fmt.Sprint(got)
		})
	}
	type issue struct {
		status string
		seen   int64
		title  string
	}
	monitorIssue := func() (issue, bool) {
		var i issue
		err := e.db.Pool.QueryRow(ctx, `SELECT i.status, i.times_seen, i.title FROM grouping.issues i
			JOIN grouping.issue_hashes h ON h.issue_id = i.id WHERE h.project_id = $1 AND h.hash = $2`,
			pid, groupsvc.MonitorIssueHash("nightly")).Scan(&i.status, &i.seen, &i.title)
		return i, err == nil
	}
	waitIssue := func(what string, cond func(issue) bool) issue {
		t.Helper()
		var last issue
		wait(what, func() (bool, string) {
			i, ok := monitorIssue()
			last = i
			return ok && cond(i), fmt.Sprintf("%+v (exists %v)", i, ok)
		})
		return last
	}

	// The first check-in creates the monitor from its monitor_config.
	config := map[string]any{"schedule": map[string]any{"type": "interval", "value": 10, "unit": "minute"},
		"checkin_margin": 1, "max_runtime": 5, "failure_issue_threshold": 2, "recovery_threshold": 2}
	id := newID()
	send(map[string]any{"check_in_id": id, "status": "in_progress", "monitor_config": config, "environment": "production"})
	send(map[string]any{"check_in_id": id, "status": "ok", "duration": 1.5})
	waitCheckIns("ok", 1)
	if n := checkIns("in_progress"); n != 0 {
		t.Errorf("the ok check-in did not close the in-progress one: %d still in progress", n)
	}

	// One error is under the threshold; the second makes the issue.
	if code := cron("status=error"); code != http.StatusOK {
		t.Fatalf("HTTP check-in: %d", code)
	}
	waitCheckIns("error", 1)
	if _, ok := monitorIssue(); ok {
		t.Fatal("an issue after one failure, with failure_issue_threshold 2")
	}
	send(map[string]any{"check_in_id": newID(), "status": "error"})
	iss := waitIssue("the failure issue", func(i issue) bool { return i.status == "unresolved" })
	if iss.title != "Cron failure: Monitor nightly failed" || iss.seen != 1 {
		t.Errorf("failure issue: %+v", iss)
	}

	// Two oks in a row resolve it; one does not.
	send(map[string]any{"check_in_id": newID(), "status": "ok"})
	waitCheckIns("ok", 2)
	if i, _ := monitorIssue(); i.status != "unresolved" {
		t.Errorf("resolved after one ok, with recovery_threshold 2: %+v", i)
	}
	if code := cron("status=ok&environment=production"); code != http.StatusOK {
		t.Fatalf("HTTP check-in: %d", code)
	}
	waitIssue("the recovery", func(i issue) bool { return i.status == "resolved" })

	// 25 minutes on, the slots at 10 and 20 minutes were missed (the one at 30
	// is not due yet): the second failure in a row regresses the issue.
	skew.Store(int64(25 * time.Minute))
	waitCheckIns("missed", 2)
	iss = waitIssue("the missed check-ins' regression", func(i issue) bool { return i.status == "unresolved" && i.seen >= 2 })
	seen := iss.seen

	// A job that never finishes times out after max_runtime.
	skew.Store(0)
	send(map[string]any{"check_in_id": newID(), "status": "in_progress"})
	wait("the in-progress check-in", func() (bool, string) { n := checkIns("in_progress"); return n == 1, fmt.Sprint(n) })
	skew.Store(int64(6 * time.Minute))
	waitCheckIns("timeout", 1)
	waitIssue("the timeout's event", func(i issue) bool { return i.seen > seen })

	// The API shows the monitor and its check-ins.
	c := e.session(f.users["viewer"])
	res := c.do("GET", "/api/0/organizations/acme/monitors/nightly/checkins/", nil)
	var cis []struct {
		Status string `json:"status"`
	}
	res.json(t, &cis)
	var statuses []string
	for _, ci := range cis {
		statuses = append(statuses, ci.Status)
	}
	for _, want := range []string{"ok", "error", "missed", "timeout"} {
		if !strings.Contains(strings.Join(statuses, ","), want) {
			t.Errorf("check-ins %v: no %s", statuses, want)
		}
	}
	res = c.do("GET", "/api/0/organizations/acme/monitors/nightly/", nil)
	if m := res.obj(t); m["health"] != "timeout" || m["nextCheckIn"] == nil {
		t.Errorf("monitor: %s", res.body)
	}

	// Bad HTTP check-ins are refused with a 4xx.
	for query, want := range map[string]int{"status=bogus": 400, "status=ok&duration=fast": 400, "status=ok&check_in_id=nope": 400} {
		if code := cron(query); code != want {
			t.Errorf("%s: %d, want %d", query, code, want)
		}
	}
	res2, err := http.Get(fmt.Sprintf("%s/api/%d/cron/nightly/kwrong/?status=ok", gw, pid))
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown key: %d", res2.StatusCode)
	}
}
