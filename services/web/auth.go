package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/httplog"
	"github.com/go-chi/chi/v5"
)

// The sign-in, password-reset and invitation forms call the same
// functions as the REST API's routes (libs/accounts): the same limits per
// address and account, the same mail, the same session cookies.

// refusal answers err of the accounts on a form: its status and the
// detail to show, with Retry-After for limits; failures are 500s with a
// plain detail, logged.
func (w *Web) refusal(rw http.ResponseWriter, r *http.Request, err error) (int, string) {
	status, detail, retry := accounts.Refusal(err)
	if retry != "" {
		rw.Header().Set("Retry-After", retry)
	}
	if status == 0 {
		w.log.Error("dashboard request failed", slog.String("method", r.Method), slog.String("route", httplog.Route(r)),
			slog.Any("error", err))
		return http.StatusInternalServerError, "That failed; try again later."
	}
	w.logRefusal(r, status, errors.New(detail))
	return status, detail
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
	u, err := w.acc.SignIn(r.Context(), email, r.PostFormValue("password"), w.auth.ClientIP(r))
	if err == nil {
		_, err = w.acc.StartSession(rw, r, u)
	}
	if err == nil {
		http.Redirect(rw, r, next, http.StatusSeeOther)
		return
	}
	status, detail := w.refusal(rw, r, err)
	w.render(rw, r, status, "login", &view{Title: "Sign in", CSRF: w.anonForm(rw, r), Error: detail,
		Data: loginData{Next: next, Email: email}})
}

func (w *Web) logout(rw http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	if err := w.backend().store.DeleteSession(r.Context(), p.Session); err != nil && !errors.Is(err, accounts.ErrNotFound) {
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
	err := w.acc.RequestPasswordReset(r.Context(), strings.TrimSpace(r.PostFormValue("email")), w.auth.ClientIP(r))
	if err == nil {
		redirectDone(rw, r, "/auth/login/", "reset_sent")
		return
	}
	status, detail := w.refusal(rw, r, err)
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
	keep := r.PostFormValue("keep_tokens") == "on"
	err := w.acc.ResetPassword(r.Context(), chi.URLParam(r, "token"), pw, w.auth.ClientIP(r), keep)
	if err == nil {
		redirectDone(rw, r, "/auth/login/", "password_set")
		return
	}
	status, detail := w.refusal(rw, r, err)
	v.Error = detail
	w.render(rw, r, status, "reset_confirm", v)
}

type inviteData struct {
	Invitation *accounts.Invitation
}

func (w *Web) invitePage(rw http.ResponseWriter, r *http.Request) {
	inv, err := w.backend().store.Invitation(r.Context(), chi.URLParam(r, "token"))
	if errors.Is(err, accounts.ErrNotFound) {
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
	u, _, err := w.acc.AcceptInvitation(r.Context(), chi.URLParam(r, "token"), strings.TrimSpace(r.PostFormValue("name")),
		r.PostFormValue("password"), w.auth.ClientIP(r))
	if err == nil {
		_, err = w.acc.StartSession(rw, r, u)
	}
	if err == nil {
		http.Redirect(rw, r, "/", http.StatusSeeOther)
		return
	}
	status, detail := w.refusal(rw, r, err)
	inv, err := w.backend().store.Invitation(r.Context(), chi.URLParam(r, "token"))
	if err != nil {
		w.render(rw, r, status, "error", &view{Title: "Invitation not found", Error: detail})
		return
	}
	w.render(rw, r, status, "invite", &view{Title: "Join " + inv.Org.Name, CSRF: w.anonForm(rw, r), Error: detail,
		Data: inviteData{Invitation: inv}})
}
