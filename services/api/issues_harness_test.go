package api_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/natsx"
	groupsvc "github.com/faultline/faultline/services/grouping"
	"github.com/faultline/faultline/streams"
)

// The issue routes' access, merged into the authorisation walk's table.
func init() {
	const org, proj = "/api/0/organizations/{org}/issues/{issue_id}/", "/api/0/projects/{org}/{project}/"
	for route, need := range map[string]string{
		"GET " + proj + "issues/":                          "viewer",
		"PUT " + proj + "issues/":                          "member",
		"GET " + proj + "events/":                          "viewer",
		"GET " + proj + "events/{event_id}/":               "viewer",
		"GET " + proj + "events/{event_id}/grouping-info/": "viewer",
		"GET " + proj + "stats/":                           "viewer",
		"GET " + org:                                       "viewer",
		"PUT " + org:                                       "member",
		"DELETE " + org:                                    "member",
		"GET " + org + "events/":                           "viewer",
		"GET " + org + "events/latest/":                    "viewer",
		"GET " + org + "events/oldest/":                    "viewer",
		"GET " + org + "events/{event_id}/":                "viewer",
		"GET " + org + "tags/":                             "viewer",
		"GET " + org + "tags/{key}/values/":                "viewer",
		"GET " + org + "stats/":                            "viewer",
		"GET " + org + "hashes/":                           "viewer",
		"DELETE " + org + "hashes/":                        "member",
		"POST " + org + "reprocessing/":                    "member",
		"GET " + org + "reprocessing/":                     "viewer",
		"GET " + proj + "grouping-rules/":                  "viewer",
		"PUT " + proj + "grouping-rules/":                  "member",
		"POST " + proj + "grouping-rules/preview/":         "member",
	} {
		wantNeed[route] = need
	}
}

// issueBodies are valid bodies of the issue routes, for the role walk.
var issueBodies = map[string]any{
	"PUT /api/0/projects/{org}/{project}/issues/":                  map[string]any{"status": "resolved"},
	"PUT /api/0/organizations/{org}/issues/{issue_id}/":            map[string]any{"status": "ignored", "statusDetails": map[string]any{"ignoreCount": 5}, "assignedTo": "member@example.test"},
	"PUT /api/0/projects/{org}/{project}/grouping-rules/":          map[string]any{"fingerprintingRules": "error.type:WalkError -> walk"},
	"POST /api/0/projects/{org}/{project}/grouping-rules/preview/": map[string]any{"fingerprintingRules": "error.type:WalkError -> walk"},
}

// pipeline is the real grouping service consuming an embedded JetStream's
// INGEST stream into the test's database.
type pipeline struct {
	t  *testing.T
	e  *restEnv
	nc *natsx.Conn
}

// startGrouping runs a grouping replica against e's database until the
// test ends.
func (e *restEnv) startGrouping() *pipeline { return e.startGroupingWith(nil) }

// startGroupingWith is startGrouping with options changed by tune.
func (e *restEnv) startGroupingWith(tune func(*groupsvc.Options)) *pipeline {
	t := e.t
	t.Helper()
	nc := e.nc
	opt := groupsvc.DefaultOptions()
	opt.Workers = 1
	if tune != nil {
		tune(&opt)
	}
	runCtx, stop := context.WithCancel(context.Background())
	svc, err := groupsvc.New(runCtx, e.db.Pool, nc, opt, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := svc.Run(runCtx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { stop(); <-done })
	return &pipeline{t: t, e: e, nc: nc}
}

// sdkEvent describes an event as an SDK would send it.
type sdkEvent struct {
	id          string
	excType     string
	excValue    string
	function    string
	message     string // a message event instead of an exception
	level       string
	release     string
	environment string
	user        map[string]any
	tags        map[string]string
	ts          time.Time
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (ev sdkEvent) payload() []byte {
	m := map[string]any{
		"event_id": ev.id, "timestamp": float64(ev.ts.UnixMicro()) / 1e6, "platform": "javascript",
		"level": ev.level, "sdk": map[string]any{"name": "sentry.javascript.node", "version": "8.0.0"},
	}
	for k, v := range map[string]string{"release": ev.release, "environment": ev.environment} {
		if v != "" {
			m[k] = v
		}
	}
	if ev.user != nil {
		m["user"] = ev.user
	}
	if ev.tags != nil {
		m["tags"] = ev.tags
	}
	if ev.message != "" {
		m["message"] = ev.message
	} else {
		m["exception"] = map[string]any{"values": []any{map[string]any{
			"type": ev.excType, "value": ev.excValue,
			"stacktrace": map[string]any{"frames": []any{
				map[string]any{"function": "main", "module": "app", "filename": "app.js", "lineno": 3, "in_app": true},
				map[string]any{"function": ev.function, "module": "app.handlers", "filename": "handlers.js", "lineno": 42, "in_app": true,
					"context_line": "  return <script>x.y</script>;"},
			}},
		}}}
	}
	b, _ := json.Marshal(m)
	return b
}

// send publishes events to project's INGEST subject as the gateway does and
// returns their ids.
func (p *pipeline) send(project int64, evs ...sdkEvent) []string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ids []string
	for _, ev := range evs {
		if ev.id == "" {
			ev.id = newID()
		}
		if ev.ts.IsZero() {
			ev.ts = time.Now()
		}
		if ev.level == "" {
			ev.level = "error"
		}
		p.publish(ctx, project, ev.id, ev.payload())
		ids = append(ids, ev.id)
	}
	p.waitFor(ids...)
	return ids
}

// publish publishes one event's payload to project's INGEST subject as the
// gateway does.
func (p *pipeline) publish(ctx context.Context, project int64, id string, payload []byte) {
	p.t.Helper()
	body := fmt.Appendf(nil, "{\"event_id\":%q}\n{\"type\":\"event\",\"length\":%d}\n%s\n", id, len(payload), payload)
	h := nats.Header{}
	h.Set(streams.HeaderProject, strconv.FormatInt(project, 10))
	h.Set(streams.HeaderKey, strings.Repeat("a", 32))
	h.Set(streams.HeaderReceived, time.Now().UTC().Format(time.RFC3339Nano))
	h.Set(streams.HeaderEndpoint, "envelope")
	h.Set(streams.HeaderClientIP, "192.0.2.7")
	h.Set(streams.HeaderUserAgent, "sentry.javascript.node/8.0.0")
	h.Set(streams.HeaderEventID, id)
	h.Set(jetstream.MsgIDHeader, id)
	msg := &nats.Msg{Subject: streams.IngestSubject(project, "error"), Header: h, Data: body}
	if _, err := p.nc.JS.PublishMsg(ctx, msg); err != nil {
		p.t.Fatal(err)
	}
}

// waitFor waits until the grouping service has stored the events; the
// deadline is generous for a loaded machine.
func (p *pipeline) waitFor(ids ...string) {
	p.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int
		err := p.e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM grouping.events WHERE event_id = ANY($1::uuid[])`, ids).Scan(&n)
		if err != nil {
			p.t.Fatal(err)
		}
		if n == len(ids) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("grouping stored %d of %d events", n, len(ids))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// issueOf returns the issue id an event was grouped into.
func (p *pipeline) issueOf(eventID string) string {
	p.t.Helper()
	var id int64
	if err := p.e.db.Pool.QueryRow(context.Background(), `SELECT issue_id FROM grouping.events WHERE event_id = $1::uuid`, eventID).Scan(&id); err != nil {
		p.t.Fatal(err)
	}
	return strconv.FormatInt(id, 10)
}

// issueParams gives the authorisation walks a real issue of acme's project
// with an event: issue_id, event_id and a tag key.
func (e *restEnv) issueParams(f *fixture) map[string]string {
	p := e.startGrouping()
	ids := p.send(f.project.ID, sdkEvent{excType: "WalkError", excValue: "walking", function: "walk", release: "1.0", environment: "prod"})
	return map[string]string{"issue_id": p.issueOf(ids[0]), "event_id": ids[0], "key": "release",
		"monitor_slug": e.walkMonitor(f)}
}
