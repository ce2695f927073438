package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The JSON shapes follow Sentry's Web API (docs.sentry.io/api) where the
// concept is the same: string ids, camelCase, dateCreated.

func idString(id int64) string { return strconv.FormatInt(id, 10) }

func userJSON(u *User) map[string]any {
	return map[string]any{
		"id": idString(u.ID), "email": u.Email, "username": u.Email, "name": u.Name,
		"isSuperuser": u.IsSuperuser, "isActive": u.IsActive, "dateJoined": u.CreatedAt, "lastLogin": u.LastLoginAt,
		"has2fa": false, "emails": []map[string]any{{"email": u.Email, "is_verified": true}},
	}
}

// accessScopes are Sentry's resource scopes a level grants.
func accessScopes(l Level) []string {
	var out []string
	if l >= LevelRead {
		out = append(out, "org:read", "project:read", "team:read", "member:read", "event:read")
	}
	if l >= LevelWrite {
		out = append(out, "project:write", "project:releases", "event:write", "event:admin")
	}
	if l >= LevelAdmin {
		out = append(out, "org:write", "project:admin", "team:write", "team:admin", "member:write", "member:admin")
	}
	if l >= LevelOwner {
		out = append(out, "org:admin")
	}
	return out
}

func orgJSON(o *Organization, l Level) map[string]any {
	m := map[string]any{
		"id": idString(o.ID), "slug": o.Slug, "name": o.Name, "dateCreated": o.CreatedAt,
		"status": map[string]string{"id": "active", "name": "active"}, "isEarlyAdopter": false, "require2FA": false,
		"avatar":   map[string]any{"avatarType": "letter_avatar", "avatarUuid": nil},
		"features": []string{},
	}
	if l != LevelNone {
		m["access"] = accessScopes(l)
	}
	return m
}

func teamJSON(t *Team) map[string]any {
	return map[string]any{
		"id": idString(t.ID), "slug": t.Slug, "name": t.Name, "dateCreated": t.CreatedAt,
		"isMember": t.IsMember, "memberCount": t.MemberCount, "hasAccess": true, "isPending": false,
		"avatar": map[string]any{"avatarType": "letter_avatar", "avatarUuid": nil},
	}
}

func projectJSON(p *OrgProject) map[string]any {
	teams := []map[string]any{}
	for _, t := range p.Teams {
		teams = append(teams, map[string]any{"id": idString(t.ID), "slug": t.Slug, "name": t.Name})
	}
	var team any
	if len(teams) > 0 {
		team = teams[0]
	}
	return map[string]any{
		"id": idString(p.ID), "slug": p.Slug, "name": p.Name, "platform": nilIfEmpty(p.Platform),
		"dateCreated": p.CreatedAt, "isBookmarked": false, "isMember": true, "hasAccess": true, "features": []string{},
		"status": "active", "allowedDomains": p.AllowedOrigins, "teams": teams, "team": team,
		"organization": map[string]any{"id": idString(p.Org.ID), "slug": p.Org.Slug, "name": p.Org.Name},
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func keyJSON(k *ProjectKey, publicURL string) map[string]any {
	var rateLimit any
	switch {
	case k.RateLimitPerMinute > 0:
		rateLimit = map[string]int64{"window": 60, "count": k.RateLimitPerMinute}
	case k.RateLimitPerHour > 0:
		rateLimit = map[string]int64{"window": 3600, "count": k.RateLimitPerHour}
	}
	security := strings.TrimRight(publicURL, "/") + "/api/" + idString(k.ProjectID) + "/security/?sentry_key=" + k.PublicKey
	return map[string]any{
		"id": k.PublicKey, "name": k.Label, "label": k.Label, "public": k.PublicKey, "secret": "",
		"projectId": k.ProjectID, "isActive": !k.Disabled, "rateLimit": rateLimit,
		"rateLimits":  map[string]int64{"perMinute": k.RateLimitPerMinute, "perHour": k.RateLimitPerHour},
		"dsn":         map[string]string{"public": k.DSN, "secret": k.DSN, "csp": security, "security": security},
		"dateCreated": k.CreatedAt,
	}
}

func memberJSON(m *Member) map[string]any {
	status := "approved"
	var u any
	if m.Pending {
		status = "pending"
	} else {
		u = map[string]any{"id": idString(m.UserID), "email": m.Email, "name": m.Name, "username": m.Email}
	}
	return map[string]any{
		"id": idString(m.ID), "email": m.Email, "name": m.Name, "role": m.Role, "orgRole": m.Role, "roleName": roleName(m.Role),
		"pending": m.Pending, "expired": m.Expired, "inviteStatus": status, "dateCreated": m.CreatedAt,
		"teams": m.Teams, "user": u,
	}
}

func roleName(r string) string {
	if r == "" {
		return ""
	}
	return strings.ToUpper(r[:1]) + r[1:]
}

func tokenJSON(t *Token) map[string]any {
	m := map[string]any{
		"id": idString(t.ID), "name": t.Name, "scopes": t.Scopes, "dateCreated": t.CreatedAt, "expiresAt": t.ExpiresAt,
		"lastUsedAt": t.LastUsedAt, "tokenLastCharacters": t.LastChars, "organization": nilIfEmpty(t.OrgSlug), "project": nilIfEmpty(t.Project),
	}
	return m
}

// listOf answers one page of a list.
func listOf[T any](c *call, fetch func(limit, offset int) ([]T, error), f func(T) map[string]any) (any, error) {
	items, err := page(c, fetch)
	return mapList(items, err, f)
}

// mapList turns a page into JSON values.
func mapList[T any](items []T, err error, f func(T) map[string]any) (any, error) {
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		out = append(out, f(it))
	}
	return out, nil
}

// --- accounts

type loginRequest struct {
	Email    string `json:"email"`
	Username string `json:"username"` // Sentry's sign-in form calls it username
	Password string `json:"password"`
}

func (a *API) sessionJSON(u *User, session string) map[string]any {
	return map[string]any{"user": userJSON(u), "csrfToken": a.auth.CSRFToken(session)}
}

func tooMany(w http.ResponseWriter, wait time.Duration) error {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
	return &httpError{http.StatusTooManyRequests, "too many attempts; retry later"}
}

func (a *API) login(c *call) (any, error) {
	var req loginRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if req.Email == "" {
		req.Email = req.Username
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if email == "" || req.Password == "" || len(email) > 254 {
		return nil, &httpError{http.StatusBadRequest, "email and password are required"}
	}
	ip := a.auth.ClientIP(c.r)
	if wait, ok := a.loginByIP.blocked(c.r.Context(), c.store, ip); ok {
		return nil, tooMany(c.w, wait)
	}
	// Failures count per account and address together: someone guessing
	// elsewhere cannot lock the owner out of their account.
	accountKey := email + " " + addressKey(ip)
	if wait, ok := a.loginByAccount.blocked(c.r.Context(), c.store, accountKey); ok {
		return nil, tooMany(c.w, wait)
	}
	a.loginByIP.add(c.r.Context(), c.store, ip)
	u, err := c.store.Authenticate(c.r.Context(), email, req.Password)
	if errors.Is(err, ErrNotFound) {
		a.loginByAccount.add(c.r.Context(), c.store, accountKey)
		return nil, &httpError{http.StatusUnauthorized, "The email or password is not correct."}
	}
	if err != nil {
		return nil, err
	}
	a.loginByAccount.reset(c.r.Context(), c.store, accountKey)
	return a.startSession(c, u)
}

func (a *API) startSession(c *call, u *User) (any, error) {
	tok, err := c.store.CreateSession(c.r.Context(), u.ID, c.r.UserAgent(), a.auth.ClientIP(c.r))
	if err != nil {
		return nil, err
	}
	a.auth.SetSessionCookies(c.w, tok)
	return a.sessionJSON(u, tok), nil
}

func (a *API) logout(c *call) (any, error) {
	if err := c.store.DeleteSession(c.r.Context(), c.p.Session); err != nil {
		return nil, err
	}
	a.auth.ClearSessionCookies(c.w)
	return nil, nil
}

func (a *API) me(c *call) (any, error) { return userJSON(c.p.User), nil }

func (a *API) changePassword(c *call) (any, error) {
	var req struct {
		Password    string `json:"password"`
		PasswordNew string `json:"passwordNew"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if !VerifyPassword(c.p.User.passwordHash, req.Password) {
		return nil, &httpError{http.StatusBadRequest, "the current password is not correct"}
	}
	if err := c.store.SetPassword(c.r.Context(), c.p.User.ID, req.PasswordNew); err != nil {
		return nil, err
	}
	// Every session ended, this one too: start a fresh one.
	tok, err := c.store.CreateSession(c.r.Context(), c.p.User.ID, c.r.UserAgent(), a.auth.ClientIP(c.r))
	if err != nil {
		return nil, err
	}
	a.auth.SetSessionCookies(c.w, tok)
	return nil, nil
}

// Links in mail point at the dashboard's pages.
func (a *API) link(path, token string) string {
	return strings.TrimRight(a.opt.PublicURL, "/") + path + token + "/"
}

func (a *API) requestPasswordReset(c *call) (any, error) {
	var req struct {
		Email string `json:"email"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	ip := a.auth.ClientIP(c.r)
	if wait, ok := a.mailByIP.blocked(c.r.Context(), c.store, ip); ok {
		return nil, tooMany(c.w, wait)
	}
	a.mailByIP.add(c.r.Context(), c.store, ip)
	if !a.mailer.Enabled() {
		return nil, ErrMailOff
	}
	// The answer is the same whether or not the address has an account, and
	// the mail goes out in the background so timing tells nothing either.
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.r.Context()), time.Minute)
		defer cancel()
		u, tok, err := c.store.CreatePasswordReset(ctx, req.Email)
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
	return map[string]string{"detail": "If the address has an account, a reset link is on its way."}, nil
}

func (a *API) resetPassword(c *call) (any, error) {
	var req struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	ip := a.auth.ClientIP(c.r)
	if wait, ok := a.mailByIP.blocked(c.r.Context(), c.store, ip); ok {
		return nil, tooMany(c.w, wait)
	}
	err := c.store.ResetPassword(c.r.Context(), req.Token, req.Password)
	if errors.Is(err, ErrNotFound) {
		a.mailByIP.add(c.r.Context(), c.store, ip)
		return nil, &httpError{http.StatusBadRequest, "the reset link is invalid, used or expired"}
	}
	return nil, err
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
	ip := a.auth.ClientIP(c.r)
	if wait, ok := a.mailByIP.blocked(c.r.Context(), c.store, ip); ok {
		return nil, tooMany(c.w, wait)
	}
	u, inv, err := c.store.AcceptInvitation(c.r.Context(), req.Token, req.Name, req.Password)
	if errors.Is(err, ErrWrongPassword) {
		a.mailByIP.add(c.r.Context(), c.store, ip)
		return nil, &httpError{http.StatusBadRequest, err.Error()}
	}
	if errors.Is(err, ErrNotFound) {
		a.mailByIP.add(c.r.Context(), c.store, ip)
		return nil, &httpError{http.StatusBadRequest, "the invitation is invalid, used or expired"}
	}
	if err != nil {
		return nil, err
	}
	body, err := a.startSession(c, u)
	if err != nil {
		return nil, err
	}
	m := body.(map[string]any)
	m["organization"] = orgJSON(inv.Org, RoleLevel(inv.Role))
	return m, nil
}

// --- tokens

func (a *API) listTokens(c *call) (any, error) {
	return listOf(c, func(limit, offset int) ([]*Token, error) {
		return c.store.Tokens(c.r.Context(), c.p.User.ID, limit, offset)
	}, tokenJSON)
}

func (a *API) createToken(c *call) (any, error) {
	var req struct {
		Name         string     `json:"name"`
		Scopes       []string   `json:"scopes"`
		Organization string     `json:"organization"`
		Project      string     `json:"project"`
		ExpiresAt    *time.Time `json:"expiresAt"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	nt := NewToken{UserID: c.p.User.ID, Name: req.Name, Scopes: req.Scopes, ExpiresAt: req.ExpiresAt}
	ctx := c.r.Context()
	if req.Project != "" && req.Organization == "" {
		return nil, &httpError{http.StatusBadRequest, "a project token needs its organization"}
	}
	if req.Organization != "" {
		org, role, err := c.store.OrgRole(ctx, req.Organization, c.p.User.ID)
		if err != nil || (role == "" && !c.p.User.IsSuperuser) {
			return nil, &httpError{http.StatusBadRequest, "no such organization: " + req.Organization}
		}
		nt.OrgID = org.ID
		if req.Project != "" {
			p, err := c.store.OrgProject(ctx, org.ID, req.Project)
			if err != nil {
				return nil, &httpError{http.StatusBadRequest, "no such project: " + req.Project}
			}
			nt.ProjectID = p.ID
		}
	}
	t, tok, err := c.store.CreateToken(ctx, nt)
	if err != nil {
		return nil, err
	}
	m := tokenJSON(t)
	m["token"] = tok
	return m, nil
}

func (a *API) revokeToken(c *call) (any, error) {
	id, err := strconv.ParseInt(c.param("token_id"), 10, 64)
	if err != nil {
		return nil, errNotFound
	}
	return nil, c.store.RevokeToken(c.r.Context(), c.p.User.ID, id)
}

// --- organisations

func (a *API) listOrgs(c *call) (any, error) {
	items, err := page(c, func(limit, offset int) ([]*Organization, error) {
		return c.store.Organizations(c.r.Context(), c.p.Orgs(), limit, offset)
	})
	return mapList(items, err, func(o *Organization) map[string]any { return orgJSON(o, LevelNone) })
}

func (a *API) createOrg(c *call) (any, error) {
	if c.p.Token != nil && c.p.Token.OrgID != 0 {
		return nil, errForbidden
	}
	var req struct {
		Name string `json:"name"`
		Slug string `json:"slug"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	o, err := c.store.CreateOrganization(c.r.Context(), c.p.User.ID, req.Name, req.Slug)
	if err != nil {
		return nil, err
	}
	return orgJSON(o, min(LevelOwner, c.p.Cap())), nil
}

func (a *API) getOrg(c *call) (any, error) { return orgJSON(c.org, c.level), nil }

func (a *API) updateOrg(c *call) (any, error) {
	var req struct {
		Name *string `json:"name"`
		Slug *string `json:"slug"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	o, err := c.store.UpdateOrganization(c.r.Context(), c.org.ID, req.Name, req.Slug)
	if err != nil {
		return nil, err
	}
	return orgJSON(o, c.level), nil
}

func (a *API) deleteOrg(c *call) (any, error) {
	return nil, c.store.DeleteOrganization(c.r.Context(), c.org.ID)
}

func (a *API) listOrgProjects(c *call) (any, error) {
	return a.projectPage(c, ProjectFilter{Orgs: c.p.Orgs(), OrgID: c.org.ID})
}

func (a *API) projectPage(c *call, f ProjectFilter) (any, error) {
	if c.p.Token != nil {
		f.ProjectID = c.p.Token.ProjectID
	}
	if c.p.User.IsSuperuser {
		f.Orgs.AllOrgs = true
	}
	return listOf(c, func(limit, offset int) ([]*OrgProject, error) {
		return c.store.OrgProjects(c.r.Context(), f, limit, offset)
	}, projectJSON)
}

// --- teams

func (a *API) listTeams(c *call) (any, error) {
	return listOf(c, func(limit, offset int) ([]*Team, error) {
		return c.store.Teams(c.r.Context(), c.org.ID, c.p.User.ID, limit, offset)
	}, teamJSON)
}

type teamRequest struct {
	Name *string `json:"name"`
	Slug *string `json:"slug"`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (a *API) createTeam(c *call) (any, error) {
	var req teamRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	t, err := c.store.CreateTeam(c.r.Context(), c.org.ID, deref(req.Name), deref(req.Slug))
	if err != nil {
		return nil, err
	}
	return teamJSON(t), nil
}

func (a *API) getTeam(c *call) (any, error) { return teamJSON(c.team), nil }

func (a *API) updateTeam(c *call) (any, error) {
	var req teamRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	t, err := c.store.UpdateTeam(c.r.Context(), c.team, req.Name, req.Slug)
	if err != nil {
		return nil, err
	}
	return teamJSON(t), nil
}

func (a *API) deleteTeam(c *call) (any, error) {
	return nil, c.store.DeleteTeam(c.r.Context(), c.team.ID)
}

func (a *API) listTeamMembers(c *call) (any, error) {
	return listOf(c, func(limit, offset int) ([]*Member, error) {
		return c.store.TeamMembers(c.r.Context(), c.team.ID, limit, offset)
	}, memberJSON)
}

func (a *API) listTeamProjects(c *call) (any, error) {
	return a.projectPage(c, ProjectFilter{Orgs: c.p.Orgs(), OrgID: c.org.ID, TeamID: c.team.ID})
}

func (a *API) createProject(c *call) (any, error) {
	var req struct {
		Name     string `json:"name"`
		Slug     string `json:"slug"`
		Platform string `json:"platform"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	p, err := c.store.CreateTeamProject(c.r.Context(), c.team, req.Name, req.Slug, req.Platform)
	if err != nil {
		return nil, err
	}
	return projectJSON(p), nil
}

// --- members

func (a *API) listMembers(c *call) (any, error) {
	return listOf(c, func(limit, offset int) ([]*Member, error) {
		return c.store.Members(c.r.Context(), c.org.ID, limit, offset)
	}, memberJSON)
}

func (a *API) member(c *call) (*Member, error) {
	m, err := c.store.Member(c.r.Context(), c.org.ID, c.param("member_id"), c.p.User.ID)
	if errors.Is(err, ErrNotFound) {
		return nil, errNotFound
	}
	return m, err
}

func (a *API) getMember(c *call) (any, error) {
	m, err := a.member(c)
	if err != nil {
		return nil, err
	}
	return memberJSON(m), nil
}

type memberRequest struct {
	Email   string   `json:"email"`
	Role    string   `json:"role"`
	OrgRole string   `json:"orgRole"`
	Teams   []string `json:"teams"`
}

func (r memberRequest) role() string {
	if r.OrgRole != "" {
		return r.OrgRole
	}
	return r.Role
}

func (a *API) inviteMember(c *call) (any, error) {
	var req memberRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	role := req.role()
	if role == "" {
		role = RoleMember
	}
	if RoleLevel(role) > c.level {
		return nil, &httpError{http.StatusForbidden, "You cannot invite someone with a role above your own."}
	}
	ctx := c.r.Context()
	var teamIDs []int64
	for _, slug := range req.Teams {
		t, err := c.store.Team(ctx, c.org.ID, slug, 0)
		if err != nil {
			return nil, &httpError{http.StatusBadRequest, "no such team: " + slug}
		}
		teamIDs = append(teamIDs, t.ID)
	}
	if !a.mailer.Enabled() {
		return nil, ErrMailOff
	}
	m, tok, err := c.store.InviteMember(ctx, c.org.ID, c.p.User.ID, req.Email, role, teamIDs)
	if err != nil {
		return nil, err
	}
	inviter := c.p.User.Email
	if c.p.User.Name != "" {
		inviter = c.p.User.Name + " (" + c.p.User.Email + ")"
	}
	err = a.mailer.Send(ctx, m.Email, "Join "+c.org.Name+" on Faultline", fmt.Sprintf(
		"%s invited you to the organization %s on Faultline as %s.\n\n"+
			"To accept, open this link within %s:\n\n%s\n",
		inviter, c.org.Name, m.Role, inviteLifetime, a.link("/accept-invite/", tok)))
	if err != nil {
		return nil, fmt.Errorf("send invitation: %w", err)
	}
	return memberJSON(m), nil
}

// guardOwner keeps admins from changing owners or making them.
func guardOwner(c *call, m *Member, newRole string) error {
	if c.level < LevelOwner && (m.Role == RoleOwner || newRole == RoleOwner) {
		return &httpError{http.StatusForbidden, "Only an owner can change an owner or make one."}
	}
	return nil
}

func (a *API) updateMember(c *call) (any, error) {
	m, err := a.member(c)
	if err != nil {
		return nil, err
	}
	var req memberRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if role := req.role(); role != "" && role != m.Role {
		if err := guardOwner(c, m, role); err != nil {
			return nil, err
		}
		if err := c.store.UpdateMemberRole(c.r.Context(), m, role); err != nil {
			return nil, err
		}
	}
	return a.getMember(c)
}

func (a *API) removeMember(c *call) (any, error) {
	m, err := a.member(c)
	if err != nil {
		return nil, err
	}
	if err := guardOwner(c, m, ""); err != nil {
		return nil, err
	}
	return nil, c.store.RemoveMember(c.r.Context(), m)
}

func (a *API) setMemberTeam(c *call, in bool) (any, error) {
	m, err := a.member(c)
	if err != nil {
		return nil, err
	}
	if err := c.store.SetTeamMember(c.r.Context(), c.team.ID, m.ID, in); err != nil {
		return nil, err
	}
	return a.getMember(c)
}

func (a *API) addMemberTeam(c *call) (any, error)    { return a.setMemberTeam(c, true) }
func (a *API) removeMemberTeam(c *call) (any, error) { return a.setMemberTeam(c, false) }

// --- projects

func (a *API) listProjects(c *call) (any, error) {
	return a.projectPage(c, ProjectFilter{Orgs: c.p.Orgs()})
}

func (a *API) getProject(c *call) (any, error) { return projectJSON(c.project), nil }

func (a *API) updateProject(c *call) (any, error) {
	var req struct {
		Name           *string   `json:"name"`
		Slug           *string   `json:"slug"`
		Platform       *string   `json:"platform"`
		AllowedDomains *[]string `json:"allowedDomains"`
	}
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if (req.Slug != nil || req.AllowedDomains != nil) && c.level < LevelAdmin {
		return nil, &httpError{http.StatusForbidden, "Changing a project's slug or allowed domains needs the admin role."}
	}
	p, err := c.store.UpdateProject(c.r.Context(), c.project, ProjectUpdate{Name: req.Name, Slug: req.Slug,
		Platform: req.Platform, AllowedOrigins: req.AllowedDomains})
	if err != nil {
		return nil, err
	}
	return projectJSON(p), nil
}

func (a *API) deleteProject(c *call) (any, error) {
	return nil, c.store.DeleteProject(c.r.Context(), c.project.ID)
}

func (a *API) setProjectTeam(c *call, in bool) (any, error) {
	if err := c.store.SetProjectTeam(c.r.Context(), c.project.ID, c.team.ID, in); err != nil {
		return nil, err
	}
	p, err := c.store.OrgProject(c.r.Context(), c.org.ID, idString(c.project.ID))
	if err != nil {
		return nil, err
	}
	return projectJSON(p), nil
}

func (a *API) addProjectTeam(c *call) (any, error)    { return a.setProjectTeam(c, true) }
func (a *API) removeProjectTeam(c *call) (any, error) { return a.setProjectTeam(c, false) }

// --- keys

func (a *API) keyJSON(c *call) func(*ProjectKey) map[string]any {
	return func(k *ProjectKey) map[string]any { return keyJSON(k, c.store.PublicURL()) }
}

func (a *API) listKeys(c *call) (any, error) {
	var active *bool
	switch c.r.URL.Query().Get("status") {
	case "":
	case "active", "inactive":
		v := c.r.URL.Query().Get("status") == "active"
		active = &v
	default:
		return nil, &httpError{http.StatusBadRequest, "status: want active or inactive"}
	}
	return listOf(c, func(limit, offset int) ([]*ProjectKey, error) {
		return c.store.Keys(c.r.Context(), c.project.ID, active, limit, offset)
	}, a.keyJSON(c))
}

// keyRequest takes Sentry's fields (name, isActive, rateLimit {window,
// count}) and Faultline's rateLimits {perMinute, perHour}.
type keyRequest struct {
	Name      *string `json:"name"`
	Label     *string `json:"label"`
	IsActive  *bool   `json:"isActive"`
	RateLimit *struct {
		Window int64 `json:"window"`
		Count  int64 `json:"count"`
	} `json:"rateLimit"`
	RateLimits *struct {
		PerMinute *int64 `json:"perMinute"`
		PerHour   *int64 `json:"perHour"`
	} `json:"rateLimits"`
	rateLimitNull bool
}

func (a *API) decodeKey(c *call) (KeyUpdate, error) {
	var body json.RawMessage
	if err := c.decode(&body); err != nil {
		return KeyUpdate{}, err
	}
	var req keyRequest
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return KeyUpdate{}, &httpError{http.StatusBadRequest, "invalid key: " + err.Error()}
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return KeyUpdate{}, &httpError{http.StatusBadRequest, "want a JSON object"}
	}
	if v, ok := raw["rateLimit"]; ok && string(v) == "null" {
		req.rateLimitNull = true
	}
	u := KeyUpdate{Label: req.Name}
	if u.Label == nil {
		u.Label = req.Label
	}
	if req.IsActive != nil {
		d := !*req.IsActive
		u.Disabled = &d
	}
	zero := int64(0)
	if req.rateLimitNull {
		u.RateLimitPerMinute, u.RateLimitPerHour = &zero, &zero
	}
	if rl := req.RateLimit; rl != nil {
		count := rl.Count
		switch rl.Window {
		case 60:
			u.RateLimitPerMinute, u.RateLimitPerHour = &count, &zero
		case 3600:
			u.RateLimitPerMinute, u.RateLimitPerHour = &zero, &count
		default:
			return u, &httpError{http.StatusBadRequest, "rateLimit.window: Faultline limits keys per minute (60) or per hour (3600)"}
		}
	}
	if rl := req.RateLimits; rl != nil {
		if rl.PerMinute != nil {
			u.RateLimitPerMinute = rl.PerMinute
		}
		if rl.PerHour != nil {
			u.RateLimitPerHour = rl.PerHour
		}
	}
	return u, nil
}

func (a *API) createKey(c *call) (any, error) {
	u, err := a.decodeKey(c)
	if err != nil {
		return nil, err
	}
	k, err := c.store.CreateKey(c.r.Context(), c.project.ID, u)
	if err != nil {
		return nil, err
	}
	return keyJSON(k, c.store.PublicURL()), nil
}

func (a *API) getKey(c *call) (any, error) {
	k, err := c.store.Key(c.r.Context(), c.project.ID, c.param("key_id"))
	if err != nil {
		return nil, err
	}
	return keyJSON(k, c.store.PublicURL()), nil
}

func (a *API) updateKey(c *call) (any, error) {
	u, err := a.decodeKey(c)
	if err != nil {
		return nil, err
	}
	k, err := c.store.UpdateKey(c.r.Context(), c.project.ID, c.param("key_id"), u)
	if err != nil {
		return nil, err
	}
	return keyJSON(k, c.store.PublicURL()), nil
}

func (a *API) deleteKey(c *call) (any, error) {
	return nil, c.store.DeleteKey(c.r.Context(), c.project.ID, c.param("key_id"))
}

func (a *API) rotateKey(c *call) (any, error) {
	k, err := c.store.RotateKey(c.r.Context(), c.project.ID, c.param("key_id"))
	if err != nil {
		return nil, err
	}
	return keyJSON(k, c.store.PublicURL()), nil
}
