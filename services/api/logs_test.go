package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/accounts"
)

// TestRequestLogsHoldNoSecrets runs a whole sign-in, API token, password
// reset and invitation through the API and reads its log: one "request"
// line per request with its method, route pattern, status, duration and
// who asked (user and token ids), and not one of the passwords, session,
// CSRF, API, reset or invitation tokens the run used.
func TestRequestLogsHoldNoSecrets(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	var secrets []string
	requests := 0
	do := func(c *client, method, path string, body any, status int) response {
		t.Helper()
		requests++
		res := c.do(method, path, body)
		if res.status != status {
			t.Fatalf("%s %s: %d %s, want %d", method, path, res.status, res.body, status)
		}
		return res
	}

	// Sign in, and a wrong password.
	browser := e.anonymous()
	do(browser, "POST", "/api/0/auth/login/", map[string]string{"email": "owner@example.test", "password": "wrong password, twice"}, 401)
	owner := e.browser("owner@example.test", f.password)
	requests++
	secrets = append(secrets, f.password, "wrong password, twice", owner.cookie(accounts.SessionCookie), owner.cookie(accounts.CSRFCookie))

	// An API token, shown once, used, and a bad one.
	tok := do(owner, "POST", "/api/0/api-tokens/", map[string]any{"scopes": []string{"read"}, "name": "logs"}, 201).obj(t)["token"].(string)
	secrets = append(secrets, tok)
	do(e.withToken(tok), "GET", "/api/0/organizations/acme/", nil, 200)
	do(e.withToken(tok+"x"), "GET", "/api/0/organizations/acme/", nil, 401)

	// A password reset by mail.
	anon := e.anonymous()
	do(anon, "POST", "/api/0/auth/password-reset/", map[string]string{"email": "member@example.test"}, 202)
	reset := resetLink.FindStringSubmatch(e.mail.next(t).body)
	if reset == nil {
		t.Fatal("no reset link")
	}
	secrets = append(secrets, reset[2], "a brand new password")
	do(anon, "POST", "/api/0/auth/password-reset/confirm/", map[string]string{"token": reset[2], "password": "a brand new password"}, 204)
	do(anon, "POST", "/api/0/auth/password-reset/confirm/", map[string]string{"token": reset[2], "password": "a brand new password"}, 400)

	// An invitation, accepted.
	do(owner, "POST", "/api/0/organizations/acme/members/", map[string]any{"email": "newbie@example.test", "orgRole": "member"}, 201)
	invite := inviteLink.FindStringSubmatch(e.mail.next(t).body)
	if invite == nil {
		t.Fatal("no invitation link")
	}
	secrets = append(secrets, invite[1], "newbie's long password")
	do(anon, "POST", "/api/0/accept-invite/", map[string]string{"token": invite[1], "name": "Newbie", "password": "newbie's long password"}, 200)
	do(anon, "POST", "/api/0/accept-invite/", map[string]string{"token": invite[1], "password": "newbie's long password"}, 400)

	// Lines are written once the answer is sent: wait for all of them.
	var lines []map[string]any
	waitUntil(t, "a line per request", func() bool {
		lines = nil
		for _, l := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			if rec["msg"] == "request" {
				lines = append(lines, rec)
			}
		}
		return len(lines) >= requests
	})
	time.Sleep(50 * time.Millisecond)
	if len(lines) != requests {
		t.Errorf("%d request lines for %d requests", len(lines), requests)
	}
	log := e.logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("the log holds a secret the run used (%.6s…)", s)
		}
	}
	byRoute := map[string]map[string]any{} // chi's route patterns drop the trailing slash
	for _, l := range lines {
		for _, k := range []string{"method", "route", "status", "duration_ms"} {
			if l[k] == nil {
				t.Errorf("line without %s: %v", k, l)
			}
		}
		byRoute[fmt.Sprint(l["method"], " ", l["route"], " ", l["status"])] = l
	}
	ownerID, ok := byRoute["POST /api/0/api-tokens 201"]["user_id"].(float64)
	if !ok || int64(ownerID) != f.users["owner"].ID {
		t.Errorf("token creation line names user %v, want %d", byRoute["POST /api/0/api-tokens 201"]["user_id"], f.users["owner"].ID)
	}
	if l := byRoute["GET /api/0/organizations/{org} 200"]; l["token_id"] == nil || l["user_id"] == nil {
		t.Errorf("the token's request line %v, want its user and token ids", l)
	}
	if byRoute[fmt.Sprint("POST /api/0/auth/password-reset/confirm ", http.StatusBadRequest)] == nil {
		t.Errorf("no line for the refused reset; lines %v", byRoute)
	}
}
