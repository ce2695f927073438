package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/accounts"
)

// TestDashboardLogsHoldNoSecrets signs in, resets a password and accepts
// an invitation through the dashboard, whose reset and invitation pages
// carry their tokens in the path, and reads the log: a "request" line for
// every request, named by route pattern, with the signed-in user's id, and
// not one token or password the run used.
func TestDashboardLogsHoldNoSecrets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.user("owner@example.test", false)
	e.project("acme", "web", map[*accounts.User]string{u: accounts.RoleOwner})
	org, _, err := e.store.OrgRole(ctx, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}

	b := e.signIn(u.Email)
	if p := b.get("/"); p.status != http.StatusOK {
		t.Fatalf("projects page: %d", p.status)
	}
	session := ""
	su, _ := url.Parse(e.srv.URL)
	for _, c := range b.c.Jar.Cookies(su) {
		if c.Name == accounts.SessionCookie {
			session = c.Value
		}
	}

	_, reset, err := e.store.CreatePasswordReset(ctx, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	resetPage := "/auth/reset-password/" + reset + "/"
	form := url.Values{"password": {"a brand new password"}, "password_again": {"a brand new password"}}
	if p := e.anonymous().submit(resetPage, resetPage, form); p.status != http.StatusSeeOther {
		t.Fatalf("reset: %d\n%s", p.status, p.body)
	}

	_, invite, err := e.store.InviteMember(ctx, org.ID, u.ID, "newbie@example.test", accounts.RoleMember, nil)
	if err != nil {
		t.Fatal(err)
	}
	invitePage := "/accept-invite/" + invite + "/"
	if p := e.anonymous().submit(invitePage, invitePage, url.Values{"name": {"Newbie"}, "password": {"newbie's long password"}}); p.status != http.StatusSeeOther {
		t.Fatalf("accept invitation: %d\n%s", p.status, p.body)
	}

	time.Sleep(100 * time.Millisecond) // lines are written once the answer is sent
	log := e.logs.String()
	for _, s := range []string{password, session, reset, invite, "a brand new password", "newbie's long password"} {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("the log holds a secret the run used (%.6s…)", s)
		}
	}
	routes := map[string]bool{}
	signedIn := false
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if rec["msg"] != "request" {
			continue
		}
		routes[rec["method"].(string)+" "+rec["route"].(string)] = true
		if rec["route"] == "/" && rec["user_id"] == float64(u.ID) {
			signedIn = true
		}
	}
	// chi's route patterns drop the trailing slash.
	for _, want := range []string{"POST /auth/login", "GET /", "GET /auth/reset-password/{token}", "POST /auth/reset-password/{token}",
		"GET /accept-invite/{token}", "POST /accept-invite/{token}"} {
		if !routes[want] {
			t.Errorf("no request line for %s; lines for %v", want, routes)
		}
	}
	if !signedIn {
		t.Error("the signed-in request's line does not name its user")
	}
}
