package harness

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// ChromiumPath finds Debian's browser (scripts/deps.sh installs it).
func ChromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run scripts/deps.sh (apt-get install -y chromium)")
	return ""
}

// Chromium starts a headless chromium with a fresh profile and returns a
// context of its first tab; the browser lives until the test ends. extra
// adds options (a window size).
func Chromium(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	// The first call starts the browser, which lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// LogConsole collects what the page in ctx writes to its console; the
// function it returns stops collecting and logs it, always or, with
// onlyOnFailure, when the test failed.
func LogConsole(t testing.TB, ctx context.Context, onlyOnFailure bool) func() {
	t.Helper()
	var mu sync.Mutex
	var console []string
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	messages := chromedp.Console(cctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, m.String())
			mu.Unlock()
		}
	}()
	return func() {
		stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if len(console) > 0 && (!onlyOnFailure || t.Failed()) {
			t.Logf("chromium console:\n%s", strings.Join(console, "\n"))
		}
	}
}
