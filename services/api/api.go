package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-chi/chi/v5"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/libs/httplog"
	"github.com/faultline/faultline/libs/issues"
)

// Options configure the REST API.
type Options struct {
	PublicURL        string
	SSLProxy         bool   // cookies are Secure
	SessionSecretKey string // keys CSRF tokens; optional unless SSLProxy
	TrustedProxies   []netip.Prefix
	SMTP             config.SMTPConfig
	AllowOrgCreation bool // any signed-in user may create organisations, not only superusers
}

// OptionsFrom derives the API's options from the process configuration.
func OptionsFrom(c config.Config) Options {
	return Options{PublicURL: c.PublicURL, SSLProxy: c.SecureCookies(), SessionSecretKey: c.SessionSecretKey,
		TrustedProxies: c.Proxies, SMTP: c.SMTP, AllowOrgCreation: c.AllowOrgCreation}
}

// API serves /api/0/: accounts, organisations, teams, projects, keys,
// tokens and issues. Its stores arrive when Postgres is ready; until then
// every route answers 503.
type API struct {
	opt     Options
	acc     *accounts.Accounts
	be      atomic.Pointer[backend]
	log     *slog.Logger
	uploads atomic.Pointer[uploads] // source-map chunks and assembly (chunks.go)

	alerting atomic.Pointer[AlertingBus] // alert-rule commands (alert_rules.go)

	analyticsOn atomic.Bool                    // CLICKHOUSE_URL is set (discover.go)
	analytics   atomic.Pointer[analyticsStore] // its connection, once open

	spikes atomic.Pointer[spikeCounts] // the gateways' spike counts (spike.go)
}

// backend is what the routes work on once Postgres is ready.
type backend struct {
	store  *accounts.Store
	issues *issues.Store
}

// New returns the API. Call SetStore once Postgres is ready.
func New(opt Options, log *slog.Logger) (*API, error) {
	acc, err := accounts.New(accounts.Options{PublicURL: opt.PublicURL, SecureCookies: opt.SSLProxy,
		SessionSecretKey: opt.SessionSecretKey, TrustedProxies: opt.TrustedProxies, SMTP: opt.SMTP}, log)
	if err != nil {
		return nil, err
	}
	return &API{opt: opt, acc: acc, log: log}, nil
}

// SetStore makes the API serve from s, and from the issues read model over
// the same database and decisions publisher.
func (a *API) SetStore(s *accounts.Store) {
	a.acc.SetStore(s)
	a.be.Store(&backend{store: s, issues: issues.New(s.Pool(), s.Decisions())})
}

// Accounts is the API's accounts (sign-in, invitations, their limits).
func (a *API) Accounts() *accounts.Accounts { return a.acc }

// Mailer is the API's mailer; tests point its TLS config at their server.
func (a *API) Mailer() *accounts.Mailer { return a.acc.Mailer() }

// Who may call a route.
type access int

const (
	public      access = iota // anyone
	user                      // any signed-in user or token (need caps the token's scopes)
	sessionOnly               // a signed-in browser session, not a token
	// orgProjects is user on an {org} route that reads the organisation's
	// projects: a token restricted to one project is let through, and the
	// handler reads that project only (call.projects).
	orgProjects
)

// route is one REST endpoint. Routes with {org} in their path check the
// principal's level in that organisation against need; {project} and
// {team} are resolved inside it.
type route struct {
	method, path string
	summary      string
	access       access
	need         accounts.Level
	status       int    // success status
	req, resp    string // OpenAPI schema names; resp "[]X" is a paginated list
	handle       func(*call) (any, error)
}

// routes lists every endpoint of the REST API.
func (a *API) routes() []route {
	return append([]route{
		{"GET", "/api/0/openapi.json", "This OpenAPI document", public, accounts.LevelNone, 200, "", "", a.openAPI},

		{"POST", "/api/0/auth/login/", "Sign in; sets the session and CSRF cookies", public, accounts.LevelNone, 200, "Login", "Session", a.login},
		{"DELETE", "/api/0/auth/", "Sign out", sessionOnly, accounts.LevelNone, 204, "", "", a.logout},
		{"POST", "/api/0/auth/password-reset/", "Mail a password-reset link", public, accounts.LevelNone, 202, "PasswordResetRequest", "Detail", a.requestPasswordReset},
		{"POST", "/api/0/auth/password-reset/confirm/", "Set a new password with a reset token", public, accounts.LevelNone, 204, "PasswordReset", "", a.resetPassword},
		{"POST", "/api/0/accept-invite/", "Accept an invitation (creating the user if needed) and sign in", public, accounts.LevelNone, 200, "AcceptInvite", "Session", a.acceptInvite},
		{"GET", "/api/0/users/me/", "The signed-in user", user, accounts.LevelRead, 200, "", "User", a.me},
		{"PUT", "/api/0/users/me/password/", "Change one's password", sessionOnly, accounts.LevelNone, 204, "PasswordChange", "", a.changePassword},
		{"GET", "/api/0/users/me/notifications/", "One's digest mail settings", user, accounts.LevelRead, 200, "", "NotificationSettings", a.notificationSettings},
		{"PUT", "/api/0/users/me/notifications/", "Change one's digest mail settings (fields left out keep their value)", user, accounts.LevelWrite, 200, "NotificationSettings", "NotificationSettings", a.setNotificationSettings},

		{"GET", "/api/0/api-tokens/", "List one's API tokens", sessionOnly, accounts.LevelNone, 200, "", "[]ApiToken", a.listTokens},
		{"POST", "/api/0/api-tokens/", "Create an API token (shown once)", sessionOnly, accounts.LevelNone, 201, "NewApiToken", "ApiToken", a.createToken},
		{"DELETE", "/api/0/api-tokens/{token_id}/", "Revoke an API token", sessionOnly, accounts.LevelNone, 204, "", "", a.revokeToken},

		{"GET", "/api/0/organizations/", "List organisations", user, accounts.LevelRead, 200, "", "[]Organization", a.listOrgs},
		{"POST", "/api/0/organizations/", "Create an organisation", user, accounts.LevelAdmin, 201, "NewOrganization", "Organization", a.createOrg},
		{"GET", "/api/0/organizations/{org}/", "Retrieve an organisation", user, accounts.LevelRead, 200, "", "Organization", a.getOrg},
		{"PUT", "/api/0/organizations/{org}/", "Update an organisation", user, accounts.LevelAdmin, 200, "OrganizationUpdate", "Organization", a.updateOrg},
		{"DELETE", "/api/0/organizations/{org}/", "Delete an organisation with its projects", user, accounts.LevelOwner, 204, "", "", a.deleteOrg},
		{"GET", "/api/0/organizations/{org}/projects/", "List an organisation's projects", user, accounts.LevelRead, 200, "", "[]Project", a.listOrgProjects},
		{"GET", "/api/0/organizations/{org}/teams/", "List an organisation's teams", user, accounts.LevelRead, 200, "", "[]Team", a.listTeams},
		{"POST", "/api/0/organizations/{org}/teams/", "Create a team", user, accounts.LevelAdmin, 201, "NewTeam", "Team", a.createTeam},
		{"GET", "/api/0/organizations/{org}/members/", "List members and pending invitations", user, accounts.LevelRead, 200, "", "[]Member", a.listMembers},
		{"POST", "/api/0/organizations/{org}/members/", "Invite a member by email", user, accounts.LevelAdmin, 201, "NewMember", "Member", a.inviteMember},
		{"GET", "/api/0/organizations/{org}/members/{member_id}/", "Retrieve a member", user, accounts.LevelRead, 200, "", "Member", a.getMember},
		{"PUT", "/api/0/organizations/{org}/members/{member_id}/", "Change a member's role", user, accounts.LevelAdmin, 200, "MemberUpdate", "Member", a.updateMember},
		{"DELETE", "/api/0/organizations/{org}/members/{member_id}/", "Remove a member or cancel an invitation", user, accounts.LevelAdmin, 204, "", "", a.removeMember},
		{"POST", "/api/0/organizations/{org}/members/{member_id}/teams/{team}/", "Add a member to a team (organisation and team admins; a member themselves)", user, accounts.LevelWrite, 201, "", "Team", a.addMemberTeam},
		{"PUT", "/api/0/organizations/{org}/members/{member_id}/teams/{team}/", "Change a member's team role (organisation and team admins)", user, accounts.LevelWrite, 200, "TeamRoleUpdate", "MemberTeamRole", a.setMemberTeamRole},
		{"DELETE", "/api/0/organizations/{org}/members/{member_id}/teams/{team}/", "Remove a member from a team (organisation and team admins; a member themselves)", user, accounts.LevelWrite, 200, "", "Team", a.removeMemberTeam},

		{"GET", "/api/0/teams/{org}/{team}/", "Retrieve a team", user, accounts.LevelRead, 200, "", "Team", a.getTeam},
		{"PUT", "/api/0/teams/{org}/{team}/", "Update a team", user, accounts.LevelAdmin, 200, "TeamUpdate", "Team", a.updateTeam},
		{"DELETE", "/api/0/teams/{org}/{team}/", "Delete a team (its projects stay)", user, accounts.LevelAdmin, 204, "", "", a.deleteTeam},
		{"GET", "/api/0/teams/{org}/{team}/members/", "List a team's members", user, accounts.LevelRead, 200, "", "[]Member", a.listTeamMembers},
		{"GET", "/api/0/teams/{org}/{team}/projects/", "List a team's projects", user, accounts.LevelRead, 200, "", "[]Project", a.listTeamProjects},
		{"POST", "/api/0/teams/{org}/{team}/projects/", "Create a project for a team (with a default DSN key)", user, accounts.LevelAdmin, 201, "NewProject", "Project", a.createProject},

		{"GET", "/api/0/projects/", "List every project one can see", user, accounts.LevelRead, 200, "", "[]Project", a.listProjects},
		{"GET", "/api/0/projects/{org}/{project}/", "Retrieve a project", user, accounts.LevelRead, 200, "", "Project", a.getProject},
		{"PUT", "/api/0/projects/{org}/{project}/", "Update a project", user, accounts.LevelWrite, 200, "ProjectUpdate", "Project", a.updateProject},
		{"DELETE", "/api/0/projects/{org}/{project}/", "Delete a project and its keys", user, accounts.LevelAdmin, 204, "", "", a.deleteProject},
		{"POST", "/api/0/projects/{org}/{project}/teams/{team}/", "Give a project to a team", user, accounts.LevelAdmin, 201, "", "Project", a.addProjectTeam},
		{"DELETE", "/api/0/projects/{org}/{project}/teams/{team}/", "Take a project from a team", user, accounts.LevelAdmin, 200, "", "Project", a.removeProjectTeam},
		{"GET", "/api/0/projects/{org}/{project}/keys/", "List a project's DSN keys", user, accounts.LevelRead, 200, "", "[]ProjectKey", a.listKeys},
		{"POST", "/api/0/projects/{org}/{project}/keys/", "Create a DSN key", user, accounts.LevelWrite, 201, "KeyUpdate", "ProjectKey", a.createKey},
		{"GET", "/api/0/projects/{org}/{project}/keys/{key_id}/", "Retrieve a DSN key", user, accounts.LevelRead, 200, "", "ProjectKey", a.getKey},
		{"PUT", "/api/0/projects/{org}/{project}/keys/{key_id}/", "Rename, disable, enable or rate-limit a DSN key", user, accounts.LevelWrite, 200, "KeyUpdate", "ProjectKey", a.updateKey},
		{"DELETE", "/api/0/projects/{org}/{project}/keys/{key_id}/", "Delete a DSN key", user, accounts.LevelWrite, 204, "", "", a.deleteKey},
		{"POST", "/api/0/projects/{org}/{project}/keys/{key_id}/rotate/", "Replace a DSN key's public key (the old one stops working)", user, accounts.LevelWrite, 200, "", "ProjectKey", a.rotateKey},
	}, slices.Concat(a.indexRoutes(), a.issueRoutes(), a.hashRoutes(), a.reprocessRoutes(), a.repoRoutes(), a.filterRoutes(), a.ownershipRoutes(), a.spikeProtectionRoutes(), a.groupingRulesRoutes(), a.sourcemapRoutes(), a.alertingRoutes(), a.discoverRoutes(), a.usageRoutes(), a.monitorRoutes())...)
}

// RouteInfo describes one route, for documentation and tests.
type RouteInfo struct {
	Method, Path        string
	Public, SessionOnly bool
	Need                accounts.Level // level needed in the {org} of the path, or token scope cap without one
	Status              int            // success status
}

// Routes lists the REST API's routes.
func (a *API) Routes() []RouteInfo {
	var out []RouteInfo
	for _, rt := range a.routes() {
		out = append(out, RouteInfo{Method: rt.method, Path: rt.path, Public: rt.access == public,
			SessionOnly: rt.access == sessionOnly, Need: rt.need, Status: rt.status})
	}
	return out
}

// Mount adds the REST API's routes.
func (a *API) Mount(r chi.Router) {
	logged := r.With(httplog.Requests(a.log))
	for _, rt := range a.routes() {
		logged.Method(rt.method, rt.path, a.serve(rt))
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, &httpError{http.StatusNotFound, "The requested resource does not exist"})
	})
}

// call is one request on its way through a route.
type call struct {
	w       http.ResponseWriter
	r       *http.Request
	route   *route
	store   *accounts.Store
	issues  *issues.Store
	p       *accounts.Principal
	org     *accounts.Organization
	level   accounts.Level // the principal's level in org
	role    string         // the principal's role in org (owner for a superuser who is not a member)
	team    *accounts.Team
	project *accounts.OrgProject
}

func (c *call) param(name string) string { return chi.URLParam(c.r, name) }

// decode reads a JSON body of at most 1 MiB into v.
func (c *call) decode(v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return &httpError{http.StatusBadRequest, "a JSON body is required"}
		}
		return &httpError{http.StatusBadRequest, "invalid JSON body: " + err.Error()}
	}
	return nil
}

// decodeStrict reads a JSON body that may only hold v's fields: one it does
// not know is refused with 400 naming it, never silently dropped (a
// Terraform plan would never converge).
func (c *call) decodeStrict(v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, 1<<20))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) {
		return &httpError{http.StatusBadRequest, "a JSON body is required"}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &httpError{http.StatusBadRequest, "field " + name + " is not supported here"}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &httpError{http.StatusBadRequest, "field " + strconv.Quote(te.Field) + ": want " + jsonKind(te.Type.Kind()) + ", not " + te.Value}
	}
	return &httpError{http.StatusBadRequest, "invalid JSON body: " + err.Error()}
}

// jsonKind names what a Go kind takes in JSON.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}

// httpError is an answer with a status and a detail.
type httpError struct {
	status int
	detail string
}

func (e *httpError) Error() string { return e.detail }

var (
	errForbidden    = &httpError{http.StatusForbidden, "You do not have permission to perform this action."}
	errNeedsSession = &httpError{http.StatusForbidden, "This endpoint needs a signed-in session, not an API token."}
	errOneProject   = &httpError{http.StatusForbidden, "This API token is limited to one project."}
	errNotFound     = &httpError{http.StatusNotFound, "The requested resource does not exist"}
)

// serve wraps a route: store readiness, authentication, CSRF, resolution of
// {org}, {team} and {project}, the level check, then the handler, answered
// through respond or fail.
func (a *API) serve(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		be := a.be.Load()
		if be == nil {
			w.Header().Set("Retry-After", "5")
			a.fail(w, r, &httpError{http.StatusServiceUnavailable, "the database is not ready yet, retry later"})
			return
		}
		c := &call{w: w, r: r, route: &rt, store: be.store, issues: be.issues}
		if err := a.authorize(c); err != nil {
			a.fail(w, r, err)
			return
		}
		body, err := rt.handle(c)
		if errors.Is(err, errAnswered) {
			return
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.respond(w, rt.status, body)
	}
}

func (a *API) authorize(c *call) error {
	rt, r := c.route, c.r
	ctx := r.Context()
	if rt.access == public {
		return a.acc.Auth().CheckOrigin(r)
	}
	p, err := a.acc.Auth().Principal(ctx, r)
	if err != nil {
		return err
	}
	c.p = p
	var tokenID int64
	if p.Token != nil {
		tokenID = p.Token.ID
	}
	httplog.SetPrincipal(ctx, p.User.ID, tokenID)
	c.r = r.WithContext(decide.WithActor(ctx, p.Actor()))
	if err := a.acc.Auth().CheckCSRF(r, p); err != nil {
		return err
	}
	if rt.access == sessionOnly {
		if p.Token != nil {
			return errNeedsSession
		}
		return nil
	}
	orgParam := c.param("org")
	if orgParam == "" {
		if p.Cap() < rt.need {
			return errForbidden
		}
		return nil
	}
	org, role, err := c.store.OrgRole(ctx, orgParam, p.User.ID)
	if err != nil {
		if errors.Is(err, accounts.ErrNotFound) {
			return errNotFound
		}
		return err
	}
	level := accounts.RoleLevel(role)
	if p.User.IsSuperuser {
		level = accounts.LevelOwner
		if role == "" {
			role = accounts.RoleOwner
		}
	}
	if level == accounts.LevelNone || (p.Token != nil && p.Token.OrgID != 0 && p.Token.OrgID != org.ID) {
		return errNotFound // another organisation's: do not reveal it exists
	}
	c.org, c.level, c.role = org, min(level, p.Cap()), role
	if pp := c.param("project"); pp != "" {
		c.project, err = c.store.OrgProject(ctx, org.ID, pp)
		if errors.Is(err, accounts.ErrNotFound) || (err == nil && p.Token != nil && p.Token.ProjectID != 0 && p.Token.ProjectID != c.project.ID) {
			return errNotFound
		}
		if err != nil {
			return err
		}
	} else if p.Token != nil && p.Token.ProjectID != 0 && rt.access != orgProjects {
		return errOneProject
	}
	if tp := c.param("team"); tp != "" {
		c.team, err = c.store.Team(ctx, org.ID, tp, p.User.ID)
		if errors.Is(err, accounts.ErrNotFound) {
			return errNotFound
		}
		if err != nil {
			return err
		}
	}
	if c.level < rt.need {
		return errForbidden
	}
	return nil
}

// respond writes body as JSON with status; nil bodies write none.
func (a *API) respond(w http.ResponseWriter, status int, body any) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if body == nil || status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		a.log.Error("encode response", slog.Any("error", err))
		status, b = http.StatusInternalServerError, []byte(`{"detail":"internal error"}`)
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// fail answers an error as {"detail": "..."}, logging it once.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := http.StatusInternalServerError, "internal error"
	var he *httpError
	switch {
	case errors.As(err, &he):
		status, detail = he.status, he.detail
	case errors.Is(err, accounts.ErrUnauthenticated):
		status, detail = http.StatusUnauthorized, "Authentication credentials were not provided or are invalid."
		w.Header().Set("WWW-Authenticate", `Bearer realm="faultline"`)
	case errors.Is(err, accounts.ErrCSRF), strings.HasPrefix(err.Error(), "CSRF check failed"):
		status, detail = http.StatusForbidden, err.Error()
	case errors.Is(err, issues.ErrNotApplied):
		// Stored on DECISIONS; grouping applies it shortly.
		a.respond(w, http.StatusAccepted, map[string]string{"detail": err.Error()})
		return
	case errors.Is(err, decide.ErrNoPublisher):
		status, detail = http.StatusServiceUnavailable, err.Error()
	default:
		if st, d, retry := accounts.Refusal(err); st != 0 {
			status, detail = st, d
			if retry != "" {
				w.Header().Set("Retry-After", retry)
			}
		}
	}
	attrs := []any{slog.String("method", r.Method), slog.String("route", httplog.Route(r)), slog.Int("status", status)}
	if status >= 500 && !errors.Is(err, errNoAnalytics) { // a choice of configuration, not a failure
		a.log.Error("api request failed", append(attrs, slog.Any("error", err))...)
	} else {
		// The request's own line (httplog.Requests) says it was refused.
		a.log.Debug("api request refused", append(attrs, slog.String("reason", detail))...)
	}
	a.respond(w, status, map[string]string{"detail": detail})
}

// Pagination: Sentry's cursors are "value:offset:is_prev"; Faultline's lists
// page by offset, so value is always 0.
const (
	defaultPerPage = 100
	maxPerPage     = 100
)

// page fetches one page with fetch and sets the Link header with the
// previous and next cursors, as Sentry does (both always present, with
// results="true|false").
func page[T any](c *call, fetch func(limit, offset int) ([]T, error)) ([]T, error) {
	q := c.r.URL.Query()
	limit := defaultPerPage
	if s := q.Get("per_page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPerPage {
			return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("per_page: want 1 to %d", maxPerPage)}
		}
		limit = n
	}
	offset, err := ParseCursor(q.Get("cursor"))
	if err != nil {
		return nil, &httpError{http.StatusBadRequest, err.Error()}
	}
	items, err := fetch(limit+1, offset)
	if err != nil {
		return nil, err
	}
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	link := func(rel string, off int, prev, results bool) string {
		cursor := fmt.Sprintf("0:%d:%d", off, map[bool]int{false: 0, true: 1}[prev])
		q.Set("cursor", cursor)
		u := strings.TrimRight(c.storePublicURL(), "/") + c.r.URL.Path + "?" + q.Encode()
		return fmt.Sprintf(`<%s>; rel="%s"; results="%t"; cursor="%s"`, u, rel, results, cursor)
	}
	c.w.Header().Set("Link", link("previous", max(offset-limit, 0), true, offset > 0)+", "+link("next", offset+limit, false, more))
	return items, nil
}

// ParseCursor reads the offset from a Sentry cursor "value:offset:is_prev";
// "" is the first page.
func ParseCursor(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, errors.New("invalid cursor: want value:offset:is_prev")
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < 0 || n > 1_000_000 {
		return 0, errors.New("invalid cursor: offset out of range")
	}
	if parts[2] != "0" && parts[2] != "1" {
		return 0, errors.New("invalid cursor: is_prev must be 0 or 1")
	}
	return n, nil
}

func (c *call) storePublicURL() string { return c.store.PublicURL() }

// The JSON shapes follow Sentry's Web API (docs.sentry.io/api) where the
// concept is the same: string ids, camelCase, dateCreated.

func idString(id int64) string { return strconv.FormatInt(id, 10) }

// accessScopes are Sentry's resource scopes a level grants.

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// listOf answers one page of a list.

func listOf[T, R any](c *call, fetch func(limit, offset int) ([]T, error), f func(T) R) (any, error) {
	items, err := page(c, fetch)
	return mapList(items, err, f)
}

// mapList turns a page into JSON values.

func mapList[T, R any](items []T, err error, f func(T) R) (any, error) {
	if err != nil {
		return nil, err
	}
	out := make([]R, 0, len(items))
	for _, it := range items {
		out = append(out, f(it))
	}
	return out, nil
}

// strOrNil is s, or null when it is empty.
func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
