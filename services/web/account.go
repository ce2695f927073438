package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/faultline/faultline/libs/accounts"
)

// accountData is the account page: the user's digest settings and the
// choices the form offers.
type accountData struct {
	accounts.NotificationSettings
	Hours []int
	Zones []string
}

// commonZones are offered in the time zone field; any IANA name is taken.
var commonZones = []string{"UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Moscow", "Africa/Lagos",
	"Asia/Dubai", "Asia/Kolkata", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
	"America/Sao_Paulo", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"}

func (w *Web) accountPage(rw http.ResponseWriter, r *http.Request) {
	n, err := w.backend().store.NotificationSettings(r.Context(), principalOf(r.Context()).User.ID)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	w.renderAccount(rw, r, n, http.StatusOK, "")
}

func (w *Web) renderAccount(rw http.ResponseWriter, r *http.Request, n accounts.NotificationSettings, status int, problem string) {
	hours := make([]int, 24)
	for i := range hours {
		hours[i] = i
	}
	w.render(rw, r, status, "account", &view{Title: "Your account", Error: problem,
		Crumbs: []crumb{{Label: "Projects", Href: "/"}, {Label: "Your account"}},
		Data:   accountData{NotificationSettings: n, Hours: hours, Zones: commonZones}})
}

func (w *Web) accountSubmit(rw http.ResponseWriter, r *http.Request) {
	n := accounts.NotificationSettings{
		DailyDigest:  r.PostFormValue("daily_digest") == "on",
		WeeklyDigest: r.PostFormValue("weekly_digest") == "on",
		Timezone:     r.PostFormValue("timezone"),
		DigestHour:   -1,
	}
	if h, err := strconv.Atoi(r.PostFormValue("digest_hour")); err == nil {
		n.DigestHour = h
	}
	if err := n.Check(); err != nil {
		w.renderAccount(rw, r, n, http.StatusBadRequest, strings.TrimPrefix(err.Error(), accounts.ErrInvalid.Error()+": "))
		return
	}
	if err := w.backend().store.SetNotificationSettings(r.Context(), principalOf(r.Context()).User.ID, n); err != nil {
		w.fail(rw, r, err)
		return
	}
	redirectDone(rw, r, "/settings/account/", "account_saved")
}
