package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/monitorstore"
	"github.com/faultline/faultline/services/web"
	"github.com/faultline/faultline/streams"
)

// sendCheckIn publishes a check_in envelope to INGEST as the gateway does.
func (e *env) sendCheckIn(projectID int64, ci map[string]any) {
	e.t.Helper()
	payload, _ := json.Marshal(ci)
	body := fmt.Appendf(nil, "{}\n{\"type\":\"check_in\",\"length\":%d}\n%s\n", len(payload), payload)
	h := nats.Header{}
	h.Set(streams.HeaderProject, strconv.FormatInt(projectID, 10))
	h.Set(streams.HeaderReceived, time.Now().UTC().Format(time.RFC3339Nano))
	h.Set(streams.HeaderEndpoint, "envelope")
	h.Set(jetstream.MsgIDHeader, newEventID())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.nc.JS.PublishMsg(ctx, &nats.Msg{Subject: streams.IngestSubject(projectID, "check_in"), Header: h, Data: body}); err != nil {
		e.t.Fatal(err)
	}
}

// TestMonitorPages: a project's monitors page lists its monitors with
// their state and schedule, a monitor's page shows its check-ins on a
// timeline; both under the strict CSP, with names escaped, and hidden from
// other organisations.
func TestMonitorPages(t *testing.T) {
	e := newEnv(t)
	ada, eve := e.user("ada@example.test", false), e.user("eve@example.test", false)
	p := e.project("acme", "Web Shop", map[*accounts.User]string{ada: "viewer"})
	e.project("rival", "Rival", map[*accounts.User]string{eve: "owner"})
	ctx := context.Background()
	if err := monitorstore.Decide(ctx, e.store.Decisions(), &streams.Decision{Kind: streams.DecideUpsertMonitor, ProjectID: p.ID,
		Monitor: &streams.Monitor{Slug: "nightly", Name: `Nightly <script>alert(1)</script>`,
			Config: streams.MonitorConfig{ScheduleType: "interval", Interval: 2, Unit: "hour", Timezone: "Europe/Paris"}}}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"ok", "error", "ok"} {
		e.sendCheckIn(p.ID, map[string]any{"check_in_id": newEventID(), "monitor_slug": "nightly", "status": st, "duration": 0.25})
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int
		if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM grouping.monitor_checkins`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d check-ins stored, want 3", n)
		}
		time.Sleep(50 * time.Millisecond)
	}

	b := e.signIn("ada@example.test")
	list := b.get("/organizations/acme/projects/web-shop/monitors/")
	if list.status != http.StatusOK || list.header.Get("Content-Security-Policy") != web.ContentSecurityPolicy {
		t.Fatalf("list: %d, CSP %q", list.status, list.header.Get("Content-Security-Policy"))
	}
	for _, want := range []string{`href="/organizations/acme/projects/web-shop/monitors/nightly/"`, "Nightly &lt;script&gt;alert(1)&lt;/script&gt;",
		`<span class="checkin ok">ok</span>`, "every 2 hours (Europe/Paris)"} {
		if !strings.Contains(list.body, want) {
			t.Errorf("list lacks %s:\n%s", want, list.body)
		}
	}
	page := b.get("/organizations/acme/projects/web-shop/monitors/nightly/")
	if page.status != http.StatusOK || page.header.Get("Content-Security-Policy") != web.ContentSecurityPolicy {
		t.Fatalf("monitor: %d", page.status)
	}
	if got := strings.Count(page.body, `<rect class="checkin ok"`); got != 2 {
		t.Errorf("timeline: %d ok slots, want 2:\n%s", got, page.body)
	}
	if got := strings.Count(page.body, `<rect class="checkin error"`); got != 1 {
		t.Errorf("timeline: %d error slots, want 1", got)
	}
	for _, body := range []string{list.body, page.body} {
		for _, problem := range checkAccessibility(body) {
			t.Errorf("accessibility: %s", problem)
		}
		if strings.Contains(body, "<script>alert") || strings.Contains(body, " style=") || strings.Contains(body, "<style") {
			t.Errorf("unescaped name or inline style:\n%s", body)
		}
	}
	if !strings.Contains(page.body, "250 ms") {
		t.Errorf("monitor page lacks the check-ins' durations")
	}
	rival := e.signIn("eve@example.test")
	for _, path := range []string{"/organizations/acme/projects/web-shop/monitors/", "/organizations/acme/projects/web-shop/monitors/nightly/",
		"/organizations/rival/projects/web-shop/monitors/nightly/"} {
		if got := rival.get(path); got.status != http.StatusNotFound || strings.Contains(got.body, "Nightly") {
			t.Errorf("another organisation's member GET %s: %d", path, got.status)
		}
	}
	if got := b.get("/organizations/acme/projects/web-shop/monitors/nope/"); got.status != http.StatusNotFound {
		t.Errorf("unknown monitor: %d", got.status)
	}
}
