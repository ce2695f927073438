// Package dashboard tests the dashboard in a real browser: Debian's
// chromium, driven by chromedp, against the faultline binary started by the
// e2e harness, with an issue produced by the real sentry-go SDK, and with
// ClickHouse the Performance page and a trace's waterfall of sentry-go
// transactions, watching for Content-Security-Policy violations.
// Screenshots at 1280 and 390 pixels wide are saved to e2e/artifacts/.
package dashboard
