package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/sourcemap/sourcemaptest"
	groupsvc "github.com/faultline/faultline/services/grouping"
)

// shownFrame is a frame as the API shows it.
type shownFrame struct {
	Function string `json:"function"`
	Filename string `json:"filename"`
	Lineno   int64  `json:"lineno"`
}

// innermostFrame is an event's innermost frame as the API shows it.
func (c *client) innermostFrame(issue, event string) shownFrame {
	c.e.t.Helper()
	var ev struct {
		Entries []struct {
			Type string `json:"type"`
			Data struct {
				Values []struct {
					Stacktrace struct{ Frames []shownFrame } `json:"stacktrace"`
				} `json:"values"`
			} `json:"data"`
		} `json:"entries"`
	}
	res := c.do("GET", "/api/0/organizations/acme/issues/"+issue+"/events/"+event+"/", nil)
	if res.status != 200 {
		c.e.t.Fatalf("event %s of issue %s: %d %s", event, issue, res.status, res.body)
	}
	res.json(c.e.t, &ev)
	for _, en := range ev.Entries {
		if en.Type == "exception" && len(en.Data.Values) > 0 {
			if fr := en.Data.Values[0].Stacktrace.Frames; len(fr) > 0 {
				return fr[len(fr)-1]
			}
		}
	}
	c.e.t.Fatalf("event %s has no frames", event)
	return shownFrame{}
}

// TestReprocessIssue: minified events that arrived before their source
// maps group by their minified frames and show them. Once the bundle is
// uploaded, an event sent with its debug id is symbolicated and starts
// another issue. Reprocessing the first issue symbolicates its events and
// moves them into that issue, where they would have gone had the maps been
// there: every event in one issue, counted once, the emptied issue removed
// and its reprocessing still readable. A replay of the project groups them
// the same way.
func TestReprocessIssue(t *testing.T) {
	e, f := uploadEnv(t)
	a := e.startAnalytics()
	p := e.startGroupingWith(func(o *groupsvc.Options) { o.OutboxAge = 3 * time.Second }) // a decision's publications go out within a second
	cli := e.releaseWriter(f, "1.0")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	early := []string{newID(), newID(), newID()}
	for _, id := range early {
		p.publish(ctx, f.project.ID, id, minifiedPayload(id, "1.0", false))
	}
	p.waitFor(early...)
	minified := p.issueOf(early[0])
	for _, id := range early[1:] {
		if got := p.issueOf(id); got != minified {
			t.Fatalf("the minified events group apart: %s and %s", got, minified)
		}
	}
	if fr := cli.innermostFrame(minified, early[0]); fr.Function != "i" || fr.Filename != "/srv/app/dist/app.min.js" {
		t.Fatalf("before the maps: innermost frame %+v, want the minified one", fr)
	}

	if st := cli.uploadBundle(sourcemaptest.EsbuildBundle(t), "1.0"); st != "ok" {
		t.Fatalf("bundle: %s", st)
	}
	late := newID()
	p.publish(ctx, f.project.ID, late, minifiedPayload(late, "1.0", true))
	p.waitFor(late)
	symbolicated := p.issueOf(late)
	if symbolicated == minified {
		t.Fatalf("the event sent after the maps grouped with the minified ones")
	}
	want := shownFrame{Function: "explode", Filename: "src/app.js", Lineno: 13}
	if fr := cli.innermostFrame(symbolicated, late); fr != want {
		t.Fatalf("after the maps: innermost frame %+v, want %+v", fr, want)
	}

	// Analytics counts the events by the issue each is in.
	owner := e.session(f.users["owner"])
	a.waitIdle()
	errorsByIssue := func() string {
		rows, _ := rowsOf(t, owner.do("GET", eventsURL("field", "issue.id", "field", "count()", "query", "event.type:error"), nil))
		var parts []string
		for _, r := range rows {
			parts = append(parts, fmt.Sprintf("%.0f=%v", r["issue.id"], r["count()"]))
		}
		slices.Sort(parts)
		return strings.Join(parts, " ")
	}
	waitErrorsByIssue := func(when string, want ...string) {
		t.Helper()
		slices.Sort(want)
		deadline := time.Now().Add(60 * time.Second)
		for got := errorsByIssue(); got != strings.Join(want, " "); got = errorsByIssue() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: analytics counts errors by issue as %s, want %s", when, got, strings.Join(want, " "))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitErrorsByIssue("before the reprocessing", minified+"=3", symbolicated+"=1")

	reader, _ := e.token(f.users["member"], "read")
	if res := e.withToken(reader).do("POST", "/api/0/organizations/acme/issues/"+minified+"/reprocessing/", nil); res.status != 403 {
		t.Errorf("a read-only token: %d %s", res.status, res.body)
	}
	if res := cli.do("POST", "/api/0/organizations/acme/issues/"+minified+"/reprocessing/", map[string]any{"remainingEvents": "delete"}); res.status != 400 {
		t.Errorf("remainingEvents delete: %d %s", res.status, res.body)
	}
	var rp struct {
		ID, Status, IssueID string
		Events, MovedEvents int64
		UpdatedEvents       int64
		Issues              []string
		IssueRemoved        bool
		DateDone            *time.Time
	}
	res := cli.do("POST", "/api/0/organizations/acme/issues/"+minified+"/reprocessing/", map[string]any{"maxEvents": nil, "remainingEvents": "keep"})
	if res.status != 200 {
		t.Fatalf("reprocess: %d %s", res.status, res.body)
	}
	res.json(t, &rp)
	if rp.Status != "done" || rp.IssueID != minified || rp.Events != 3 || rp.MovedEvents != 3 || rp.UpdatedEvents != 0 ||
		len(rp.Issues) != 1 || rp.Issues[0] != symbolicated || !rp.IssueRemoved || rp.DateDone == nil {
		t.Fatalf("reprocessing: %s", res.body)
	}

	for _, id := range early {
		if got := p.issueOf(id); got != symbolicated {
			t.Errorf("event %s is in issue %s, want %s", id, got, symbolicated)
		}
		if fr := cli.innermostFrame(symbolicated, id); fr != want {
			t.Errorf("event %s: innermost frame %+v, want %+v", id, fr, want)
		}
	}
	if res := cli.do("GET", "/api/0/organizations/acme/issues/"+minified+"/", nil); res.status != 404 {
		t.Errorf("the emptied issue: %d %s", res.status, res.body)
	}
	var is struct{ Count string }
	cli.do("GET", "/api/0/organizations/acme/issues/"+symbolicated+"/", nil).json(t, &is)
	if is.Count != "4" {
		t.Errorf("the symbolicated issue counts %s events, want 4", is.Count)
	}
	var issues, counted, stored, levelTag int64
	e.db.Pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(times_seen), 0) FROM grouping.issues WHERE project_id = $1`, f.project.ID).Scan(&issues, &counted)
	e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM grouping.events WHERE project_id = $1`, f.project.ID).Scan(&stored)
	e.db.Pool.QueryRow(ctx, `SELECT times_seen FROM grouping.issue_tags WHERE issue_id = $1::text::bigint AND key = 'level'
		AND value = 'error'`, symbolicated).Scan(&levelTag)
	if issues != 1 || counted != 4 || stored != 4 || levelTag != 4 {
		t.Errorf("after the reprocessing: %d issues counting %d events, %d stored, level:error counted %d; want 1, 4, 4, 4",
			issues, counted, stored, levelTag)
	}
	// Analytics' rows follow the moved events: each carries the issue it
	// is in now, counted once.
	waitErrorsByIssue("after the reprocessing", symbolicated+"=4")
	// The emptied issue's page is gone; its reprocessing says where its
	// events went, to its organisation only.
	var again struct{ ID string }
	if res := cli.do("GET", "/api/0/organizations/acme/issues/"+minified+"/reprocessing/", nil); res.status != 200 {
		t.Errorf("the removed issue's reprocessing: %d %s", res.status, res.body)
	} else if res.json(t, &again); again.ID != rp.ID {
		t.Errorf("the removed issue's reprocessing: %s, want decision %s", res.body, rp.ID)
	}
	otherTok, _ := e.token(f.users["other"], "read", "write")
	for _, path := range []string{"/api/0/organizations/acme/issues/" + minified + "/reprocessing/",
		"/api/0/organizations/rival/issues/" + minified + "/reprocessing/"} {
		if res := e.withToken(otherTok).do("GET", path, nil); res.status != 403 && res.status != 404 {
			t.Errorf("another organisation's member: GET %s: %d %s", path, res.status, res.body)
		}
	}
	// Reprocessing the issue now changes nothing: its events are where the
	// maps put them.
	res = cli.do("POST", "/api/0/organizations/acme/issues/"+symbolicated+"/reprocessing/", nil)
	res.json(t, &rp)
	if res.status != 200 || rp.Events != 4 || rp.MovedEvents != 0 || rp.IssueRemoved {
		t.Errorf("reprocessing the symbolicated issue: %d %s", res.status, res.body)
	}
	if res := cli.do("GET", "/api/0/organizations/acme/issues/"+symbolicated+"/reprocessing/", nil); res.status != 200 {
		t.Errorf("the latest reprocessing: %d %s", res.status, res.body)
	}

	// A replay of the project symbolicates with the maps from the start:
	// the same grouping.
	var primary string
	e.db.Pool.QueryRow(ctx, `SELECT primary_hash FROM grouping.issues WHERE id = $1::text::bigint`, symbolicated).Scan(&primary)
	opt := groupsvc.DefaultOptions()
	opt.Workers = 1
	if err := groupsvc.Replay(ctx, e.db.Pool, e.nc, groupsvc.ReplayOptions{Project: f.project.ID, Service: opt, Progress: io.Discard,
		Interval: 100 * time.Millisecond}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	var replayedPrimary string
	var replayedCount int64
	if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) OVER (), primary_hash, times_seen FROM grouping.issues WHERE project_id = $1`,
		f.project.ID).Scan(&issues, &replayedPrimary, &replayedCount); err != nil {
		t.Fatal(err)
	}
	if issues != 1 || replayedPrimary != primary || replayedCount != 4 {
		t.Errorf("after a replay: %d issues, primary hash %s counting %d; want 1, %s, 4", issues, replayedPrimary, replayedCount, primary)
	}
	var after string
	e.db.Pool.QueryRow(ctx, `SELECT issue_id::text FROM grouping.events WHERE event_id = $1::uuid`, early[0]).Scan(&after)
	if fr := cli.innermostFrame(after, early[0]); fr != want {
		t.Errorf("after a replay: innermost frame %+v, want %+v", fr, want)
	}
}
