// Package loader tests the JavaScript loader script end to end: a page whose
// only Sentry code is <script src="…/js-sdk-loader/KEY.min.js">, in headless
// chromium, throws; the loader fetches the browser SDK bundle from
// JS_SDK_LOADER_CDN_URL (here a local server holding @sentry/browser bundled
// by esbuild as the CDN's bundle.min.js is: an IIFE assigning window.Sentry),
// initialises it with the key's DSN and replays the error, which becomes an
// issue in faultline.
package loader

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faultline/faultline/e2e/harness"
)

var (
	srv *harness.Server
	cdn = &bundleServer{}
)

func TestMain(m *testing.M) {
	hs := httptest.NewServer(cdn)
	code := harness.Main(m, harness.Options{Env: map[string]string{"JS_SDK_LOADER_CDN_URL": hs.URL + "/cdn"}}, &srv)
	hs.Close()
	os.Exit(code)
}

// bundleServer serves one SDK bundle at any /cdn/<version>/<file> and
// remembers the paths asked for.
type bundleServer struct {
	mu     sync.Mutex
	bundle []byte
	asked  []string
}

func (b *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.asked = append(b.asked, r.URL.Path)
	if b.bundle == nil || !strings.HasPrefix(r.URL.Path, "/cdn/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/javascript")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Write(b.bundle)
}

func (b *bundleServer) paths() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.asked...)
}

// buildBundle bundles @sentry/browser the way its CDN bundle is made: an
// IIFE that sets window.Sentry to a plain object of its exports.
func buildBundle(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bundle.min.js")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.NodeBin(t, "esbuild"), "--bundle", "--minify", "--format=iife",
		"--platform=browser", "--outfile="+out, "--log-level=warning")
	cmd.Dir = harness.NodeDir()
	cmd.Stdin = strings.NewReader(`import * as Sentry from "@sentry/browser"; window.Sentry = Object.assign({}, Sentry);`)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild @sentry/browser: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type issue struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Platform string `json:"platform"`
}

// issues lists the project's issues through the REST API.
func issues(t *testing.T, tok string, project int64) []issue {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/0/projects/e2e/%d/issues/?query=", srv.URL, project), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("list issues: %d %s", res.StatusCode, b)
	}
	var out []issue
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("list issues: %v: %s", err, b)
	}
	return out
}

// TestLoaderScriptInChromium: the page includes only the loader and then
// throws; the loader loads the SDK bundle from the CDN (only then: it is
// lazy), the SDK sends the error, and it is an issue.
func TestLoaderScriptInChromium(t *testing.T) {
	cdn.mu.Lock()
	cdn.bundle = buildBundle(t)
	cdn.mu.Unlock()
	p := srv.CreateProjectT(t, "loader")
	tok := srv.OwnerToken(t, p, "loader")

	// The loader script itself: JavaScript, no secret.
	res, err := http.Get(fmt.Sprintf("%s/js-sdk-loader/%s.min.js", srv.URL, p.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	script, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/javascript") ||
		!bytes.Contains(script, []byte(p.DSN)) {
		t.Fatalf("loader: %d %s, want JavaScript holding the DSN %s", res.StatusCode, res.Header.Get("Content-Type"), p.DSN)
	}

	nonce := make([]byte, 6)
	rand.Read(nonce)
	message := "loader e2e " + hex.EncodeToString(nonce)
	page := fmt.Sprintf(`<!doctype html>
<html><head><meta charset="utf-8"><title>loader</title>
<script src="%s/js-sdk-loader/%s.min.js" crossorigin="anonymous"></script>
</head><body>page
<script>window.__before = document.querySelectorAll('script[src*="/cdn/"]').length;
throw new Error(%q);</script>
</body></html>
`, srv.URL, p.PublicKey, message)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	defer site.Close()

	ctx, cancel := context.WithTimeout(harness.Chromium(t), 2*time.Minute)
	defer cancel()
	defer harness.LogConsole(t, ctx, true)()
	if err := chromedp.Do(ctx, chromedp.Navigate(site.URL+"/")); err != nil {
		t.Fatalf("load page: %v", err)
	}
	before, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__before`))
	if err != nil || before != 0 {
		t.Errorf("the SDK bundle was requested before the page's error (%d, %v): the loader is lazy", before, err)
	}

	var found *issue
	for deadline := time.Now().Add(60 * time.Second); found == nil && time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		for _, is := range issues(t, tok, p.ID) {
			if strings.Contains(is.Title, message) {
				found = &is
				break
			}
		}
	}
	if found == nil {
		var console string
		if c, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.Sentry && window.Sentry.SDK_VERSION) + " client " + String(!!(window.Sentry.getClient && window.Sentry.getClient())) + " onerror " + String(window.onerror).slice(0, 300)`)); err == nil {
			console = c
		}
		t.Fatalf("no issue titled %q after 60s; CDN asked for %v; window.Sentry: %s", message, cdn.paths(), console)
	}
	if found.Platform != "javascript" {
		t.Errorf("issue platform %q, want javascript", found.Platform)
	}
	asked := cdn.paths()
	if len(asked) != 1 || !regexp.MustCompile(`^/cdn/\d+\.\d+\.\d+/bundle\.min\.js$`).MatchString(asked[0]) {
		t.Errorf("CDN asked for %v, want one /cdn/<version>/bundle.min.js", asked)
	}
}
