package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/services/web"
)

// exceptionEvent is a Go error with a chained cause, an in-app frame with
// context lines and a library frame, breadcrumbs, a request whose URL is a
// javascript: URL, a user, contexts and tags.
func exceptionEvent() map[string]any {
	return map[string]any{
		"level": "error", "platform": "go", "release": "1.2.0", "environment": "prod",
		"user":     map[string]any{"id": "7", "email": "x@example.com"},
		"tags":     map[string]any{"browser.name": "Chrome", "server": "web-1"},
		"request":  map[string]any{"url": "javascript:alert(3)", "method": "POST", "headers": map[string]any{"User-Agent": "<b>ua</b>"}},
		"contexts": map[string]any{"os": map[string]any{"name": "Linux", "version": "6.1"}},
		"sdk":      map[string]any{"name": "sentry.go", "version": "0.30.0"},
		"breadcrumbs": map[string]any{"values": []any{
			map[string]any{"timestamp": 1700000000, "category": "http", "message": "GET /items <i>200</i>"},
			map[string]any{"timestamp": 1700000001, "category": "query", "level": "warning", "message": "slow query"},
		}},
		"exception": map[string]any{"values": []any{
			map[string]any{"type": "*net.OpError", "value": "dial tcp: connection refused"},
			map[string]any{"type": "ValueError", "value": "<img src=x onerror=alert(2)>",
				"mechanism": map[string]any{"type": "generic", "handled": false},
				"stacktrace": map[string]any{"frames": []any{
					map[string]any{"function": "libFunc", "module": "example.com/lib", "filename": "lib.go", "lineno": 3, "in_app": false},
					map[string]any{"function": "handleItems", "module": "example.com/app", "filename": "handlers.go", "lineno": 42, "in_app": true,
						"pre_context": []any{"func handleItems() {"}, "context_line": "\treturn parse(<input>)", "post_context": []any{"}"}},
				}}},
		}},
	}
}

func messageEvent(msg, level, release string) map[string]any {
	return map[string]any{"level": level, "platform": "python", "message": msg, "release": release, "environment": "staging"}
}

const scriptMessage = "<script>alert(1)</script>"

func TestDashboard(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@acme.test", false)
	viewer := e.user("viewer@acme.test", false)
	other := e.user("owner@globex.test", false)
	acme := e.project("acme", "backend", map[*accounts.User]string{owner: "owner", viewer: "viewer"})
	globex := e.project("globex", "web", map[*accounts.User]string{other: "owner"})

	e.send(acme.ID, exceptionEvent(), exceptionEvent(), messageEvent(scriptMessage, "error", "1.2.0"),
		messageEvent("disk almost full", "warning", "2.0.0"))
	e.send(globex.ID, messageEvent("Globex secret failure", "error", "9"))
	issues := e.waitEvents(acme.ID, 4)
	gIssues := e.waitEvents(globex.ID, 1)
	excIssue := issues["ValueError: <img src=x onerror=alert(2)>"]
	xssIssue := issues[scriptMessage]
	diskIssue := issues["disk almost full"]
	globexIssue := gIssues["Globex secret failure"]
	if excIssue == 0 || xssIssue == 0 || diskIssue == 0 || globexIssue == 0 {
		t.Fatalf("issues: got %v and %v", issues, gIssues)
	}
	issuePath := func(org string, id int64) string { return fmt.Sprintf("/organizations/%s/issues/%d/", org, id) }
	list := "/organizations/acme/issues/?project=backend"

	ownerB := e.signIn("owner@acme.test")
	viewerB := e.signIn("viewer@acme.test")
	otherB := e.signIn("owner@globex.test")

	t.Run("security headers", func(t *testing.T) {
		for _, path := range []string{"/auth/login/", "/", list, issuePath("acme", excIssue)} {
			p := ownerB.get(path)
			if got := p.header.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
				t.Errorf("%s: CSP %q", path, got)
			}
			if !strings.Contains(web.ContentSecurityPolicy, "frame-ancestors 'none'") || strings.Contains(web.ContentSecurityPolicy, "unsafe-inline") {
				t.Errorf("the CSP is not strict: %s", web.ContentSecurityPolicy)
			}
			if got := p.header.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("%s: X-Frame-Options %q", path, got)
			}
			if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " style=") || strings.Contains(p.body, "onclick") {
				t.Errorf("%s: inline script or style in the page", path)
			}
		}
	})

	t.Run("pages need a session", func(t *testing.T) {
		anon := e.anonymous()
		for _, path := range []string{"/", list, issuePath("acme", excIssue), "/settings/acme/projects/backend/"} {
			p := anon.get(path)
			if p.status != http.StatusSeeOther || p.header.Get("Location") != "/auth/login/?next="+url.QueryEscape(path) {
				t.Errorf("GET %s signed out: %d to %q", path, p.status, p.header.Get("Location"))
			}
		}
		p := anon.do("POST", issuePath("acme", excIssue), url.Values{"action": {"resolve"}})
		if p.status != http.StatusUnauthorized {
			t.Errorf("POST signed out: %d", p.status)
		}
		if st := e.issueStatus(excIssue); st != "unresolved" {
			t.Errorf("status %s after a signed-out POST", st)
		}
		// A bearer token is not a dashboard session.
		req, _ := http.NewRequest("GET", e.srv.URL+"/", nil)
		req.Header.Set("Authorization", "Bearer flt_nope")
		res, err := anon.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Errorf("bearer token on a page: %d", res.StatusCode)
		}
	})

	t.Run("sign in", func(t *testing.T) {
		tests := []struct {
			name     string
			form     url.Values
			noToken  bool
			origin   string
			status   int
			location string
			text     string
		}{
			{"good", url.Values{"email": {"owner@acme.test"}, "password": {password}, "next": {list}}, false, "", 303, list, ""},
			{"next elsewhere stays here", url.Values{"email": {"owner@acme.test"}, "password": {password}, "next": {"//evil.test/x"}}, false, "", 303, "/", ""},
			{"javascript next", url.Values{"email": {"owner@acme.test"}, "password": {password}, "next": {"javascript:alert(1)"}}, false, "", 303, "/", ""},
			{"wrong password", url.Values{"email": {"owner@acme.test"}, "password": {"nope nope nope"}}, false, "", 401, "", "The email or password is not correct."},
			{"no CSRF token", url.Values{"email": {"owner@acme.test"}, "password": {password}}, true, "", 403, "", "the form expired"},
			{"another origin", url.Values{"email": {"owner@acme.test"}, "password": {password}}, false, "https://evil.test", 403, "", "the form expired"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				b := e.anonymous()
				if tc.origin != "" {
					b.origin = tc.origin
				}
				var p page
				if tc.noToken {
					b.get("/auth/login/")
					p = b.do("POST", "/auth/login/", tc.form)
				} else {
					p = b.submit("/auth/login/", "/auth/login/", tc.form)
				}
				if p.status != tc.status {
					t.Fatalf("status %d, want %d\n%s", p.status, tc.status, p.body)
				}
				if tc.location != "" && p.header.Get("Location") != tc.location {
					t.Errorf("Location %q, want %q", p.header.Get("Location"), tc.location)
				}
				if !strings.Contains(p.body, tc.text) {
					t.Errorf("body lacks %q", tc.text)
				}
				signedIn := b.get("/").status == http.StatusOK
				if signedIn != (tc.status == 303) {
					t.Errorf("signed in: %v", signedIn)
				}
			})
		}
	})

	t.Run("sign out", func(t *testing.T) {
		b := e.signIn("owner@acme.test")
		if p := b.do("POST", "/auth/logout/", url.Values{}); p.status != http.StatusForbidden {
			t.Errorf("sign out without CSRF: %d", p.status)
		}
		p := b.submit("/", "/auth/logout/", nil)
		if p.status != http.StatusSeeOther {
			t.Fatalf("sign out: %d", p.status)
		}
		if p := b.get("/"); p.status != http.StatusSeeOther {
			t.Errorf("after sign-out GET / is %d", p.status)
		}
	})

	t.Run("projects overview", func(t *testing.T) {
		p := ownerB.get("/")
		for _, want := range []string{"<h1>Projects</h1>", "backend", `href="/organizations/acme/issues/?project=backend"`,
			"Events, 24 h</dt><dd>4</dd>", "New issues, 24 h</dt><dd>3</dd>", `<svg class="chart"`} {
			if !strings.Contains(p.body, want) {
				t.Errorf("overview lacks %q", want)
			}
		}
		if strings.Contains(p.body, "globex") {
			t.Error("overview shows another organisation's project")
		}
	})

	t.Run("issue list", func(t *testing.T) {
		tests := []struct {
			name   string
			query  string
			sort   string
			status int
			want   []string
			absent []string
		}{
			{"default unresolved", "", "", 200, []string{"ValueError: &lt;img src=x onerror=alert(2)&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;", "disk almost full"}, []string{"Globex"}},
			{"level", "is:unresolved level:warning", "", 200, []string{"disk almost full"}, []string{"ValueError"}},
			{"release", "release:1.2.0", "", 200, []string{"ValueError", "alert(1)"}, []string{"disk almost full"}},
			{"browser tag", "browser.name:Chrome", "", 200, []string{"ValueError"}, []string{"disk almost full", "alert(1)"}},
			{"free text", "disk", "", 200, []string{"disk almost full"}, []string{"ValueError"}},
			{"sort by events", "", "freq", 200, []string{`<option value="freq" selected>`}, nil},
			{"bad search", `"unclosed`, "", 400, []string{"The search is not valid"}, nil},
			{"bad sort", "", "sideways", 400, []string{"The search is not valid"}, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				u := list
				if tc.query != "" {
					u += "&query=" + url.QueryEscape(tc.query)
				}
				if tc.sort != "" {
					u += "&sort=" + tc.sort
				}
				p := ownerB.get(u)
				if p.status != tc.status {
					t.Fatalf("status %d, want %d", p.status, tc.status)
				}
				for _, w := range tc.want {
					if !strings.Contains(p.body, w) {
						t.Errorf("lacks %q", w)
					}
				}
				for _, a := range tc.absent {
					if strings.Contains(p.body, a) {
						t.Errorf("shows %q", a)
					}
				}
			})
		}
		// The exception issue has 2 events: sorted by events it comes first.
		p := ownerB.get(list + "&sort=freq")
		if i, j := strings.Index(p.body, "ValueError"), strings.Index(p.body, "disk almost full"); i < 0 || j < 0 || i > j {
			t.Errorf("sort=freq: ValueError at %d, disk at %d", i, j)
		}
		if strings.Contains(p.body, "<script>alert(1)") {
			t.Error("an event's message is rendered as markup")
		}
	})

	t.Run("issue detail", func(t *testing.T) {
		p := ownerB.get(issuePath("acme", excIssue))
		if p.status != 200 {
			t.Fatalf("status %d", p.status)
		}
		for _, want := range []string{
			"<h1>ValueError: &lt;img src=x onerror=alert(2)&gt;</h1>",
			"Caused by: *net.OpError", "dial tcp: connection refused",
			`<details class="frame in-app" open>`, `<details class="frame" >`, // in-app open, library collapsed
			"handleItems", `<li class="cur"><span class="ln">42</span>	return parse(&lt;input&gt;)</li>`,
			"GET /items &lt;i&gt;200&lt;/i&gt;", "slow query", // breadcrumbs
			"javascript:alert(3)", "&lt;b&gt;ua&lt;/b&gt;", // request, as text
			"x@example.com", "Context: os", "Linux", "sentry.go", "0.30.0",
			"Raw JSON", "Why is this event here?", `in <a href="/organizations/acme/releases/1.2.0/"`,
			"Last 24 hours", "Last 30 days", `<h3 class="tagkey">browser.name</h3>`, "Chrome",
			"/events/oldest/", "/events/latest/", `rel="prev"`, // two events: the latest has an older one
			`name="action" value="resolve"`, `name="action" value="resolve_next"`, `name="ignore_count"`, `name="ignore_users"`, `name="ignore_minutes"`,
		} {
			if !strings.Contains(p.body, want) {
				t.Errorf("issue page lacks %q", want)
			}
		}
		for _, bad := range []string{`href="javascript:`, "<img src=x", "<b>ua</b>", "<i>200</i>"} {
			if strings.Contains(p.body, bad) {
				t.Errorf("issue page contains %q", bad)
			}
		}

		p = ownerB.get(issuePath("acme", xssIssue))
		if !strings.Contains(p.body, "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>") || strings.Contains(p.body, scriptMessage) {
			t.Errorf("the <script> message is not shown as text")
		}
	})

	t.Run("event navigation", func(t *testing.T) {
		base := issuePath("acme", excIssue)
		latest := ownerB.get(base + "events/latest/")
		oldest := ownerB.get(base + "events/oldest/")
		id := func(p page) string {
			const head = `<h2 id="event-h">Event <span class="mono">`
			i := strings.Index(p.body, head)
			if i < 0 || len(p.body) < i+len(head)+32 {
				t.Fatalf("no event heading")
			}
			return p.body[i+len(head) : i+len(head)+32]
		}
		if id(latest) == id(oldest) {
			t.Fatalf("latest and oldest are the same event %s", id(latest))
		}
		if !strings.Contains(oldest.body, `href="`+base+"events/"+id(latest)+`/" rel="next"`) {
			t.Error("the oldest event does not link to the newer one")
		}
		if p := ownerB.get(base + "events/" + id(latest) + "/"); p.status != 200 || id(p) != id(latest) {
			t.Errorf("event by id: %d", p.status)
		}
		// An event of another issue is not this issue's.
		if p := ownerB.get(issuePath("acme", diskIssue) + "events/" + id(latest) + "/"); p.status != 404 {
			t.Errorf("another issue's event: %d", p.status)
		}
	})

	t.Run("another organisation", func(t *testing.T) {
		paths := []string{
			issuePath("acme", excIssue), issuePath("globex", excIssue), issuePath("acme", globexIssue),
			"/organizations/acme/issues/?project=backend", "/settings/acme/projects/backend/",
			issuePath("acme", 999999), "/organizations/acme/issues/?project=nope",
		}
		for _, path := range paths {
			if p := otherB.get(path); p.status != http.StatusNotFound {
				t.Errorf("globex owner GET %s: %d", path, p.status)
			}
			if strings.Contains(otherB.get(path).body, "ValueError") {
				t.Errorf("%s leaks the issue", path)
			}
		}
		if p := ownerB.get(issuePath("acme", globexIssue)); p.status != http.StatusNotFound || strings.Contains(p.body, "Globex") {
			t.Errorf("acme owner sees globex's issue through acme: %d", p.status)
		}
		p := otherB.submit("/", issuePath("globex", excIssue), url.Values{"action": {"resolve"}})
		if p.status != http.StatusNotFound {
			t.Errorf("globex owner resolves acme's issue: %d", p.status)
		}
		p = otherB.submit("/", "/organizations/globex/issues/bulk/", url.Values{"action": {"resolve"}, "project": {"web"},
			"issue": {fmt.Sprint(excIssue)}})
		if p.status != http.StatusNotFound {
			t.Errorf("globex owner bulk-resolves acme's issue: %d", p.status)
		}
		if st := e.issueStatus(excIssue); st != "unresolved" {
			t.Errorf("acme's issue is %s", st)
		}
	})

	t.Run("actions", func(t *testing.T) {
		path := issuePath("acme", diskIssue)
		// Without the CSRF token: refused, nothing changes.
		if p := ownerB.do("POST", path, url.Values{"action": {"resolve"}}); p.status != http.StatusForbidden {
			t.Errorf("resolve without CSRF: %d", p.status)
		}
		if p := ownerB.do("POST", path, url.Values{"action": {"resolve"}, "csrf_token": {"forged"}}); p.status != http.StatusForbidden {
			t.Errorf("resolve with a forged CSRF token: %d", p.status)
		}
		if st := e.issueStatus(diskIssue); st != "unresolved" {
			t.Fatalf("status %s after refused POSTs", st)
		}
		// A viewer may look, not act.
		if p := viewerB.submit(path, path, url.Values{"action": {"resolve"}}); p.status != http.StatusForbidden {
			t.Errorf("viewer resolves: %d", p.status)
		}
		if strings.Contains(viewerB.get(path).body, `value="resolve"`) {
			t.Error("the viewer is offered the resolve button")
		}
		steps := []struct {
			form   url.Values
			status string
			shown  string
		}{
			{url.Values{"action": {"resolve"}}, "resolved", "Resolved"},
			{url.Values{"action": {"unresolve"}}, "unresolved", "Unresolved"},
			{url.Values{"action": {"resolve_next"}}, "resolved_in_next_release", "Resolved in the release after 2.0.0"},
			{url.Values{"action": {"resolve_in_release"}, "release": {"2.1.0<b>"}}, "resolved_in_release", "Resolved in release 2.1.0&lt;b&gt;"},
			{url.Values{"action": {"ignore"}, "ignore_count": {"100"}}, "ignored", "Ignored until 100 more events"},
			{url.Values{"action": {"ignore"}, "ignore_count": {"100"}, "ignore_window": {"60"}}, "ignored", "Ignored until 100 events within an hour"},
			{url.Values{"action": {"ignore"}, "ignore_users": {"5"}}, "ignored", "Ignored until 5 more users"},
			{url.Values{"action": {"ignore"}, "ignore_minutes": {"30"}}, "ignored", "Ignored until "},
			{url.Values{"action": {"ignore"}}, "ignored", "Ignored forever"},
			{url.Values{"action": {"unresolve"}}, "unresolved", "Unresolved"},
		}
		for _, s := range steps {
			p := ownerB.submit(path, path, s.form)
			if p.status != http.StatusSeeOther {
				t.Fatalf("%v: %d\n%s", s.form, p.status, p.body)
			}
			if st := e.issueStatus(diskIssue); st != s.status {
				t.Errorf("%v: status %s, want %s", s.form, st, s.status)
			}
			if body := ownerB.get(path).body; !strings.Contains(body, "<strong>"+s.shown) {
				t.Errorf("%v: page does not say %q", s.form, s.shown)
			}
		}
		if p := ownerB.submit(path, path, url.Values{"action": {"ignore"}, "ignore_count": {"-3"}}); p.status != http.StatusBadRequest {
			t.Errorf("negative ignore count: %d", p.status)
		}
		if p := ownerB.submit(path, path, url.Values{"action": {"resolve_in_release"}, "release": {"a/b"}}); p.status != http.StatusBadRequest {
			t.Errorf("resolve in a release named with a slash: %d", p.status)
		}
		if p := ownerB.submit(path, path, url.Values{"action": {"explode"}}); p.status != http.StatusBadRequest {
			t.Errorf("unknown action: %d", p.status)
		}
	})

	t.Run("bulk", func(t *testing.T) {
		ids := url.Values{"project": {"backend"}, "back": {list}, "issue": {fmt.Sprint(excIssue), fmt.Sprint(xssIssue)}}
		if p := ownerB.do("POST", "/organizations/acme/issues/bulk/", ids); p.status != http.StatusForbidden {
			t.Errorf("bulk without CSRF: %d", p.status)
		}
		form := url.Values{"action": {"resolve"}}
		for k, v := range ids {
			form[k] = v
		}
		p := ownerB.submit(list, "/organizations/acme/issues/bulk/", form)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/organizations/acme/issues/?") {
			t.Fatalf("bulk resolve: %d to %q", p.status, p.header.Get("Location"))
		}
		for _, id := range []int64{excIssue, xssIssue} {
			if st := e.issueStatus(id); st != "resolved" {
				t.Errorf("issue %d is %s", id, st)
			}
		}
		body := ownerB.get(list).body
		if strings.Contains(body, "ValueError") || !strings.Contains(body, "disk almost full") {
			t.Error("resolved issues still in the unresolved list")
		}
		if !strings.Contains(ownerB.get(list+"&query=is:resolved").body, "ValueError") {
			t.Error("resolved issue not in is:resolved")
		}
		form.Set("action", "unresolve")
		if p := ownerB.submit(list, "/organizations/acme/issues/bulk/", form); p.status != http.StatusSeeOther {
			t.Fatalf("bulk unresolve: %d", p.status)
		}
		if st := e.issueStatus(excIssue); st != "unresolved" {
			t.Errorf("after bulk unresolve: %s", st)
		}
		form.Set("issue", fmt.Sprint(globexIssue))
		if p := ownerB.submit(list, "/organizations/acme/issues/bulk/", form); p.status != http.StatusNotFound {
			t.Errorf("bulk with another organisation's issue: %d", p.status)
		}
		form.Set("back", "https://evil.test/")
		form.Set("issue", fmt.Sprint(excIssue))
		if p := ownerB.submit(list, "/organizations/acme/issues/bulk/", form); !strings.HasPrefix(p.header.Get("Location"), "/") {
			t.Errorf("bulk redirects off-site: %q", p.header.Get("Location"))
		}
	})

	t.Run("settings", func(t *testing.T) {
		path := "/settings/acme/projects/backend/"
		p := ownerB.get(path)
		dsn := acme.Keys[0].DSN
		for _, want := range []string{dsn, "sentry.Init(sentry.ClientOptions{", "@sentry/node", "@sentry/browser", "sentry_sdk.init(",
			"owner@acme.test", "viewer@acme.test", "Create a key", `value="rotate"`} {
			if !strings.Contains(p.body, want) {
				t.Errorf("settings lack %q", want)
			}
		}
		if strings.Contains(viewerB.get(path).body, `value="rotate"`) {
			t.Error("the viewer is offered key changes")
		}
		key := acme.Keys[0].PublicKey
		kpath := path + "keys/" + key + "/"
		if p := viewerB.submit(path, kpath, url.Values{"action": {"disable"}}); p.status != http.StatusForbidden {
			t.Errorf("viewer disables a key: %d", p.status)
		}
		if p := ownerB.do("POST", kpath, url.Values{"action": {"disable"}}); p.status != http.StatusForbidden {
			t.Errorf("disable without CSRF: %d", p.status)
		}
		if p := ownerB.submit(path, kpath, url.Values{"action": {"save"}, "label": {"Prod <b>"}, "rate_limit_count": {"60"}, "rate_limit_window": {"60"}}); p.status != http.StatusSeeOther {
			t.Fatalf("save key: %d\n%s", p.status, p.body)
		}
		if p := ownerB.submit(path, kpath, url.Values{"action": {"disable"}}); p.status != http.StatusSeeOther {
			t.Fatalf("disable key: %d", p.status)
		}
		body := ownerB.get(path).body
		if !strings.Contains(body, "Prod &lt;b&gt;") || !strings.Contains(body, `placeholder="none" value="60"`) || !strings.Contains(body, `value="enable"`) {
			t.Error("the key's new name, limit and state are not shown")
		}
		if p := ownerB.submit(path, kpath, url.Values{"action": {"rotate"}}); p.status != http.StatusSeeOther {
			t.Fatalf("rotate key: %d", p.status)
		}
		body = ownerB.get(path).body
		if strings.Contains(body, key) {
			t.Error("the rotated key is still shown")
		}
		if p := ownerB.submit(path, path+"keys/", url.Values{"label": {"Second"}}); p.status != http.StatusSeeOther {
			t.Fatalf("create key: %d", p.status)
		}
		if !strings.Contains(ownerB.get(path).body, "Second") {
			t.Error("the new key is not listed")
		}
		if p := ownerB.submit(path, path+"keys/"+key+"/", url.Values{"action": {"disable"}}); p.status != http.StatusNotFound {
			t.Errorf("change of the old (rotated) key: %d", p.status)
		}
		if p := ownerB.submit(path, path+"keys/x/", url.Values{"action": {"save"}, "label": {""}}); p.status != http.StatusBadRequest && p.status != http.StatusNotFound {
			t.Errorf("empty key name: %d", p.status)
		}
		if p := otherB.submit("/", "/settings/acme/projects/backend/keys/", url.Values{"label": {"x"}}); p.status != http.StatusNotFound {
			t.Errorf("another organisation creates a key: %d", p.status)
		}
	})

	t.Run("delete", func(t *testing.T) {
		path := issuePath("acme", xssIssue)
		if p := viewerB.submit(path, path, url.Values{"action": {"delete"}}); p.status != http.StatusForbidden {
			t.Errorf("viewer deletes: %d", p.status)
		}
		if p := ownerB.submit(path, path, url.Values{"action": {"delete"}}); p.status != http.StatusSeeOther {
			t.Fatalf("delete: %d", p.status)
		}
		if p := ownerB.get(path); p.status != http.StatusNotFound {
			t.Errorf("deleted issue: %d", p.status)
		}
	})

	t.Run("accessibility", func(t *testing.T) {
		pages := map[string]*browser{
			"/auth/login/": e.anonymous(), "/auth/reset-password/": e.anonymous(), "/auth/reset-password/tok/": e.anonymous(),
			"/": ownerB, list: ownerB, issuePath("acme", excIssue): ownerB, "/settings/acme/projects/backend/": ownerB,
			issuePath("acme", 424242): ownerB,
		}
		for path, b := range pages {
			p := b.get(path)
			for _, problem := range checkAccessibility(p.body) {
				t.Errorf("%s: %s", path, problem)
			}
		}
	})
}
