package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/services/web"
)

// xssVersion is a release version with markup (versions may not hold a
// slash, so the script is left open).
const xssVersion = `<script>alert("rel")`

// releaseFixture is acme with two projects and three releases recorded
// through the REST API as sentry-cli records them, issues first seen in two
// of them, and globex with a release of the same version.
type releaseFixture struct {
	e                *env
	web, api, shop   *accounts.Project
	owner, globex    *browser
	oldBug, newInTwo int64
	unrecorded       int64 // first seen in 3.0, a release no one recorded
}

// apiCall sends a JSON request to the REST API with token and returns the
// answer's body.
func (e *env) apiCall(token, method, path, body string) []byte {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		e.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	return raw
}

func newReleaseFixture(e *env) *releaseFixture {
	t := e.t
	owner := e.user("owner@acme.test", false)
	other := e.user("owner@globex.test", false)
	f := &releaseFixture{e: e, web: e.project("acme", "web", map[*accounts.User]string{owner: "owner"}),
		api:  e.project("acme", "api", map[*accounts.User]string{owner: "owner"}),
		shop: e.project("globex", "shop", map[*accounts.User]string{other: "owner"})}
	_, tok, err := e.store.CreateToken(context.Background(), accounts.NewToken{UserID: owner.ID, Scopes: []string{"project:releases"}})
	if err != nil {
		t.Fatal(err)
	}
	_, gtok, err := e.store.CreateToken(context.Background(), accounts.NewToken{UserID: other.ID, Scopes: []string{"project:releases"}})
	if err != nil {
		t.Fatal(err)
	}
	e.apiCall(tok, "POST", "/api/0/organizations/acme/releases/", `{"version":"1.0","projects":["web"],"ref":"v1.0",
		"commits":[{"id":"c0ffee1","repository":"acme/web","message":"Fix <b>checkout</b>","author_name":"Ada"}]}`)
	e.apiCall(tok, "POST", "/api/0/organizations/acme/releases/1.0/deploys/", `{"environment":"production","name":"first rollout"}`)
	e.apiCall(tok, "POST", "/api/0/organizations/acme/releases/", `{"version":"2.0","projects":["web","api"]}`)
	e.apiCall(tok, "POST", "/api/0/organizations/acme/releases/", fmt.Sprintf(`{"version":%q,"projects":["web"]}`, xssVersion))
	e.apiCall(gtok, "POST", "/api/0/organizations/globex/releases/", `{"version":"1.0","projects":["shop"]}`)

	// "old bug" first in 1.0 and again in 2.0; "new in two" in 2.0;
	// globex's issue in its own 1.0.
	e.send(f.web.ID, messageEvent("old bug", "error", "1.0"))
	e.waitEvents(f.web.ID, 1)
	e.send(f.web.ID, messageEvent("old bug", "error", "2.0"), messageEvent("new in two", "error", "2.0"))
	e.send(f.shop.ID, messageEvent("globex secret", "error", "1.0"))
	e.send(f.api.ID, messageEvent("only in three", "error", "3.0"))
	ids := e.waitEvents(f.web.ID, 3)
	f.unrecorded = e.waitEvents(f.api.ID, 1)["only in three"]
	e.waitEvents(f.shop.ID, 1)
	f.oldBug, f.newInTwo = ids["old bug"], ids["new in two"]
	f.owner, f.globex = e.signIn("owner@acme.test"), e.signIn("owner@globex.test")
	return f
}

// sessionItem is an envelope with one session update of user did.
func sessionItem(sid, did, status string, errors int, started time.Time, release string) []byte {
	p := fmt.Sprintf(`{"sid":%q,"did":%q,"init":true,"started":%q,"timestamp":%q,"status":%q,"errors":%d,"attrs":{"release":%q,"environment":"prod"}}`,
		sid, did, started.UTC().Format(time.RFC3339), started.Add(time.Second).UTC().Format(time.RFC3339), status, errors, release)
	return fmt.Appendf(nil, "{}\n{\"type\":\"session\",\"length\":%d}\n%s\n", len(p), p)
}

// sendSession posts a session envelope to p's DSN on the gateway.
func (a *analyticsEnv) sendSession(p *accounts.Project, body []byte) {
	t := a.t
	t.Helper()
	u := fmt.Sprintf("%s/api/%d/envelope/?sentry_key=%s", a.gatewayURL, p.ID, p.Keys[0].PublicKey)
	res, err := http.Post(u, "application/x-sentry-envelope", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST session: %d", res.StatusCode)
	}
}

// waitSessions waits until ClickHouse holds n sessions.
func (a *analyticsEnv) waitSessions(n uint64) {
	t := a.t
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var got uint64
		err := a.ch.QueryRow(context.Background(), `SELECT count() FROM sessions FINAL`).Scan(&got)
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("analytics after 90s: %d of %d sessions (%v)", got, n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReleasePages: the Releases list and a release's page show the
// releases the REST API recorded, the issues first seen in each, and their
// health from the sessions the gateway accepted and the analytics role
// stored, with exact crash-free rates; the hostile version is text; another
// organisation's member gets 404.
func TestReleasePages(t *testing.T) {
	e := newEnv(t)
	f := newReleaseFixture(e)
	a := e.withAnalytics()
	started := time.Now().Add(-time.Hour).Truncate(time.Second)
	// 1.0: five sessions of four users, one crashed (u2, who also had a
	// healthy one), one errored: 80% crash-free sessions, 75% users.
	// 2.0: three sessions of two users, two crashed (both u5's): 33%
	// and 50%. globex's crashes in its own 1.0 count nowhere in acme.
	for _, s := range []struct{ sid, did, status, release string }{
		{"a1", "u1", "exited", "1.0"}, {"a2", "u2", "crashed", "1.0"}, {"a3", "u3", "errored", "1.0"},
		{"a4", "u4", "exited", "1.0"}, {"a5", "u2", "exited", "1.0"},
		{"b1", "u1", "exited", "2.0"}, {"b2", "u5", "crashed", "2.0"}, {"b3", "u5", "crashed", "2.0"},
	} {
		errs := 0
		if s.status == "errored" {
			s.status, errs = "exited", 1
		}
		a.sendSession(f.web, sessionItem(s.sid, s.did, s.status, errs, started, s.release))
	}
	a.sendSession(f.shop, sessionItem("g1", "x", "crashed", 1, started, "1.0"))
	a.waitSessions(9)

	t.Run("list", func(t *testing.T) {
		path := "/organizations/acme/releases/"
		body := ok(t, path, f.owner.get(path))
		got := map[string]string{}
		for _, r := range tableRows(t, body, "releases") {
			// Version, Projects, Created, Released, New issues, Sessions,
			// Crash-free sessions, Crash-free users, Adoption, Last deploy
			got[r[0]] = strings.Join([]string{r[1], r[4], r[5], r[6], r[7], r[8]}, " | ") + " | " + strings.Fields(r[9])[0]
		}
		want := map[string]string{
			"1.0":      "web | 1 | 5 | 80% | 75% | 63% | production",
			"2.0":      "api, web | 1 | 3 | 33% | 50% | 38% | none",
			xssVersion: "web | 0 | 0 | — | — | 0% | none",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("releases\n got %q\nwant %q", got, want)
		}
		if strings.Contains(body, xssVersion) || !strings.Contains(body, `&lt;script&gt;alert(&#34;rel&#34;)`) {
			t.Error("the hostile version is not escaped")
		}
		if !strings.Contains(body, `href="/organizations/acme/releases/%3Cscript%3Ealert%28%22rel%22%29/"`) {
			t.Errorf("no link to the hostile release's page in\n%s", body)
		}
		// One project: api has only 2.0.
		path = "/organizations/acme/releases/?project=api"
		rows := tableRows(t, ok(t, path, f.owner.get(path)), "releases")
		if len(rows) != 1 || rows[0][0] != "2.0" || rows[0][4] != "0" {
			t.Errorf("api's releases %q, want 2.0 with no new issue", rows)
		}
	})

	t.Run("release", func(t *testing.T) {
		path := "/organizations/acme/releases/1.0/"
		body := ok(t, path, f.owner.get(path))
		h := stats(t, body, "health-totals")
		if h["Crash-free sessions"] != "80%" || h["Crash-free users"] != "75%" || h["Sessions"] != "5" || h["Users"] != "4" {
			t.Errorf("1.0's health %v", h)
		}
		byStatus := map[string]string{}
		for _, r := range tableRows(t, body, "sessions-by-status") {
			byStatus[r[0]] = r[1] + " " + r[2]
		}
		if byStatus["healthy"] != "3 60%" || byStatus["errored"] != "1 20%" || byStatus["crashed"] != "1 20%" {
			t.Errorf("sessions by status %v", byStatus)
		}
		if !strings.Contains(body, `<svg class="chart line"`) || !strings.Contains(body, "Crash-free sessions 80%, Crash-free users 75%") {
			t.Errorf("no crash-free chart with 80%% and 75%% in\n%s", body)
		}
		issues := tableRows(t, body, "release-issues")
		if len(issues) != 1 || !strings.HasPrefix(issues[0][0], "old bug") ||
			!strings.Contains(body, fmt.Sprintf(`href="/organizations/acme/issues/%d/"`, f.oldBug)) {
			t.Errorf("1.0's new issues %q, want old bug linked", issues)
		}
		if strings.Contains(body, "globex secret") || strings.Contains(body, "new in two") {
			t.Error("another release's or organisation's issue on 1.0's page")
		}
		if d := tableRows(t, body, "deploys"); len(d) != 1 || d[0][0] != "production" || d[0][1] != "first rollout" {
			t.Errorf("deploys %q", d)
		}
		if c := tableRows(t, body, "commits"); len(c) != 1 || fmt.Sprint(c[0][:3]) != "[c0ffee1 acme/web Ada]" ||
			!strings.Contains(body, "Fix &lt;b&gt;checkout&lt;/b&gt;") {
			t.Errorf("commits %q", c)
		}

		path = "/organizations/acme/releases/2.0/"
		body = ok(t, path, f.owner.get(path))
		if h := stats(t, body, "health-totals"); h["Crash-free sessions"] != "33%" || h["Crash-free users"] != "50%" {
			t.Errorf("2.0's health %v", h)
		}
		if !strings.Contains(body, fmt.Sprintf(`href="/organizations/acme/issues/%d/"`, f.newInTwo)) ||
			strings.Contains(body, fmt.Sprintf(`href="/organizations/acme/issues/%d/"`, f.oldBug)) {
			t.Error("2.0's page does not list exactly its new issue")
		}

		path = "/organizations/acme/releases/" + url.PathEscape(xssVersion) + "/"
		body = ok(t, path, f.owner.get(path))
		if strings.Contains(body, xssVersion) || !strings.Contains(body, "&lt;script&gt;") || !strings.Contains(body, `id="no-sessions"`) {
			t.Errorf("hostile release page\n%s", body)
		}
	})

	t.Run("links", func(t *testing.T) {
		path := fmt.Sprintf("/organizations/acme/issues/%d/", f.oldBug)
		body := ok(t, path, f.owner.get(path))
		if !strings.Contains(body, `<a href="/organizations/acme/releases/1.0/" id="first-release">1.0</a>`) ||
			!strings.Contains(body, `<a href="/organizations/acme/releases/2.0/" id="last-release">2.0</a>`) {
			t.Errorf("the issue page does not link its first and last releases\n%s", body)
		}
		if body := ok(t, "/", f.owner.get("/")); !strings.Contains(body, `href="/organizations/acme/releases/?project=web"`) {
			t.Error("the projects page does not link web's releases")
		}
	})

	t.Run("access", func(t *testing.T) {
		for _, path := range []string{"/organizations/acme/releases/", "/organizations/acme/releases/1.0/",
			"/organizations/acme/releases/" + url.PathEscape(xssVersion) + "/"} {
			p := f.owner.get(path)
			if p.status != http.StatusOK || p.header.Get("Content-Security-Policy") != web.ContentSecurityPolicy ||
				strings.Contains(p.body, " style=") || strings.Contains(p.body, "<script>") {
				t.Errorf("GET %s: %d, CSP %q", path, p.status, p.header.Get("Content-Security-Policy"))
			}
			for _, problem := range checkAccessibility(p.body) {
				t.Errorf("%s: %s", path, problem)
			}
			if p := e.anonymous().get(path); p.status != http.StatusSeeOther {
				t.Errorf("anonymous GET %s: %d", path, p.status)
			}
		}
		if p := f.owner.get("/organizations/acme/releases/1.0/?statsPeriod=3y"); p.status != http.StatusBadRequest {
			t.Errorf("a period not offered: %d, want 400", p.status)
		}
	})

	t.Run("authorisation", func(t *testing.T) {
		for _, path := range []string{"/organizations/acme/releases/", "/organizations/acme/releases/1.0/",
			"/organizations/acme/releases/?project=web"} {
			if pg := f.globex.get(path); pg.status != http.StatusNotFound {
				t.Errorf("globex's owner GET %s: %d, want 404", path, pg.status)
			}
		}
		// globex's own 1.0 shows globex's figures only.
		path := "/organizations/globex/releases/1.0/"
		body := ok(t, path, f.globex.get(path))
		if h := stats(t, body, "health-totals"); h["Crash-free sessions"] != "0%" || h["Sessions"] != "1" {
			t.Errorf("globex's 1.0 health %v", h)
		}
		if strings.Contains(body, "old bug") {
			t.Error("acme's issue on globex's release page")
		}
		// A release events name but no one recorded: its page, with its
		// issue; globex cannot see it.
		path = "/organizations/acme/releases/3.0/"
		if body := ok(t, path, f.owner.get(path)); !strings.Contains(body, `id="not-recorded"`) ||
			!strings.Contains(body, fmt.Sprintf(`href="/organizations/acme/issues/%d/"`, f.unrecorded)) {
			t.Errorf("the unrecorded release's page\n%s", body)
		}
		if pg := f.globex.get("/organizations/globex/releases/3.0/"); pg.status != http.StatusNotFound {
			t.Errorf("globex's owner on a version only acme's events name: %d", pg.status)
		}
		if pg := f.owner.get("/organizations/acme/releases/9.9/"); pg.status != http.StatusNotFound {
			t.Errorf("a release that does not exist: %d", pg.status)
		}
		if pg := f.owner.get("/organizations/acme/releases/?project=shop"); pg.status != http.StatusNotFound {
			t.Errorf("acme's owner naming globex's project: %d", pg.status)
		}
	})
}

// TestReleasePagesWithoutClickHouse: without analytics the pages show what
// Postgres knows and say that health needs analytics.
func TestReleasePagesWithoutClickHouse(t *testing.T) {
	e := newEnv(t)
	f := newReleaseFixture(e)
	path := "/organizations/acme/releases/"
	body := ok(t, path, f.owner.get(path))
	if !strings.Contains(body, `id="health-off"`) || !strings.Contains(body, "Release health needs analytics") {
		t.Errorf("the list does not say health needs analytics\n%s", body)
	}
	if strings.Contains(body, ">Crash-free sessions</th>") {
		t.Error("health columns without analytics")
	}
	got := map[string]string{}
	for _, r := range tableRows(t, body, "releases") {
		got[r[0]] = r[4] + " " + strings.Fields(r[5])[0] // New issues, Last deploy
	}
	if want := map[string]string{"1.0": "1 production", "2.0": "1 none", xssVersion: "0 none"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("releases %q, want %q", got, want)
	}
	path = "/organizations/acme/releases/1.0/"
	body = ok(t, path, f.owner.get(path))
	if !strings.Contains(body, "Release health needs analytics") || strings.Contains(body, `id="health-totals"`) ||
		!strings.Contains(body, fmt.Sprintf(`href="/organizations/acme/issues/%d/"`, f.oldBug)) {
		t.Errorf("1.0 without analytics\n%s", body)
	}
	if pg := f.globex.get(path); pg.status != http.StatusNotFound {
		t.Errorf("globex's owner: %d", pg.status)
	}
}
