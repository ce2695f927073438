package api_test

import (
	"testing"

	"github.com/faultline/faultline/services/api"
)

// All-digit slugs would shadow ids: /organizations/42/ names organisation
// 42 and never the one whose slug is "42".
func TestNumericSlugsRefused(t *testing.T) {
	e := newRestEnv(t, func(o *api.Options) { o.AllowOrgCreation = true })
	f := e.fixture()
	tok, _ := e.token(f.users["owner"], "admin")
	c := e.withToken(tok)
	for _, tt := range []struct {
		method, path string
		body         map[string]any
		want         int
	}{
		{"POST", "/api/0/organizations/", map[string]any{"name": "Digits", "slug": "12345"}, 400},
		{"POST", "/api/0/organizations/", map[string]any{"name": "2024"}, 400},
		{"POST", "/api/0/organizations/", map[string]any{"name": "Digits", "slug": "team-2024"}, 201},
		{"PUT", "/api/0/organizations/acme/", map[string]any{"slug": "777"}, 400},
		{"POST", "/api/0/teams/acme/backend/projects/", map[string]any{"name": "Web", "slug": "42"}, 400},
	} {
		if res := c.do(tt.method, tt.path, tt.body); res.status != tt.want {
			t.Errorf("%s %s %v: %d, want %d: %s", tt.method, tt.path, tt.body, res.status, tt.want, res.body)
		}
	}
}
