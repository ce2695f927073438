package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/accounts"
)

// TestResetPasswordFormKeepsTokensWhenAsked: the dashboard's reset form
// revokes the user's API tokens unless its "Keep my API tokens working"
// box is ticked.
func TestResetPasswordFormKeepsTokensWhenAsked(t *testing.T) {
	e := newEnv(t)
	u := e.user("reset@example.test", false)
	ctx := context.Background()
	for _, keep := range []bool{true, false} {
		_, token, err := e.store.CreateToken(ctx, accounts.NewToken{UserID: u.ID, Scopes: []string{"read"}})
		if err != nil {
			t.Fatal(err)
		}
		_, reset, err := e.store.CreatePasswordReset(ctx, u.Email)
		if err != nil {
			t.Fatal(err)
		}
		page := "/auth/reset-password/" + reset + "/"
		b := e.anonymous()
		if p := b.get(page); !strings.Contains(p.body, `name="keep_tokens"`) {
			t.Fatalf("the reset form has no keep_tokens box:\n%s", p.body)
		}
		form := url.Values{"password": {"a brand new password"}, "password_again": {"a brand new password"}}
		if keep {
			form.Set("keep_tokens", "on")
		}
		if p := b.submit(page, page, form); p.status != http.StatusSeeOther {
			t.Fatalf("keep %v: reset: %d\n%s", keep, p.status, p.body)
		}
		_, _, err = e.store.TokenUser(ctx, token)
		if keep && err != nil {
			t.Errorf("the box ticked, the token was revoked: %v", err)
		}
		if !keep && err == nil {
			t.Error("the box not ticked, the token still works")
		}
	}
}
