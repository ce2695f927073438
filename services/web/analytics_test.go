package web_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/services/web"
)

const xssTransaction = "<script>alert(1)</script>"

// perfFixture is acme's web and api projects and globex's shop, with
// transactions sent by sentry-go through the gateway: a trace that starts
// in web's checkout, goes through a db span (where an error is captured)
// into api's charge, and that globex's shop claims a span of.
type perfFixture struct {
	a              *analyticsEnv
	owner, viewer  *browser
	globex         *browser
	web, api, shop *accounts.Project
	trace          string
	dbSpan         string
	issueID        int64
	errorEventID   string
}

func newPerfFixture(t *testing.T) *perfFixture {
	e := newEnv(t)
	owner := e.user("owner@acme.test", false)
	viewer := e.user("viewer@acme.test", false)
	other := e.user("owner@globex.test", false)
	members := map[*accounts.User]string{owner: "owner", viewer: "viewer"}
	f := &perfFixture{web: e.project("acme", "web", members), api: e.project("acme", "api", members),
		shop: e.project("globex", "shop", map[*accounts.User]string{other: "owner"})}
	a := e.withAnalytics()
	f.a = a

	webHub, webCtx := a.hub(f.web, "web@1.0")
	apiHub, apiCtx := a.hub(f.api, "api@2.0")
	shopHub, shopCtx := a.hub(f.shop, "shop@9")
	// Every transaction in one half-hour bucket, within the last hour.
	t0 := time.Now().Add(-30 * time.Minute).Truncate(30 * time.Minute).Add(10 * time.Second)

	// web's checkout: 100, 200, 300 and 400 ms, the slowest failing and
	// traced through a db span into api's charge.
	for i, ms := range []int{100, 200, 300} {
		transaction(webCtx, "GET /checkout", t0.Add(time.Duration(i)*time.Second), time.Duration(ms)*time.Millisecond, 0).Finish()
	}
	tx := transaction(webCtx, "GET /checkout", t0, 400*time.Millisecond, sentry.SpanStatusInternalError)
	f.trace = tx.TraceID.String()
	db := tx.StartChild("db.sql", sentry.WithDescription("SELECT * FROM carts"))
	db.StartTime, db.EndTime = t0.Add(100*time.Millisecond), t0.Add(350*time.Millisecond)
	f.dbSpan = db.SpanID.String()
	if id := webHub.CaptureException(errors.New("card declined")); id != nil {
		f.errorEventID = string(*id)
	}
	charge := transaction(apiCtx, "POST /charge", t0.Add(150*time.Millisecond), 150*time.Millisecond, 0,
		sentry.ContinueFromHeaders(db.ToSentryTrace(), ""))
	charge.Finish()
	// globex claims a place in acme's trace: never shown to acme.
	transaction(shopCtx, "SECRET /globex", t0.Add(200*time.Millisecond), 10*time.Millisecond, 0,
		sentry.ContinueFromHeaders(db.ToSentryTrace(), "")).Finish()
	db.Finish()
	tx.Finish()

	// The same name in api, once, slower; a hostile name in web; globex's
	// own checkouts.
	transaction(apiCtx, "GET /checkout", t0.Add(5*time.Second), time.Second, 0).Finish()
	transaction(webCtx, xssTransaction, t0.Add(6*time.Second), 50*time.Millisecond, 0).Finish()
	for i := range 5 {
		transaction(shopCtx, "GET /checkout", t0.Add(time.Duration(i)*time.Second), 999*time.Millisecond, 0).Finish()
	}
	flush(t, webHub, apiHub, shopHub)
	if f.errorEventID == "" || charge.TraceID.String() != f.trace {
		t.Fatalf("error %q, charge's trace %s, want %s", f.errorEventID, charge.TraceID, f.trace)
	}
	issues := e.waitEvents(f.web.ID, 1)
	for _, id := range issues {
		f.issueID = id
	}
	a.waitAnalytics(13, 1)
	f.owner, f.viewer, f.globex = e.signIn("owner@acme.test"), e.signIn("viewer@acme.test"), e.signIn("owner@globex.test")
	return f
}

func perfURL(params ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Add(params[i], params[i+1])
	}
	return "/organizations/acme/performance/?" + v.Encode()
}

func summaryPath(params ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Add(params[i], params[i+1])
	}
	return "/organizations/acme/performance/summary/?" + v.Encode()
}

func discoverPath(params ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		v.Add(params[i], params[i+1])
	}
	return "/organizations/acme/discover/results/?" + v.Encode()
}

// ok fails unless p is 200, and returns its body.
func ok(t *testing.T, path string, p page) string {
	t.Helper()
	if p.status != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, p.status, p.body)
	}
	return p.body
}

// TestPerformancePages: the performance page, the transaction summary, the
// trace waterfall and the query page show what sentry-go sent through the
// gateway and the analytics role wrote, for the organisation's projects
// only, escaped, under the dashboard's CSP.
func TestPerformancePages(t *testing.T) {
	f := newPerfFixture(t)
	traceURL := "/organizations/acme/performance/trace/" + f.trace + "/"

	t.Run("usage stats", func(t *testing.T) {
		// acme's seven transactions and one error, accepted; none of
		// globex's. Outcome rows may land a batch after the events.
		var rows [][]string
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			path := "/organizations/acme/stats/?statsPeriod=24h"
			rows = tableRows(t, ok(t, path, f.owner.get(path)), "usage")
			got := map[string]string{}
			for _, r := range rows {
				got[r[0]] = r[1] // Category, Accepted, …
			}
			if got["error"] == "1" && got["transaction"] == "7" || time.Now().After(deadline) {
				break
			}
		}
		want := map[string]string{"error": "1 0 0 0 0 1", "transaction": "7 0 0 0 0 7"}
		for _, r := range rows {
			if w, ok := want[r[0]]; ok && strings.Join(r[1:], " ") != w {
				t.Errorf("usage row %q, want %s %s", r, r[0], w)
			}
			delete(want, r[0])
		}
		if len(want) > 0 {
			t.Errorf("usage rows %q miss %v", rows, want)
		}
		if pg := f.globex.get("/organizations/acme/stats/"); pg.status != http.StatusNotFound {
			t.Errorf("globex's owner on acme's stats: %d", pg.status)
		}
		path := "/organizations/globex/stats/?statsPeriod=24h"
		for _, r := range tableRows(t, ok(t, path, f.globex.get(path)), "usage") {
			if r[0] == "error" {
				t.Errorf("globex's stats count acme's error: %q", r)
			}
		}
	})

	t.Run("performance", func(t *testing.T) {
		path := perfURL()
		body := ok(t, path, f.owner.get(path))
		rows := tableRows(t, body, "transactions")
		// Transaction, Project, TPM, p50, p95, Failure rate, Count; by throughput.
		want := [][]string{
			{"GET /checkout", "web", "0.0028", "250 ms", "385 ms", "25%", "4"},
		}
		if len(rows) != 4 || fmt.Sprint(rows[0]) != fmt.Sprint(want[0]) {
			t.Fatalf("rows %q, want 4 with first %q", rows, want[0])
		}
		rest := map[string]string{}
		for _, r := range rows[1:] {
			rest[r[0]+" "+r[1]] = r[3] + " " + r[6]
		}
		if rest["GET /checkout api"] != "1.00 s 1" || rest["POST /charge api"] != "150 ms 1" || rest[xssTransaction+" web"] != "50 ms 1" {
			t.Errorf("other rows %q", rows[1:])
		}
		if strings.Contains(body, "SECRET") || strings.Contains(body, "999") {
			t.Error("globex's transactions on acme's page")
		}
		totals := stats(t, body, "perf-totals")
		if totals["Transactions"] != "7" || totals["Failure rate"] != "14%" {
			t.Errorf("totals %v, want 7 transactions, 1 of them failed", totals)
		}
		// Each row links to its summary; the hostile name is text.
		if !strings.Contains(body, `href="/organizations/acme/performance/summary/?project=web&amp;transaction=GET&#43;%2Fcheckout"`) {
			t.Errorf("no link to checkout's summary in\n%s", body)
		}
		if strings.Contains(body, xssTransaction) || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Error("the transaction name is not escaped")
		}
		// Two charts over the period: 48 half-hour bars each (49 when the
		// period starts mid-bucket), throughput with a peak.
		for _, label := range []string{`aria-label="Transactions per minute: peak `, `aria-label="p95 duration: peak 820 ms"`} {
			if !strings.Contains(body, label) {
				t.Errorf("no chart %s", label)
			}
		}
		if n := strings.Count(body, "<rect "); n < 2*48 || n > 2*49 {
			t.Errorf("%d bars, want 48 or 49 per chart", n)
		}

		// One project: only its rows.
		path = perfURL("project", "api", "statsPeriod", "7d", "sort", "p95")
		rows = tableRows(t, ok(t, path, f.owner.get(path)), "transactions")
		if len(rows) != 2 || rows[0][0] != "GET /checkout" || rows[1][0] != "POST /charge" {
			t.Errorf("api by p95: %q", rows)
		}
	})

	t.Run("summary", func(t *testing.T) {
		path := summaryPath("project", "web", "transaction", "GET /checkout")
		body := ok(t, path, f.owner.get(path))
		s := stats(t, body, "summary-totals")
		if s["Transactions"] != "4" || s["p50"] != "250 ms" || s["p95"] != "385 ms" || s["p99"] != "397 ms" || s["Failure rate"] != "25%" || s["Average"] != "250 ms" {
			t.Errorf("web checkout: %v", s)
		}
		slow := tableRows(t, body, "slowest")
		if len(slow) != 4 || slow[0][2] != "400 ms" || slow[0][3] != "internal_error" || slow[3][2] != "100 ms" {
			t.Errorf("slowest %q", slow)
		}
		if !strings.Contains(body, `href="`+traceURL+`"`) {
			t.Error("the slowest event does not link to its trace")
		}
		if !strings.Contains(body, `aria-label="Duration percentiles: peak 397 ms"`) || !strings.Contains(body, "<polyline") {
			t.Error("no percentile chart")
		}
		// All projects: web's four and api's one.
		path = summaryPath("transaction", "GET /checkout")
		if s := stats(t, ok(t, path, f.owner.get(path)), "summary-totals"); s["Transactions"] != "5" {
			t.Errorf("all projects: %v", s)
		}
		// The hostile name, escaped in the title too.
		path = summaryPath("project", "web", "transaction", xssTransaction)
		body = ok(t, path, f.owner.get(path))
		if strings.Contains(body, xssTransaction) || !strings.Contains(body, "<h1>Transaction &lt;script&gt;") {
			t.Error("summary of the hostile name is not escaped")
		}
		if s := stats(t, body, "summary-totals"); s["Transactions"] != "1" {
			t.Errorf("hostile name: %v", s)
		}
		// No name: 400 saying so, not 500.
		path = summaryPath("project", "web")
		if p := f.owner.get(path); p.status != http.StatusBadRequest || !strings.Contains(p.body, "name the transaction") {
			t.Errorf("no transaction: %d", p.status)
		}
	})

	t.Run("trace", func(t *testing.T) {
		body := ok(t, traceURL, f.owner.get(traceURL))
		if strings.Contains(body, "SECRET") {
			t.Error("globex's span in acme's trace")
		}
		names := regexp.MustCompile(`class="wf-name">([^<]*)<`).FindAllStringSubmatch(body, -1)
		var got []string
		for _, m := range names {
			got = append(got, m[1])
		}
		if strings.Join(got, ", ") != "GET /checkout, db.sql, POST /charge" {
			t.Fatalf("waterfall rows %q", got)
		}
		// Nested by parent, placed on the 400 ms axis: db from 100 to 350 ms.
		for _, want := range []string{`wf-label d0`, `wf-label d1`, `wf-label d2`, `<rect x="250" y="1" width="625" height="8">`,
			`<rect x="375" y="1" width="375" height="8">`, "SELECT * FROM carts"} {
			if !strings.Contains(body, want) {
				t.Errorf("waterfall lacks %s", want)
			}
		}
		errLink := fmt.Sprintf(`href="/organizations/acme/issues/%d/events/%s/"`, f.issueID, f.errorEventID)
		if !strings.Contains(body, errLink) || !strings.Contains(body, "card declined") {
			t.Errorf("the db span's error does not link to %s", errLink)
		}
		facts := stats(t, body, "trace-facts")
		if facts["Duration"] != "400 ms" || facts["Transactions"] != "2" || facts["Errors"] != "1" || facts["Projects"] != "api, web" {
			t.Errorf("facts %v", facts)
		}
		// The issue's event links back to the trace.
		issue := fmt.Sprintf("/organizations/acme/issues/%d/", f.issueID)
		if b := ok(t, issue, f.owner.get(issue)); !strings.Contains(b, `href="`+traceURL+`"`) {
			t.Error("the issue page does not link to the event's trace")
		}
		// web only: the trace stops at web's spans.
		body = ok(t, traceURL+"?project=web", f.owner.get(traceURL+"?project=web"))
		if strings.Contains(body, "POST /charge") || !strings.Contains(body, "db.sql") {
			t.Error("the trace of web shows another project's span")
		}
		for path, status := range map[string]int{
			"/organizations/acme/performance/trace/ffffffffffffffffffffffffffffffff/": http.StatusNotFound,
			"/organizations/acme/performance/trace/not-a-trace/":                      http.StatusBadRequest,
		} {
			if p := f.owner.get(path); p.status != status {
				t.Errorf("GET %s: %d, want %d", path, p.status, status)
			}
		}
	})

	t.Run("discover", func(t *testing.T) {
		path := "/organizations/acme/discover/results/"
		body := ok(t, path, f.owner.get(path))
		rows := tableRows(t, body, "results")
		if len(rows) != 3 || fmt.Sprint(rows[0]) != "[GET /checkout 5 880 ms 20%]" {
			t.Errorf("default query: %q", rows)
		}
		if !strings.Contains(body, `aria-label="count() per 30 minutes: peak 7"`) {
			t.Errorf("no count chart")
		}
		path = discoverPath("fields", "transaction, release, count()", "query", "release:api@2.0", "sort", "-count()", "project", "api")
		rows = tableRows(t, ok(t, path, f.owner.get(path)), "results")
		if len(rows) != 2 || rows[0][1] != "api@2.0" {
			t.Errorf("api's releases: %q", rows)
		}
		path = discoverPath("field", "trace", "field", "transaction.duration", "query", `transaction:"GET /checkout" transaction.status:internal_error`)
		body = ok(t, path, f.owner.get(path))
		if rows := tableRows(t, body, "results"); len(rows) != 1 || rows[0][1] != "400 ms" || !strings.Contains(body, `href="`+traceURL+`"`) {
			t.Errorf("failed checkouts: %q", rows)
		}
		path = discoverPath("dataset", "errors", "fields", "title, issue.id, count()")
		body = ok(t, path, f.owner.get(path))
		if rows := tableRows(t, body, "results"); len(rows) != 1 || !strings.Contains(rows[0][0], "card declined") ||
			!strings.Contains(body, fmt.Sprintf(`href="/organizations/acme/issues/%d/"`, f.issueID)) {
			t.Errorf("errors: %q", rows)
		}
		// Pages of rows: the next page's link keeps the query.
		path = discoverPath("fields", "transaction, count()", "sort", "-count()", "per_page", "2")
		body = ok(t, path, f.owner.get(path))
		next := "/organizations/acme/discover/results/?" + url.Values{"fields": {"transaction, count()"}, "sort": {"-count()"},
			"per_page": {"2"}, "cursor": {"2"}}.Encode()
		if rows := tableRows(t, body, "results"); len(rows) != 2 || rows[0][1] != "5" || !strings.Contains(body, `href="`+strings.NewReplacer("&", "&amp;", "+", "&#43;").Replace(next)+`" rel="next"`) {
			t.Fatalf("first page: %q, want a link to %s", rows, next)
		}
		body = ok(t, next, f.owner.get(next))
		if rows := tableRows(t, body, "results"); len(rows) != 1 || strings.Contains(body, `rel="next"`) || !strings.Contains(body, `rel="prev"`) ||
			!strings.Contains(body, "Rows 3 to 3") {
			t.Errorf("second page: %q", rows)
		}
		// Bad input: 400 with the reason on the page, the form kept.
		for params, want := range map[string]string{
			"fields=password":                    "unknown field &#34;password&#34;",
			"fields=count()&sort=-p95()":         "sort by one of the fields",
			"fields=count()&query=secret:x":      "unknown search key",
			"fields=count()&query=release:%22x":  "unbalanced quotes",
			"fields=p95()&dataset=errors":        "unknown field",
			"fields=count()&dataset=spans":       "choose transactions or errors",
			"fields=count()&statsPeriod=forever": "choose one of 1h",
			"fields=":                            "name at least one",
			"fields=count()&cursor=-1":           "cursor: want a row number",
			"fields=count()&per_page=1000":       "per_page: want 1 to 100",
		} {
			p := f.owner.get("/organizations/acme/discover/results/?" + params)
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, want) || !strings.Contains(p.body, `id="fields"`) {
				t.Errorf("%s: %d, want 400 saying %s", params, p.status, want)
			}
		}
	})

	t.Run("access", func(t *testing.T) {
		paths := []string{perfURL(), summaryPath("transaction", "GET /checkout"), traceURL, "/organizations/acme/discover/results/"}
		for _, path := range paths {
			// A viewer reads; CSP on every page, no inline script or style.
			p := f.viewer.get(path)
			if p.status != http.StatusOK || p.header.Get("Content-Security-Policy") != web.ContentSecurityPolicy ||
				strings.Contains(p.body, " style=") || strings.Contains(p.body, "<script>") {
				t.Errorf("viewer GET %s: %d, CSP %q", path, p.status, p.header.Get("Content-Security-Policy"))
			}
			for _, problem := range checkAccessibility(p.body) {
				t.Errorf("%s: %s", path, problem)
			}
			// Another organisation's member: 404, nothing of acme.
			if p := f.globex.get(path); p.status != http.StatusNotFound || strings.Contains(p.body, "checkout") {
				t.Errorf("globex GET %s: %d", path, p.status)
			}
			// Signed out: to the sign-in page.
			if p := f.a.anonymous().get(path); p.status != http.StatusSeeOther {
				t.Errorf("anonymous GET %s: %d", path, p.status)
			}
		}
		// An acme member naming globex's project: 404 on every page.
		for _, path := range []string{perfURL("project", "shop"), summaryPath("project", "shop", "transaction", "GET /checkout"),
			traceURL + "?project=shop", discoverPath("project", "shop"), perfURL("project", fmt.Sprint(f.shop.ID))} {
			if p := f.owner.get(path); p.status != http.StatusNotFound || strings.Contains(p.body, "999") {
				t.Errorf("GET %s: %d, want 404", path, p.status)
			}
		}
		// globex's own pages show globex's rows only, and its trace only its span.
		p := f.globex.get("/organizations/globex/performance/")
		if rows := tableRows(t, p.body, "transactions"); len(rows) != 2 || rows[0][0] != "GET /checkout" || rows[0][6] != "5" {
			t.Errorf("globex's performance: %q", rows)
		}
		p = f.globex.get("/organizations/globex/performance/trace/" + f.trace + "/")
		if p.status != http.StatusOK || strings.Contains(p.body, "GET /checkout") || !strings.Contains(p.body, "SECRET /globex") {
			t.Errorf("globex's view of the trace: %d", p.status)
		}
		// The header links to the sections.
		if b := f.owner.get("/organizations/acme/issues/?project=web").body; !strings.Contains(b, `href="/organizations/acme/performance/"`) ||
			!strings.Contains(b, `href="/organizations/acme/discover/results/"`) {
			t.Error("the issue list's header does not link to Performance and Discover")
		}
	})
}

// TestAnalyticsPagesWithoutClickHouse: without CLICKHOUSE_URL the pages
// exist and say analytics is not configured, and an event's trace is not
// linked; configured but not connected, they say it is not reachable.
func TestAnalyticsPagesWithoutClickHouse(t *testing.T) {
	e := newEnv(t)
	owner := e.user("owner@acme.test", false)
	stranger := e.user("owner@globex.test", false)
	p := e.project("acme", "web", map[*accounts.User]string{owner: "owner"})
	e.project("globex", "shop", map[*accounts.User]string{stranger: "owner"})
	ev := messageEvent("traced failure", "error", "1.0")
	ev["contexts"] = map[string]any{"trace": map[string]any{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "a000000000000001"}}
	e.send(p.ID, ev)
	issue := e.waitEvents(p.ID, 1)["traced failure"]
	b, sb := e.signIn("owner@acme.test"), e.signIn("owner@globex.test")
	paths := []string{perfURL(), summaryPath("transaction", "GET /x"), "/organizations/acme/performance/trace/4bf92f3577b34da6a3ce929d0e0e4736/",
		"/organizations/acme/discover/results/", "/organizations/acme/stats/"}
	for _, path := range paths {
		pg := b.get(path)
		if pg.status != http.StatusOK || !strings.Contains(pg.body, "Analytics is not configured") || !strings.Contains(pg.body, "CLICKHOUSE_URL") {
			t.Errorf("GET %s: %d, want 200 saying analytics is not configured\n%s", path, pg.status, pg.body)
		}
		if pg := sb.get(path); pg.status != http.StatusNotFound {
			t.Errorf("stranger GET %s: %d", path, pg.status)
		}
	}
	issuePath := fmt.Sprintf("/organizations/acme/issues/%d/", issue)
	if body := b.get(issuePath).body; strings.Contains(body, "/performance/trace/") {
		t.Error("the issue page links to a trace without analytics")
	}
	e.dash.ExpectAnalytics()
	for _, path := range paths {
		pg := b.get(path)
		if pg.status != http.StatusServiceUnavailable || !strings.Contains(pg.body, "not reachable") || pg.header.Get("Retry-After") == "" {
			t.Errorf("GET %s: %d, want 503 not reachable", path, pg.status)
		}
	}
	if body := b.get(issuePath).body; !strings.Contains(body, `href="/organizations/acme/performance/trace/4bf92f3577b34da6a3ce929d0e0e4736/"`) {
		t.Error("with analytics configured, the issue page does not link to the event's trace")
	}
}
