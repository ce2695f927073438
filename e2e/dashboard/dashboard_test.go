package dashboard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/e2e/harness"
	"github.com/faultline/faultline/libs/clickhouse/chtest"
)

var srv *harness.Server

// TestMain runs the tests against one server; the ClickHouse server the
// analytics test starts stops after them.
func TestMain(m *testing.M) {
	code := harness.Main(m, harness.Options{}, &srv)
	chtest.Close()
	os.Exit(code)
}

// artifacts is e2e/artifacts, where screenshots go.
func artifacts(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newBrowser starts a headless chromium with a fresh profile.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	ctx := harness.Chromium(t, chromedp.WindowSize(1280, 900))
	tctx, cancel3 := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancel3)
	return &browser{t: t, ctx: tctx}
}

type browser struct {
	t   *testing.T
	ctx context.Context
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		b.t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

var errPayment = errors.New("payment gateway timed out")

// chargeCard is the application code whose frame the stack trace must show.
func chargeCard(hub *sentry.Hub, cents int) {
	hub.CaptureException(fmt.Errorf("charge %d cents: %w", cents, errPayment))
}

// screenshot saves the page at width (the layout re-flows first).
func (b *browser) screenshot(width int64, name string) {
	b.t.Helper()
	b.do("resize", chromedp.EmulateViewport(width, 900), chromedp.Sleep(200*time.Millisecond)) // let the layout settle; not an assertion
	// Nothing may make the page scroll sideways.
	if sw, err := chromedp.Run(b.ctx, chromedp.Evaluate[int64]("document.documentElement.scrollWidth")); err != nil || sw > width {
		b.t.Errorf("%s at %d px: the page is %d px wide (%v)", name, width, sw, err)
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifacts(b.t), fmt.Sprintf("%s-%d.png", name, width))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.do("resize back", chromedp.EmulateViewport(1280, 900))
	b.t.Logf("screenshot %s", path)
}

func TestSignInReadResolve(t *testing.T) {
	ctx0, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := srv.CreateProjectT(t, "dash")
	slug := projectSlug(t, ctx0, srv, p)
	email := fmt.Sprintf("dash-%d@example.test", p.ID)
	const password = "e2e password 123"
	if out, err := srv.Run(ctx0, "user", "create", "--email", email, "--password", password, "--org", "e2e", "--role", "owner"); err != nil {
		t.Fatalf("faultline user create: %v\n%s", err, out)
	}

	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Release: "shop@2.4.1", Environment: "prod", AttachStacktrace: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	hub := sentry.NewHub(client, sentry.NewScope())
	hub.Scope().SetTag("browser.name", "<b>Chrome</b>")
	hub.Scope().SetUser(sentry.User{Email: "buyer@example.test"})
	chargeCard(hub, 4200)
	if !client.Flush(20 * time.Second) {
		t.Fatal("sentry-go did not flush")
	}

	b := newBrowser(t)
	list := srv.URL + "/organizations/e2e/issues/?project=" + slug

	// Signed out, the issue list sends us to sign in, then back.
	b.do("open the list signed out", chromedp.Navigate(list), chromedp.WaitVisible(chromedp.CSS("#email")))
	if h1 := b.text("h1"); h1 != "Sign in" {
		t.Fatalf("h1 %q, want Sign in", h1)
	}
	b.screenshot(1280, "signin")
	b.screenshot(390, "signin")
	b.do("sign in",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#q")),
	)

	// The grouping service stores the event shortly after the gateway
	// acknowledged it: reload the list until the issue is there.
	deadline := time.Now().Add(90 * time.Second)
	for b.count(".issue-row .title a") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no issue in the list after 90s\n%s", srv.Logs())
		}
		time.Sleep(500 * time.Millisecond)
		b.do("reload the list", chromedp.Navigate(list), chromedp.WaitVisible(chromedp.CSS("#q")))
	}
	if title := b.text(".issue-row .title a"); !strings.Contains(title, "payment gateway timed out") {
		t.Errorf("issue title %q", title)
	}
	b.screenshot(1280, "issues")
	b.screenshot(390, "issues")

	// Open it and read the stack trace: the in-app frame is expanded.
	b.do("open the issue", chromedp.Click(chromedp.CSS(".issue-row .title a")), chromedp.WaitVisible(chromedp.CSS("#event-h")))
	if open := b.text("details.frame.in-app[open] summary"); !strings.Contains(open, "chargeCard") {
		t.Errorf("the first open in-app frame is %q, want chargeCard", open)
	}
	if frames := b.text(".frames"); !strings.Contains(frames, "dashboard_test.go") {
		t.Errorf("stack trace lacks the test's file:\n%s", frames)
	}
	if tags := b.text(".side"); !strings.Contains(tags, "<b>Chrome</b>") {
		t.Errorf("the tag value is not shown as text: %q", tags)
	}
	b.screenshot(1280, "issue")
	b.screenshot(390, "issue")

	// Resolve it; it leaves the unresolved list.
	b.do("resolve", chromedp.Click(chromedp.CSS("#resolve")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if status := b.text(".issue-top strong"); status != "Resolved" {
		t.Errorf("status after resolving: %q", status)
	}
	b.do("back to the list", chromedp.Navigate(list), chromedp.WaitVisible(chromedp.CSS("#q")))
	if n := b.count(".issue-row .title a"); n != 0 || !strings.Contains(b.text("#issue-list"), "No issues match") {
		t.Errorf("the resolved issue is still listed as unresolved (%d rows)", n)
	}

	// Project settings show the DSN; the overview shows the project.
	b.do("open settings", chromedp.Navigate(srv.URL+"/settings/e2e/projects/"+slug+"/"), chromedp.WaitVisible(chromedp.CSS("input.dsn")))
	dsn, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS("input.dsn")))
	if err != nil || dsn != p.DSN {
		t.Errorf("settings DSN %q (%v), want %q", dsn, err, p.DSN)
	}
	b.screenshot(1280, "settings")
	b.screenshot(390, "settings")
	b.do("open the overview", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(".projects")))
	if !strings.Contains(b.text(".projects"), slug) {
		t.Errorf("the overview lacks %s", slug)
	}
	b.screenshot(1280, "projects")
	b.screenshot(390, "projects")
}

// projectSlug is the slug `faultline project list` of s shows for p.
func projectSlug(t *testing.T, ctx context.Context, s *harness.Server, p harness.Project) string {
	t.Helper()
	out, err := s.Run(ctx, "project", "list")
	if err != nil {
		t.Fatalf("project list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == fmt.Sprint(p.ID) {
			return f[2]
		}
	}
	t.Fatalf("project %d not in\n%s", p.ID, out)
	return ""
}
