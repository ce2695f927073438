package api_test

import "testing"

// TestPasswordResetAndChangeCanKeepTokens: a reset or a change of password
// ends every session and, unless the user asks to keep them (keepTokens),
// revokes the user's API tokens (TestPasswordResetByMail checks the
// default for a reset).
func TestPasswordResetAndChangeCanKeepTokens(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	old := e.session(f.users["member"])
	token, _ := e.token(f.users["member"], "read")
	works := func(tok string) bool {
		t.Helper()
		return e.withToken(tok).do("GET", "/api/0/users/me/", nil).status == 200
	}
	if !works(token) {
		t.Fatal("a fresh token does not work")
	}

	c := e.anonymous()
	if res := c.do("POST", "/api/0/auth/password-reset/", map[string]string{"email": "member@example.test"}); res.status != 202 {
		t.Fatalf("reset: %d %s", res.status, res.body)
	}
	match := resetLink.FindStringSubmatch(e.mail.next(t).body)
	if match == nil {
		t.Fatal("no reset link")
	}
	if res := c.do("POST", "/api/0/auth/password-reset/confirm/", map[string]any{"token": match[2], "password": "a brand new password", "keepTokens": true}); res.status != 204 {
		t.Fatalf("confirm: %d %s", res.status, res.body)
	}
	if res := old.do("GET", "/api/0/users/me/", nil); res.status != 401 {
		t.Errorf("session after a reset keeping tokens: %d, want 401", res.status)
	}
	if !works(token) {
		t.Error("the API token was revoked by a reset that keeps tokens")
	}
	if res := c.do("POST", "/api/0/auth/password-reset/confirm/", map[string]any{"token": match[2], "password": "x", "keepTokens": "yes"}); res.status != 400 {
		t.Errorf("keepTokens not a boolean: %d", res.status)
	}

	// Changing the password: kept when asked, revoked by default.
	b := e.browser("member@example.test", "a brand new password")
	if res := b.do("PUT", "/api/0/users/me/password/", map[string]any{"password": "a brand new password", "passwordNew": "the third password", "keepTokens": true}); res.status != 204 {
		t.Fatalf("change keeping tokens: %d %s", res.status, res.body)
	}
	if !works(token) {
		t.Error("the API token was revoked by a change that keeps tokens")
	}
	if res := b.do("PUT", "/api/0/users/me/password/", map[string]any{"password": "the third password", "passwordNew": "the fourth password"}); res.status != 204 {
		t.Fatalf("change: %d %s", res.status, res.body)
	}
	if works(token) {
		t.Error("the API token still works after a change that does not keep tokens")
	}
}
