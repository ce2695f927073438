// Package web is Faultline's dashboard: the HTML pages a person signs in to,
// finds issues on, reads stack traces on and acts from. It owns no tables;
// it reads the api service's accounts store and the grouping service's
// projection through their exported query layers, and records decisions
// through their functions.
//
// The dashboard is server-rendered with html/template, so every value from
// an event is escaped by the template engine, and there is no JavaScript
// build step and no separate server: CSS and one small vanilla script (bulk
// selection and keyboard shortcuts) are embedded with //go:embed and served
// under /static/. Charts (sparklines, bar charts, value distributions) are
// inline SVG computed on the server. Every page answers with a strict
// Content-Security-Policy (no inline script, no inline style, no framing);
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

	"github.com/faultline/faultline/services/api"
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
	store *api.Store
	pool  *pgxpool.Pool
}

// Web serves the dashboard.
type Web struct {
	opt  Options
	rest *api.API // sign-in, password reset and invitations go through its routes
	auth *api.Authenticator
	fwd  http.Handler // rest's routes, for the forms that reuse them
	be   atomic.Pointer[backend]
	tpl  *templates
	log  *slog.Logger
	pub  *url.URL
}

// New returns the dashboard. rest is the REST API whose authenticator and
// account routes the dashboard shares; call SetBackend once Postgres is
// ready (until then pages answer 503).
func New(opt Options, rest *api.API, log *slog.Logger) (*Web, error) {
	pub, err := url.Parse(opt.PublicURL)
	if err != nil || pub.Host == "" {
		return nil, fmt.Errorf("web: public URL %q: want an absolute URL", opt.PublicURL)
	}
	tpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	fwd := chi.NewRouter()
	rest.Mount(fwd)
	return &Web{opt: opt, rest: rest, auth: rest.Auth(), fwd: fwd, tpl: tpl, log: log, pub: pub}, nil
}

// SetBackend makes the dashboard serve from Postgres: the accounts store
// and the pool the grouping projection is read from.
func (w *Web) SetBackend(store *api.Store, pool *pgxpool.Pool) {
	w.be.Store(&backend{store: store, pool: pool})
}

// Mount adds the dashboard's routes: "/", "/organizations/…", "/settings/…",
// "/auth/…", "/accept-invite/…" and "/static/…". The REST API keeps
// "/api/0/".
func (w *Web) Mount(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(securityHeaders)
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
		r.Get("/settings/{org}/projects/{project}/", w.orgPage(api.LevelRead, w.settingsPage))
		r.Post("/settings/{org}/projects/{project}/keys/", w.orgPage(api.LevelWrite, w.keyCreate))
		r.Post("/settings/{org}/projects/{project}/keys/{key}/", w.orgPage(api.LevelWrite, w.keyChange))
		r.Post("/settings/{org}/projects/{project}/grouping-rules/", w.orgPage(api.LevelWrite, w.rulesSubmit))
		r.Post("/settings/{org}/projects/{project}/members/", w.orgPage(api.LevelAdmin, w.memberInvite))
		w.mountIssues(r)
	})
}

func (w *Web) backend() *backend { return w.be.Load() }

// ctxKey keys the request context values the dashboard sets.
type ctxKey int

const (
	ctxPrincipal ctxKey = iota
	ctxOrg
)

func principalOf(ctx context.Context) *api.Principal {
	p, _ := ctx.Value(ctxPrincipal).(*api.Principal)
	return p
}
