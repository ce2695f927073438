package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/clickhouse"
	"github.com/faultline/faultline/libs/clickhouse/chtest"
	"github.com/faultline/faultline/libs/envelope"
	analyticssvc "github.com/faultline/faultline/services/analytics"
	"github.com/faultline/faultline/streams"
)

// The test binary's ClickHouse server stops with it.
func TestMain(m *testing.M) {
	code := m.Run()
	chtest.Close()
	if !reportUnchecked(os.Stdout) && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// The analytics routes' access: any member reads them (Sentry's org:read).
func init() {
	const org = "/api/0/organizations/{org}/"
	for route, need := range map[string]string{
		"GET " + org + "events/":                  "viewer",
		"GET " + org + "events-stats/":            "viewer",
		"GET " + org + "events-trace/{trace_id}/": "viewer",
	} {
		wantNeed[route] = need
	}
}

// analyticsRoutes need ClickHouse, which the authorisation walks' API has
// not: there they answer 503 once let through; TestDiscover walks them with
// ClickHouse.
var analyticsRoutes = map[string]bool{
	"GET /api/0/organizations/{org}/events/":                  true,
	"GET /api/0/organizations/{org}/events-stats/":            true,
	"GET /api/0/organizations/{org}/events-trace/{trace_id}/": true,
}

// analyticsEnv is a real analytics replica writing a fresh ClickHouse
// database from e's JetStream, and the api reading it.
type analyticsEnv struct {
	e   *restEnv
	svc *analyticssvc.Service
	ch  clickhouse.Conn
}

// startAnalytics runs the analytics role until the test ends and connects
// the api to the same database over a connection of its own.
func (e *restEnv) startAnalytics() *analyticsEnv {
	t := e.t
	t.Helper()
	u := chtest.NewDatabaseT(t)
	ctx := context.Background()
	open := func() clickhouse.Conn {
		c, err := clickhouse.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	roleConn := open()
	opt := analyticssvc.DefaultOptions()
	opt.BatchSize, opt.FlushInterval = 100, 50*time.Millisecond
	runCtx, stop := context.WithCancel(ctx)
	svc, err := analyticssvc.New(runCtx, roleConn, e.nc, opt, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	e.api.SetAnalytics(open())
	return &analyticsEnv{e: e, svc: svc}
}

// publish puts an envelope on INGEST as the gateway does.
func (a *analyticsEnv) publish(project int64, body []byte) {
	t := a.e.t
	t.Helper()
	parsed, err := envelope.Parse(body, envelope.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	h := nats.Header{}
	h.Set(streams.HeaderProject, strconv.FormatInt(project, 10))
	h.Set(streams.HeaderReceived, time.Now().UTC().Format(time.RFC3339Nano))
	msg := &nats.Msg{Subject: streams.IngestSubject(project, parsed.Kind()), Header: h, Data: streams.EncodeEnvelope(h, body, nil)}
	if _, err := a.e.nc.JS.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

// publishGrouped puts a grouped error on EVENTS as grouping does.
func (a *analyticsEnv) publishGrouped(project, issue int64, eventID string, event string) {
	t := a.e.t
	t.Helper()
	enc, _ := zstd.NewWriter(nil)
	h := streams.GroupedHeader(eventID, project, eventID, issue, []string{"h"}, time.Now())
	msg := &nats.Msg{Subject: streams.GroupedSubject(project), Header: h, Data: enc.EncodeAll([]byte(event), nil)}
	if _, err := a.e.nc.JS.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

// waitIdle waits until the role has written everything published.
func (a *analyticsEnv) waitIdle() {
	t := a.e.t
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := a.svc.Lag(context.Background())
		if err == nil && l.Total() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("analytics still lagging after 60s: %+v, %v", l, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tx describes one transaction envelope.
type tx struct {
	name, release, env, user, status string
	ms                               int
	trace, span, parent              string // parent: the span it continues, from another service
	childSpan                        string // a span inside it, when not ""
	at                               time.Time
}

var txSeq int

func (x tx) envelope() []byte {
	txSeq++
	id := fmt.Sprintf("%032x", 0xdd0000+txSeq)
	if x.trace == "" {
		x.trace = fmt.Sprintf("%032x", 0xee0000+txSeq)
	}
	if x.span == "" {
		x.span = fmt.Sprintf("%016x", 0xaa0000+txSeq)
	}
	if x.status == "" {
		x.status = "ok"
	}
	end := float64(x.at.UnixMilli()) / 1000
	start := end - float64(x.ms)/1000
	spans := "[]"
	if x.childSpan != "" {
		spans = fmt.Sprintf(`[{"span_id":%q,"parent_span_id":%q,"op":"db.sql","description":"SELECT 1","start_timestamp":%f,"timestamp":%f}]`,
			x.childSpan, x.span, start, end)
	}
	p := fmt.Sprintf(`{"event_id":%q,"type":"transaction","transaction":%q,"start_timestamp":%f,"timestamp":%f,"release":%q,"environment":%q,`+
		`"user":{"id":%q},"contexts":{"trace":{"trace_id":%q,"span_id":%q,"parent_span_id":%q,"op":"http.server","status":%q}},"spans":%s}`,
		id, x.name, start, end, x.release, x.env, x.user, x.trace, x.span, x.parent, x.status, spans)
	return fmt.Appendf(nil, "{\"event_id\":%q}\n{\"type\":\"transaction\",\"length\":%d}\n%s\n", id, len(p), p)
}

// discoverFixture is acme's web and api projects and rival's secret one
// with transactions, a trace across web and api (and a span of rival's in
// it), and an error in the trace.
type discoverFixture struct {
	*fixture
	api   *accounts.OrgProject
	trace string
}

func (e *restEnv) discoverData(f *fixture, a *analyticsEnv) *discoverFixture {
	e.t.Helper()
	apiProj, err := e.store.CreateTeamProject(context.Background(), f.team, "Payments API", "api", "go")
	if err != nil {
		e.t.Fatal(err)
	}
	now := time.Now().Add(-time.Hour)
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	web, pay, secret := f.project.ID, apiProj.ID, f.otherProj.ID
	for i, ms := range []int{100, 200, 300, 400} {
		x := tx{name: "GET /checkout", release: "r1", env: "prod", user: fmt.Sprint("u", i%2), ms: ms, at: now}
		if i == 3 {
			x.status = "internal_error"
			x.trace, x.span, x.childSpan = trace, "a000000000000001", "b000000000000002"
		}
		a.publish(web, x.envelope())
	}
	a.publish(web, tx{name: "GET /home", release: "r2", env: "prod", user: "u9", ms: 50, at: now}.envelope())
	a.publish(web, tx{name: "GET /home", release: "r2", env: "staging", user: "u9", ms: 50, at: now}.envelope())
	for range 3 {
		a.publish(pay, tx{name: "POST /pay", release: "p1", env: "prod", user: "u1", ms: 80, at: now}.envelope())
	}
	// The payment service continues the trace from the checkout's db span.
	a.publish(pay, tx{name: "POST /charge", release: "p1", env: "prod", ms: 60, at: now, trace: trace, span: "c000000000000003", parent: "b000000000000002"}.envelope())
	// Rival's rows, one of them claiming a place in acme's trace: never shown.
	for range 5 {
		a.publish(secret, tx{name: "GET /checkout", release: "r1", env: "prod", user: "x", ms: 999, at: now}.envelope())
	}
	a.publish(secret, tx{name: "SECRET /rival", release: "r1", env: "prod", ms: 10, at: now, trace: trace, span: "d000000000000004", parent: "a000000000000001"}.envelope())
	a.publishGrouped(web, 77, "0123456789abcdef0123456789abcdef", fmt.Sprintf(
		`{"event_id":"0123456789abcdef0123456789abcdef","timestamp":%d,"level":"error","title":"CheckoutError: card declined","release":"r1","environment":"prod",`+
			`"contexts":{"trace":{"trace_id":%q,"span_id":"b000000000000002"}}}`, now.Unix(), trace))
	a.waitIdle()
	return &discoverFixture{fixture: f, api: apiProj, trace: trace}
}

// rowsOf decodes a table answer.
func rowsOf(t *testing.T, res response) ([]map[string]any, map[string]any) {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	var out struct {
		Data []map[string]any `json:"data"`
		Meta map[string]any   `json:"meta"`
	}
	res.json(t, &out)
	if out.Data == nil || out.Meta == nil {
		t.Fatalf("not Sentry's table shape: %s", res.body)
	}
	return out.Data, out.Meta
}

func eventsURL(params ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Add(params[i], params[i+1])
	}
	return "/api/0/organizations/acme/events/?" + v.Encode()
}

// summary is "name=count" per row, in order.
func summary(rows []map[string]any, key string) string {
	var parts []string
	for _, r := range rows {
		parts = append(parts, fmt.Sprintf("%v=%v", r[key], r["count()"]))
	}
	return strings.Join(parts, " ")
}

// TestDiscover: the events, events-stats and events-trace routes answer from
// the rows the real analytics role wrote, in Sentry's shapes, for the
// caller's organisation and readable projects only.
func TestDiscover(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	d := e.discoverData(f, e.startAnalytics())
	owner := e.session(f.users["owner"])

	t.Run("table", func(t *testing.T) {
		rows, meta := rowsOf(t, owner.do("GET", eventsURL("field", "transaction", "field", "count()", "field", "p95()",
			"field", "failure_rate()", "field", "count_unique(user)", "sort", "-count()", "statsPeriod", "24h"), nil))
		if got := summary(rows, "transaction"); got != "GET /checkout=4 POST /pay=3 GET /home=2 POST /charge=1" {
			t.Errorf("rows %s; want acme's transactions by count, rival's not counted", got)
		}
		if fr := rows[0]["failure_rate()"].(float64); fr != 0.25 {
			t.Errorf("checkout failure_rate %v, want 0.25", fr)
		}
		if p95 := rows[0]["p95()"].(float64); p95 < 380 || p95 > 400 {
			t.Errorf("checkout p95 %v ms, want about 385", p95)
		}
		if rows[0]["count_unique(user)"] != 2.0 {
			t.Errorf("checkout users %v, want 2", rows[0]["count_unique(user)"])
		}
		fields := meta["fields"].(map[string]any)
		if fields["count()"] != "integer" || fields["p95()"] != "duration" || fields["failure_rate()"] != "percentage" || fields["transaction"] != "string" {
			t.Errorf("meta.fields %v", fields)
		}
		if meta["units"].(map[string]any)["p95()"] != "millisecond" {
			t.Errorf("meta.units %v", meta["units"])
		}
	})

	t.Run("filters", func(t *testing.T) {
		for name, tc := range map[string]struct {
			params []string
			want   string
		}{
			"search release":   {[]string{"query", "release:r2"}, "GET /home=2"},
			"negated search":   {[]string{"query", "!transaction:\"GET /checkout\" !transaction:\"POST /pay\" !transaction:\"POST /charge\""}, "GET /home=2"},
			"free text":        {[]string{"query", "checkout"}, "GET /checkout=4"},
			"environment":      {[]string{"environment", "staging"}, "GET /home=1"},
			"project by id":    {[]string{"project", fmt.Sprint(d.api.ID)}, "POST /pay=3 POST /charge=1"},
			"project by slug":  {[]string{"project", "web", "query", "release:r1"}, "GET /checkout=4"},
			"all projects":     {[]string{"project", "-1", "query", "release:r1"}, "GET /checkout=4"},
			"start and end":    {[]string{"start", time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339), "end", time.Now().UTC().Format(time.RFC3339), "query", "release:r2"}, "GET /home=2"},
			"a period before":  {[]string{"start", "2020-01-01T00:00:00", "end", "2020-01-02T00:00:00"}, ""},
			"transaction type": {[]string{"query", "event.type:transaction release:r2"}, "GET /home=2"},
		} {
			t.Run(name, func(t *testing.T) {
				p := append([]string{"field", "transaction", "field", "count()", "sort", "-count()"}, tc.params...)
				rows, _ := rowsOf(t, owner.do("GET", eventsURL(p...), nil))
				if got := summary(rows, "transaction"); got != tc.want {
					t.Errorf("got %q, want %q", got, tc.want)
				}
			})
		}
	})

	t.Run("sort ascending", func(t *testing.T) {
		rows, _ := rowsOf(t, owner.do("GET", eventsURL("field", "transaction", "field", "count()", "sort", "count()", "project", "web"), nil))
		if got := summary(rows, "transaction"); got != "GET /home=2 GET /checkout=4" {
			t.Errorf("ascending: %s", got)
		}
	})

	t.Run("errors dataset", func(t *testing.T) {
		rows, meta := rowsOf(t, owner.do("GET", eventsURL("field", "title", "field", "count()", "field", "issue.id", "query", "event.type:error"), nil))
		if len(rows) != 1 || rows[0]["title"] != "CheckoutError: card declined" || rows[0]["count()"] != 1.0 || rows[0]["issue.id"] != 77.0 {
			t.Errorf("errors: %v", rows)
		}
		if meta["dataset"] != "errors" {
			t.Errorf("dataset %v", meta["dataset"])
		}
	})

	t.Run("pagination", func(t *testing.T) {
		u := eventsURL("field", "transaction", "field", "count()", "sort", "-count()", "per_page", "3")
		res := owner.do("GET", u, nil)
		rows, _ := rowsOf(t, res)
		link := res.header.Get("Link")
		if got := summary(rows, "transaction"); got != "GET /checkout=4 POST /pay=3 GET /home=2" || !strings.Contains(link, `rel="next"; results="true"; cursor="0:3:0"`) {
			t.Fatalf("first page %s, Link %s", got, link)
		}
		res = owner.do("GET", u+"&cursor=0:3:0", nil)
		rows, _ = rowsOf(t, res)
		if got := summary(rows, "transaction"); got != "POST /charge=1" || !strings.Contains(res.header.Get("Link"), `rel="next"; results="false"`) {
			t.Errorf("second page %s, Link %s", got, res.header.Get("Link"))
		}
	})

	t.Run("bad input is 400 naming it", func(t *testing.T) {
		for u, want := range map[string]string{
			eventsURL("field", "count()", "field", "password"):      `password`,
			eventsURL("field", "count()", "sort", "-p95()"):         `p95()`,
			eventsURL("field", "count()", "query", "secret:x"):      `secret`,
			eventsURL("field", "count()", "statsPeriod", "forever"): `statsPeriod`,
			eventsURL("field", "count()", "dataset", "spans"):       `spans`,
			eventsURL("field", "count()", "cursor", "nope"):         `cursor`,
			eventsURL(): `field`,
			"/api/0/organizations/acme/events-stats/?yAxis=sleep(1)":    `sleep(1)`,
			"/api/0/organizations/acme/events-stats/?interval=1s":       `interval`,
			"/api/0/organizations/acme/events-trace/not-a-trace-id/":    `trace id`,
			"/api/0/organizations/acme/events-stats/?yAxis=transaction": `transaction`,
		} {
			res := owner.do("GET", u, nil)
			if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), want) {
				t.Errorf("GET %s: %d %s, want 400 naming %s", u, res.status, res.body, want)
			}
		}
	})

	t.Run("stats", func(t *testing.T) {
		res := owner.do("GET", "/api/0/organizations/acme/events-stats/?yAxis=count()&interval=1h&statsPeriod=24h&query="+url.QueryEscape(`transaction:"GET /checkout"`), nil)
		if res.status != 200 {
			t.Fatalf("%d %s", res.status, res.body)
		}
		var s struct {
			Data       [][]any `json:"data"`
			Start, End int64
		}
		res.json(t, &s)
		if len(s.Data) < 24 || len(s.Data) > 25 || s.Start%3600 != 0 || s.End <= s.Start {
			t.Fatalf("%d points from %d to %d: %s", len(s.Data), s.Start, s.End, res.body)
		}
		total, prev := 0.0, int64(0)
		for _, p := range s.Data {
			ts := int64(p[0].(float64))
			if ts <= prev || ts%3600 != 0 {
				t.Fatalf("bucket %d after %d", ts, prev)
			}
			prev = ts
			total += p[1].([]any)[0].(map[string]any)["count"].(float64)
		}
		if total != 4 {
			t.Errorf("checkout count over the buckets %v, want 4 (rival's 5 not counted)", total)
		}
		// Several yAxis: one series each, keyed by yAxis.
		var multi map[string]struct {
			Data  [][]any `json:"data"`
			Order int     `json:"order"`
		}
		res = owner.do("GET", "/api/0/organizations/acme/events-stats/?yAxis=count()&yAxis=p95()&statsPeriod=24h&project="+fmt.Sprint(d.api.ID), nil)
		res.json(t, &multi)
		if len(multi) != 2 || multi["p95()"].Order != 1 || len(multi["count()"].Data) == 0 {
			t.Fatalf("multi-series: %s", res.body)
		}
		sum := 0.0
		for _, p := range multi["count()"].Data {
			sum += p[1].([]any)[0].(map[string]any)["count"].(float64)
		}
		if sum != 4 {
			t.Errorf("api project count %v, want 4", sum)
		}
	})

	t.Run("trace", func(t *testing.T) {
		res := owner.do("GET", "/api/0/organizations/acme/events-trace/"+d.trace+"/", nil)
		if res.status != 200 {
			t.Fatalf("%d %s", res.status, res.body)
		}
		if strings.Contains(string(res.body), "SECRET") || strings.Contains(string(res.body), "d000000000000004") {
			t.Errorf("rival's span in acme's trace: %s", res.body)
		}
		var tr struct {
			Transactions []struct {
				Transaction, ProjectSlug string
				Children                 []struct {
					SpanID   string `json:"span_id"`
					Errors   []struct{ Title string }
					Children []struct {
						Transaction string
						ProjectSlug string `json:"project_slug"`
					}
				}
			}
		}
		res.json(t, &tr)
		if len(tr.Transactions) != 1 || tr.Transactions[0].Transaction != "GET /checkout" || len(tr.Transactions[0].Children) != 1 {
			t.Fatalf("trace: %s", res.body)
		}
		db := tr.Transactions[0].Children[0]
		if db.SpanID != "b000000000000002" || len(db.Errors) != 1 || db.Errors[0].Title != "CheckoutError: card declined" ||
			len(db.Children) != 1 || db.Children[0].Transaction != "POST /charge" || db.Children[0].ProjectSlug != "api" {
			t.Errorf("db span: %+v; want the error and the api's transaction under it", db)
		}
		if res := owner.do("GET", "/api/0/organizations/acme/events-trace/ffffffffffffffffffffffffffffffff/", nil); res.status != 404 {
			t.Errorf("unknown trace: %d %s", res.status, res.body)
		}
		// Restricted to web, the trace stops at web's spans.
		res = owner.do("GET", "/api/0/organizations/acme/events-trace/"+d.trace+"/?project=web", nil)
		if res.status != 200 || strings.Contains(string(res.body), "POST /charge") {
			t.Errorf("trace of web only: %d %s", res.status, res.body)
		}
	})

	t.Run("other organisations", func(t *testing.T) {
		// An acme caller naming rival's project: refused, by id or slug.
		for _, p := range []string{fmt.Sprint(f.otherProj.ID), "secret", "999999"} {
			res := owner.do("GET", eventsURL("field", "count()", "project", p), nil)
			if res.status != http.StatusForbidden {
				t.Errorf("project=%s: %d %s, want 403", p, res.status, res.body)
			}
		}
		// Rival's owner on acme's routes: 404, nothing of acme.
		rival := e.session(f.users["other"])
		for _, u := range []string{eventsURL("field", "count()"), "/api/0/organizations/acme/events-stats/",
			"/api/0/organizations/acme/events-trace/" + d.trace + "/"} {
			if res := rival.do("GET", u, nil); res.status != http.StatusNotFound || strings.Contains(string(res.body), "checkout") {
				t.Errorf("rival on %s: %d %s", u, res.status, res.body)
			}
		}
		// Rival's own organisation sees only its rows.
		rows, _ := rowsOf(t, rival.do("GET", "/api/0/organizations/rival/events/?field=transaction&field=count()&sort=-count()", nil))
		if got := summary(rows, "transaction"); got != "GET /checkout=5 SECRET /rival=1" {
			t.Errorf("rival's own: %s", got)
		}
	})

	t.Run("project-restricted token", func(t *testing.T) {
		_, tok, err := e.store.CreateToken(context.Background(), accounts.NewToken{UserID: f.users["member"].ID, Scopes: []string{"read"},
			OrgID: f.acme.ID, ProjectID: f.project.ID})
		if err != nil {
			t.Fatal(err)
		}
		c := e.withToken(tok)
		rows, _ := rowsOf(t, c.do("GET", eventsURL("field", "transaction", "field", "count()", "sort", "-count()"), nil))
		if got := summary(rows, "transaction"); got != "GET /checkout=4 GET /home=2" {
			t.Errorf("web token sees %s, want web's only", got)
		}
		if res := c.do("GET", eventsURL("field", "count()", "project", fmt.Sprint(d.api.ID)), nil); res.status != http.StatusForbidden {
			t.Errorf("web token naming api: %d %s", res.status, res.body)
		}
		res := c.do("GET", "/api/0/organizations/acme/events-trace/"+d.trace+"/", nil)
		if res.status != 200 || strings.Contains(string(res.body), "POST /charge") {
			t.Errorf("web token's trace: %d %s", res.status, res.body)
		}
		res = c.do("GET", "/api/0/organizations/acme/events-stats/?yAxis=count()&statsPeriod=24h", nil)
		if res.status != 200 || strings.Contains(string(res.body), `"count":9`) {
			t.Errorf("web token's stats: %d %s", res.status, res.body)
		}
		// Still one project only on the organisation's other routes.
		if res := c.do("GET", "/api/0/organizations/acme/members/", nil); res.status != http.StatusForbidden {
			t.Errorf("web token on members: %d", res.status)
		}
	})

	t.Run("every role reads", func(t *testing.T) {
		for _, role := range accounts.Roles {
			c := e.session(f.users[role])
			for _, u := range []string{eventsURL("field", "count()"), "/api/0/organizations/acme/events-stats/",
				"/api/0/organizations/acme/events-trace/" + d.trace + "/"} {
				if res := c.do("GET", u, nil); res.status != 200 {
					t.Errorf("%s GET %s: %d %s", role, u, res.status, res.body)
				}
			}
		}
	})
}

// TestDiscoverWithoutClickHouse: without CLICKHOUSE_URL the analytics
// routes answer 503 saying what they need; configured but not connected,
// 503 with Retry-After. Either way after authorisation: strangers still get
// 404.
func TestDiscoverWithoutClickHouse(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	owner := e.session(f.users["owner"])
	paths := []string{eventsURL("field", "count()"), "/api/0/organizations/acme/events-stats/",
		"/api/0/organizations/acme/events-trace/4bf92f3577b34da6a3ce929d0e0e4736/"}
	for _, u := range paths {
		res := owner.do("GET", u, nil)
		if res.status != http.StatusServiceUnavailable || !strings.Contains(string(res.body), "CLICKHOUSE_URL") {
			t.Errorf("GET %s: %d %s, want 503 naming CLICKHOUSE_URL", u, res.status, res.body)
		}
		if res := e.session(f.users["other"]).do("GET", u, nil); res.status != http.StatusNotFound {
			t.Errorf("stranger GET %s: %d", u, res.status)
		}
	}
	e.api.ExpectAnalytics()
	for _, u := range paths {
		res := owner.do("GET", u, nil)
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" || !strings.Contains(string(res.body), "not reachable") {
			t.Errorf("GET %s: %d %s, want 503 not reachable with Retry-After", u, res.status, res.body)
		}
	}
	// Connected, but the analytics role has not created its tables yet.
	c, err := clickhouse.Open(context.Background(), chtest.NewDatabaseT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e.api.SetAnalytics(c)
	res := owner.do("GET", paths[0], nil)
	if res.status != http.StatusServiceUnavailable || !strings.Contains(string(res.body), "analytics role") {
		t.Errorf("no tables: %d %s, want 503 naming the analytics role", res.status, res.body)
	}
}
