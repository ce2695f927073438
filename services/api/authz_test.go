package api_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/services/api"
)

func fillPath(path string, params map[string]string) string {
	for k, v := range params {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return path
}

// wantNeed is, independently of the route table, the role each route needs
// in the organisation of its path ("user": any signed-in caller, "session":
// a browser session, not a token). A route missing here fails the walk.
var wantNeed = map[string]string{
	"GET /api/0/openapi.json":                                                    "public",
	"GET /api/0/":                                                                "public",
	"GET /api/0/organizations/{org}/repos/":                                      "viewer",
	"POST /api/0/organizations/{org}/repos/":                                     "member",
	"DELETE /api/0/organizations/{org}/repos/{repo_id}/":                         "member",
	"GET /api/0/projects/{org}/{project}/releases/":                              "viewer",
	"GET /api/0/projects/{org}/{project}/filters/":                               "viewer",
	"PUT /api/0/projects/{org}/{project}/filters/{filter_id}/":                   "member",
	"GET /api/0/projects/{org}/{project}/ownership/":                             "viewer",
	"PUT /api/0/projects/{org}/{project}/ownership/":                             "member",
	"POST /api/0/auth/login/":                                                    "public",
	"POST /api/0/auth/password-reset/":                                           "public",
	"POST /api/0/auth/password-reset/confirm/":                                   "public",
	"POST /api/0/accept-invite/":                                                 "public",
	"DELETE /api/0/auth/":                                                        "session",
	"PUT /api/0/users/me/password/":                                              "session",
	"GET /api/0/api-tokens/":                                                     "session",
	"POST /api/0/api-tokens/":                                                    "session",
	"DELETE /api/0/api-tokens/{token_id}/":                                       "session",
	"GET /api/0/users/me/":                                                       "user",
	"GET /api/0/users/me/notifications/":                                         "user",
	"PUT /api/0/users/me/notifications/":                                         "user",
	"GET /api/0/organizations/":                                                  "user",
	"POST /api/0/organizations/":                                                 "user",
	"GET /api/0/projects/":                                                       "user",
	"GET /api/0/organizations/{org}/":                                            "viewer",
	"PUT /api/0/organizations/{org}/":                                            "admin",
	"DELETE /api/0/organizations/{org}/":                                         "owner",
	"GET /api/0/organizations/{org}/projects/":                                   "viewer",
	"GET /api/0/organizations/{org}/teams/":                                      "viewer",
	"POST /api/0/organizations/{org}/teams/":                                     "admin",
	"GET /api/0/organizations/{org}/members/":                                    "viewer",
	"POST /api/0/organizations/{org}/members/":                                   "admin",
	"GET /api/0/organizations/{org}/members/{member_id}/":                        "viewer",
	"PUT /api/0/organizations/{org}/members/{member_id}/":                        "admin",
	"DELETE /api/0/organizations/{org}/members/{member_id}/":                     "admin",
	"POST /api/0/organizations/{org}/members/{member_id}/teams/{team}/":          "member", // then team admins, or oneself
	"PUT /api/0/organizations/{org}/members/{member_id}/teams/{team}/":           "member", // then team admins
	"DELETE /api/0/organizations/{org}/members/{member_id}/teams/{team}/":        "member", // then team admins, or oneself
	"GET /api/0/teams/{org}/{team}/":                                             "viewer",
	"PUT /api/0/teams/{org}/{team}/":                                             "admin",
	"DELETE /api/0/teams/{org}/{team}/":                                          "admin",
	"GET /api/0/teams/{org}/{team}/members/":                                     "viewer",
	"GET /api/0/teams/{org}/{team}/projects/":                                    "viewer",
	"POST /api/0/teams/{org}/{team}/projects/":                                   "admin",
	"GET /api/0/projects/{org}/{project}/":                                       "viewer",
	"PUT /api/0/projects/{org}/{project}/":                                       "member",
	"DELETE /api/0/projects/{org}/{project}/":                                    "admin",
	"POST /api/0/projects/{org}/{project}/teams/{team}/":                         "admin",
	"DELETE /api/0/projects/{org}/{project}/teams/{team}/":                       "admin",
	"GET /api/0/projects/{org}/{project}/keys/":                                  "viewer",
	"GET /api/0/projects/{org}/{project}/spike-protection/":                      "viewer",
	"POST /api/0/projects/{org}/{project}/keys/":                                 "member",
	"GET /api/0/projects/{org}/{project}/keys/{key_id}/":                         "viewer",
	"PUT /api/0/projects/{org}/{project}/keys/{key_id}/":                         "member",
	"DELETE /api/0/projects/{org}/{project}/keys/{key_id}/":                      "member",
	"POST /api/0/projects/{org}/{project}/keys/{key_id}/rotate/":                 "member",
	"DELETE /api/0/projects/{org}/{project}/releases/{version}/":                 "member",
	"DELETE /api/0/projects/{org}/{project}/releases/{version}/files/{file_id}/": "member",
	"DELETE /api/0/projects/{org}/{project}/files/source-maps/":                  "member",
	"DELETE /api/0/organizations/{org}/releases/{version}/files/{file_id}/":      "member",
	"DELETE /api/0/organizations/{org}/files/source-maps/":                       "member",
	"POST /api/0/organizations/{org}/spike-protections/":                         "member",
	"DELETE /api/0/organizations/{org}/spike-protections/":                       "member",
}

// routeNeed returns the level wantNeed gives a route's organisation role,
// failing the test for a route it does not list or whose access differs.
func routeNeed(t *testing.T, rt api.RouteInfo) accounts.Level {
	t.Helper()
	w, ok := wantNeed[rt.Method+" "+rt.Path]
	if !ok {
		t.Fatalf("route %s %s is not in wantNeed: say who may call it", rt.Method, rt.Path)
	}
	switch w {
	case "public", "session", "user":
		if rt.Public != (w == "public") || rt.SessionOnly != (w == "session") || (w == "user" && isOrgRoute(rt)) {
			t.Fatalf("route %s %s: table says public=%v sessionOnly=%v, want %s", rt.Method, rt.Path, rt.Public, rt.SessionOnly, w)
		}
		return accounts.LevelNone
	}
	need := accounts.RoleLevel(w)
	if rt.Public || rt.SessionOnly || !isOrgRoute(rt) || rt.Need != need {
		t.Fatalf("route %s %s: table needs %v, want %s", rt.Method, rt.Path, rt.Need, w)
	}
	return need
}

func isOrgRoute(rt api.RouteInfo) bool { return strings.Contains(rt.Path, "{org}") }

// leaks reports which of acme's secrets a body contains.
func leaks(body []byte, secrets []string) []string {
	var out []string
	for _, s := range secrets {
		if strings.Contains(string(body), s) {
			out = append(out, s)
		}
	}
	return out
}

// TestEveryRouteRefusesStrangers walks every authenticated route with
// credentials that must not reach acme's data: none, a revoked token, a
// token and a session of another organisation, and a viewer on write
// routes. Each answer is 401, 403 or 404 (or, on routes about one's own
// account, the caller's own data) and never contains acme's data.
func TestEveryRouteRefusesStrangers(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	ctx := context.Background()
	_, ownerTok := e.token(f.users["owner"], "admin")
	revoked, revokedTok := e.token(f.users["owner"], "admin")
	if err := e.store.RevokeToken(ctx, f.users["owner"].ID, revokedTok.ID); err != nil {
		t.Fatal(err)
	}
	// An owner's token outlives the owner being deactivated: refused.
	gone, err := e.store.CreateUser(ctx, accounts.NewUser{Email: "gone@example.test", Name: "Gone", Password: f.password})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.AddMember(ctx, f.acme.ID, gone.ID, "owner"); err != nil {
		t.Fatal(err)
	}
	goneToken, _ := e.token(gone, "read", "write", "admin")
	if _, err := e.db.Pool.Exec(ctx, `UPDATE api.users SET is_active = false WHERE id = $1`, gone.ID); err != nil {
		t.Fatal(err)
	}
	otherToken, _ := e.token(f.users["other"], "read", "write", "admin")
	viewerToken, _ := e.token(f.users["viewer"], "read", "write", "admin")
	params := map[string]string{
		"org": "acme", "project": "web", "team": "backend", "key_id": f.key.PublicKey,
		"member_id": fmt.Sprint(f.members["member"]), "token_id": fmt.Sprint(ownerTok.ID), "repo_id": "1", "filter_id": "localhost",
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	maps.Copy(params, e.issueParams(f))
	e.startAlerting()
	maps.Copy(params, e.ruleParams(f))
	secrets := []string{f.key.PublicKey, "Acme Corp", "Web Shop", "member@example.test", "Backend", "WalkError", "WalkRule"}

	type credential struct {
		name   string
		client func() *client
		// want is the statuses allowed on an acme route, on a route
		// about one's own account, and on a session-only route.
		org, own, sessionOnly []int
	}
	creds := []credential{
		{"no credentials", e.anonymous, []int{401}, []int{401}, []int{401}},
		{"revoked token", func() *client { return e.withToken(revoked) }, []int{401}, []int{401}, []int{401}},
		{"token of a deactivated owner", func() *client { return e.withToken(goneToken) }, []int{401}, []int{401}, []int{401}},
		{"token of another organisation", func() *client { return e.withToken(otherToken) }, []int{404}, nil, []int{403}},
		{"session of another organisation", func() *client { return e.session(f.users["other"]) }, []int{404}, nil, nil},
		{"malformed bearer", func() *client { return e.withToken("flt_nope") }, []int{401}, []int{401}, []int{401}},
	}
	walked := 0
	for _, rt := range e.api.Routes() {
		need := routeNeed(t, rt)
		if rt.Public {
			continue
		}
		walked++
		path := fillPath(rt.Path, params)
		for _, cr := range creds {
			t.Run(rt.Method+" "+rt.Path+"/"+cr.name, func(t *testing.T) {
				want := cr.own
				switch {
				case rt.SessionOnly:
					want = cr.sessionOnly
				case isOrgRoute(rt):
					want = cr.org
				}
				res := cr.client().do(rt.Method, path, map[string]any{})
				if want != nil && !slices.Contains(want, res.status) {
					t.Errorf("status %d, want one of %v; body %s", res.status, want, res.body)
				}
				if res.status >= 500 {
					t.Errorf("status %d: %s", res.status, res.body)
				}
				if l := leaks(res.body, secrets); len(l) > 0 {
					t.Errorf("answer leaks %q: %s", l, res.body)
				}
				if res.status >= 400 && !strings.Contains(string(res.body), `"detail"`) {
					t.Errorf("error without detail: %s", res.body)
				}
			})
		}
		if isOrgRoute(rt) && need > accounts.LevelRead {
			for name, c := range map[string]func() *client{
				"viewer token":   func() *client { return e.withToken(viewerToken) },
				"viewer session": func() *client { return e.session(f.users["viewer"]) },
			} {
				t.Run(rt.Method+" "+rt.Path+"/"+name, func(t *testing.T) {
					res := c().do(rt.Method, path, map[string]any{})
					if res.status != http.StatusForbidden {
						t.Errorf("status %d, want 403; body %s", res.status, res.body)
					}
					if l := leaks(res.body, secrets); len(l) > 0 {
						t.Errorf("answer leaks %q: %s", l, res.body)
					}
				})
			}
		}
	}
	public := 0
	for _, need := range wantNeed {
		if need == "public" {
			public++
		}
	}
	if walked != len(wantNeed)-public {
		t.Errorf("walked %d routes, want %d", walked, len(wantNeed)-public)
	}
	// Nothing the strangers did changed acme.
	owner := e.session(f.users["owner"])
	for _, p := range []string{"/api/0/organizations/acme/", "/api/0/projects/acme/web/keys/" + f.key.PublicKey + "/", "/api/0/teams/acme/backend/",
		"/api/0/projects/acme/web/rules/" + params["rule_id"] + "/"} {
		if res := owner.do("GET", p, nil); res.status != 200 {
			t.Errorf("after the walk GET %s: %d %s", p, res.status, res.body)
		}
	}
	if res := owner.do("GET", "/api/0/organizations/acme/members/"+params["member_id"]+"/", nil); res.status != 200 {
		t.Errorf("member removed by a stranger: %d", res.status)
	}
	if _, _, err := e.store.TokenUser(ctx, revoked); err == nil {
		t.Error("revoked token works")
	}
}

// walkOrder puts reads first and destructive calls last, in an order where
// each still finds what it acts on.
func walkOrder(rt api.RouteInfo) int {
	last := []string{
		"POST /api/0/projects/{org}/{project}/keys/{key_id}/rotate/",
		"DELETE /api/0/projects/{org}/{project}/keys/{key_id}/",
		"DELETE /api/0/organizations/{org}/members/{member_id}/teams/{team}/",
		"DELETE /api/0/projects/{org}/{project}/teams/{team}/",
		"DELETE /api/0/organizations/{org}/members/{member_id}/",
		"DELETE /api/0/api-tokens/{token_id}/",
		"DELETE /api/0/projects/{org}/{project}/",
		"DELETE /api/0/teams/{org}/{team}/",
		"DELETE /api/0/organizations/{org}/",
		"PUT /api/0/users/me/password/",
		"DELETE /api/0/auth/",
	}
	if i := slices.Index(last, rt.Method+" "+rt.Path); i >= 0 {
		return 100 + i
	}
	if rt.Method == "GET" && strings.HasSuffix(rt.Path, "/reprocessing/") {
		return 11 // once the issue was reprocessed
	}
	if rt.Method == "DELETE" && strings.HasSuffix(rt.Path, "/hashes/") {
		return 25 // before the issue is deleted
	}
	if rt.Method == "PUT" && strings.HasSuffix(rt.Path, "/teams/{team}/") {
		return 15 // once the member is in the team, before their role changes
	}
	if rt.Method+" "+rt.Path == "DELETE /api/0/projects/{org}/{project}/releases/{version}/" {
		return 29 // before the organisation's route deletes the same release
	}
	return map[string]int{"GET": 0, "POST": 10, "PUT": 20, "DELETE": 30}[rt.Method]
}

// TestRolesWalkEveryRoute signs in as each role and calls every
// authenticated route with a valid body: allowed routes succeed with their
// documented status, the others answer 403.
func TestRolesWalkEveryRoute(t *testing.T) {
	for _, role := range accounts.Roles {
		t.Run(role, func(t *testing.T) {
			e := newRestEnv(t, func(o *api.Options) { o.AllowOrgCreation = true }) // the walk is about roles in an organisation
			f := e.fixture()
			_, own := e.token(f.users[role], "read")
			params := map[string]string{
				"org": "acme", "project": "web", "team": "backend", "key_id": f.key.PublicKey,
				"member_id": fmt.Sprint(f.members["member"]), "token_id": fmt.Sprint(own.ID), "repo_id": "0", "filter_id": "localhost",
				"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
			}
			bodies := map[string]any{
				"POST /api/0/api-tokens/":                                          map[string]any{"scopes": []string{"read"}, "name": "walk"},
				"POST /api/0/organizations/":                                       map[string]any{"name": "Walk Org"},
				"PUT /api/0/organizations/{org}/":                                  map[string]any{"name": "Acme Renamed"},
				"POST /api/0/organizations/{org}/teams/":                           map[string]any{"name": "Frontend"},
				"POST /api/0/organizations/{org}/members/":                         map[string]any{"email": "invitee@example.test", "orgRole": "member"},
				"PUT /api/0/organizations/{org}/members/{member_id}/":              map[string]any{"orgRole": "viewer"},
				"PUT /api/0/teams/{org}/{team}/":                                   map[string]any{"name": "Backend Renamed"},
				"POST /api/0/teams/{org}/{team}/projects/":                         map[string]any{"name": "API Server"},
				"PUT /api/0/projects/{org}/{project}/":                             map[string]any{"name": "Web Renamed"},
				"POST /api/0/projects/{org}/{project}/keys/":                       map[string]any{"name": "CI", "rateLimit": map[string]int{"window": 60, "count": 100}},
				"PUT /api/0/projects/{org}/{project}/keys/{key_id}/":               map[string]any{"name": "Main", "isActive": false},
				"PUT /api/0/users/me/password/":                                    map[string]any{"password": f.password, "passwordNew": "another long password"},
				"PUT /api/0/users/me/notifications/":                               map[string]any{"weeklyReports": true},
				"POST /api/0/organizations/{org}/repos/":                           map[string]any{"name": "acme/walk", "url": "https://git.example.test/acme/walk"},
				"PUT /api/0/projects/{org}/{project}/filters/{filter_id}/":         map[string]any{"active": true},
				"PUT /api/0/organizations/{org}/members/{member_id}/teams/{team}/": map[string]any{"teamRole": "admin"},
				"PUT /api/0/projects/{org}/{project}/ownership/":                   map[string]any{"raw": "path:src/* #backend"},
				"POST /api/0/organizations/{org}/spike-protections/":               map[string]any{"projects": []string{"$all"}},
				"DELETE /api/0/organizations/{org}/spike-protections/":             map[string]any{"projects": []string{"$all"}},
			}
			maps.Copy(params, e.issueParams(f))
			maps.Copy(params, e.releaseParams(f))
			e.startAlerting()
			maps.Copy(params, e.ruleParams(f))
			maps.Copy(bodies, issueBodies)
			routes := slices.Clone(e.api.Routes())
			sort.SliceStable(routes, func(i, j int) bool { return walkOrder(routes[i]) < walkOrder(routes[j]) })
			c := e.session(f.users[role])
			level := accounts.RoleLevel(role)
			for _, rt := range routes {
				if rt.Public {
					continue
				}
				want := rt.Status
				if isOrgRoute(rt) && level < routeNeed(t, rt) {
					want = http.StatusForbidden
				}
				key := rt.Method + " " + rt.Path
				if uploadRoutes[key] && want != http.StatusForbidden {
					want = http.StatusServiceUnavailable // no JetStream here: sourcemaps_test.go walks them
				}
				if analyticsRoutes[key] && want != http.StatusForbidden {
					want = http.StatusServiceUnavailable // no ClickHouse here: discover_test.go walks them
				}
				if key == "PUT /api/0/organizations/{org}/members/{member_id}/teams/{team}/" && role == accounts.RoleMember {
					want = http.StatusForbidden // a contributor may not make themselves a team admin
				}
				if key == "DELETE /api/0/organizations/{org}/releases/{version}/" && want != http.StatusForbidden && level >= accounts.RoleLevel("member") {
					want = http.StatusNotFound // the project's route deleted the release first
				}
				if key == "GET /api/0/organizations/{org}/issues/{issue_id}/reprocessing/" && want != http.StatusForbidden && level < accounts.RoleLevel("member") {
					want = http.StatusNotFound // allowed, but a viewer could not reprocess the issue: there is none to show
				}
				if key == "DELETE /api/0/organizations/{org}/issues/{issue_id}/hashes/" && want != http.StatusForbidden {
					want = http.StatusBadRequest // let through, then refused: the walk names no hash to unmerge
				}
				res := c.do(rt.Method, fillPath(rt.Path, params), bodies[key])
				if res.status != want {
					t.Errorf("%s: status %d, want %d; body %s", key, res.status, want, res.body)
					continue
				}
				if key == "POST /api/0/projects/{org}/{project}/keys/{key_id}/rotate/" && want == 200 {
					params["key_id"] = res.obj(t)["id"].(string)
				}
				if key == "POST /api/0/organizations/{org}/repos/" && want == 201 {
					params["repo_id"] = res.obj(t)["id"].(string)
				}
			}
		})
	}
}

// TestTokenScopesCapRoles: a token can do what its user's role allows, no
// more than its scopes allow.
func TestTokenScopesCapRoles(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	tests := []struct {
		role   string
		scopes []string
		read   int
		write  int
		admin  int
	}{
		{"owner", []string{"read", "write", "admin"}, 200, 201, 201},
		{"owner", []string{"read"}, 200, 403, 403},
		{"owner", []string{"project:write"}, 200, 201, 403},
		{"admin", []string{"admin"}, 200, 201, 201},
		{"member", []string{"admin"}, 200, 201, 403},
		{"member", []string{"read"}, 200, 403, 403},
		{"viewer", []string{"admin"}, 200, 403, 403},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.role, tt.scopes), func(t *testing.T) {
			tok, _ := e.token(f.users[tt.role], tt.scopes...)
			c := e.withToken(tok)
			if res := c.do("GET", "/api/0/projects/acme/web/keys/", nil); res.status != tt.read {
				t.Errorf("read: %d, want %d", res.status, tt.read)
			}
			if res := c.do("POST", "/api/0/projects/acme/web/keys/", map[string]string{"name": "k"}); res.status != tt.write {
				t.Errorf("write: %d, want %d (%s)", res.status, tt.write, res.body)
			}
			if res := c.do("POST", "/api/0/organizations/acme/teams/", map[string]string{"name": fmt.Sprint("team ", i)}); res.status != tt.admin {
				t.Errorf("admin: %d, want %d (%s)", res.status, tt.admin, res.body)
			}
		})
	}
}
