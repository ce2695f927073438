package api_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/services/api"
	"github.com/faultline/faultline/streams"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestSignInCookiesAndCSRF(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprint("ssl_proxy=", secure), func(t *testing.T) {
			e := newRestEnv(t, func(o *api.Options) {
				o.SSLProxy = secure
				o.SessionSecretKey = strings.Repeat("k", 64)
			})
			f := e.fixture()
			c := e.anonymous()
			res := c.do("POST", "/api/0/auth/login/", map[string]string{"email": "OWNER@example.test", "password": f.password})
			if res.status != 200 {
				t.Fatalf("sign in: %d %s", res.status, res.body)
			}
			cookies := map[string]*http.Cookie{}
			for _, ck := range (&http.Response{Header: res.header}).Cookies() {
				cookies[ck.Name] = ck
			}
			s, x := cookies[accounts.SessionCookie], cookies[accounts.CSRFCookie]
			if s == nil || x == nil {
				t.Fatalf("cookies %v", res.header["Set-Cookie"])
			}
			if !s.HttpOnly || s.SameSite != http.SameSiteLaxMode || s.Secure != secure {
				t.Errorf("session cookie HttpOnly=%v SameSite=%v Secure=%v", s.HttpOnly, s.SameSite, s.Secure)
			}
			if x.HttpOnly || x.Secure != secure {
				t.Errorf("csrf cookie HttpOnly=%v Secure=%v", x.HttpOnly, x.Secure)
			}
			var body struct {
				CSRFToken string `json:"csrfToken"`
				User      struct{ Email string }
			}
			res.json(t, &body)
			if body.CSRFToken != x.Value || body.User.Email != "owner@example.test" {
				t.Errorf("body %s", res.body)
			}
			if strings.Contains(string(res.body), "argon2") {
				t.Error("password hash in the answer")
			}
			// The session is stored hashed only.
			var n int
			e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM api.sessions WHERE token_hash = $1::text::bytea`, s.Value).Scan(&n)
			if n != 0 {
				t.Error("session token stored in clear")
			}
		})
	}

	e := newRestEnv(t)
	f := e.fixture()
	b := e.browser("owner@example.test", f.password)
	create := func(c *client) int {
		return c.do("POST", "/api/0/organizations/acme/teams/", map[string]string{"name": fmt.Sprint("t", time.Now().UnixNano())}).status
	}
	tests := []struct {
		name   string
		mutate func(c *client)
		want   int
	}{
		{"token and origin", func(c *client) {}, 201},
		{"no origin header (non-browser)", func(c *client) { c.origin = "" }, 201},
		{"missing token", func(c *client) { c.noCSRF = true }, 403},
		{"foreign origin", func(c *client) { c.origin = "https://evil.example" }, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *b
			tt.mutate(&c)
			if got := create(&c); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
	t.Run("wrong token", func(t *testing.T) {
		c := *b
		c.noCSRF = true
		res := c.doWith("POST", "/api/0/organizations/acme/teams/", map[string]string{"name": "x"}, map[string]string{accounts.CSRFHeader: "forged"})
		if res.status != 403 {
			t.Errorf("status %d", res.status)
		}
	})
	t.Run("sign out ends the session", func(t *testing.T) {
		c := e.browser("admin@example.test", f.password)
		if res := c.do("DELETE", "/api/0/auth/", nil); res.status != 204 {
			t.Fatalf("sign out: %d %s", res.status, res.body)
		}
		if res := c.do("GET", "/api/0/users/me/", nil); res.status != 401 {
			t.Errorf("after sign out: %d", res.status)
		}
	})
}

// doWith sends extra headers.
func (c *client) doWith(method, path string, body any, headers map[string]string) response {
	tr := &headerTransport{headers: headers, next: http.DefaultTransport}
	cc := *c
	hc := *c.http
	hc.Transport = tr
	cc.http = &hc
	return cc.do(method, path, body)
}

type headerTransport struct {
	headers map[string]string
	next    http.RoundTripper
}

func (h *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	for k, v := range h.headers {
		r.Header.Set(k, v)
	}
	return h.next.RoundTrip(r)
}

func TestSignInRateLimited(t *testing.T) {
	e := newRestEnv(t, func(o *api.Options) { o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	f := e.fixture()
	c := e.anonymous()
	from := func(addr, email, pw string) int {
		return c.doWith("POST", "/api/0/auth/login/", map[string]string{"email": email, "password": pw},
			map[string]string{"X-Forwarded-For": addr}).status
	}
	login := func(email, pw string) int { return from("203.0.113.7", email, pw) }
	// Five failures are free; then each next attempt waits, from 1 s
	// doubling (the growth is TestBackoffLimiter's, with a clock of its own).
	for i := 0; i < 5; i++ {
		if got := login("member@example.test", "wrong password"); got != 401 {
			t.Fatalf("attempt %d: %d, want 401", i, got)
		}
	}
	if got := login("member@example.test", f.password); got != 429 {
		t.Errorf("right password at once after five failures: %d, want 429", got)
	}
	// The guesses from one address do not lock the owner out elsewhere.
	if got := from("198.51.100.20", "member@example.test", f.password); got != 200 {
		t.Errorf("the owner from another address: %d, want 200", got)
	}
	// Another account from the same address still signs in...
	if got := login("viewer@example.test", f.password); got != 200 {
		t.Errorf("other account: %d, want 200", got)
	}
	// ...until the address has used its 30 attempts (6 so far: a refused
	// attempt of a waiting account does not count).
	for i := 6; i < 30; i++ {
		login(fmt.Sprintf("nobody%d@example.test", i), "x")
	}
	res := c.doWith("POST", "/api/0/auth/login/", map[string]string{"email": "viewer@example.test", "password": f.password},
		map[string]string{"X-Forwarded-For": "203.0.113.7"})
	if res.status != 429 || res.header.Get("Retry-After") == "" {
		t.Errorf("address limit: %d Retry-After=%q", res.status, res.header.Get("Retry-After"))
	}
}

var resetLink = regexp.MustCompile(`(http://[^\s]+/auth/reset-password/)([A-Za-z0-9_-]+)/`)

func TestPasswordResetByMail(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	old := e.session(f.users["member"])
	oldToken, _ := e.token(f.users["member"], "read")
	c := e.anonymous()
	if res := c.do("POST", "/api/0/auth/password-reset/", map[string]string{"email": "nobody@example.test"}); res.status != 202 {
		t.Fatalf("unknown address: %d", res.status)
	}
	if res := c.do("POST", "/api/0/auth/password-reset/", map[string]string{"email": "member@example.test"}); res.status != 202 {
		t.Fatalf("reset: %d %s", res.status, res.body)
	}
	m := e.mail.next(t)
	if m.to[0] != "member@example.test" || m.from != "faultline@example.test" || m.msg.Header.Get("To") != "<member@example.test>" {
		t.Errorf("envelope from %q to %v, header To %q", m.from, m.to, m.msg.Header.Get("To"))
	}
	if !strings.Contains(m.msg.Header.Get("Subject"), "Reset your Faultline password") {
		t.Errorf("subject %q", m.msg.Header.Get("Subject"))
	}
	match := resetLink.FindStringSubmatch(m.body)
	if match == nil || match[1] != e.srv.URL+"/auth/reset-password/" {
		t.Fatalf("no reset link to %s in:\n%s", e.srv.URL, m.body)
	}
	tok := match[2]
	if res := c.do("POST", "/api/0/auth/password-reset/confirm/", map[string]string{"token": tok, "password": "short"}); res.status != 400 {
		t.Errorf("short password: %d", res.status)
	}
	if res := c.do("POST", "/api/0/auth/password-reset/confirm/", map[string]string{"token": tok, "password": "a brand new password"}); res.status != 204 {
		t.Fatalf("confirm: %d %s", res.status, res.body)
	}
	if res := c.do("POST", "/api/0/auth/password-reset/confirm/", map[string]string{"token": tok, "password": "yet another password"}); res.status != 400 {
		t.Errorf("token reused: %d", res.status)
	}
	if res := old.do("GET", "/api/0/users/me/", nil); res.status != 401 {
		t.Errorf("old session after reset: %d", res.status)
	}
	if res := e.withToken(oldToken).do("GET", "/api/0/users/me/", nil); res.status != 401 {
		t.Errorf("API token minted before the reset still works: %d", res.status)
	}
	if res := c.do("POST", "/api/0/auth/login/", map[string]string{"email": "member@example.test", "password": "a brand new password"}); res.status != 200 {
		t.Errorf("sign in with the new password: %d", res.status)
	}
	select {
	case extra := <-e.mail.msgs:
		t.Errorf("mail sent for an unknown address: %v", extra.to)
	default:
	}
}

var inviteLink = regexp.MustCompile(`/accept-invite/([A-Za-z0-9_-]+)/`)

func TestInvitationByMail(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	admin := e.session(f.users["admin"])
	res := admin.do("POST", "/api/0/organizations/acme/members/", map[string]any{"email": "New.Person@Example.test", "orgRole": "member", "teams": []string{"backend"}})
	if res.status != 201 {
		t.Fatalf("invite: %d %s", res.status, res.body)
	}
	inv := res.obj(t)
	if inv["pending"] != true || inv["email"] != "new.person@example.test" || inv["role"] != "member" {
		t.Errorf("invitation %s", res.body)
	}
	if res := admin.do("POST", "/api/0/organizations/acme/members/", map[string]any{"email": "x@example.test", "orgRole": "owner"}); res.status != 403 {
		t.Errorf("admin inviting an owner: %d", res.status)
	}
	m := e.mail.next(t)
	if m.to[0] != "new.person@example.test" || !strings.Contains(m.msg.Header.Get("Subject"), "Acme Corp") ||
		!strings.Contains(m.body, "Admin (admin@example.test) invited you") {
		t.Errorf("mail to %v subject %q body:\n%s", m.to, m.msg.Header.Get("Subject"), m.body)
	}
	match := inviteLink.FindStringSubmatch(m.body)
	if match == nil || !strings.Contains(m.body, e.srv.URL+"/accept-invite/") {
		t.Fatalf("no invitation link in:\n%s", m.body)
	}
	c := e.anonymous()
	if res := c.do("POST", "/api/0/accept-invite/", map[string]string{"token": "bogus", "password": "long enough pw"}); res.status != 400 {
		t.Errorf("bogus token: %d", res.status)
	}
	res = c.do("POST", "/api/0/accept-invite/", map[string]string{"token": match[1], "name": "New Person", "password": "long enough pw"})
	if res.status != 200 {
		t.Fatalf("accept: %d %s", res.status, res.body)
	}
	if got := res.obj(t)["organization"].(map[string]any)["slug"]; got != "acme" {
		t.Errorf("accepted into %v", got)
	}
	if res := c.do("POST", "/api/0/accept-invite/", map[string]string{"token": match[1], "password": "long enough pw"}); res.status != 400 {
		t.Errorf("token reused: %d", res.status)
	}
	newbie := e.browser("new.person@example.test", "long enough pw")
	var me map[string]any
	newbie.do("GET", "/api/0/organizations/acme/members/me/", nil).json(t, &me)
	if me["role"] != "member" || me["pending"] != false || fmt.Sprint(me["teams"]) != "[backend]" {
		t.Errorf("membership %v", me)
	}
	if res := newbie.do("GET", "/api/0/projects/acme/web/keys/", nil); res.status != 200 {
		t.Errorf("new member reads keys: %d", res.status)
	}
}

func TestAPITokens(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	ctx := context.Background()
	// The owner is also a member of rival, to show an org-limited token stays in its org.
	if err := e.store.AddMember(ctx, f.other.ID, f.users["owner"].ID, "member"); err != nil {
		t.Fatal(err)
	}
	s := e.session(f.users["owner"])
	res := s.do("POST", "/api/0/api-tokens/", map[string]any{"name": "ci", "scopes": []string{"org:read", "project:write"}, "organization": "acme"})
	if res.status != 201 {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	created := res.obj(t)
	tok, _ := created["token"].(string)
	if !strings.HasPrefix(tok, "flt_") || fmt.Sprint(created["scopes"]) != "[read write]" || created["organization"] != "acme" {
		t.Fatalf("created %s", res.body)
	}
	list := s.do("GET", "/api/0/api-tokens/", nil)
	if strings.Contains(string(list.body), tok) || !strings.Contains(string(list.body), tok[len(tok)-4:]) {
		t.Errorf("list shows the token or not its last characters: %s", list.body)
	}
	var stored int
	e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM api.api_tokens WHERE token_hash = convert_to($1, 'UTF8')`, tok).Scan(&stored)
	if stored != 0 {
		t.Error("token stored in clear")
	}
	c := e.withToken(tok)
	checks := []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/0/projects/acme/web/", 200},
		{"POST", "/api/0/projects/acme/web/keys/", 201},
		{"GET", "/api/0/organizations/rival/", 404}, // a member, but the token is for acme only
		{"POST", "/api/0/organizations/", 403},      // no admin scope
		{"GET", "/api/0/api-tokens/", 403},          // tokens do not manage tokens
	}
	for _, ck := range checks {
		if res := c.do(ck.method, ck.path, map[string]string{"name": "Made By Token"}); res.status != ck.want {
			t.Errorf("%s %s: %d, want %d (%s)", ck.method, ck.path, res.status, ck.want, res.body)
		}
	}
	var orgs []map[string]any
	c.do("GET", "/api/0/organizations/", nil).json(t, &orgs)
	if len(orgs) != 1 || orgs[0]["slug"] != "acme" {
		t.Errorf("organisations of an acme token: %v", orgs)
	}

	// A project token sees that project only.
	ptok := s.do("POST", "/api/0/api-tokens/", map[string]any{"scopes": []string{"read"}, "organization": "acme", "project": "web"}).obj(t)["token"].(string)
	if _, err := e.store.CreateTeamProject(ctx, f.team, "Second", "", ""); err != nil {
		t.Fatal(err)
	}
	p := e.withToken(ptok)
	for path, want := range map[string]int{
		"/api/0/projects/acme/web/keys/":   200,
		"/api/0/projects/acme/second/":     404,
		"/api/0/organizations/acme/teams/": 403,
	} {
		if res := p.do("GET", path, nil); res.status != want {
			t.Errorf("project token GET %s: %d, want %d", path, res.status, want)
		}
	}
	var projects []map[string]any
	p.do("GET", "/api/0/projects/", nil).json(t, &projects)
	if len(projects) != 1 || projects[0]["slug"] != "web" {
		t.Errorf("projects of a project token: %v", projects)
	}

	// Revoked: 401 at once.
	if res := s.do("DELETE", "/api/0/api-tokens/"+created["id"].(string)+"/", nil); res.status != 204 {
		t.Fatalf("revoke: %d %s", res.status, res.body)
	}
	if res := c.do("GET", "/api/0/projects/acme/web/", nil); res.status != 401 || res.header.Get("WWW-Authenticate") == "" {
		t.Errorf("revoked token: %d", res.status)
	}
}

func TestPaginationLinks(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	for i := 0; i < 4; i++ {
		if _, err := e.store.CreateTeam(context.Background(), f.acme.ID, fmt.Sprintf("Team %d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	c := e.session(f.users["viewer"])
	var slugs []string
	next := "/api/0/organizations/acme/teams/?per_page=2"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		res := c.do("GET", next, nil)
		var teams []map[string]any
		res.json(t, &teams)
		for _, tm := range teams {
			slugs = append(slugs, tm["slug"].(string))
		}
		link := res.header.Get("Link")
		m := regexp.MustCompile(`<([^>]+)>; rel="next"; results="(true|false)"; cursor="0:(\d+):0"`).FindStringSubmatch(link)
		if m == nil || !strings.Contains(link, `rel="previous"`) {
			t.Fatalf("Link %q", link)
		}
		next = ""
		if m[2] == "true" {
			next = m[1]
		}
	}
	if got := strings.Join(slugs, ","); got != "backend,team-0,team-1,team-2,team-3" {
		t.Errorf("pages gave %s", got)
	}
	for _, bad := range []string{"cursor=abc", "cursor=0:-1:0", "per_page=0", "per_page=101"} {
		if res := c.do("GET", "/api/0/organizations/acme/teams/?"+bad, nil); res.status != 400 {
			t.Errorf("%s: %d", bad, res.status)
		}
	}
}

func TestUnavailableUntilPostgres(t *testing.T) {
	a, err := api.New(api.Options{PublicURL: "http://localhost:8080"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	a.Mount(r)
	for _, rt := range a.Routes() {
		req, _ := http.NewRequest(rt.Method, "http://x"+fillPath(rt.Path, map[string]string{"org": "a", "project": "b", "team": "c", "member_id": "1", "key_id": "k", "token_id": "1"}), nil)
		w := newRecorder()
		r.ServeHTTP(w, req)
		if w.status != 503 || !strings.Contains(w.body.String(), `"detail"`) {
			t.Errorf("%s %s: %d %s", rt.Method, rt.Path, w.status, w.body.String())
		}
	}
}

func TestOpenAPIGolden(t *testing.T) {
	e := newRestEnv(t)
	res := e.anonymous().do("GET", "/api/0/openapi.json", nil)
	if res.status != 200 {
		t.Fatalf("%d", res.status)
	}
	var doc struct {
		Paths map[string]map[string]any
	}
	res.json(t, &doc)
	for _, rt := range e.api.Routes() {
		if doc.Paths[rt.Path][strings.ToLower(rt.Method)] == nil {
			t.Errorf("%s %s missing from openapi.json", rt.Method, rt.Path)
		}
	}
	// The golden file is the document with a fixed server URL.
	b, _ := json.MarshalIndent(e.api.OpenAPI(), "", "  ")
	got := strings.ReplaceAll(string(b), e.srv.URL, "http://localhost:8080") + "\n"
	golden := filepath.Join("testdata", "openapi.json")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("openapi.json differs from %s; run go test -run TestOpenAPIGolden -update and review the diff", golden)
	}
}

// TestKeyChangesReachGateway: every key change made through the API reaches
// the gateway's KV bucket through the NOTIFY trigger and KeySync.
func TestKeyChangesReachGateway(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	ns := natstest.Start(t)
	nc := ns.Connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv, err := nc.JS.CreateKeyValue(ctx, streams.KeysConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	ks := accounts.NewKeySync(e.store, kv, slog.New(slog.DiscardHandler))
	ks.Interval = time.Hour // only NOTIFY may deliver changes in this test
	done := make(chan struct{})
	go func() { ks.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// wait polls the bucket until cond holds for the key (at most 30 s).
	wait := func(what, public string, cond func(*projectkeys.Key) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var k *projectkeys.Key
			if ent, err := kv.Get(ctx, public); err == nil {
				k = &projectkeys.Key{}
				json.Unmarshal(ent.Value(), k)
			} else if err != jetstream.ErrKeyNotFound {
				t.Fatal(err)
			}
			if cond(k) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: bucket has %+v", what, k)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("initial reconcile", f.key.PublicKey, func(k *projectkeys.Key) bool { return k != nil })

	c := e.session(f.users["member"])
	res := c.do("POST", "/api/0/projects/acme/web/keys/", map[string]any{"name": "CI", "rateLimit": map[string]int{"window": 3600, "count": 500}})
	if res.status != 201 {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	pk := res.obj(t)["id"].(string)
	wait("created", pk, func(k *projectkeys.Key) bool {
		return k != nil && k.RateLimit != nil && *k.RateLimit == projectkeys.RateLimit{Count: 500, Window: 3600} && k.ProjectID == f.project.ID
	})
	// Any window Sentry accepts, from a minute to a day.
	if res := c.do("PUT", "/api/0/projects/acme/web/keys/"+pk+"/", map[string]any{"rateLimit": map[string]int{"window": 90, "count": 3}}); res.status != 200 {
		t.Fatalf("90 s window: %d %s", res.status, res.body)
	}
	wait("90 s window", pk, func(k *projectkeys.Key) bool {
		return k != nil && k.RateLimit != nil && *k.RateLimit == projectkeys.RateLimit{Count: 3, Window: 90}
	})

	if res := c.do("PUT", "/api/0/projects/acme/web/keys/"+pk+"/", map[string]any{"isActive": false, "rateLimits": map[string]int{"perMinute": 7}}); res.status != 200 {
		t.Fatalf("update: %d %s", res.status, res.body)
	}
	wait("disabled", pk, func(k *projectkeys.Key) bool { return k != nil && k.Disabled && k.RateLimitPerMinute == 7 })

	res = c.do("POST", "/api/0/projects/acme/web/keys/"+pk+"/rotate/", nil)
	if res.status != 200 {
		t.Fatalf("rotate: %d %s", res.status, res.body)
	}
	rotated := res.obj(t)["id"].(string)
	wait("rotated: old key gone", pk, func(k *projectkeys.Key) bool { return k == nil })
	wait("rotated: new key present", rotated, func(k *projectkeys.Key) bool { return k != nil && k.Disabled })

	if res := c.do("DELETE", "/api/0/projects/acme/web/keys/"+rotated+"/", nil); res.status != 204 {
		t.Fatalf("delete: %d", res.status)
	}
	wait("deleted", rotated, func(k *projectkeys.Key) bool { return k == nil })

	admin := e.session(f.users["admin"])
	if res := admin.do("PUT", "/api/0/projects/acme/web/", map[string]any{"allowedDomains": []string{"https://shop.example"}}); res.status != 200 {
		t.Fatalf("allowed domains: %d %s", res.status, res.body)
	}
	wait("allowed origins", f.key.PublicKey, func(k *projectkeys.Key) bool {
		return k != nil && len(k.AllowedOrigins) == 1 && k.AllowedOrigins[0] == "https://shop.example"
	})
	if res := admin.do("DELETE", "/api/0/projects/acme/web/", nil); res.status != 204 {
		t.Fatalf("delete project: %d", res.status)
	}
	wait("project deleted", f.key.PublicKey, func(k *projectkeys.Key) bool { return k == nil })
}

// An invitation addressed to an existing account signs in as that account
// only with its password: the invitation alone is not a credential.
func TestInvitationForExistingAccountNeedsItsPassword(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	admin := e.session(f.users["admin"])
	if res := admin.do("POST", "/api/0/organizations/acme/members/", map[string]any{"email": "other@example.test", "orgRole": "member"}); res.status != 201 {
		t.Fatalf("invite: %d %s", res.status, res.body)
	}
	match := inviteLink.FindStringSubmatch(e.mail.next(t).body)
	if match == nil {
		t.Fatal("no invitation link")
	}
	c := e.anonymous()
	res := c.do("POST", "/api/0/accept-invite/", map[string]string{"token": match[1], "password": "any password at all"})
	if res.status != 400 || c.cookie(accounts.SessionCookie) != "" {
		t.Fatalf("accepted for an existing account with a wrong password: %d %s", res.status, res.body)
	}
	res = c.do("POST", "/api/0/accept-invite/", map[string]string{"token": match[1], "password": f.password})
	if res.status != 200 {
		t.Fatalf("accepted with the account's password: %d %s", res.status, res.body)
	}
}

// TestOrganizationCreationIsForSuperusers: on a fresh install only
// superusers create organisations; ALLOW_ORG_CREATION=all lets everyone.
func TestOrganizationCreationIsForSuperusers(t *testing.T) {
	for _, all := range []bool{false, true} {
		e := newRestEnv(t, func(o *api.Options) { o.AllowOrgCreation = all })
		f := e.fixture()
		su, err := e.store.CreateUser(context.Background(), accounts.NewUser{Email: "root@example.test", Password: f.password, Superuser: true})
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]int{false: 403, true: 201}[all]
		if res := e.session(f.users["member"]).do("POST", "/api/0/organizations/", map[string]string{"name": "Spam Co"}); res.status != want {
			t.Errorf("AllowOrgCreation=%v: a user creating an organisation: %d, want %d: %s", all, res.status, want, res.body)
		}
		if res := e.session(su).do("POST", "/api/0/organizations/", map[string]string{"name": fmt.Sprint("Root Co ", all)}); res.status != 201 {
			t.Errorf("AllowOrgCreation=%v: a superuser creating an organisation: %d: %s", all, res.status, res.body)
		}
	}
}

// TestInvitationsLimited: an inviter sends at most 20 invitations an hour
// to one organisation, so an account is no spam cannon; other inviters
// are not held back by it.
func TestInvitationsLimited(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	admin := e.session(f.users["admin"])
	for i := 0; i < 20; i++ {
		res := admin.do("POST", "/api/0/organizations/acme/members/", map[string]any{"email": fmt.Sprintf("p%d@example.test", i)})
		if res.status != 201 {
			t.Fatalf("invitation %d: %d %s", i, res.status, res.body)
		}
		e.mail.next(t)
	}
	res := admin.do("POST", "/api/0/organizations/acme/members/", map[string]any{"email": "p20@example.test"})
	if res.status != 429 || res.header.Get("Retry-After") == "" {
		t.Errorf("21st invitation in the hour: %d Retry-After=%q %s", res.status, res.header.Get("Retry-After"), res.body)
	}
	if res := e.session(f.users["owner"]).do("POST", "/api/0/organizations/acme/members/", map[string]any{"email": "p21@example.test"}); res.status != 201 {
		t.Errorf("another inviter: %d %s", res.status, res.body)
	}
}

// TestPasswordChangeGuessesLimited: a stolen session cannot guess the
// current password: after five wrong ones the change waits, even with the
// right one.
func TestPasswordChangeGuessesLimited(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	s := e.session(f.users["member"])
	for i := 0; i < 5; i++ {
		if res := s.do("PUT", "/api/0/users/me/password/", map[string]string{"password": "guess", "passwordNew": "a new long password"}); res.status != 400 {
			t.Fatalf("guess %d: %d %s", i, res.status, res.body)
		}
	}
	res := s.do("PUT", "/api/0/users/me/password/", map[string]string{"password": f.password, "passwordNew": "a new long password"})
	if res.status != 429 || res.header.Get("Retry-After") == "" {
		t.Errorf("right password at once after five guesses: %d Retry-After=%q", res.status, res.header.Get("Retry-After"))
	}
}

// TestNotificationSettings: each user reads and changes their own digest
// settings; a change merges into what is stored, bad values and unknown
// fields are refused and change nothing, and no one else's change.
func TestNotificationSettings(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	owner, member := e.session(f.users["owner"]), e.session(f.users["member"])
	var got map[string]any
	owner.do("GET", "/api/0/users/me/notifications/", nil).json(t, &got)
	if got["dailyDigest"] != false || got["weeklyReports"] != false || got["digestHour"] != float64(9) || got["timezone"] != "UTC" {
		t.Fatalf("defaults: %v", got)
	}
	res := owner.do("PUT", "/api/0/users/me/notifications/", map[string]any{"dailyDigest": true, "timezone": "Europe/Paris"})
	if res.status != 200 {
		t.Fatalf("PUT: %d %s", res.status, res.body)
	}
	owner.do("PUT", "/api/0/users/me/notifications/", map[string]any{"digestHour": 7}).json(t, &got)
	if got["dailyDigest"] != true || got["timezone"] != "Europe/Paris" || got["digestHour"] != float64(7) || got["weeklyReports"] != false {
		t.Fatalf("after two changes: %v", got)
	}
	for _, bad := range []map[string]any{{"timezone": "Mars/Olympus"}, {"digestHour": 24}, {"digestHour": -1}, {"dailyDigets": true}} {
		if res := owner.do("PUT", "/api/0/users/me/notifications/", bad); res.status != 400 {
			t.Errorf("PUT %v: %d %s, want 400", bad, res.status, res.body)
		}
	}
	owner.do("GET", "/api/0/users/me/notifications/", nil).json(t, &got)
	if got["timezone"] != "Europe/Paris" || got["digestHour"] != float64(7) {
		t.Errorf("refused changes changed something: %v", got)
	}
	member.do("GET", "/api/0/users/me/notifications/", nil).json(t, &got)
	if got["dailyDigest"] != false || got["timezone"] != "UTC" {
		t.Errorf("another user's settings: %v", got)
	}
	if res := e.anonymous().do("GET", "/api/0/users/me/notifications/", nil); res.status != 401 {
		t.Errorf("signed out: %d", res.status)
	}
}
