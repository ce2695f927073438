package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/inboundfilter"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/go-chi/chi/v5"
)

type settingsData struct {
	Project  *accounts.OrgProject
	Rules    *rulesData
	Keys     []*keyView
	Members  []*accounts.Member
	Teams    []*accounts.Team
	CanWrite bool
	CanAdmin bool
	Filters  []filterView
	Spike    *spikeView
}

// filterView is one inbound filter's switch.
type filterView struct {
	ID, Name string
	On       bool
}

type keyView struct {
	*accounts.ProjectKey
	Snippets []snippet
	Limit    projectkeys.RateLimit // as the API shows it; a zero count is none
	Windows  []windowOption        // the form's choice of Limit.Window
	// MoreLimits says the key has limits besides Limit (set through the
	// API's rateLimits), which saving the form replaces.
	MoreLimits bool
}

// windowOption is one choice of a rate limit's window.
type windowOption struct {
	Seconds  int64
	Label    string
	Selected bool
}

// rateLimitWindows are the form's common windows, a minute to a day.
var rateLimitWindows = []int64{60, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400}

// newKeyView shows k with its setup snippets and its rate limit's form.
func newKeyView(k *accounts.ProjectKey) *keyView {
	v := &keyView{ProjectKey: k, Snippets: Snippets(k.DSN, k.ID), Limit: k.SentryRateLimit()}
	n := 0
	for _, c := range []int64{k.RateLimitCount, k.RateLimitPerMinute, k.RateLimitPerHour} {
		if c > 0 {
			n++
		}
	}
	v.MoreLimits = n > 1
	selected := v.Limit.Window
	if selected == 0 {
		selected = 60
	}
	ws := rateLimitWindows
	if !slices.Contains(ws, selected) {
		ws = append(slices.Clone(ws), selected)
		slices.Sort(ws)
	}
	for _, s := range ws {
		v.Windows = append(v.Windows, windowOption{Seconds: s, Label: windowLabel(s), Selected: s == selected})
	}
	return v
}

// WindowLabel names the window of the key's rate limit.
func (v *keyView) WindowLabel() string { return windowLabel(v.Limit.Window) }

// windowLabel names a window of s seconds in its largest whole unit.
func windowLabel(s int64) string {
	for _, u := range []struct {
		secs int64
		name string
	}{{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}} {
		if s%u.secs == 0 {
			if n := s / u.secs; n != 1 {
				return fmt.Sprintf("%d %ss", n, u.name)
			}
			return "1 " + u.name
		}
	}
	return ""
}

// formRateLimit reads the key form's rate limit: a count of events (empty
// or 0 is none) per a window of 60 to 86400 seconds.
func formRateLimit(r *http.Request) (projectkeys.RateLimit, error) {
	count, err := formInt(r, "rate_limit_count")
	if err != nil {
		return projectkeys.RateLimit{}, err
	}
	var rl projectkeys.RateLimit
	if count != nil {
		rl.Count = *count
	}
	w := strings.TrimSpace(r.PostFormValue("rate_limit_window"))
	if w == "" && rl.Count == 0 {
		return rl, nil
	}
	if rl.Window, err = strconv.ParseInt(w, 10, 64); err != nil || rl.Window < projectkeys.MinRateLimitWindow || rl.Window > projectkeys.MaxRateLimitWindow {
		return projectkeys.RateLimit{}, fmt.Errorf("rate limit window: want %d to %d seconds", projectkeys.MinRateLimitWindow, projectkeys.MaxRateLimitWindow)
	}
	return rl, nil
}

// snippet is a copy-ready SDK setup.
type snippet struct {
	ID, SDK, Install, Code string
}

// Snippets are the setup of the common SDKs for a DSN.
func Snippets(dsn string, keyID int64) []snippet {
	q := strconv.Quote(dsn)
	id := func(s string) string { return fmt.Sprintf("k%d-%s", keyID, s) }
	return []snippet{
		{id("go"), "Go (sentry-go)", "go get github.com/getsentry/sentry-go",
			"err := sentry.Init(sentry.ClientOptions{\n\tDsn: " + q + ",\n})\nif err != nil {\n\tlog.Fatalf(\"sentry.Init: %s\", err)\n}\ndefer sentry.Flush(2 * time.Second)"},
		{id("node"), "Node.js (@sentry/node)", "npm install @sentry/node",
			"const Sentry = require(\"@sentry/node\");\n\nSentry.init({\n  dsn: " + q + ",\n});"},
		{id("browser"), "Browser (@sentry/browser)", "npm install @sentry/browser",
			"import * as Sentry from \"@sentry/browser\";\n\nSentry.init({\n  dsn: " + q + ",\n});"},
		{id("python"), "Python (sentry-sdk)", "pip install sentry-sdk",
			"import sentry_sdk\n\nsentry_sdk.init(\n    dsn=" + q + ",\n)"},
	}
}

// projectOf resolves the {project} path parameter in the request's
// organisation.
func (w *Web) projectOf(r *http.Request) (*accounts.OrgProject, error) {
	p, err := w.backend().store.OrgProject(r.Context(), orgOf(r.Context()).org.ID, chi.URLParam(r, "project"))
	if errors.Is(err, accounts.ErrNotFound) {
		return nil, errNotFoundPage
	}
	return p, err
}

func settingsPath(p *accounts.OrgProject) string {
	return "/settings/" + p.Org.Slug + "/projects/" + p.Slug + "/"
}

func (w *Web) settingsPage(rw http.ResponseWriter, r *http.Request) {
	pr, err := w.projectOf(r)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	rules, err := w.backend().issues.GroupingRules(r.Context(), pr.ID)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	w.renderSettings(rw, r, pr, &rulesData{Stack: rules.Stack, Fingerprint: rules.Fingerprint}, http.StatusOK)
}

// renderSettings renders a project's settings page with the rules editor
// showing rd.
func (w *Web) renderSettings(rw http.ResponseWriter, r *http.Request, pr *accounts.OrgProject, rd *rulesData, status int) {
	ctx := r.Context()
	oa := orgOf(ctx)
	st := w.backend().store
	keys, err := st.Keys(ctx, pr.ID, nil, 100, 0)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	members, err := st.Members(ctx, oa.org.ID, 200, 0)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	teams, err := st.Teams(ctx, oa.org.ID, principalOf(ctx).User.ID, 200, 0)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	fs, err := st.ProjectFilters(ctx, pr.ID)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	d := settingsData{Project: pr, Rules: rd, Members: members, CanWrite: oa.level >= accounts.LevelWrite, CanAdmin: oa.level >= accounts.LevelAdmin,
		Spike: w.spikeOf(ctx, pr)}
	for _, id := range inboundfilter.Filters {
		d.Filters = append(d.Filters, filterView{ID: id, Name: inboundfilter.About[id][0], On: fs.On(id)})
	}
	for _, k := range keys {
		d.Keys = append(d.Keys, newKeyView(k))
	}
	for _, t := range teams {
		for _, ref := range pr.Teams {
			if ref.ID == t.ID {
				d.Teams = append(d.Teams, t)
			}
		}
	}
	w.render(rw, r, status, "settings", &view{Title: pr.Name + " settings", Data: d, Crumbs: []crumb{
		{Label: pr.Org.Name, Href: "/"},
		{Label: pr.Name, Href: issuesPath(pr.Org.Slug, pr.Slug)},
		{Label: "Settings"},
	}})
}

func issuesPath(org, project string) string {
	return "/organizations/" + org + "/issues/?project=" + project
}

// formInt reads an optional non-negative integer field; "" is nil.
func formInt(r *http.Request, name string) (*int64, error) {
	s := strings.TrimSpace(r.PostFormValue(name))
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%s: want a whole number of 0 or more", strings.ReplaceAll(name, "_", " "))
	}
	return &n, nil
}

func (w *Web) keyCreate(rw http.ResponseWriter, r *http.Request) {
	pr, err := w.projectOf(r)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	label := strings.TrimSpace(r.PostFormValue("label"))
	var u accounts.KeyUpdate
	if label != "" {
		u.Label = &label
	}
	if _, err := w.backend().store.CreateKey(r.Context(), pr.ID, u); err != nil {
		w.storeRefusal(rw, r, err)
		return
	}
	redirectDone(rw, r, settingsPath(pr), "key_created")
}

// keyChange renames, re-limits, disables, enables, rotates or deletes a
// key, as the form's action says.
func (w *Web) keyChange(rw http.ResponseWriter, r *http.Request) {
	pr, err := w.projectOf(r)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	ctx, st, key := r.Context(), w.backend().store, chi.URLParam(r, "key")
	done := "key_saved"
	switch r.PostFormValue("action") {
	case "save":
		label := r.PostFormValue("label")
		var rl projectkeys.RateLimit
		if rl, err = formRateLimit(r); err != nil {
			w.refuse(rw, r, http.StatusBadRequest, err)
			return
		}
		// As the API's rateLimit does: the Sentry limit replaces the
		// per-minute and per-hour ones.
		zero := int64(0)
		u := accounts.KeyUpdate{Label: &label, RateLimit: &rl, RateLimitPerMinute: &zero, RateLimitPerHour: &zero}
		_, err = st.UpdateKey(ctx, pr.ID, key, u)
	case "disable", "enable":
		off := r.PostFormValue("action") == "disable"
		_, err = st.UpdateKey(ctx, pr.ID, key, accounts.KeyUpdate{Disabled: &off})
	case "rotate":
		done = "key_rotated"
		_, err = st.RotateKey(ctx, pr.ID, key)
	case "delete":
		done = "key_deleted"
		err = st.DeleteKey(ctx, pr.ID, key)
	default:
		w.refuse(rw, r, http.StatusBadRequest, errors.New("unknown action"))
		return
	}
	if err != nil {
		w.storeRefusal(rw, r, err)
		return
	}
	redirectDone(rw, r, settingsPath(pr), done)
}

// storeRefusal answers a store error: invalid input as 400 with its reason,
// a missing object as 404, anything else as a failure.
func (w *Web) storeRefusal(rw http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		w.notFound(rw, r)
	case errors.Is(err, accounts.ErrInvalid):
		w.refuse(rw, r, http.StatusBadRequest, errors.New(strings.TrimPrefix(err.Error(), accounts.ErrInvalid.Error()+": ")))
	case errors.Is(err, accounts.ErrConflict):
		w.refuse(rw, r, http.StatusConflict, err)
	default:
		w.fail(rw, r, err)
	}
}

// privacySubmit saves a project's scrubbing settings and inbound filters
// (the admin role: turning them down lets data in).
func (w *Web) privacySubmit(rw http.ResponseWriter, r *http.Request) {
	pr, err := w.projectOf(r)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	ctx, st := r.Context(), w.backend().store
	on := func(name string) *bool { v := r.PostFormValue(name) == "on"; return &v }
	fields := func(name string) *[]string {
		out := []string{}
		for _, l := range strings.Split(r.PostFormValue(name), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		return &out
	}
	if _, err := st.UpdateProject(ctx, pr, accounts.ProjectUpdate{Scrub: accounts.ScrubUpdate{
		DataScrubber: on("data_scrubber"), DataScrubberDefaults: on("data_scrubber_defaults"),
		ScrubIPAddresses: on("scrub_ip_addresses"), SensitiveFields: fields("sensitive_fields"), SafeFields: fields("safe_fields"),
	}}); err != nil {
		w.storeRefusal(rw, r, err)
		return
	}
	checked := r.PostForm["filter"]
	for _, id := range inboundfilter.Filters {
		active := slices.Contains(checked, id)
		var subs []string
		if id == inboundfilter.LegacyBrowsers && active {
			subs = []string{"default"}
		}
		if err := st.SetProjectFilter(ctx, pr.ID, id, active, subs); err != nil {
			w.storeRefusal(rw, r, err)
			return
		}
	}
	redirectDone(rw, r, "/settings/"+pr.Org.Slug+"/projects/"+pr.Slug+"/", "privacy_saved")
}
