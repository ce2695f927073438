package httplog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

func TestRequestsLogsOneLinePerRequest(t *testing.T) {
	const secret = "k3Vb0s-reset-token-value"
	var buf bytes.Buffer
	r := chi.NewRouter()
	r.Use(Requests(slog.New(slog.NewJSONHandler(&buf, nil))))
	r.Post("/auth/reset-password/{token}/", func(w http.ResponseWriter, r *http.Request) {
		SetPrincipal(r.Context(), 7, 9)
		w.WriteHeader(http.StatusTeapot)
	})
	r.Get("/boom/", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "x", http.StatusBadGateway) })
	r.Get("/quiet/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	for _, req := range []*http.Request{
		httptest.NewRequest("POST", "/auth/reset-password/"+secret+"/", nil),
		httptest.NewRequest("GET", "/boom/", nil),
		httptest.NewRequest("GET", "/quiet/", nil),
	} {
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
	if strings.Contains(buf.String(), secret) {
		t.Fatalf("the log holds the path's token:\n%s", buf.String())
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines for 3 requests:\n%s", len(lines), buf.String())
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "request", "method": "POST", "route": "/auth/reset-password/{token}", "status": 418.0, "user_id": 7.0, "token_id": 9.0},
		{"level": "ERROR", "method": "GET", "route": "/boom", "status": 502.0},
		{"level": "INFO", "route": "/quiet", "status": 200.0},
	}
	for i, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		for k, v := range want[i] {
			if rec[k] != v {
				t.Errorf("line %d: %s = %v, want %v (%s)", i, k, rec[k], v, l)
			}
		}
		if _, ok := rec["duration_ms"].(float64); !ok {
			t.Errorf("line %d has no duration_ms: %s", i, l)
		}
		if i > 0 && (rec["user_id"] != nil || rec["token_id"] != nil) {
			t.Errorf("line %d names a principal nobody set: %s", i, l)
		}
	}
}
