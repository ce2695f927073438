package cli

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPublicReadyzSaysNoMore: the public /readyz answers ready or not
// ready; what is wrong goes to the log and to the metrics listener only.
func TestPublicReadyzSaysNoMore(t *testing.T) {
	problems := []string{"stream INGEST: nats: connection refused to 10.0.0.7:4222"}
	check := func(context.Context) []string { return problems }
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	w := httptest.NewRecorder()
	publicReadyz(check, log)(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if w.Code != http.StatusServiceUnavailable || w.Body.String() != "not ready\n" {
		t.Errorf("public /readyz: %d %q, want 503 \"not ready\"", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "10.0.0.7") {
		t.Errorf("the problem was not logged: %s", logs.String())
	}
	w = httptest.NewRecorder()
	detailedReadyz(check)(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "connection refused") {
		t.Errorf("detailed /readyz: %d %q", w.Code, w.Body)
	}

	problems = nil
	w = httptest.NewRecorder()
	publicReadyz(check, log)(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if w.Code != http.StatusOK || w.Body.String() != "ready\n" {
		t.Errorf("public /readyz when ready: %d %q", w.Code, w.Body)
	}
}

func TestHSTS(t *testing.T) {
	w := httptest.NewRecorder()
	hsts(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if got := w.Header().Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("Strict-Transport-Security = %q", got)
	}
}
