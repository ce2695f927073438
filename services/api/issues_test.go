package api_test

import (
	"context"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/issues"
)

// issueWorld is acme's project "web" with issues made by the real grouping
// service from real envelopes, and a stranger's project with one of its own.
type issueWorld struct {
	e      *restEnv
	f      *fixture
	p      *pipeline
	owner  *client
	ids    map[string]string // issue id by name: typeerror, valueerror, disk, conn
	events map[string][]string
	secret string // the other organisation's issue id
}

func newIssueWorld(t *testing.T) *issueWorld {
	e := newRestEnv(t)
	f := e.fixture()
	w := &issueWorld{e: e, f: f, p: e.startGrouping(), ids: map[string]string{}, events: map[string][]string{}}
	tok, _ := e.token(f.users["owner"], "read", "write")
	w.owner = e.withToken(tok)
	now := time.Now()
	chrome := map[string]string{"browser": "Chrome 120.0", "browser.name": "Chrome", "server": "web-1"}
	send := func(name string, evs ...sdkEvent) {
		ids := w.p.send(f.project.ID, evs...)
		w.events[name] = append(w.events[name], ids...)
		w.ids[name] = w.p.issueOf(ids[0])
	}
	// typeerror: 3 events, 2 users, the most frequent; last seen 1h ago.
	send("typeerror",
		sdkEvent{excType: "TypeError", excValue: "x is undefined", function: "render", release: "1.2", environment: "prod",
			user: map[string]any{"email": "alice@example.com"}, tags: chrome, ts: now.Add(-5 * time.Hour)},
		sdkEvent{excType: "TypeError", excValue: "x is undefined", function: "render", release: "1.2", environment: "prod",
			user: map[string]any{"email": "alice@example.com"}, tags: chrome, ts: now.Add(-3 * time.Hour)},
		sdkEvent{excType: "TypeError", excValue: "x is undefined", function: "render", release: "1.2", environment: "prod",
			user: map[string]any{"email": "bob@example.com"}, tags: chrome, ts: now.Add(-1 * time.Hour)})
	// valueerror: a warning in staging, first seen most recently.
	send("valueerror", sdkEvent{excType: "ValueError", excValue: "bad input", function: "parse", level: "warning",
		release: "1.3", environment: "staging", user: map[string]any{"id": "42"},
		tags: map[string]string{"browser": "Firefox 118.0", "browser.name": "Firefox", "server": "web-2"}, ts: now.Add(-2 * time.Hour)})
	// disk: an info message, 2 events, last seen most recently.
	send("disk",
		sdkEvent{message: "disk full on /dev/sda1", level: "info", environment: "prod", ts: now.Add(-4 * time.Hour)},
		sdkEvent{message: "disk full on /dev/sda1", level: "info", environment: "prod", ts: now.Add(-10 * time.Minute)})
	// conn: one error in prod, release 1.2, the oldest.
	send("conn", sdkEvent{excType: "ConnectionError", excValue: "connection refused", function: "dial", release: "1.2",
		environment: "prod", ts: now.Add(-6 * time.Hour)})
	secret := w.p.send(f.otherProj.ID, sdkEvent{excType: "SecretError", excValue: "rival secret", function: "hide", ts: now})
	w.secret = w.p.issueOf(secret[0])
	if len(map[string]bool{w.ids["typeerror"]: true, w.ids["valueerror"]: true, w.ids["disk"]: true, w.ids["conn"]: true}) != 4 {
		t.Fatalf("want 4 distinct issues, got %v", w.ids)
	}
	return w
}

func (w *issueWorld) name(id string) string {
	for n, i := range w.ids {
		if i == id {
			return n
		}
	}
	return "?" + id
}

// list returns the names of the issues a list answers, in order.
func (w *issueWorld) list(t *testing.T, c *client, query string) ([]string, response) {
	t.Helper()
	res := c.do("GET", "/api/0/projects/acme/web/issues/?"+query, nil)
	if res.status != 200 {
		t.Fatalf("list %q: %d %s", query, res.status, res.body)
	}
	var items []map[string]any
	res.json(t, &items)
	var names []string
	for _, it := range items {
		names = append(names, w.name(it["id"].(string)))
	}
	return names, res
}

func q(s string) string { return "query=" + url.QueryEscape(s) }

func sorted(s []string) []string { s = slices.Clone(s); sort.Strings(s); return s }

func TestIssueSearchAndSort(t *testing.T) {
	w := newIssueWorld(t)
	search := []struct {
		query string
		want  []string
	}{
		{"", []string{"conn", "disk", "typeerror", "valueerror"}},
		{"is:unresolved", []string{"conn", "disk", "typeerror", "valueerror"}},
		{"is:resolved", nil},
		{"is:unresolved level:error", []string{"conn", "typeerror"}},
		{"level:warning", []string{"valueerror"}},
		{"!level:info", []string{"conn", "typeerror", "valueerror"}},
		{"release:1.2", []string{"conn", "typeerror"}},
		{"release:1.*", []string{"conn", "typeerror", "valueerror"}},
		{"!release:1.2", []string{"disk", "valueerror"}},
		{"environment:staging", []string{"valueerror"}},
		{"environment:prod level:error", []string{"conn", "typeerror"}},
		{"user.email:alice@example.com", []string{"typeerror"}},
		{"user.email:carol@example.com", nil},
		{"browser.name:Chrome", []string{"typeerror"}},
		{"browser.name:Firefox", []string{"valueerror"}},
		{"server:web-2", []string{"valueerror"}},
		{"has:server", []string{"typeerror", "valueerror"}},
		{"!has:server", []string{"conn", "disk"}},
		{"undefined", []string{"typeerror"}},
		{"UNDEFINED render", []string{"typeerror"}},
		{`"disk full"`, []string{"disk"}},
		{"refused level:error", []string{"conn"}},
		{"100%", nil},
		{"nothing-matches-this", nil},
	}
	for _, tt := range search {
		t.Run("query "+tt.query, func(t *testing.T) {
			got, _ := w.list(t, w.owner, q(tt.query))
			if !slices.Equal(sorted(got), tt.want) {
				t.Errorf("query %q: got %v, want %v", tt.query, sorted(got), tt.want)
			}
		})
	}
	orders := []struct {
		sort string
		want []string
	}{
		{"", []string{"disk", "typeerror", "valueerror", "conn"}},
		{"date", []string{"disk", "typeerror", "valueerror", "conn"}},
		{"new", []string{"valueerror", "disk", "typeerror", "conn"}},
		{"freq", []string{"typeerror", "disk"}},       // ties (one event each) follow by id
		{"user", []string{"typeerror", "valueerror"}}, // the others have no users; ties follow
	}
	for _, tt := range orders {
		t.Run("sort "+tt.sort, func(t *testing.T) {
			got, _ := w.list(t, w.owner, "sort="+tt.sort)
			if len(got) != 4 || !slices.Equal(got[:len(tt.want)], tt.want) {
				t.Errorf("sort %q: got %v, want %v first", tt.sort, got, tt.want)
			}
		})
	}
	for _, bad := range []string{q("is:maybe"), q(`"open`), "sort=random", "cursor=%21%21", "per_page=0", "statsPeriod=5y"} {
		t.Run("bad "+bad, func(t *testing.T) {
			res := w.owner.do("GET", "/api/0/projects/acme/web/issues/?"+bad, nil)
			if res.status != 400 || !strings.Contains(string(res.body), `"detail"`) {
				t.Errorf("%s: %d %s, want 400 with detail", bad, res.status, res.body)
			}
		})
	}
}

var linkCursor = regexp.MustCompile(`rel="(previous|next)"; results="(true|false)"; cursor="([^"]*)"`)

// links reads Sentry's Link header: the cursor of each relation with
// results, "" otherwise.
func links(t *testing.T, res response) (prev, next string) {
	t.Helper()
	m := linkCursor.FindAllStringSubmatch(res.header.Get("Link"), -1)
	if len(m) != 2 {
		t.Fatalf("Link header %q", res.header.Get("Link"))
	}
	for _, x := range m {
		if x[2] == "true" {
			if x[1] == "previous" {
				prev = x[3]
			} else {
				next = x[3]
			}
		}
	}
	return prev, next
}

func TestIssuePagination(t *testing.T) {
	w := newIssueWorld(t)
	for _, sortBy := range []string{"date", "new", "freq", "user"} {
		t.Run(sortBy, func(t *testing.T) {
			all, _ := w.list(t, w.owner, "sort="+sortBy)
			var walked []string
			var pages []string // the cursor of each page
			cursor := ""
			for range 10 {
				got, res := w.list(t, w.owner, "sort="+sortBy+"&per_page=1&cursor="+url.QueryEscape(cursor))
				walked = append(walked, got...)
				pages = append(pages, cursor)
				_, next := links(t, res)
				if next == "" {
					break
				}
				cursor = next
			}
			if !slices.Equal(walked, all) {
				t.Fatalf("pages walked %v, want %v", walked, all)
			}
			// Back from the last page with the previous cursors.
			_, res := w.list(t, w.owner, "sort="+sortBy+"&per_page=1&cursor="+url.QueryEscape(pages[len(pages)-1]))
			var back []string
			for range 10 {
				prev, _ := links(t, res)
				if prev == "" {
					break
				}
				var got []string
				got, res = w.list(t, w.owner, "sort="+sortBy+"&per_page=1&cursor="+url.QueryEscape(prev))
				back = append(got, back...)
			}
			if want := all[:len(all)-1]; !slices.Equal(back, want) {
				t.Errorf("walking back got %v, want %v", back, want)
			}
			if first, _ := links(t, mustList(t, w, "sort="+sortBy+"&per_page=1")); first != "" {
				t.Errorf("first page has a previous cursor %q", first)
			}
		})
	}
	// A cursor of one sort order does not serve another.
	_, res := w.list(t, w.owner, "sort=freq&per_page=1")
	_, next := links(t, res)
	if r := w.owner.do("GET", "/api/0/projects/acme/web/issues/?sort=new&cursor="+url.QueryEscape(next), nil); r.status != 400 {
		t.Errorf("cursor of another sort: %d, want 400", r.status)
	}
}

func mustList(t *testing.T, w *issueWorld, query string) response {
	_, res := w.list(t, w.owner, query)
	return res
}

func TestIssueDetailShape(t *testing.T) {
	w := newIssueWorld(t)
	id := w.ids["typeerror"]
	res := w.owner.do("GET", "/api/0/organizations/acme/issues/"+id+"/", nil)
	if res.status != 200 {
		t.Fatalf("GET issue: %d %s", res.status, res.body)
	}
	m := res.obj(t)
	want := map[string]any{"id": id, "title": "TypeError: x is undefined", "culprit": "render(app.handlers)", "level": "error",
		"status": "unresolved", "substatus": "new", "count": "3", "userCount": float64(2), "type": "error"}
	for k, v := range want {
		if k == "culprit" {
			if s, _ := m[k].(string); !strings.Contains(s, "render") {
				t.Errorf("culprit %q, want the render frame", s)
			}
			continue
		}
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if md := m["metadata"].(map[string]any); md["type"] != "TypeError" || md["value"] != "x is undefined" {
		t.Errorf("metadata %v", md)
	}
	if p := m["project"].(map[string]any); p["slug"] != "web" || p["name"] != "Web Shop" {
		t.Errorf("project %v", p)
	}
	if !strings.HasPrefix(m["shortId"].(string), "WEB-") || !strings.HasSuffix(m["permalink"].(string), "/organizations/acme/issues/"+id+"/") {
		t.Errorf("shortId %v permalink %v", m["shortId"], m["permalink"])
	}
	stats := m["stats"].(map[string]any)
	for period, n := range map[string]int{"24h": 24, "30d": 30} {
		pts := stats[period].([]any)
		total := 0.0
		for _, p := range pts {
			total += p.([]any)[1].(float64)
		}
		if len(pts) != n || total != 3 {
			t.Errorf("stats %s: %d buckets with %v events, want %d with 3", period, len(pts), total, n)
		}
	}
	// The list carries 24h stats per row, the project its totals.
	_, lres := w.list(t, w.owner, "")
	var items []map[string]any
	lres.json(t, &items)
	if st, ok := items[0]["stats"].(map[string]any)["24h"].([]any); !ok || len(st) != 24 {
		t.Errorf("list row stats: %v", items[0]["stats"])
	}
	ps := w.owner.do("GET", "/api/0/projects/acme/web/stats/?resolution=1d", nil)
	var pts [][2]int64
	ps.json(t, &pts)
	var total int64
	for _, p := range pts {
		total += p[1]
	}
	if ps.status != 200 || len(pts) != 30 || total != 7 {
		t.Errorf("project stats: %d, %d buckets, %d events; want 30 buckets with 7", ps.status, len(pts), total)
	}
	// The query layer the dashboard uses counts new issues per project.
	counts, err := issues.New(w.e.store.Pool(), w.e.store.Decisions()).NewIssueCounts(context.Background(), []int64{w.f.project.ID, w.f.otherProj.ID}, time.Now().Add(-24*time.Hour))
	if err != nil || counts[w.f.project.ID] != 4 || counts[w.f.otherProj.ID] != 1 {
		t.Errorf("NewIssueCounts = %v, %v", counts, err)
	}
}

func (w *issueWorld) status(t *testing.T, name string) map[string]any {
	t.Helper()
	res := w.owner.do("GET", "/api/0/organizations/acme/issues/"+w.ids[name]+"/", nil)
	if res.status != 200 {
		t.Fatalf("GET %s: %d %s", name, res.status, res.body)
	}
	return res.obj(t)
}

func TestIssueStatusChanges(t *testing.T) {
	w := newIssueWorld(t)
	put := func(name string, body map[string]any) map[string]any {
		t.Helper()
		res := w.owner.do("PUT", "/api/0/organizations/acme/issues/"+w.ids[name]+"/", body)
		if res.status != 200 {
			t.Fatalf("PUT %s %v: %d %s", name, body, res.status, res.body)
		}
		return res.obj(t)
	}
	// Resolve: the issue leaves the unresolved list, a new event regresses it.
	if m := put("typeerror", map[string]any{"status": "resolved"}); m["status"] != "resolved" {
		t.Fatalf("after resolve: %v", m["status"])
	}
	if got, _ := w.list(t, w.owner, q("is:unresolved")); slices.Contains(got, "typeerror") {
		t.Errorf("resolved issue still unresolved: %v", got)
	}
	if got, _ := w.list(t, w.owner, q("is:resolved")); !slices.Equal(got, []string{"typeerror"}) {
		t.Errorf("is:resolved = %v", got)
	}
	w.p.send(w.f.project.ID, sdkEvent{excType: "TypeError", excValue: "x is undefined", function: "render", release: "1.2"})
	if got, _ := w.list(t, w.owner, q("is:regressed")); !slices.Equal(got, []string{"typeerror"}) {
		t.Errorf("is:regressed after a new event = %v", got)
	}
	if m := w.status(t, "typeerror"); m["status"] != "unresolved" || m["substatus"] != "regressed" {
		t.Errorf("regressed issue: %v/%v", m["status"], m["substatus"])
	}

	// Resolve in next release.
	m := put("conn", map[string]any{"status": "resolvedInNextRelease"})
	if m["status"] != "resolved" || m["statusDetails"].(map[string]any)["inNextRelease"] != true {
		t.Errorf("resolvedInNextRelease: %v %v", m["status"], m["statusDetails"])
	}
	w.p.send(w.f.project.ID, sdkEvent{excType: "ConnectionError", excValue: "connection refused", function: "dial", release: "1.2"})
	if m := w.status(t, "conn"); m["status"] != "resolved" {
		t.Errorf("an event of the same release regressed an issue resolved in the next release: %v", m["status"])
	}
	w.p.send(w.f.project.ID, sdkEvent{excType: "ConnectionError", excValue: "connection refused", function: "dial", release: "1.3"})
	if m := w.status(t, "conn"); m["status"] != "unresolved" || m["substatus"] != "regressed" {
		t.Errorf("an event of a newer release: %v/%v, want unresolved/regressed", m["status"], m["substatus"])
	}

	// Resolve in a given release: events of older releases leave it
	// resolved, one of that release reopens it.
	m = put("valueerror", map[string]any{"status": "resolved", "statusDetails": map[string]any{"inRelease": "2.0"}})
	if m["status"] != "resolved" || m["statusDetails"].(map[string]any)["inRelease"] != "2.0" {
		t.Errorf("resolve in 2.0: %v %v", m["status"], m["statusDetails"])
	}
	if got, _ := w.list(t, w.owner, q("is:resolved")); !slices.Contains(got, "valueerror") {
		t.Errorf("is:resolved misses the issue resolved in a release: %v", got)
	}
	valueErr := sdkEvent{excType: "ValueError", excValue: "bad input", function: "parse", level: "warning", release: "1.9", environment: "staging"}
	w.p.send(w.f.project.ID, valueErr)
	if m := w.status(t, "valueerror"); m["status"] != "resolved" || m["statusDetails"].(map[string]any)["inRelease"] != "2.0" {
		t.Errorf("an event of an older release reopened an issue resolved in 2.0: %v %v", m["status"], m["statusDetails"])
	}
	valueErr.release = "2.0"
	w.p.send(w.f.project.ID, valueErr)
	if m := w.status(t, "valueerror"); m["status"] != "unresolved" || m["substatus"] != "regressed" {
		t.Errorf("an event of the release it was resolved in: %v/%v, want unresolved/regressed", m["status"], m["substatus"])
	}
	// "latest" is the project's newest release, and needs one.
	path := "/api/0/organizations/acme/issues/" + w.ids["valueerror"] + "/"
	if res := w.owner.do("PUT", path, map[string]any{"status": "resolved", "statusDetails": map[string]any{"inRelease": "latest"}}); res.status != 400 {
		t.Errorf("resolve in the latest release of a project without releases: %d %s", res.status, res.body)
	}
	for _, v := range []string{"2.5", "3.0"} {
		if res := w.owner.do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": v, "projects": []string{w.f.project.Slug}}); res.status != 201 {
			t.Fatalf("create release %s: %d %s", v, res.status, res.body)
		}
	}
	if m := put("valueerror", map[string]any{"status": "resolved", "statusDetails": map[string]any{"inRelease": "latest"}}); m["statusDetails"].(map[string]any)["inRelease"] != "3.0" {
		t.Errorf("resolve in the latest release: %v, want 3.0", m["statusDetails"])
	}
	for _, body := range []map[string]any{
		{"status": "resolved", "statusDetails": map[string]any{"inRelease": "a/b"}},
		{"status": "resolvedInRelease"},
		{"status": "ignored", "statusDetails": map[string]any{"ignoreUserCount": 5, "ignoreUserWindow": 60}},
		{"status": "ignored", "substatus": "archived_until_escalating"},
		{"status": "resolved", "isBookmarked": true}, // not kept: refused, not dropped
		{"status": "resolved", "statusDetails": map[string]any{"inCommit": map[string]any{"commit": "abc"}}},
	} {
		if res := w.owner.do("PUT", path, body); res.status != 400 {
			t.Errorf("PUT %v: %d %s, want 400", body, res.status, res.body)
		}
	}

	// A substatus that says what the status says is accepted.
	if m := put("valueerror", map[string]any{"status": "ignored", "substatus": "archived_forever"}); m["substatus"] != "archived_forever" {
		t.Errorf("ignore with substatus archived_forever: %v", m["substatus"])
	}
	put("valueerror", map[string]any{"status": "unresolved", "substatus": "ongoing"})

	// Ignore until 2 more events.
	m = put("disk", map[string]any{"status": "ignored", "statusDetails": map[string]any{"ignoreCount": 2}})
	if m["status"] != "ignored" || m["substatus"] != "archived_until_condition_met" || m["statusDetails"].(map[string]any)["ignoreCount"] != float64(2) {
		t.Errorf("ignore until 2 events: %v %v %v", m["status"], m["substatus"], m["statusDetails"])
	}
	if got, _ := w.list(t, w.owner, q("is:ignored")); !slices.Equal(got, []string{"disk"}) {
		t.Errorf("is:ignored = %v", got)
	}
	disk := sdkEvent{message: "disk full on /dev/sda1", level: "info"}
	w.p.send(w.f.project.ID, disk)
	if m := w.status(t, "disk"); m["status"] != "ignored" {
		t.Errorf("one event of two ended the ignore: %v", m["status"])
	}
	w.p.send(w.f.project.ID, disk)
	if m := w.status(t, "disk"); m["status"] != "unresolved" || m["substatus"] != "escalating" {
		t.Errorf("after 2 events: %v/%v, want unresolved/escalating", m["status"], m["substatus"])
	}

	// Ignore until 3 events within an hour: Sentry's ignoreWindow, kept and
	// answered; two events do not end it.
	m = put("disk", map[string]any{"status": "ignored", "statusDetails": map[string]any{"ignoreCount": 3, "ignoreWindow": 60}})
	if d := m["statusDetails"].(map[string]any); m["status"] != "ignored" || d["ignoreCount"] != float64(3) || d["ignoreWindow"] != float64(60) {
		t.Errorf("ignore until 3 events an hour: %v %v", m["status"], d)
	}
	w.p.send(w.f.project.ID, disk)
	w.p.send(w.f.project.ID, disk)
	if m := w.status(t, "disk"); m["status"] != "ignored" {
		t.Errorf("two events of three within the hour ended the ignore: %v", m["status"])
	}
	w.p.send(w.f.project.ID, disk)
	if m := w.status(t, "disk"); m["status"] != "unresolved" {
		t.Errorf("three events within the hour: %v, want unresolved", m["status"])
	}

	// Ignore for a duration, and for good; then unresolve.
	m = put("valueerror", map[string]any{"status": "ignored", "statusDetails": map[string]any{"ignoreDuration": 30}})
	until, _ := time.Parse(time.RFC3339, m["statusDetails"].(map[string]any)["ignoreUntil"].(string))
	if d := time.Until(until); d < 25*time.Minute || d > 31*time.Minute {
		t.Errorf("ignoreDuration 30: until %v (in %v)", until, d)
	}
	m = put("valueerror", map[string]any{"status": "ignored"})
	if m["substatus"] != "archived_forever" || len(m["statusDetails"].(map[string]any)) != 0 {
		t.Errorf("ignore for good: %v %v", m["substatus"], m["statusDetails"])
	}
	if m := put("valueerror", map[string]any{"status": "unresolved"}); m["status"] != "unresolved" {
		t.Errorf("unresolve: %v", m["status"])
	}

	for _, bad := range []map[string]any{{"status": "sleeping"}, {}, {"status": "ignored", "statusDetails": map[string]any{"ignoreCount": -1}},
		{"status": "ignored", "statusDetails": map[string]any{"ignoreWindow": 60}},
		{"status": "ignored", "statusDetails": map[string]any{"ignoreCount": 5, "ignoreWindow": 20000}},
		{"status": "resolved", "assignedTo": "someone@elsewhere.test"}, {"merge": 1}} {
		res := w.owner.do("PUT", "/api/0/organizations/acme/issues/"+w.ids["conn"]+"/", bad)
		if res.status != 400 {
			t.Errorf("PUT %v: %d %s, want 400", bad, res.status, res.body)
		}
	}
}

func TestBulkUpdateAndDelete(t *testing.T) {
	w := newIssueWorld(t)
	// By id: an id of another organisation's project is left alone.
	path := "/api/0/projects/acme/web/issues/?id=" + w.ids["valueerror"] + "&id=" + w.ids["conn"] + "&id=" + w.secret
	res := w.owner.do("PUT", path, map[string]any{"status": "ignored", "statusDetails": map[string]any{"ignoreUserCount": 10}})
	if res.status != 200 || res.obj(t)["status"] != "ignored" {
		t.Fatalf("bulk ignore: %d %s", res.status, res.body)
	}
	if got, _ := w.list(t, w.owner, q("is:ignored")); !slices.Equal(sorted(got), []string{"conn", "valueerror"}) {
		t.Errorf("is:ignored after bulk = %v", got)
	}
	var status string
	w.e.db.Pool.QueryRow(context.Background(), `SELECT status FROM grouping.issues WHERE id = $1`, w.secret).Scan(&status)
	if status != "unresolved" {
		t.Errorf("bulk update through acme changed rival's issue: %s", status)
	}
	// By query.
	res = w.owner.do("PUT", "/api/0/projects/acme/web/issues/?"+q("level:info"), map[string]any{"status": "resolved"})
	if res.status != 200 {
		t.Fatalf("bulk resolve by query: %d %s", res.status, res.body)
	}
	if got, _ := w.list(t, w.owner, q("is:resolved")); !slices.Equal(got, []string{"disk"}) {
		t.Errorf("is:resolved after bulk by query = %v", got)
	}
	// Delete: the issue and its events are gone, others stay.
	res = w.owner.do("DELETE", "/api/0/organizations/acme/issues/"+w.ids["typeerror"]+"/", nil)
	if res.status != 202 {
		t.Fatalf("delete: %d %s", res.status, res.body)
	}
	if res := w.owner.do("GET", "/api/0/organizations/acme/issues/"+w.ids["typeerror"]+"/", nil); res.status != 404 {
		t.Errorf("deleted issue: %d", res.status)
	}
	var n int
	w.e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM grouping.events WHERE issue_id = $1`, w.ids["typeerror"]).Scan(&n)
	if n != 0 {
		t.Errorf("%d events of the deleted issue remain", n)
	}
	if got, _ := w.list(t, w.owner, q("")); !slices.Equal(sorted(got), []string{"conn", "disk", "valueerror"}) {
		t.Errorf("after delete = %v", got)
	}
}

func TestIssueEventsNavigation(t *testing.T) {
	w := newIssueWorld(t)
	base := "/api/0/organizations/acme/issues/" + w.ids["typeerror"] + "/events/"
	ev := w.events["typeerror"] // oldest first by timestamp
	get := func(path string) map[string]any {
		t.Helper()
		res := w.owner.do("GET", base+path, nil)
		if res.status != 200 {
			t.Fatalf("GET %s: %d %s", path, res.status, res.body)
		}
		return res.obj(t)
	}
	latest, oldest := get("latest/"), get("oldest/")
	if latest["eventID"] != ev[2] || oldest["eventID"] != ev[0] {
		t.Fatalf("latest %v oldest %v, want %s and %s", latest["eventID"], oldest["eventID"], ev[2], ev[0])
	}
	if latest["nextEventID"] != nil || latest["previousEventID"] != ev[1] || oldest["previousEventID"] != nil || oldest["nextEventID"] != ev[1] {
		t.Errorf("navigation: latest prev %v next %v; oldest prev %v next %v", latest["previousEventID"], latest["nextEventID"], oldest["previousEventID"], oldest["nextEventID"])
	}
	mid := get(ev[1] + "/")
	if mid["previousEventID"] != ev[0] || mid["nextEventID"] != ev[2] || mid["groupID"] != w.ids["typeerror"] {
		t.Errorf("middle event: prev %v next %v group %v", mid["previousEventID"], mid["nextEventID"], mid["groupID"])
	}
	// The full event: entries with the stack trace, tags, user, sdk.
	var types []string
	for _, e := range mid["entries"].([]any) {
		types = append(types, e.(map[string]any)["type"].(string))
	}
	if !slices.Contains(types, "exception") {
		t.Errorf("entries %v, want an exception", types)
	}
	exc := mid["entries"].([]any)[0].(map[string]any)["data"].(map[string]any)["values"].([]any)[0].(map[string]any)
	if exc["type"] != "TypeError" || exc["stacktrace"] == nil {
		t.Errorf("exception entry %v", exc)
	}
	tags := map[string]string{}
	for _, tg := range mid["tags"].([]any) {
		tags[tg.(map[string]any)["key"].(string)] = tg.(map[string]any)["value"].(string)
	}
	if tags["browser.name"] != "Chrome" || tags["release"] != "1.2" || tags["level"] != "error" {
		t.Errorf("tags %v", tags)
	}
	if u := mid["user"].(map[string]any); u["email"] != "alice@example.com" {
		t.Errorf("user %v", u)
	}
	// An event of another issue, or no event, under this issue: 404.
	for _, p := range []string{w.events["conn"][0] + "/", "00000000000000000000000000000000/", "not-an-id/"} {
		if res := w.owner.do("GET", base+p, nil); res.status != 404 {
			t.Errorf("GET %s: %d, want 404", p, res.status)
		}
	}
	// The list pages newest first, with cursors both ways.
	res := w.owner.do("GET", base+"?per_page=2", nil)
	var page []map[string]any
	res.json(t, &page)
	prev, next := links(t, res)
	if len(page) != 2 || page[0]["eventID"] != ev[2] || page[1]["eventID"] != ev[1] || next == "" || prev != "" {
		t.Fatalf("first page %v (prev %q next %q)", page, prev, next)
	}
	res = w.owner.do("GET", base+"?per_page=2&full=true&cursor="+url.QueryEscape(next), nil)
	page = nil
	res.json(t, &page)
	prev, next = links(t, res)
	if len(page) != 1 || page[0]["eventID"] != ev[0] || next != "" || prev == "" || page[0]["entries"] == nil {
		t.Fatalf("second page %v (prev %q next %q)", page, prev, next)
	}
	res = w.owner.do("GET", base+"?per_page=2&cursor="+url.QueryEscape(prev), nil)
	page = nil
	res.json(t, &page)
	if len(page) != 2 || page[0]["eventID"] != ev[2] {
		t.Errorf("back to the first page: %v", page)
	}
	// The project's event routes: the event itself and its grouping.
	pe := w.owner.do("GET", "/api/0/projects/acme/web/events/"+ev[1]+"/", nil)
	if pe.status != 200 || pe.obj(t)["groupID"] != w.ids["typeerror"] {
		t.Errorf("project event: %d %s", pe.status, pe.body)
	}
	gi := w.owner.do("GET", "/api/0/projects/acme/web/events/"+ev[1]+"/grouping-info/", nil)
	var info struct {
		Hashes   []string `json:"hashes"`
		Variants []struct {
			Name string `json:"name"`
		} `json:"variants"`
	}
	gi.json(t, &info)
	var known int
	w.e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM grouping.issue_hashes WHERE issue_id = $1 AND hash = ANY($2)`,
		w.ids["typeerror"], info.Hashes).Scan(&known)
	if gi.status != 200 || len(info.Hashes) == 0 || known == 0 || len(info.Variants) == 0 {
		t.Errorf("grouping-info: %d %s (hashes known to the issue: %d)", gi.status, gi.body, known)
	}
	if res := w.owner.do("GET", "/api/0/projects/acme/web/events/"+newID()+"/grouping-info/", nil); res.status != 404 {
		t.Errorf("grouping-info of an unknown event: %d", res.status)
	}
}

func TestIssueTags(t *testing.T) {
	w := newIssueWorld(t)
	base := "/api/0/organizations/acme/issues/" + w.ids["typeerror"] + "/tags/"
	res := w.owner.do("GET", base, nil)
	var keys []struct {
		Key          string `json:"key"`
		TotalValues  int64  `json:"totalValues"`
		UniqueValues int64  `json:"uniqueValues"`
		TopValues    []struct {
			Value string `json:"value"`
			Count int64  `json:"count"`
		} `json:"topValues"`
	}
	res.json(t, &keys)
	byKey := map[string]int{}
	for i, k := range keys {
		byKey[k.Key] = i
	}
	for _, want := range []struct {
		key   string
		value string
		count int64
		uniq  int64
	}{{"browser.name", "Chrome", 3, 1}, {"user", "email:alice@example.com", 2, 2}, {"environment", "prod", 3, 1}, {"level", "error", 3, 1}} {
		i, ok := byKey[want.key]
		if !ok {
			t.Errorf("no tag %s in %s", want.key, res.body)
			continue
		}
		k := keys[i]
		if k.TopValues[0].Value != want.value || k.TopValues[0].Count != want.count || k.UniqueValues != want.uniq || k.TotalValues != 3 {
			t.Errorf("tag %s: %+v, want top %s×%d, %d unique", want.key, k, want.value, want.count, want.uniq)
		}
	}
	res = w.owner.do("GET", base+"user/values/?per_page=1", nil)
	var vals []map[string]any
	res.json(t, &vals)
	_, next := links(t, res)
	if len(vals) != 1 || vals[0]["value"] != "email:alice@example.com" || vals[0]["count"] != float64(2) || next == "" {
		t.Errorf("user values page 1: %v (next %q)", vals, next)
	}
	res = w.owner.do("GET", base+"nosuchkey/values/", nil)
	if res.status != 200 || strings.TrimSpace(string(res.body)) != "[]" {
		t.Errorf("unknown key: %d %s", res.status, res.body)
	}
}

// TestIssueRoutesKeepOrganisationsApart: an issue or event of another
// organisation is 404 with nothing of it in the answer, whatever path it is
// asked through; a viewer cannot change issues; revoked tokens are 401.
func TestIssueRoutesKeepOrganisationsApart(t *testing.T) {
	w := newIssueWorld(t)
	e, f := w.e, w.f
	otherTok, _ := e.token(f.users["other"], "read", "write")
	other := e.withToken(otherTok)
	viewerTok, _ := e.token(f.users["viewer"], "read", "write")
	viewer := e.withToken(viewerTok)
	revoked, rt := e.token(f.users["owner"], "read", "write")
	if err := e.store.RevokeToken(context.Background(), f.users["owner"].ID, rt.ID); err != nil {
		t.Fatal(err)
	}
	acme := w.ids["typeerror"]
	acmeEvent := w.events["typeerror"][0]
	tests := []struct {
		name   string
		c      *client
		method string
		path   string
		body   any
		want   int
	}{
		{"rival reads acme's issue through acme", other, "GET", "/api/0/organizations/acme/issues/" + acme + "/", nil, 404},
		{"rival reads acme's issue through rival", other, "GET", "/api/0/organizations/rival/issues/" + acme + "/", nil, 404},
		{"rival reads acme's events through rival", other, "GET", "/api/0/organizations/rival/issues/" + acme + "/events/latest/", nil, 404},
		{"rival reads acme's tags through rival", other, "GET", "/api/0/organizations/rival/issues/" + acme + "/tags/", nil, 404},
		{"rival resolves acme's issue through rival", other, "PUT", "/api/0/organizations/rival/issues/" + acme + "/", map[string]any{"status": "resolved"}, 404},
		{"rival deletes acme's issue through rival", other, "DELETE", "/api/0/organizations/rival/issues/" + acme + "/", nil, 404},
		{"rival reads acme's event through its project", other, "GET", "/api/0/projects/rival/secret/events/" + acmeEvent + "/", nil, 404},
		{"rival explains acme's event through its project", other, "GET", "/api/0/projects/rival/secret/events/" + acmeEvent + "/grouping-info/", nil, 404},
		{"rival lists acme's issues", other, "GET", "/api/0/projects/acme/web/issues/", nil, 404},
		{"acme reads rival's issue through acme", w.owner, "GET", "/api/0/organizations/acme/issues/" + w.secret + "/", nil, 404},
		{"acme reads rival's events through acme", w.owner, "GET", "/api/0/organizations/acme/issues/" + w.secret + "/events/", nil, 404},
		{"viewer resolves", viewer, "PUT", "/api/0/organizations/acme/issues/" + acme + "/", map[string]any{"status": "resolved"}, 403},
		{"viewer deletes", viewer, "DELETE", "/api/0/organizations/acme/issues/" + acme + "/", nil, 403},
		{"viewer bulk-resolves", viewer, "PUT", "/api/0/projects/acme/web/issues/", map[string]any{"status": "resolved"}, 403},
		{"viewer reads", viewer, "GET", "/api/0/organizations/acme/issues/" + acme + "/", nil, 200},
		{"revoked token reads", e.withToken(revoked), "GET", "/api/0/organizations/acme/issues/" + acme + "/", nil, 401},
		{"revoked token lists", e.withToken(revoked), "GET", "/api/0/projects/acme/web/issues/", nil, 401},
		{"nobody reads", e.anonymous(), "GET", "/api/0/organizations/acme/issues/" + acme + "/events/", nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.c.do(tt.method, tt.path, tt.body)
			if res.status != tt.want {
				t.Fatalf("%d, want %d: %s", res.status, tt.want, res.body)
			}
			if tt.want >= 400 {
				for _, s := range []string{"TypeError", "x is undefined", "SecretError", "rival secret", acmeEvent} {
					if strings.Contains(string(res.body), s) {
						t.Errorf("answer leaks %q: %s", s, res.body)
					}
				}
			}
		})
	}
	if m := w.status(t, "typeerror"); m["status"] != "unresolved" {
		t.Errorf("refused callers changed the issue: %v", m["status"])
	}
	// The rival sees its own issue through its own organisation.
	if res := other.do("GET", "/api/0/organizations/rival/issues/"+w.secret+"/", nil); res.status != 200 {
		t.Errorf("rival's own issue: %d %s", res.status, res.body)
	}
}

// The query layer directly, as the dashboard calls it.
func TestIssueStoreQueries(t *testing.T) {
	w := newIssueWorld(t)
	ctx := context.Background()
	st := issues.New(w.e.store.Pool(), w.e.store.Decisions())
	q, err := issues.ParseIssueSearch("is:unresolved level:error")
	if err != nil {
		t.Fatal(err)
	}
	q.Sort, q.Limit = issues.SortFreq, 1
	page, err := st.ListIssues(ctx, w.f.project.ID, q)
	if err != nil || len(page.Issues) != 1 || page.Next == "" || page.Prev != "" {
		t.Fatalf("ListIssues: %+v %v", page, err)
	}
	if page.Issues[0].Title != "TypeError: x is undefined" || page.Issues[0].TimesSeen != 3 || page.Issues[0].UsersSeen != 2 {
		t.Errorf("first issue %+v", page.Issues[0])
	}
	q.Cursor = page.Next
	page2, err := st.ListIssues(ctx, w.f.project.ID, q)
	if err != nil || len(page2.Issues) != 1 || page2.Issues[0].Title != "ConnectionError: connection refused" || page2.Next != "" {
		t.Errorf("page 2: %+v %v", page2, err)
	}
	id := page.Issues[0].ID
	latest, err := st.LatestEvent(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := latest.Normalized()
	if err != nil || ev.Exceptions[0].Type != "TypeError" || ev.User.Email != "bob@example.com" {
		t.Errorf("latest event normalized: %+v %v", ev, err)
	}
	stats, err := st.ProjectsStats(ctx, []int64{w.f.project.ID, w.f.otherProj.ID}, "24h")
	if err != nil {
		t.Fatal(err)
	}
	sum := func(pts []issues.StatsPoint) (n int64) {
		for _, p := range pts {
			n += p.Count
		}
		return n
	}
	if sum(stats[w.f.project.ID]) != 7 || sum(stats[w.f.otherProj.ID]) != 1 || len(stats[w.f.project.ID]) != 24 {
		t.Errorf("ProjectsStats: %v", stats)
	}
	if _, err := st.Issue(ctx, 987654321); err == nil {
		t.Error("Issue of an unknown id: no error")
	}
}
