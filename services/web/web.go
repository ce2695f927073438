// Package web is Faultline's dashboard: the HTML pages a person signs in to,
// finds issues on, reads stack traces on and acts from. It owns no tables;
// it reads and changes accounts through libs/accounts and issues through
// libs/issues (the grouping projection, read only; decisions published on
// the DECISIONS stream), the same functions the REST API calls. With
// ClickHouse (SetAnalytics) it also shows performance, transaction
// summaries, trace waterfalls and Discover queries, read through
// libs/analyticsquery as the REST API's events/ routes read them, and the
// release pages add release health to what Postgres knows of releases.
//
// The dashboard is server-rendered with html/template, so every value from
// an event is escaped by the template engine, and there is no JavaScript
// build step and no separate server: CSS and one small vanilla script (bulk
// selection and keyboard shortcuts) are embedded with //go:embed and served
// under /static/. Charts (sparklines, bar charts, value distributions,
// percentile lines, trace waterfalls) are inline SVG computed on the
// server. Every page answers with a strict Content-Security-Policy (no
// inline script, no inline style, no framing);
// every POST carries a CSRF token; every page needs a signed-in session and
// answers another organisation's objects with 404.
package web

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/httplog"
	"github.com/faultline/faultline/libs/issues"
)

//go:embed templates/*.html
var templatesFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the dashboard.
type Options struct {
	PublicURL string // DSNs and absolute links
	SSLProxy  bool   // cookies set by the dashboard itself are Secure
}

// backend is what the dashboard reads and writes through, set once Postgres
// is ready.
type backend struct {
	store  *accounts.Store
	issues *issues.Store
	pool   *pgxpool.Pool
}

// Web serves the dashboard.
type Web struct {
	opt  Options
	acc  *accounts.Accounts // sign-in, password reset, invitations: the same functions as the REST API's
	auth *accounts.Authenticator
	be   atomic.Pointer[backend]
	tpl  *templates
	log  *slog.Logger
	pub  *url.URL

	analyticsOn atomic.Bool                   // CLICKHOUSE_URL is set
	analytics   atomic.Pointer[analyticsConn] // set once connected
	spikes      atomic.Pointer[spikeCounts]   // the gateways' spike counts, once the bucket is open
}

// New returns the dashboard over acc, the accounts whose authenticator,
// limits and mail it shares with the REST API; call SetBackend once
// Postgres is ready (until then pages answer 503).
func New(opt Options, acc *accounts.Accounts, log *slog.Logger) (*Web, error) {
	pub, err := url.Parse(opt.PublicURL)
	if err != nil || pub.Host == "" {
		return nil, fmt.Errorf("web: public URL %q: want an absolute URL", opt.PublicURL)
	}
	tpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	return &Web{opt: opt, acc: acc, auth: acc.Auth(), tpl: tpl, log: log, pub: pub}, nil
}

// SetBackend makes the dashboard serve from Postgres: the accounts store,
// and the issues read model over the grouping projection in pool.
func (w *Web) SetBackend(store *accounts.Store, pool *pgxpool.Pool) {
	w.acc.SetStore(store)
	w.be.Store(&backend{store: store, issues: issues.New(pool, store.Decisions()), pool: pool})
}

// Mount adds the dashboard's routes: "/", "/organizations/…" (issues,
// performance, traces, Discover), "/settings/…",
// "/auth/…", "/accept-invite/…" and "/static/…". The REST API keeps
// "/api/0/".
func (w *Web) Mount(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(httplog.Requests(w.log), securityHeaders)
		static, _ := fs.Sub(staticFS, "static")
		r.Handle("/static/*", http.StripPrefix("/static/", staticHandler(static)))

		r.Get("/auth/login/", w.anon(w.loginPage))
		r.Post("/auth/login/", w.anon(w.loginSubmit))
		r.Post("/auth/logout/", w.page(w.logout))
		r.Get("/auth/reset-password/", w.anon(w.resetRequestPage))
		r.Post("/auth/reset-password/", w.anon(w.resetRequestSubmit))
		r.Get("/auth/reset-password/{token}/", w.anon(w.resetConfirmPage))
		r.Post("/auth/reset-password/{token}/", w.anon(w.resetConfirmSubmit))
		r.Get("/accept-invite/{token}/", w.anon(w.invitePage))
		r.Post("/accept-invite/{token}/", w.anon(w.inviteSubmit))

		r.Get("/", w.page(w.projectsPage))
		r.Get("/settings/account/", w.page(w.accountPage))
		r.Post("/settings/account/", w.page(w.accountSubmit))
		r.Get("/settings/{org}/projects/{project}/", w.orgPage(accounts.LevelRead, w.settingsPage))
		r.Post("/settings/{org}/projects/{project}/keys/", w.orgPage(accounts.LevelWrite, w.keyCreate))
		r.Post("/settings/{org}/projects/{project}/keys/{key}/", w.orgPage(accounts.LevelWrite, w.keyChange))
		r.Post("/settings/{org}/projects/{project}/grouping-rules/", w.orgPage(accounts.LevelWrite, w.rulesSubmit))
		r.Post("/settings/{org}/projects/{project}/privacy/", w.orgPage(accounts.LevelAdmin, w.privacySubmit))
		r.Post("/settings/{org}/projects/{project}/members/", w.orgPage(accounts.LevelAdmin, w.memberInvite))
		w.mountIssues(r)
		w.mountAnalytics(r)
		w.mountMonitors(r)
		w.mountReleases(r)
	})
}

func (w *Web) backend() *backend { return w.be.Load() }

// ctxKey keys the request context values the dashboard sets.
type ctxKey int

const (
	ctxPrincipal ctxKey = iota
	ctxOrg
)

func principalOf(ctx context.Context) *accounts.Principal {
	p, _ := ctx.Value(ctxPrincipal).(*accounts.Principal)
	return p
}
