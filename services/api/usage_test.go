package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/inboundfilter"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/services/gateway"
	"github.com/faultline/faultline/streams"
)

// The usage and release health routes: any member reads them; they need
// ClickHouse, so the authorisation walk sees 503 once let through.
func init() {
	const org = "/api/0/organizations/{org}/"
	for _, route := range []string{"GET " + org + "stats_v2/", "GET " + org + "sessions/"} {
		wantNeed[route] = "viewer"
		analyticsRoutes[route] = true
	}
}

// startGateway runs a real gateway on e's JetStream with keys for the
// given projects (key "k<project id>", an hourly quota of limit events),
// behind a test HTTP server; it returns the gateway and its URL.
func (e *restEnv) startGateway(limit int64, filters *inboundfilter.Settings, projects ...int64) (*gateway.Gateway, string) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	kv, err := e.nc.JS.KeyValue(ctx, streams.KeysBucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range projects {
		if err := projectkeys.Put(ctx, kv, projectkeys.Key{PublicKey: fmt.Sprint("k", p), ProjectID: p, RateLimitPerHour: limit, Filters: filters}); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	opt := gateway.OptionsFrom(cfg)
	opt.OutcomeInterval = time.Hour // flushed by the test
	runCtx, stop := context.WithCancel(ctx)
	g, err := gateway.New(runCtx, opt, e.nc, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	select {
	case <-g.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("gateway not ready")
	}
	r := chi.NewRouter()
	g.Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return g, srv.URL
}

// sendEnvelope posts an envelope to the gateway with project's key.
func sendEnvelope(t *testing.T, base string, project int64, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/%d/envelope/", base, project), strings.NewReader(body))
	req.Header.Set("X-Sentry-Auth", fmt.Sprintf("Sentry sentry_version=7, sentry_key=k%d", project))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func eventEnvelope(payload string) string {
	id := newID()
	p := strings.Replace(payload, "{", `{"event_id":"`+id+`",`, 1)
	return fmt.Sprintf("{\"event_id\":%q}\n{\"type\":\"event\",\"length\":%d}\n%s\n", id, len(p), p)
}

// usage decodes a stats_v2 answer into "by=total" lines, sorted, after
// checking its shape.
func usage(t *testing.T, res response, field string) string {
	t.Helper()
	if res.status != 200 {
		t.Fatalf("%d %s", res.status, res.body)
	}
	var u struct {
		Start, End string
		Intervals  []string
		Groups     []struct {
			By     map[string]any
			Totals map[string]uint64
			Series map[string][]uint64
		}
	}
	res.json(t, &u)
	if _, err := time.Parse(time.RFC3339, u.Start); err != nil || !strings.HasSuffix(u.Start, ":00:00Z") || len(u.Intervals) < 24 {
		t.Fatalf("not stats_v2's shape: %s", res.body)
	}
	var lines []string
	for _, g := range u.Groups {
		var sum uint64
		for _, v := range g.Series[field] {
			sum += v
		}
		if sum != g.Totals[field] || len(g.Series[field]) != len(u.Intervals) {
			t.Errorf("group %v: series adds up to %d, totals say %d", g.By, sum, g.Totals[field])
		}
		var by []string
		for k, v := range g.By {
			by = append(by, fmt.Sprintf("%s:%v", k, v))
		}
		sort.Strings(by)
		lines = append(lines, fmt.Sprintf("%s=%d", strings.Join(by, ","), g.Totals[field]))
	}
	sort.Strings(lines)
	return strings.Join(lines, " ")
}

// TestUsageStats: what a real gateway accepted, filtered, rate-limited and
// refused, and what an SDK's client report says it discarded, reaches
// stats_v2 through the analytics role, per outcome, category, reason and
// project, for the caller's projects only.
func TestUsageStats(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	a := e.startAnalytics()
	apiProj, err := e.store.CreateTeamProject(context.Background(), f.team, "Payments API", "api", "go")
	if err != nil {
		t.Fatal(err)
	}
	web, pay, rival := f.project.ID, apiProj.ID, f.otherProj.ID
	awayFromHourEnd()
	g, base := e.startGateway(3, &inboundfilter.Settings{Releases: []string{"*-dev"}}, web, pay, rival)
	send := func(project int64, body string, want int) {
		t.Helper()
		if got := sendEnvelope(t, base, project, body); got != want {
			t.Fatalf("project %d: status %d, want %d", project, got, want)
		}
	}
	send(web, eventEnvelope(`{"message":"dev","release":"web@1-dev"}`), 200) // filtered: costs no quota
	for i := range 4 {
		send(web, eventEnvelope(`{"message":"ok"}`), map[bool]int{true: 429, false: 200}[i == 3])
	}
	send(web, "not an envelope", 400)
	report := `{"timestamp":` + fmt.Sprint(time.Now().Unix()) + `,"discarded_events":[{"reason":"queue_overflow","category":"error","quantity":4}]}`
	send(web, fmt.Sprintf("{}\n{\"type\":\"client_report\",\"length\":%d}\n%s\n", len(report), report), 200)
	send(pay, eventEnvelope(`{"message":"ok"}`), 200)
	for range 2 {
		send(rival, eventEnvelope(`{"message":"ok"}`), 200)
	}
	if err := g.FlushOutcomes(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.waitIdle()
	owner := e.session(f.users["owner"])
	stats := func(c *client, org string, params ...string) string {
		t.Helper()
		v := url.Values{"field": {"sum(quantity)"}, "statsPeriod": {"24h"}, "interval": {"1h"}}
		for i := 0; i+1 < len(params); i += 2 {
			v.Add(params[i], params[i+1])
		}
		return usage(t, c.do("GET", "/api/0/organizations/"+org+"/stats_v2/?"+v.Encode(), nil), "sum(quantity)")
	}
	for name, tc := range map[string]struct {
		params []string
		want   string
	}{
		"by outcome": {[]string{"groupBy", "outcome", "category", "error"},
			"outcome:accepted=4 outcome:client_discard=4 outcome:filtered=1 outcome:invalid=1 outcome:rate_limited=1"},
		"by reason": {[]string{"groupBy", "outcome", "groupBy", "reason", "outcome", "filtered", "outcome", "rate_limited", "outcome", "client_discard"},
			"outcome:client_discard,reason:queue_overflow=4 outcome:filtered,reason:release-version=1 outcome:rate_limited,reason:key_quota=1"},
		"by project":  {[]string{"groupBy", "project", "outcome", "accepted"}, fmt.Sprintf("project:%d=3 project:%d=1", web, pay)},
		"one project": {[]string{"groupBy", "category", "outcome", "accepted", "project", fmt.Sprint(pay)}, "category:error=1"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := stats(owner, "acme", tc.params...); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	t.Run("times seen", func(t *testing.T) {
		res := owner.do("GET", "/api/0/organizations/acme/stats_v2/?field=sum(times_seen)&groupBy=outcome&outcome=invalid&statsPeriod=24h", nil)
		if got := usage(t, res, "sum(times_seen)"); got != "outcome:invalid=1" {
			t.Errorf("got %s", got)
		}
	})
	t.Run("who sees what", func(t *testing.T) {
		_, tok, err := e.store.CreateToken(context.Background(), accounts.NewToken{UserID: f.users["member"].ID, Scopes: []string{"read"},
			OrgID: f.acme.ID, ProjectID: web})
		if err != nil {
			t.Fatal(err)
		}
		c := e.withToken(tok)
		if got := stats(c, "acme", "groupBy", "project", "outcome", "accepted"); got != fmt.Sprintf("project:%d=3", web) {
			t.Errorf("web token: %s", got)
		}
		if res := c.do("GET", "/api/0/organizations/acme/stats_v2/?field=sum(quantity)&project="+fmt.Sprint(pay), nil); res.status != http.StatusForbidden {
			t.Errorf("web token naming api: %d %s", res.status, res.body)
		}
		if res := owner.do("GET", "/api/0/organizations/acme/stats_v2/?field=sum(quantity)&project="+fmt.Sprint(rival), nil); res.status != http.StatusForbidden {
			t.Errorf("acme naming rival's project: %d %s", res.status, res.body)
		}
		other := e.session(f.users["other"])
		if res := other.do("GET", "/api/0/organizations/acme/stats_v2/?field=sum(quantity)", nil); res.status != http.StatusNotFound {
			t.Errorf("rival on acme: %d %s", res.status, res.body)
		}
		if got := stats(other, "rival", "groupBy", "outcome"); got != "outcome:accepted=2" {
			t.Errorf("rival's own: %s", got)
		}
	})
	t.Run("bad input is 400 naming it", func(t *testing.T) {
		for u, want := range map[string]string{
			"?groupBy=outcome":                                 "field",
			"?field=sum(bytes)":                                "field",
			"?field=sum(quantity)&groupBy=user":                "groupBy",
			"?field=sum(quantity)&interval=30m":                "interval",
			"?field=sum(quantity)&category=bogus":              "category",
			"?field=sum(quantity)&outcome=lost":                "outcome",
			"?field=sum(quantity)&statsPeriod=1y":              "statsPeriod",
			"?field=sum(quantity)&statsPeriod=24h&interval=1s": "interval",
		} {
			res := owner.do("GET", "/api/0/organizations/acme/stats_v2/"+u, nil)
			if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), want) {
				t.Errorf("GET %s: %d %s, want 400 naming %s", u, res.status, res.body, want)
			}
		}
	})
}

// awayFromHourEnd waits out the last seconds of an hour, so the gateway's
// hourly quota and outcome buckets do not turn over during a test.
func awayFromHourEnd() {
	if left := time.Until(time.Now().Truncate(time.Hour).Add(time.Hour)); left < 20*time.Second {
		time.Sleep(left + time.Second)
	}
}

// sessionEnvelope is a session update item.
func sessionEnvelope(sid, did, status string, errors, seq int, started time.Time, release string) []byte {
	p := fmt.Sprintf(`{"sid":%q,"did":%q,"init":%t,"started":%q,"timestamp":%q,"status":%q,"errors":%d,"seq":%d,"attrs":{"release":%q,"environment":"prod"}}`,
		sid, did, seq == 0, started.UTC().Format(time.RFC3339), started.Add(time.Duration(seq+1)*time.Second).UTC().Format(time.RFC3339Nano),
		status, errors, seq, release)
	return fmt.Appendf(nil, "{}\n{\"type\":\"session\",\"length\":%d}\n%s\n", len(p), p)
}

// TestReleaseHealth: the sessions route answers Sentry's release health
// from the session updates and aggregates the real analytics role stored:
// a session counts once whatever its updates, a user under their worst
// session, crash-free rates count crashes only; the caller's projects only.
func TestReleaseHealth(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	a := e.startAnalytics()
	web, rival := f.project.ID, f.otherProj.ID
	started := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, s := range []struct {
		sid, did, status string
		errors, seq      int
	}{
		{"s1", "u1", "ok", 0, 0}, {"s1", "u1", "exited", 0, 1}, {"s1", "u1", "exited", 0, 1}, // an update, and its redelivery
		{"s2", "u2", "ok", 1, 0}, {"s2", "u2", "exited", 1, 1},
		{"s3", "u2", "crashed", 1, 0},
		{"s4", "u3", "abnormal", 0, 0},
	} {
		a.publish(web, sessionEnvelope(s.sid, s.did, s.status, s.errors, s.seq, started, "r1"))
	}
	agg := fmt.Sprintf(`{"aggregates":[{"started":%q,"exited":5,"errored":2,"crashed":1}],"attrs":{"release":"r2","environment":"prod"}}`,
		started.Truncate(time.Minute).UTC().Format(time.RFC3339))
	a.publish(web, fmt.Appendf(nil, "{}\n{\"type\":\"sessions\",\"length\":%d}\n%s\n", len(agg), agg))
	a.publish(rival, sessionEnvelope("s9", "x", "crashed", 1, 0, started, "r1"))
	a.waitIdle()
	owner := e.session(f.users["owner"])

	type group struct {
		By     map[string]any
		Totals map[string]any
		Series map[string][]any
	}
	get := func(c *client, org string, params ...string) []group {
		t.Helper()
		v := url.Values{"statsPeriod": {"24h"}, "interval": {"1h"}}
		for i := 0; i+1 < len(params); i += 2 {
			v.Add(params[i], params[i+1])
		}
		res := c.do("GET", "/api/0/organizations/"+org+"/sessions/?"+v.Encode(), nil)
		if res.status != 200 {
			t.Fatalf("%v: %d %s", params, res.status, res.body)
		}
		var out struct {
			Start     string
			Intervals []string
			Groups    []group
		}
		res.json(t, &out)
		if len(out.Intervals) < 24 || !strings.HasSuffix(out.Start, ":00:00Z") {
			t.Fatalf("not the sessions shape: %s", res.body)
		}
		for _, g := range out.Groups {
			if s := g.Series["sum(session)"]; s != nil {
				sum := 0.0
				for _, x := range s {
					sum += x.(float64)
				}
				if sum != g.Totals["sum(session)"] || len(s) != len(out.Intervals) {
					t.Errorf("group %v: series adds up to %v, totals say %v", g.By, sum, g.Totals["sum(session)"])
				}
			}
		}
		return out.Groups
	}
	summary := func(gs []group, by string, fields ...string) string {
		var parts []string
		for _, g := range gs {
			var vals []string
			for _, f := range fields {
				vals = append(vals, fmt.Sprintf("%.4g", g.Totals[f]))
			}
			parts = append(parts, fmt.Sprintf("%v=%s", g.By[by], strings.Join(vals, "/")))
		}
		sort.Strings(parts)
		return strings.Join(parts, " ")
	}
	rates := []string{"sum(session)", "crash_free_rate(session)", "count_unique(user)", "crash_free_rate(user)"}
	t.Run("by release", func(t *testing.T) {
		gs := get(owner, "acme", "groupBy", "release", "field", rates[0], "field", rates[1], "field", rates[2], "field", rates[3])
		// r1: four sessions (s1 once), s3 crashed; users u1, u2 (crashed), u3.
		// r2: eight sessions of the aggregate, one crashed, no user ids.
		if got, want := summary(gs, "release", rates...), "r1=4/0.75/3/0.6667 r2=8/0.875/0/%!g(<nil>)"; got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	})
	t.Run("by status", func(t *testing.T) {
		gs := get(owner, "acme", "groupBy", "session.status", "field", "sum(session)", "field", "count_unique(user)", "query", "release:r1")
		if got, want := summary(gs, "session.status", "sum(session)", "count_unique(user)"), "abnormal=1/1 crashed=1/1 errored=1/0 healthy=1/1"; got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		gs = get(owner, "acme", "groupBy", "session.status", "field", "sum(session)", "query", "release:r2")
		if got, want := summary(gs, "session.status", "sum(session)"), "abnormal=0 crashed=1 errored=2 healthy=5"; got != want {
			t.Errorf("aggregates: got %s, want %s", got, want)
		}
	})
	t.Run("who sees what", func(t *testing.T) {
		gs := get(owner, "acme", "field", "sum(session)")
		if len(gs) != 1 || gs[0].Totals["sum(session)"] != 12.0 {
			t.Errorf("acme: %+v, want 12 sessions, rival's not counted", gs)
		}
		gs = get(e.session(f.users["other"]), "rival", "field", "sum(session)", "field", "crash_free_rate(session)")
		if len(gs) != 1 || gs[0].Totals["sum(session)"] != 1.0 || gs[0].Totals["crash_free_rate(session)"] != 0.0 {
			t.Errorf("rival's own: %+v", gs)
		}
		if res := owner.do("GET", "/api/0/organizations/acme/sessions/?field=sum(session)&project="+fmt.Sprint(rival), nil); res.status != http.StatusForbidden {
			t.Errorf("acme naming rival's project: %d", res.status)
		}
	})
	t.Run("releases list with health=1", func(t *testing.T) {
		if res := owner.do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": "r1", "projects": []string{"web"}}); res.status != 201 {
			t.Fatalf("create release: %d %s", res.status, res.body)
		}
		var rs []struct {
			Version  string
			Projects []struct {
				Slug       string
				HealthData *struct {
					CrashFreeSessions, CrashFreeUsers *float64
					TotalSessions, TotalUsers         uint64
					SessionsCrashed, SessionsErrored  uint64
					HasHealthData                     bool
				}
			}
		}
		owner.do("GET", "/api/0/organizations/acme/releases/?health=1", nil).json(t, &rs)
		if len(rs) != 1 || len(rs[0].Projects) != 1 || rs[0].Projects[0].HealthData == nil {
			t.Fatalf("releases: %+v", rs)
		}
		h := rs[0].Projects[0].HealthData
		if !h.HasHealthData || h.TotalSessions != 4 || h.SessionsCrashed != 1 || h.SessionsErrored != 1 || h.TotalUsers != 3 ||
			h.CrashFreeSessions == nil || *h.CrashFreeSessions != 75 || h.CrashFreeUsers == nil || *h.CrashFreeUsers < 66.6 || *h.CrashFreeUsers > 66.7 {
			t.Errorf("r1's health in web: %+v", h)
		}
		res := owner.do("GET", "/api/0/organizations/acme/releases/", nil)
		if res.status != 200 || strings.Contains(string(res.body), "healthData") {
			t.Error("healthData without health=1")
		}
	})
	t.Run("bad input is 400 naming it", func(t *testing.T) {
		for u, want := range map[string]string{
			"?groupBy=release":        "field",
			"?field=sum(transaction)": "sum(transaction)",
			"?field=crash_free_rate(session)&groupBy=session.status": "session.status",
			"?field=sum(session)&groupBy=user":                       "groupBy",
			"?field=sum(session)&query=user:x":                       "user",
			"?field=sum(session)&interval=10s":                       "interval",
			"?field=sum(session)&statsPeriod=90d&interval=1m":        "interval",
		} {
			res := owner.do("GET", "/api/0/organizations/acme/sessions/"+u, nil)
			if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), want) {
				t.Errorf("GET %s: %d %s, want 400 naming %s", u, res.status, res.body, want)
			}
		}
	})
}
