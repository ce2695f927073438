package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/faultline/faultline/libs/config"
)

// Options configure the accounts: links in mail, cookies and the proxies
// whose X-Forwarded-For is believed.
type Options struct {
	PublicURL        string
	SecureCookies    bool   // cookies are Secure
	SessionSecretKey string // keys CSRF tokens
	TrustedProxies   []netip.Prefix
	SMTP             config.SMTPConfig
}

// OptionsFrom derives the accounts' options from the process configuration.
func OptionsFrom(c config.Config) Options {
	return Options{PublicURL: c.PublicURL, SecureCookies: c.SecureCookies(), SessionSecretKey: c.SessionSecretKey,
		TrustedProxies: c.Proxies, SMTP: c.SMTP}
}

// Accounts is what the REST API and the dashboard do with people: sign in
// within the limits, passwords, resets and invitations with their mail.
// Both HTTP layers call the same functions, so the limits and the mail are
// the same whichever one a person uses. Its store arrives when Postgres is
// ready; until then Store is nil.
type Accounts struct {
	opt    Options
	store  atomic.Pointer[Store]
	auth   *Authenticator
	mailer *Mailer
	log    *slog.Logger

	loginByIP      *attemptLimiter // every sign-in attempt from an address
	loginByAccount *attemptLimiter // failed sign-ins of one account from one address: growing delays
	passwordCheck  *attemptLimiter // wrong current passwords given to a password change, per user
	mailByIP       *attemptLimiter // password-reset requests and invitation acceptances
	invites        *attemptLimiter // invitations sent, per user and organisation
}

// New returns the accounts; call SetStore once Postgres is ready.
func New(opt Options, log *slog.Logger) (*Accounts, error) {
	pub, err := url.Parse(opt.PublicURL)
	if err != nil || pub.Host == "" {
		return nil, fmt.Errorf("accounts: public URL %q: want an absolute URL", opt.PublicURL)
	}
	a := &Accounts{opt: opt, log: log, mailer: NewMailer(opt.SMTP),
		loginByIP:      newAttemptLimiter("login_ip", 30, 15*time.Minute),
		loginByAccount: newBackoffLimiter("login_account", 5, 15*time.Minute),
		passwordCheck:  newBackoffLimiter("password_check", 5, 15*time.Minute),
		mailByIP:       newAttemptLimiter("mail_ip", 10, 15*time.Minute),
		invites:        newAttemptLimiter("invites", 20, time.Hour),
	}
	a.auth = &Authenticator{store: a.store.Load, secret: []byte(opt.SessionSecretKey), secure: opt.SecureCookies,
		publicURL: pub, proxies: opt.TrustedProxies}
	return a, nil
}

// SetStore makes the accounts work on s.
func (a *Accounts) SetStore(s *Store) { a.store.Store(s) }

// Store is the accounts store, nil until Postgres is ready.
func (a *Accounts) Store() *Store { return a.store.Load() }

// Auth is the authenticator both HTTP layers resolve principals with.
func (a *Accounts) Auth() *Authenticator { return a.auth }

// Mailer is the accounts' mailer; tests point its TLS config at their server.
func (a *Accounts) Mailer() *Mailer { return a.mailer }

// TooManyError is an attempt refused by a limit; Wait is how long until
// the next one may be made.
type TooManyError struct{ Wait time.Duration }

func (e *TooManyError) Error() string { return "too many attempts; retry later" }

// Refusals people see as they are.
var (
	ErrBadCredentials  = errors.New("The email or password is not correct.")
	ErrBadResetLink    = errors.New("the reset link is invalid, used or expired")
	ErrBadInvitation   = errors.New("the invitation is invalid, used or expired")
	ErrCurrentPassword = errors.New("the current password is not correct")
	ErrRoleAboveOwn    = errors.New("You cannot invite someone with a role above your own.")
)

// SignIn checks email and password for a sign-in from address ip. Every
// attempt from an address counts against it; failures count per account
// and address together, with growing delays, so that someone guessing from
// elsewhere can neither lock the owner out nor guess quickly.
func (a *Accounts) SignIn(ctx context.Context, email, password, ip string) (*User, error) {
	s := a.Store()
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" || password == "" || len(email) > 254 {
		return nil, fmt.Errorf("%w: email and password are required", ErrInvalid)
	}
	if wait, ok := a.loginByIP.blocked(ctx, s, ip); ok {
		return nil, &TooManyError{wait}
	}
	accountKey := email + " " + addressKey(ip)
	if wait, ok := a.loginByAccount.blocked(ctx, s, accountKey); ok {
		return nil, &TooManyError{wait}
	}
	a.loginByIP.add(ctx, s, ip)
	u, err := s.Authenticate(ctx, email, password)
	if errors.Is(err, ErrNotFound) {
		a.loginByAccount.add(ctx, s, accountKey)
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	a.loginByAccount.reset(ctx, s, accountKey)
	return u, nil
}

// ChangePassword sets u's password after checking the current one; wrong
// current passwords are limited per user with growing delays, so a stolen
// session cannot guess its way to the password. Every session ends, and
// the user's API tokens are revoked unless keepTokens.
func (a *Accounts) ChangePassword(ctx context.Context, u *User, current, next string, keepTokens bool) error {
	s := a.Store()
	key := fmt.Sprint("user ", u.ID)
	if wait, ok := a.passwordCheck.blocked(ctx, s, key); ok {
		return &TooManyError{wait}
	}
	if !VerifyPassword(u.passwordHash, current) {
		a.passwordCheck.add(ctx, s, key)
		return ErrCurrentPassword
	}
	a.passwordCheck.reset(ctx, s, key)
	return s.SetPassword(ctx, u.ID, next, keepTokens)
}

// link is an absolute link to one of the dashboard's pages with a token.
func (a *Accounts) link(path, token string) string {
	return strings.TrimRight(a.opt.PublicURL, "/") + path + token + "/"
}

// RequestPasswordReset mails a reset link to email if it has an account.
// The answer is the same whether or not it has one, and the mail goes out
// in the background so that timing tells nothing either.
func (a *Accounts) RequestPasswordReset(ctx context.Context, email, ip string) error {
	s := a.Store()
	if wait, ok := a.mailByIP.blocked(ctx, s, ip); ok {
		return &TooManyError{wait}
	}
	a.mailByIP.add(ctx, s, ip)
	if !a.mailer.Enabled() {
		return ErrMailOff
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		u, tok, err := s.CreatePasswordReset(ctx, email)
		if errors.Is(err, ErrNotFound) {
			a.log.Info("password reset for unknown address", slog.String("ip", ip))
			return
		}
		if err == nil {
			err = a.mailer.Send(ctx, u.Email, "Reset your Faultline password", fmt.Sprintf(
				"Someone asked to reset the password of your Faultline account %s.\n\n"+
					"To choose a new password, open this link within %s:\n\n%s\n\n"+
					"If it was not you, ignore this message: your password stays as it is.\n",
				u.Email, resetLifetime, a.link("/auth/reset-password/", tok)))
		}
		if err != nil {
			a.log.Error("password reset mail failed", slog.Any("error", err))
		}
	}()
	return nil
}

// ResetPassword sets a password with a reset link's token. Every session
// ends; the user's API tokens are revoked too, since whoever knew the old
// password may have made some, unless the user chooses keepTokens.
func (a *Accounts) ResetPassword(ctx context.Context, token, password, ip string, keepTokens bool) error {
	s := a.Store()
	if wait, ok := a.mailByIP.blocked(ctx, s, ip); ok {
		return &TooManyError{wait}
	}
	err := s.ResetPassword(ctx, token, password, keepTokens)
	if errors.Is(err, ErrNotFound) {
		a.mailByIP.add(ctx, s, ip)
		return ErrBadResetLink
	}
	return err
}

// AcceptInvitation accepts an invitation for the person at ip: a new
// account with name and password, or the existing account of the invited
// address, which takes that account's password.
func (a *Accounts) AcceptInvitation(ctx context.Context, token, name, password, ip string) (*User, *Invitation, error) {
	s := a.Store()
	if wait, ok := a.mailByIP.blocked(ctx, s, ip); ok {
		return nil, nil, &TooManyError{wait}
	}
	u, inv, err := s.AcceptInvitation(ctx, token, name, password)
	if errors.Is(err, ErrWrongPassword) {
		a.mailByIP.add(ctx, s, ip)
		return nil, nil, err
	}
	if errors.Is(err, ErrNotFound) {
		a.mailByIP.add(ctx, s, ip)
		return nil, nil, ErrBadInvitation
	}
	return u, inv, err
}

// Invite invites email to org with role (at most level, the inviter's)
// and teams, and mails the invitation. Invitations are limited per inviter
// and organisation, so an account cannot be used to send mail in bulk.
func (a *Accounts) Invite(ctx context.Context, org *Organization, by *User, level Level, email, role string, teams []string) (*Member, error) {
	s := a.Store()
	if role == "" {
		role = RoleMember
	}
	if RoleLevel(role) > level {
		return nil, ErrRoleAboveOwn
	}
	var teamIDs []int64
	for _, slug := range teams {
		t, err := s.Team(ctx, org.ID, slug, 0)
		if err != nil {
			return nil, fmt.Errorf("%w: no such team: %s", ErrInvalid, slug)
		}
		teamIDs = append(teamIDs, t.ID)
	}
	if !a.mailer.Enabled() {
		return nil, ErrMailOff
	}
	key := fmt.Sprint("user ", by.ID, " org ", org.ID)
	if wait, ok := a.invites.blocked(ctx, s, key); ok {
		return nil, &TooManyError{wait}
	}
	m, tok, err := s.InviteMember(ctx, org.ID, by.ID, email, role, teamIDs)
	if err != nil {
		return nil, err
	}
	a.invites.add(ctx, s, key)
	inviter := by.Email
	if by.Name != "" {
		inviter = by.Name + " (" + by.Email + ")"
	}
	err = a.mailer.Send(ctx, m.Email, "Join "+org.Name+" on Faultline", fmt.Sprintf(
		"%s invited you to the organization %s on Faultline as %s.\n\n"+
			"To accept, open this link within %s:\n\n%s\n",
		inviter, org.Name, m.Role, inviteLifetime, a.link("/accept-invite/", tok)))
	if err != nil {
		return nil, fmt.Errorf("send invitation: %w", err)
	}
	return m, nil
}

// StartSession signs u in on the browser r came from: a new session and
// its cookies on w. It returns the session token.
func (a *Accounts) StartSession(w http.ResponseWriter, r *http.Request, u *User) (string, error) {
	tok, err := a.Store().CreateSession(r.Context(), u.ID, r.UserAgent(), a.auth.ClientIP(r))
	if err != nil {
		return "", err
	}
	a.auth.SetSessionCookies(w, tok)
	return tok, nil
}

// Refusal is how both HTTP layers answer an error of the accounts: its
// status, the detail people see and, for limits, the Retry-After seconds.
// status is 0 for errors that are not refusals (failures: 500).
func Refusal(err error) (status int, detail, retryAfter string) {
	var tm *TooManyError
	switch {
	case errors.As(err, &tm):
		return http.StatusTooManyRequests, tm.Error(), strconv.Itoa(int(tm.Wait.Seconds()) + 1)
	case errors.Is(err, ErrBadCredentials):
		return http.StatusUnauthorized, err.Error(), ""
	case errors.Is(err, ErrRoleAboveOwn):
		return http.StatusForbidden, err.Error(), ""
	case errors.Is(err, ErrBadResetLink), errors.Is(err, ErrBadInvitation),
		errors.Is(err, ErrWrongPassword), errors.Is(err, ErrCurrentPassword):
		return http.StatusBadRequest, err.Error(), ""
	case errors.Is(err, ErrMailOff):
		return http.StatusServiceUnavailable, "mail is not configured (SMTP_HOST)", ""
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "The requested resource does not exist", ""
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, err.Error(), ""
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "), ""
	}
	return 0, "", ""
}
