package httplog

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

func TestRouteHidesPathSecrets(t *testing.T) {
	const secret = "k3Vb0s-reset-token-value"
	var got string
	r := chi.NewRouter()
	r.Get("/auth/reset-password/{token}/", func(w http.ResponseWriter, r *http.Request) { got = Route(r) })
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { got = Route(r) })
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/auth/reset-password/"+secret+"/", nil))
	if !strings.HasPrefix(got, "/auth/reset-password/{token}") {
		t.Errorf("matched route: %q", got)
	}
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/nowhere/"+secret, nil))
	if strings.Contains(got, secret) {
		t.Errorf("unmatched route logged as %q", got)
	}
}
