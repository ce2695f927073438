package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/accounts"
)

// TestIssueActionsAndRules drives the assign control, the bulk merge, the
// grouping rules editor (preview and save) and the invitation form, each a
// form with its CSRF token, with the roles that may and may not use them.
func TestIssueActionsAndRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner := e.user("owner@acme.test", false)
	member := e.user("member@acme.test", false)
	viewer := e.user("viewer@acme.test", false)
	stranger := e.user("owner@globex.test", false)
	acme := e.project("acme", "backend", map[*accounts.User]string{owner: "owner", member: "member", viewer: "viewer"})
	e.project("globex", "web", map[*accounts.User]string{stranger: "owner"})
	e.send(acme.ID, messageEvent("disk full on db-1", "error", "1.0"), messageEvent("disk full on db-1", "error", "1.0"),
		messageEvent("queue stalled", "warning", "1.0"), messageEvent("cache miss storm", "info", "1.0"))
	issues := e.waitEvents(acme.ID, 4)
	disk, queue, cache := issues["disk full on db-1"], issues["queue stalled"], issues["cache miss storm"]
	if disk == 0 || queue == 0 || cache == 0 {
		t.Fatalf("issues %v", issues)
	}
	issuePath := func(id int64) string { return fmt.Sprintf("/organizations/acme/issues/%d/", id) }
	list := "/organizations/acme/issues/?project=backend"
	settings := "/settings/acme/projects/backend/"
	ownerB, memberB, viewerB := e.signIn("owner@acme.test"), e.signIn("member@acme.test"), e.signIn("viewer@acme.test")
	assignee := func(id int64) string {
		var a string
		e.db.Pool.QueryRow(ctx, `SELECT assignee FROM grouping.issues WHERE id = $1`, id).Scan(&a)
		return a
	}

	t.Run("assign", func(t *testing.T) {
		page := ownerB.get(issuePath(disk))
		if !strings.Contains(page.body, `id="assignee"`) || !strings.Contains(page.body, fmt.Sprintf(`value="user:%d"`, member.ID)) {
			t.Fatalf("issue page has no assign control listing the member")
		}
		if strings.Contains(page.body, fmt.Sprintf(`value="user:%d"`, stranger.ID)) {
			t.Error("the assign control lists another organisation's user")
		}
		if p := ownerB.do("POST", issuePath(disk), url.Values{"action": {"assign"}, "assignee": {fmt.Sprintf("user:%d", member.ID)}}); p.status != http.StatusForbidden {
			t.Errorf("assign without CSRF: %d", p.status)
		}
		if p := viewerB.submit(issuePath(disk), issuePath(disk), url.Values{"action": {"assign"}, "assignee": {fmt.Sprintf("user:%d", viewer.ID)}}); p.status != http.StatusForbidden {
			t.Errorf("viewer assigns: %d", p.status)
		}
		if p := ownerB.submit(issuePath(disk), issuePath(disk), url.Values{"action": {"assign"}, "assignee": {fmt.Sprintf("user:%d", stranger.ID)}}); p.status != http.StatusBadRequest {
			t.Errorf("assign to another organisation's user: %d", p.status)
		}
		if a := assignee(disk); a != "" {
			t.Fatalf("refused assignments changed the assignee to %q", a)
		}
		p := ownerB.submit(issuePath(disk), issuePath(disk), url.Values{"action": {"assign"}, "assignee": {fmt.Sprintf("user:%d", member.ID)}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("assign: %d %s", p.status, p.body)
		}
		if a := assignee(disk); a != fmt.Sprintf("user:%d", member.ID) {
			t.Errorf("assignee %q", a)
		}
		if p := ownerB.get(issuePath(disk)); !strings.Contains(p.body, "assigned to member@acme.test") {
			t.Error("the issue page does not say who it is assigned to")
		}
		for _, tt := range []struct {
			b     *browser
			query string
			want  bool // disk listed
		}{
			{memberB, "assigned:me", true},
			{ownerB, "assigned:me", false},
			{ownerB, "assigned:member@acme.test", true},
			{ownerB, "is:unassigned", false},
		} {
			p := tt.b.get(list + "&query=" + url.QueryEscape(tt.query))
			if got := strings.Contains(p.body, "disk full on db-1"); p.status != 200 || got != tt.want {
				t.Errorf("%q: status %d, disk listed %v, want %v", tt.query, p.status, got, tt.want)
			}
		}
	})

	t.Run("merge", func(t *testing.T) {
		form := url.Values{"action": {"merge"}, "project": {"backend"}, "issue": {fmt.Sprint(disk), fmt.Sprint(queue)}}
		if p := ownerB.do("POST", "/organizations/acme/issues/bulk/", form); p.status != http.StatusForbidden {
			t.Errorf("merge without CSRF: %d", p.status)
		}
		if p := viewerB.submit(list, "/organizations/acme/issues/bulk/", form); p.status != http.StatusForbidden {
			t.Errorf("viewer merges: %d", p.status)
		}
		one := url.Values{"action": {"merge"}, "project": {"backend"}, "issue": {fmt.Sprint(disk)}}
		if p := ownerB.submit(list, "/organizations/acme/issues/bulk/", one); p.status != http.StatusBadRequest {
			t.Errorf("merge of one issue: %d", p.status)
		}
		if !strings.Contains(ownerB.get(list).body, `value="merge"`) {
			t.Error("the issue list has no Merge button")
		}
		p := memberB.submit(list, "/organizations/acme/issues/bulk/", form)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), issuePath(disk)) {
			t.Fatalf("merge: %d to %q", p.status, p.header.Get("Location"))
		}
		var n int
		e.db.Pool.QueryRow(ctx, `SELECT times_seen FROM grouping.issues WHERE id = $1`, disk).Scan(&n)
		if n != 3 {
			t.Errorf("merged issue has %d events, want 3", n)
		}
		if p := ownerB.get(issuePath(queue)); p.status != http.StatusNotFound {
			t.Errorf("merged child page: %d", p.status)
		}
	})

	t.Run("grouping rules", func(t *testing.T) {
		action := settings + "grouping-rules/"
		if p := ownerB.get(settings); !strings.Contains(p.body, `id="fingerprint-rules"`) || !strings.Contains(p.body, `value="preview"`) {
			t.Fatal("the settings page has no rules editor")
		}
		all := url.Values{"action": {"preview"}, "fingerprinting": {"message:* -> everything"}}
		if p := ownerB.do("POST", action, all); p.status != http.StatusForbidden {
			t.Errorf("preview without CSRF: %d", p.status)
		}
		p := memberB.submit(settings, action, all)
		if p.status != 200 || !strings.Contains(p.body, "Preview on the last 4 events") || !strings.Contains(p.body, "1 events would move") {
			t.Errorf("preview: %d\n%s", p.status, between(p.body, `id="rules"`, `id="teams"`))
		}
		bad := url.Values{"action": {"save"}, "fingerprinting": {"message:* -> everything\r\nmessage:x ->"}}
		if p := memberB.submit(settings, action, bad); p.status != http.StatusBadRequest || !strings.Contains(p.body, "line 2") {
			t.Errorf("bad rules: %d %s", p.status, between(p.body, `id="rules"`, `id="teams"`))
		}
		save := url.Values{"action": {"save"}, "stacktrace": {"stack.module:vendor.* -app"}, "fingerprinting": {"message:* -> everything"}}
		if p := viewerB.submit(settings, action, save); p.status != http.StatusForbidden {
			t.Errorf("viewer saves rules: %d", p.status)
		}
		if p := memberB.submit(settings, action, save); p.status != http.StatusSeeOther {
			t.Fatalf("save: %d", p.status)
		}
		var stack, fp string
		e.db.Pool.QueryRow(ctx, `SELECT stack_rules, fingerprint_rules FROM grouping.project_rules WHERE project_id = $1`, acme.ID).Scan(&stack, &fp)
		if stack != "stack.module:vendor.* -app" || fp != "message:* -> everything" {
			t.Errorf("stored rules %q %q", stack, fp)
		}
		if p := viewerB.get(settings); !strings.Contains(p.body, "message:* -&gt; everything") || strings.Contains(between(p.body, `id="rules"`, `id="teams"`), `value="save"`) {
			t.Error("the viewer does not see the saved rules read-only")
		}
	})

	t.Run("invite", func(t *testing.T) {
		form := url.Values{"email": {"new@acme.test"}, "role": {"member"}}
		if p := memberB.submit(settings, settings+"members/", form); p.status != http.StatusForbidden {
			t.Errorf("member invites: %d", p.status)
		}
		if p := ownerB.do("POST", settings+"members/", form); p.status != http.StatusForbidden {
			t.Errorf("invite without CSRF: %d", p.status)
		}
		if !strings.Contains(ownerB.get(settings).body, `id="invite-email"`) {
			t.Error("the settings page has no invitation form for the owner")
		}
		// Without SMTP the REST route refuses, and the form says why.
		if p := ownerB.submit(settings, settings+"members/", form); p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "SMTP_HOST") {
			t.Errorf("invite without SMTP: %d", p.status)
		}
	})

	t.Run("unmerge", func(t *testing.T) {
		var queueHash string
		if err := e.db.Pool.QueryRow(ctx, `SELECT hashes[1] FROM grouping.events WHERE project_id = $1 AND title = 'queue stalled'`,
			acme.ID).Scan(&queueHash); err != nil {
			t.Fatal(err)
		}
		page := viewerB.get(issuePath(disk))
		if !strings.Contains(page.body, "Merged hashes") || !strings.Contains(page.body, queueHash) {
			t.Fatal("the merged issue's page does not list its hashes")
		}
		if strings.Contains(page.body, `value="unmerge"`) {
			t.Error("a viewer is offered to unmerge")
		}
		form := url.Values{"action": {"unmerge"}, "hash": {queueHash}}
		if p := viewerB.submit(issuePath(disk), issuePath(disk), form); p.status != http.StatusForbidden {
			t.Errorf("viewer unmerges: %d", p.status)
		}
		if p := memberB.submit(issuePath(disk), issuePath(disk), url.Values{"action": {"unmerge"}}); p.status != http.StatusBadRequest {
			t.Errorf("unmerge of no hash: %d", p.status)
		}
		p := memberB.submit(issuePath(disk), issuePath(disk), form)
		loc := p.header.Get("Location")
		if p.status != http.StatusSeeOther || strings.HasPrefix(loc, issuePath(disk)) || !strings.Contains(loc, "done=unmerged") {
			t.Fatalf("unmerge: %d to %q %s", p.status, loc, p.body)
		}
		var n int
		e.db.Pool.QueryRow(ctx, `SELECT times_seen FROM grouping.issues WHERE id = $1`, disk).Scan(&n)
		if n != 2 {
			t.Errorf("after the unmerge the issue has %d events, want 2", n)
		}
		if p := memberB.get(loc); p.status != 200 || !strings.Contains(p.body, "queue stalled") {
			t.Errorf("the split-off issue's page: %d", p.status)
		}
	})

	// Reprocessing from the issue page: a POST form with CSRF, for members;
	// the page then shows what the reprocessing did (these events have no
	// source maps: they stay as they are).
	t.Run("reprocess", func(t *testing.T) {
		if strings.Contains(viewerB.get(issuePath(cache)).body, `value="reprocess"`) {
			t.Error("a viewer is offered to reprocess")
		}
		if !strings.Contains(memberB.get(issuePath(cache)).body, `value="reprocess"`) {
			t.Fatal("the issue page has no reprocess button for a member")
		}
		form := url.Values{"action": {"reprocess"}}
		if p := viewerB.submit(issuePath(cache), issuePath(cache), form); p.status != http.StatusForbidden {
			t.Errorf("viewer reprocesses: %d", p.status)
		}
		if p := memberB.do("POST", issuePath(cache), form); p.status != http.StatusForbidden {
			t.Errorf("reprocess without CSRF: %d", p.status)
		}
		if strings.Contains(memberB.get(issuePath(cache)).body, `id="reprocessing"`) {
			t.Fatal("a reprocessing is shown before any")
		}
		p := memberB.submit(issuePath(cache), issuePath(cache), form)
		loc := p.header.Get("Location")
		if p.status != http.StatusSeeOther || !strings.HasPrefix(loc, issuePath(cache)) || !strings.Contains(loc, "done=reprocessed") {
			t.Fatalf("reprocess: %d to %q %s", p.status, loc, p.body)
		}
		page := memberB.get(loc)
		if shown := between(page.body, `id="reprocessing"`, "</section>"); !strings.Contains(shown, "done") ||
			!strings.Contains(shown, "1 events read again") || !strings.Contains(shown, "0 moved") {
			t.Errorf("the issue page shows the reprocessing as %q", shown)
		}
	})
}

// between returns the part of s from the first from to the next to, for
// short failure messages.
func between(s, from, to string) string {
	if i := strings.Index(s, from); i >= 0 {
		s = s[i:]
	}
	if j := strings.Index(s, to); j >= 0 {
		s = s[:j]
	}
	return s
}

// TestPrivacySettings: an admin saves the scrubbing settings and inbound
// filters from the project settings page; a member may not.
func TestPrivacySettings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.user("admin@acme.test", false)
	member := e.user("member@acme.test", false)
	p := e.project("acme", "backend", map[*accounts.User]string{admin: "admin", member: "member"})
	settings := "/settings/acme/projects/backend/"
	form := url.Values{"data_scrubber": {"on"}, "scrub_ip_addresses": {"on"}, "sensitive_fields": {"order_secret\r\n\r\ncard_pin"},
		"safe_fields": {""}, "filter": {"localhost", "legacy-browser"}}
	if res := e.signIn("member@acme.test").submit(settings, settings+"privacy/", form); res.status != http.StatusForbidden {
		t.Errorf("a member saves privacy settings: %d", res.status)
	}
	a := e.signIn("admin@acme.test")
	if page := a.get(settings); !strings.Contains(page.body, `id="privacy-save"`) || !strings.Contains(page.body, `id="filter-web-crawlers"`) {
		t.Fatal("the settings page has no privacy form")
	}
	if res := a.submit(settings, settings+"privacy/", form); res.status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", res.status, res.body)
	}
	o, _, err := e.store.OrgRole(ctx, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := e.store.OrgProject(ctx, o.ID, "backend")
	if err != nil {
		t.Fatal(err)
	}
	sc := pr.Scrub
	if !sc.DataScrubber || sc.DataScrubberDefaults || !sc.ScrubIPAddresses || strings.Join(sc.SensitiveFields, ",") != "order_secret,card_pin" {
		t.Errorf("scrubbing saved as %+v", sc)
	}
	fs, err := e.store.ProjectFilters(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !fs.Localhost || fs.WebCrawlers || strings.Join(fs.LegacyBrowsers, ",") != "default" {
		t.Errorf("filters saved as %+v", fs)
	}
	if page := a.get(settings); !strings.Contains(page.body, `id="filter-localhost" checked`) || !strings.Contains(page.body, "card_pin") {
		t.Error("the page does not show what was saved")
	}
}

// TestAccountDigestSettings: a user turns their digests on from the
// account page, the page shows what was saved, a bad time zone is refused
// and changes nothing, and another user's settings stay their own.
func TestAccountDigestSettings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.user("alice@acme.test", false)
	bob := e.user("bob@acme.test", false)
	a := e.signIn("alice@acme.test")
	const page = "/settings/account/"
	if p := a.get(page); !strings.Contains(p.body, `name="daily_digest"`) || !strings.Contains(p.body, `value="UTC"`) {
		t.Fatalf("the account page has no digest form: %d", p.status)
	}
	form := url.Values{"daily_digest": {"on"}, "digest_hour": {"7"}, "timezone": {"Europe/Paris"}}
	if res := a.submit(page, page, form); res.status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", res.status, res.body)
	}
	n, err := e.store.NotificationSettings(ctx, alice.ID)
	if err != nil || !n.DailyDigest || n.WeeklyDigest || n.DigestHour != 7 || n.Timezone != "Europe/Paris" {
		t.Fatalf("saved %+v, %v", n, err)
	}
	if p := a.get(page); !strings.Contains(p.body, `name="daily_digest" checked`) || !strings.Contains(p.body, `value="7" selected`) {
		t.Error("the page does not show what was saved")
	}
	bad := url.Values{"weekly_digest": {"on"}, "digest_hour": {"7"}, "timezone": {"Europe/<b>Atlantis</b>"}}
	if res := a.submit(page, page, bad); res.status != http.StatusBadRequest || strings.Contains(res.body, "<b>Atlantis") {
		t.Errorf("a bad time zone: %d", res.status)
	}
	if n, _ := e.store.NotificationSettings(ctx, alice.ID); n.WeeklyDigest || n.Timezone != "Europe/Paris" {
		t.Errorf("a refused form changed the settings: %+v", n)
	}
	if n, _ := e.store.NotificationSettings(ctx, bob.ID); n.DailyDigest || n.Timezone != "UTC" {
		t.Errorf("bob's settings: %+v", n)
	}
}
