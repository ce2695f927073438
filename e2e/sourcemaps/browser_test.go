package sourcemaps

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faultline/faultline/e2e/harness"
)

// page writes the browser test's page into dir: index.html, which sets the
// DSN and release, then loads sentry.js (@sentry/browser and
// e2e/node/browser.mjs, bundled by esbuild) and the app bundle dist/app.min.js.
func page(t *testing.T, dir string, p harness.Project, release string) {
	t.Helper()
	run(t, harness.NodeDir(), nil, harness.NodeBin(t, "esbuild"), "browser.mjs", "--bundle", "--format=iife",
		"--platform=browser", "--outfile="+filepath.Join(dir, "sentry.js"), "--log-level=warning")
	html := fmt.Sprintf(`<!doctype html>
<html><head><meta charset="utf-8"><title>faultline browser test</title>
<script>window.FAULTLINE = {dsn: %q, release: %q};</script>
<script src="sentry.js"></script>
<script src="dist/app.min.js"></script>
</head><body>app</body></html>
`, p.DSN, release)
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
}

// throwInChromium loads url in a headless chromium and calls the page's
// throwFromApp(), which sends the error with @sentry/browser; it returns the
// event id. What the page wrote to its console is logged.
func throwInChromium(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(harness.Chromium(t), 2*time.Minute)
	defer cancel()
	defer harness.LogConsole(t, ctx, false)()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.throwFromApp()`, chromedp.EvalAwaitPromise))
	if err != nil || len(id) != 32 {
		t.Fatalf("throwFromApp() in chromium: %q, %v", id, err)
	}
	return id
}

// TestBrowserAndNodeLandInOneIssue builds the same sources for the browser
// and for node, uploads both bundles' maps under one release, and makes each
// throw: @sentry/browser in chromium, from a page served by a local HTTP
// server on another origin than faultline's (so the SDK's POST is
// cross-origin), and @sentry/node. The browser's event shows the original
// frames, keeps the minified ones as raw_stacktrace, and is in the same issue
// as node's.
func TestBrowserAndNodeLandInOneIssue(t *testing.T) {
	p := srv.CreateProjectT(t, "browser")
	token, cliEnv := owner(t, p, "browser")
	cli := harness.SentryCLIs(t)[0]
	release := fmt.Sprintf("web-%d", p.ID)

	web := build(t, cli, "browser")
	upload(t, cli, cliEnv, web, release, true)
	page(t, web, p, release)
	site := httptest.NewServer(http.FileServer(http.Dir(web)))
	defer site.Close()
	browserEvent := storedEvent(t, token, p.ID, throwInChromium(t, site.URL+"/index.html"))

	if browserEvent.Platform != "javascript" {
		t.Errorf("the browser's event has platform %q, want javascript", browserEvent.Platform)
	}
	checkOriginal(t, browserEvent.Frames)
	raw := browserEvent.RawFrames
	if len(raw) != len(browserEvent.Frames) || len(raw) < len(original) {
		t.Fatalf("raw_stacktrace frames %+v for frames %+v", raw, browserEvent.Frames)
	}
	for i, f := range raw[len(raw)-len(original):] {
		if want := site.URL + "/dist/app.min.js"; f.Filename != want || f.Colno <= 0 { // the browser SDK sends no abs_path
			t.Errorf("raw frame %d: %+v, want the minified position in %s", i, f, want)
		}
	}
	if fn := raw[len(raw)-len(original)].Function; fn == "main" || fn == "" {
		t.Errorf("raw frame of main has function %q, want the minified name", fn)
	}

	node := build(t, cli, "node")
	upload(t, cli, cliEnv, node, release, true)
	nodeEvent := storedEvent(t, token, p.ID, sendFromNode(t, p, release, node))
	if nodeEvent.Platform != "node" {
		t.Errorf("node's event has platform %q, want node", nodeEvent.Platform)
	}
	checkOriginal(t, nodeEvent.Frames)
	if nodeEvent.GroupID != browserEvent.GroupID {
		var why []string
		for _, id := range []string{browserEvent.GroupID, nodeEvent.GroupID} {
			var is struct{ Title, Culprit string }
			api(t, token, "/api/0/organizations/e2e/issues/"+id+"/", &is)
			why = append(why, fmt.Sprintf("issue %s: %q at %q", id, is.Title, is.Culprit))
		}
		t.Errorf("the same error is two issues, the browser's and node's:\n%s", strings.Join(why, "\n"))
	}
}
