// Package httplog names requests in logs without the secrets their paths
// may hold (reset and invitation tokens): by the route pattern that matched.
// Requests writes one line per request of the REST API and the dashboard.
package httplog

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// Route is the chi route pattern that served r ("/auth/reset-password/{token}/"),
// or "(unmatched)" when no route did: a raw path is never logged.
func Route(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "(unmatched)"
}
