package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/faultline/faultline/services/api"
)

// The sign-in, password-reset and invitation forms are thin adapters over
// the REST API's routes (POST /api/0/auth/login/, …): the same rate limits
// per address and account, the same mail, the same session cookies.

// recorder captures an answer of the REST API's routes.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(s int)           { r.status = s }

// forward calls one of the REST API's public routes with a JSON body on
// behalf of the request r, copies the cookies it sets to rw, and returns its
// status and, for errors, its detail.
func (w *Web) forward(rw http.ResponseWriter, r *http.Request, path string, body any) (int, string) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, path, bytes.NewReader(b))
	if err != nil {
		return http.StatusInternalServerError, "internal error"
	}
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("Content-Type", "application/json")
	for _, h := range []string{"User-Agent", "X-Forwarded-For"} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	rec := &recorder{h: http.Header{}, status: http.StatusOK}
	w.fwd.ServeHTTP(rec, req)
	for _, c := range rec.h.Values("Set-Cookie") {
		rw.Header().Add("Set-Cookie", c)
	}
	if v := rec.h.Get("Retry-After"); v != "" {
		rw.Header().Set("Retry-After", v)
	}
	var e struct {
		Detail string `json:"detail"`
	}
	if rec.status >= 400 {
		json.Unmarshal(rec.body.Bytes(), &e)
	}
	return rec.status, e.Detail
}

type loginData struct {
	Next  string
	Email string
}

func (w *Web) loginPage(rw http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if p, err := w.auth.Principal(r.Context(), r); err == nil && p.Session != "" {
		http.Redirect(rw, r, next, http.StatusSeeOther)
		return
	}
	w.render(rw, r, http.StatusOK, "login", &view{Title: "Sign in", CSRF: w.anonForm(rw, r),
		Data: loginData{Next: next}})
}

func (w *Web) loginSubmit(rw http.ResponseWriter, r *http.Request) {
	next := localPath(r.PostFormValue("next"))
	email := strings.TrimSpace(r.PostFormValue("email"))
	status, detail := w.forward(rw, r, "/api/0/auth/login/", map[string]string{
		"email": email, "password": r.PostFormValue("password")})
	if status == http.StatusOK {
		http.Redirect(rw, r, next, http.StatusSeeOther)
		return
	}
	if status >= 500 {
		detail = "Signing in failed; try again later."
	}
	w.logRefusal(r, status, errors.New(detail))
	w.render(rw, r, status, "login", &view{Title: "Sign in", CSRF: w.anonForm(rw, r), Error: detail,
		Data: loginData{Next: next, Email: email}})
}

func (w *Web) logout(rw http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	if err := w.backend().store.DeleteSession(r.Context(), p.Session); err != nil && !errors.Is(err, api.ErrNotFound) {
		w.fail(rw, r, err)
		return
	}
	w.auth.ClearSessionCookies(rw)
	http.Redirect(rw, r, "/auth/login/?done=signed_out", http.StatusSeeOther)
}

func (w *Web) resetRequestPage(rw http.ResponseWriter, r *http.Request) {
	w.render(rw, r, http.StatusOK, "reset_request", &view{Title: "Reset your password", CSRF: w.anonForm(rw, r)})
}

func (w *Web) resetRequestSubmit(rw http.ResponseWriter, r *http.Request) {
	status, detail := w.forward(rw, r, "/api/0/auth/password-reset/", map[string]string{
		"email": strings.TrimSpace(r.PostFormValue("email"))})
	if status < 300 {
		redirectDone(rw, r, "/auth/login/", "reset_sent")
		return
	}
	w.logRefusal(r, status, errors.New(detail))
	w.render(rw, r, status, "reset_request", &view{Title: "Reset your password", CSRF: w.anonForm(rw, r), Error: detail})
}

func (w *Web) resetConfirmPage(rw http.ResponseWriter, r *http.Request) {
	w.render(rw, r, http.StatusOK, "reset_confirm", &view{Title: "Choose a new password", CSRF: w.anonForm(rw, r)})
}

func (w *Web) resetConfirmSubmit(rw http.ResponseWriter, r *http.Request) {
	v := &view{Title: "Choose a new password", CSRF: w.anonForm(rw, r)}
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password_again") {
		v.Error = "The two passwords differ."
		w.render(rw, r, http.StatusBadRequest, "reset_confirm", v)
		return
	}
	status, detail := w.forward(rw, r, "/api/0/auth/password-reset/confirm/", map[string]string{
		"token": chi.URLParam(r, "token"), "password": pw})
	if status < 300 {
		redirectDone(rw, r, "/auth/login/", "password_set")
		return
	}
	w.logRefusal(r, status, errors.New(detail))
	v.Error = detail
	w.render(rw, r, status, "reset_confirm", v)
}

type inviteData struct {
	Invitation *api.Invitation
}

func (w *Web) invitePage(rw http.ResponseWriter, r *http.Request) {
	inv, err := w.backend().store.Invitation(r.Context(), chi.URLParam(r, "token"))
	if errors.Is(err, api.ErrNotFound) {
		w.render(rw, r, http.StatusNotFound, "error", &view{Title: "Invitation not found",
			Error: "The invitation is invalid, used or expired. Ask for a new one."})
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, http.StatusOK, "invite", &view{Title: "Join " + inv.Org.Name, CSRF: w.anonForm(rw, r),
		Data: inviteData{Invitation: inv}})
}

func (w *Web) inviteSubmit(rw http.ResponseWriter, r *http.Request) {
	status, detail := w.forward(rw, r, "/api/0/accept-invite/", map[string]string{
		"token": chi.URLParam(r, "token"), "name": strings.TrimSpace(r.PostFormValue("name")),
		"password": r.PostFormValue("password")})
	if status < 300 {
		http.Redirect(rw, r, "/", http.StatusSeeOther)
		return
	}
	w.logRefusal(r, status, errors.New(detail))
	inv, err := w.backend().store.Invitation(r.Context(), chi.URLParam(r, "token"))
	if err != nil {
		w.render(rw, r, status, "error", &view{Title: "Invitation not found", Error: detail})
		return
	}
	w.render(rw, r, status, "invite", &view{Title: "Join " + inv.Org.Name, CSRF: w.anonForm(rw, r), Error: detail,
		Data: inviteData{Invitation: inv}})
}
