package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/libs/httplog"
)

// ContentSecurityPolicy is sent with every dashboard answer: scripts and
// styles only from /static/ (no inline script, no inline style, no eval),
// images only from the dashboard or data: URLs, forms only to the
// dashboard, and no framing by any page.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || r.URL.Path == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// formCookie carries the CSRF token of forms shown before sign-in (sign-in,
// password reset, invitations): the form's csrf_token field must equal it
// (double submit), and the Origin must be the dashboard's.
const formCookie = "faultline_form"

// anonForm is the CSRF token for a signed-out form, set as a cookie when
// missing.
func (w *Web) anonForm(rw http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(formCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	b := make([]byte, 32)
	rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(rw, &http.Cookie{Name: formCookie, Value: tok, Path: "/", HttpOnly: true,
		Secure: w.opt.SSLProxy, SameSite: http.SameSiteStrictMode})
	return tok
}

var errCSRF = errors.New("the form expired or came from another site; reload the page and try again")

func checkAnonForm(r *http.Request) error {
	c, err := r.Cookie(formCookie)
	if err != nil || c.Value == "" {
		return errCSRF
	}
	if got := r.PostFormValue("csrf_token"); !hmac.Equal([]byte(got), []byte(c.Value)) {
		return errCSRF
	}
	return nil
}

// anon wraps a page open to signed-out visitors: POSTs need the form
// cookie's token and the dashboard's origin.
func (w *Web) anon(h func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Cache-Control", "no-store")
		if w.backend() == nil {
			w.unavailable(rw, r)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(rw, r.Body, 64<<10)
			if err := w.auth.CheckOrigin(r); err != nil {
				w.refuse(rw, r, http.StatusForbidden, errCSRF)
				return
			}
			if err := checkAnonForm(r); err != nil {
				w.refuse(rw, r, http.StatusForbidden, err)
				return
			}
		}
		h(rw, r)
	}
}

// page wraps a page that needs a signed-in session: without one, GETs
// redirect to the sign-in page and come back after it; POSTs need the
// session's CSRF token.
func (w *Web) page(h func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Cache-Control", "no-store")
		if w.backend() == nil {
			w.unavailable(rw, r)
			return
		}
		p, err := w.auth.Principal(r.Context(), r)
		if err == nil && p.Session == "" {
			err = errors.New("the dashboard needs a signed-in session, not an API token")
		}
		if err != nil {
			if p == nil && !errors.Is(err, accounts.ErrUnauthenticated) {
				w.fail(rw, r, err)
				return
			}
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.refuse(rw, r, http.StatusUnauthorized, errors.New("sign in again: the session ended"))
				return
			}
			http.Redirect(rw, r, "/auth/login/?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(rw, r.Body, 256<<10)
			if err := w.auth.CheckCSRF(r, p); err != nil {
				w.refuse(rw, r, http.StatusForbidden, errCSRF)
				return
			}
		}
		var tokenID int64
		if p.Token != nil {
			tokenID = p.Token.ID
		}
		httplog.SetPrincipal(r.Context(), p.User.ID, tokenID)
		ctx := decide.WithActor(context.WithValue(r.Context(), ctxPrincipal, p), p.Actor())
		h(rw, r.WithContext(ctx))
	}
}

// orgAccess is the signed-in user's organisation of the {org} path parameter
// and their level in it.
type orgAccess struct {
	org   *accounts.Organization
	level accounts.Level
}

func orgOf(ctx context.Context) *orgAccess {
	a, _ := ctx.Value(ctxOrg).(*orgAccess)
	return a
}

// orgPage wraps a page of one organisation: the user must be a member
// (another organisation's pages answer 404, as if they did not exist) with
// at least need.
func (w *Web) orgPage(need accounts.Level, h func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return w.page(func(rw http.ResponseWriter, r *http.Request) {
		p := principalOf(r.Context())
		org, role, err := w.backend().store.OrgRole(r.Context(), chi.URLParam(r, "org"), p.User.ID)
		if errors.Is(err, accounts.ErrNotFound) {
			w.notFound(rw, r)
			return
		}
		if err != nil {
			w.fail(rw, r, err)
			return
		}
		level := accounts.RoleLevel(role)
		if p.User.IsSuperuser {
			level = accounts.LevelOwner
		}
		if level == accounts.LevelNone {
			w.notFound(rw, r)
			return
		}
		if level < need {
			w.refuse(rw, r, http.StatusForbidden, errors.New("your role in this organisation does not allow this"))
			return
		}
		h(rw, r.WithContext(context.WithValue(r.Context(), ctxOrg, &orgAccess{org: org, level: level})))
	})
}

// localPath returns next when it is a path on this site, else "/": the
// sign-in page's next parameter must not send anyone elsewhere.
func localPath(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

// SafeURL returns s when it is an absolute http or https URL, else "":
// links built from event data never carry javascript:, data: or other
// schemes.
func SafeURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// logRefusal says why a request was refused, at level Debug: the request's
// own line (httplog.Requests) already says that it was.
func (w *Web) logRefusal(r *http.Request, status int, err error) {
	w.log.Debug("dashboard request refused", slog.String("method", r.Method), slog.String("route", httplog.Route(r)),
		slog.Int("status", status), slog.String("reason", err.Error()))
}
