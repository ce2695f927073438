package api

import (
	"time"

	"github.com/faultline/faultline/libs/accounts"
)

// Sign-in, sign-out, passwords and invitations: the flows are the
// accounts' (libs/accounts), which the dashboard calls too; these routes
// only read the JSON and write the session.

type loginRequest struct {
	Email    string `json:"email"`
	Username string `json:"username"` // Sentry's sign-in form calls it username
	Password string `json:"password"`
}

// Session is a new browser session: its user and the CSRF token its
// state-changing requests send; Organization is the one an accepted
// invitation joined.
type Session struct {
	User         User          `json:"user"`
	CSRFToken    string        `json:"csrfToken"`
	Organization *Organization `json:"organization,omitempty"`
}

// User is a user as Sentry answers it.
type User struct {
	ID          string      `json:"id"`
	Email       string      `json:"email"`
	Username    string      `json:"username"`
	Name        string      `json:"name"`
	IsSuperuser bool        `json:"isSuperuser"`
	IsActive    bool        `json:"isActive"`
	DateJoined  time.Time   `json:"dateJoined"`
	LastLogin   *time.Time  `json:"lastLogin"`
	Has2fa      bool        `json:"has2fa"`
	Emails      []UserEmail `json:"emails"`
}

// UserEmail is one of a user's addresses.
type UserEmail struct {
	Email      string `json:"email"`
	IsVerified bool   `json:"is_verified"`
}

func (a *API) sessionJSON(u *accounts.User, session string) Session {
	return Session{User: userJSON(u), CSRFToken: a.acc.Auth().CSRFToken(session)}
}

func (a *API) login(c *call) (any, error) {
	var req loginRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.Email == "" {
		req.Email = req.Username
	}
	u, err := a.acc.SignIn(c.r.Context(), req.Email, req.Password, a.acc.Auth().ClientIP(c.r))
	if err != nil {
		return nil, err
	}
	return a.startSession(c, u)
}

func (a *API) startSession(c *call, u *accounts.User) (*Session, error) {
	tok, err := a.acc.StartSession(c.w, c.r, u)
	if err != nil {
		return nil, err
	}
	s := a.sessionJSON(u, tok)
	return &s, nil
}

func (a *API) logout(c *call) (any, error) {
	if err := c.store.DeleteSession(c.r.Context(), c.p.Session); err != nil {
		return nil, err
	}
	a.acc.Auth().ClearSessionCookies(c.w)
	return nil, nil
}

func (a *API) me(c *call) (any, error) { return userJSON(c.p.User), nil }

func (a *API) notificationSettings(c *call) (any, error) {
	return c.store.NotificationSettings(c.r.Context(), c.p.User.ID)
}

// setNotificationSettings merges the body into the stored settings: a
// field left out keeps its value, an unknown one is refused.
func (a *API) setNotificationSettings(c *call) (any, error) {
	ctx := c.r.Context()
	n, err := c.store.NotificationSettings(ctx, c.p.User.ID)
	if err != nil {
		return nil, err
	}
	if err := c.decodeStrict(&n); err != nil {
		return nil, err
	}
	if err := c.store.SetNotificationSettings(ctx, c.p.User.ID, n); err != nil {
		return nil, err
	}
	return n, nil
}

func (a *API) changePassword(c *call) (any, error) {
	var req struct {
		Password    string `json:"password"`
		PasswordNew string `json:"passwordNew"`
		KeepTokens  bool   `json:"keepTokens"` // the API tokens are revoked unless true
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := a.acc.ChangePassword(c.r.Context(), c.p.User, req.Password, req.PasswordNew, req.KeepTokens); err != nil {
		return nil, err
	}
	// Every session ended, this one too: start a fresh one.
	_, err := a.acc.StartSession(c.w, c.r, c.p.User)
	return nil, err
}

func (a *API) requestPasswordReset(c *call) (any, error) {
	var req struct {
		Email string `json:"email"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := a.acc.RequestPasswordReset(c.r.Context(), req.Email, a.acc.Auth().ClientIP(c.r)); err != nil {
		return nil, err
	}
	return map[string]string{"detail": "If the address has an account, a reset link is on its way."}, nil
}

func (a *API) resetPassword(c *call) (any, error) {
	var req struct {
		Token      string `json:"token"`
		Password   string `json:"password"`
		KeepTokens bool   `json:"keepTokens"` // the API tokens are revoked unless true
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	return nil, a.acc.ResetPassword(c.r.Context(), req.Token, req.Password, a.acc.Auth().ClientIP(c.r), req.KeepTokens)
}

func (a *API) acceptInvite(c *call) (any, error) {
	var req struct {
		Token    string `json:"token"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	u, inv, err := a.acc.AcceptInvitation(c.r.Context(), req.Token, req.Name, req.Password, a.acc.Auth().ClientIP(c.r))
	if err != nil {
		return nil, err
	}
	body, err := a.startSession(c, u)
	if err != nil {
		return nil, err
	}
	org := orgJSON(inv.Org, accounts.RoleLevel(inv.Role), inv.Role)
	body.Organization = &org
	return body, nil
}

func userJSON(u *accounts.User) User {
	return User{ID: idString(u.ID), Email: u.Email, Username: u.Email, Name: u.Name,
		IsSuperuser: u.IsSuperuser, IsActive: u.IsActive, DateJoined: u.CreatedAt, LastLogin: u.LastLoginAt,
		Emails: []UserEmail{{Email: u.Email, IsVerified: true}}}
}
