package dashboard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/e2e/harness"
	"github.com/faultline/faultline/libs/clickhouse/chtest"
)

// cspProbe records the page's Content-Security-Policy violations in
// window.__csp; DevTools runs it before the page's own scripts, in every
// document.
const cspProbe = `window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
});`

// watchCSP makes every document the browser opens record its CSP
// violations.
func (b *browser) watchCSP() {
	b.do("watch CSP violations", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe})
		return err
	}))
}

// noCSPViolations fails the test if the open document violated the CSP.
func (b *browser) noCSPViolations(what string) {
	b.t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string]("window.__csp || ['the CSP probe did not run']"))
	if err != nil {
		b.t.Fatalf("read CSP violations of %s: %v", what, err)
	}
	if len(got) > 0 {
		b.t.Errorf("%s violates the Content-Security-Policy: %q", what, got)
	}
}

func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf("(document.querySelector(%q) || {getAttribute: () => ''}).getAttribute(%q) || ''", sel, name)))
	if err != nil {
		b.t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return v
}

// reloadUntil opens url until sel matches something, for what the analytics
// role writes shortly after the gateway acknowledged it.
func (b *browser) reloadUntil(s *harness.Server, url, sel string) {
	b.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		b.do("open "+url, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("main")))
		if b.count(sel) > 0 {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no %s on %s after 90s\n%s", sel, url, s.Logs())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestPerformanceAndTrace: with ClickHouse, chromium opens the Performance
// page with sentry-go's transactions, the transaction's summary, its trace's
// waterfall with the error marked, and the error's issue linking back to the
// trace; no page violates the Content-Security-Policy.
func TestPerformanceAndTrace(t *testing.T) {
	s := harness.StartT(t, harness.Options{Env: map[string]string{
		"CLICKHOUSE_URL": chtest.NewDatabaseT(t), "ANALYTICS_FLUSH_INTERVAL": "100ms"}})
	ctx0, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := s.CreateProjectT(t, "perf")
	email := fmt.Sprintf("perf-%d@example.test", p.ID)
	const password = "e2e password 123"
	if out, err := s.Run(ctx0, "user", "create", "--email", email, "--password", password, "--org", "e2e", "--role", "member"); err != nil {
		t.Fatalf("faultline user create: %v\n%s", err, out)
	}

	// A checkout whose db span fails, a hostile transaction name, and a
	// few quick ones.
	const name = "GET /checkout/<b>cart</b>"
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Release: "shop@3.0.0", Environment: "prod", EnableTracing: true, TracesSampleRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	hub := sentry.NewHub(client, sentry.NewScope())
	ctx := sentry.SetHubOnContext(context.Background(), hub)
	start := time.Now().Add(-time.Minute)
	tx := sentry.StartTransaction(ctx, name, sentry.WithOpName("http.server"))
	tx.StartTime, tx.EndTime, tx.Status = start, start.Add(480*time.Millisecond), sentry.SpanStatusInternalError
	db := tx.StartChild("db.sql", sentry.WithDescription("UPDATE carts SET total = $1"))
	db.StartTime, db.EndTime = start.Add(120*time.Millisecond), start.Add(400*time.Millisecond)
	hub.CaptureException(errors.New("cart total overflow"))
	db.Finish()
	tx.Finish()
	for i := range 3 {
		q := sentry.StartTransaction(ctx, "GET /health", sentry.WithOpName("http.server"))
		q.StartTime, q.EndTime = start.Add(time.Duration(i)*time.Second), start.Add(time.Duration(i)*time.Second+5*time.Millisecond)
		q.Finish()
	}
	if !client.Flush(20 * time.Second) {
		t.Fatal("sentry-go did not flush")
	}
	traceURL := s.URL + "/organizations/e2e/performance/trace/" + tx.TraceID.String() + "/"

	b := newBrowser(t)
	b.watchCSP()
	perf := s.URL + "/organizations/e2e/performance/"
	b.do("open performance signed out", chromedp.Navigate(perf), chromedp.WaitVisible(chromedp.CSS("#email")))
	b.do("sign in",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#period")),
	)

	// The Performance page: both transactions, the hostile name as text.
	b.reloadUntil(s, perf, "#transactions tbody tr:nth-child(2)")
	table := b.text("#transactions")
	if !strings.Contains(table, name) || !strings.Contains(table, "GET /health") || b.count("#transactions b") != 0 {
		t.Errorf("transactions table:\n%s", table)
	}
	if n := b.count("svg.chart"); n != 2 {
		t.Errorf("%d charts, want throughput and p95", n)
	}
	b.noCSPViolations("the Performance page")
	b.screenshot(1280, "performance")
	b.screenshot(390, "performance")

	// Its summary, then the trace of its slowest event.
	b.do("open the summary", chromedp.Navigate(s.URL+b.attr(`#transactions tbody a[href*="cart"]`, "href")), chromedp.WaitVisible(chromedp.CSS("#summary-totals")))
	if got := b.text("#slowest tbody tr td:nth-child(3)"); got != "480 ms" {
		t.Errorf("slowest event %q, want 480 ms", got)
	}
	b.noCSPViolations("the transaction summary")
	b.screenshot(1280, "summary")

	// The waterfall: the transaction and its db span, the error marked once
	// grouping and the analytics role stored it.
	b.reloadUntil(s, traceURL, ".wf-row.has-error a.wf-error")
	if rows := b.count(".wf > li"); rows != 2 {
		t.Errorf("%d waterfall rows, want the transaction and its span", rows)
	}
	if label := b.text(".wf > li:nth-child(2) .wf-label"); !strings.Contains(label, "db.sql") || !strings.Contains(label, "cart total overflow") {
		t.Errorf("the span's row: %q", label)
	}
	if x := b.attr(".wf > li:nth-child(2) svg.wf-bar rect:not(.track)", "x"); x != "250" {
		t.Errorf("the span's bar starts at %s of 1000, want 250 (120 of 480 ms)", x)
	}
	b.noCSPViolations("the trace waterfall")
	b.screenshot(1280, "trace")
	b.screenshot(390, "trace")

	// The error's issue links back to the trace.
	b.do("open the error", chromedp.Click(chromedp.CSS("a.wf-error")), chromedp.WaitVisible(chromedp.CSS("#event-h")))
	if got := b.attr("#trace-link", "href"); s.URL+got != traceURL {
		t.Errorf("the event's trace link %q, want %s", got, traceURL)
	}
	b.noCSPViolations("the issue page")

	// The query page with a chart and a table.
	b.do("open Discover", chromedp.Navigate(s.URL+"/organizations/e2e/discover/results/"), chromedp.WaitVisible(chromedp.CSS("#results")))
	if n := b.count("#results tbody tr"); n != 2 || b.count("svg.chart") != 1 {
		t.Errorf("Discover: %d rows", n)
	}
	b.noCSPViolations("the query page")
	b.screenshot(1280, "discover")

	// The Releases page, from the sections bar.
	b.do("open Releases", chromedp.Click(chromedp.CSS(`nav.sections a[href$="/releases/"]`)), chromedp.WaitVisible(chromedp.CSS("#period")))
	if got := b.text("h1"); got != "Releases" {
		t.Errorf("the Releases link opened %q", got)
	}
	b.noCSPViolations("the Releases page")

	// The probe sees what it looks for: an inline style is refused and
	// reported.
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[int]("document.body.setAttribute('style', 'color: red'); 1")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string]("window.__csp"))
		if err == nil && len(got) > 0 && strings.HasPrefix(got[0], "style-src") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an inline style was not reported by the CSP probe: %q, %v", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
