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
		d.Keys = append(d.Keys, &keyView{ProjectKey: k, Snippets: Snippets(k.DSN, k.ID)})
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
		u := accounts.KeyUpdate{Label: &label}
		if u.RateLimitPerMinute, err = formInt(r, "rate_limit_per_minute"); err == nil {
			u.RateLimitPerHour, err = formInt(r, "rate_limit_per_hour")
		}
		if err != nil {
			w.refuse(rw, r, http.StatusBadRequest, err)
			return
		}
		zero := int64(0)
		if u.RateLimitPerMinute == nil {
			u.RateLimitPerMinute = &zero
		}
		if u.RateLimitPerHour == nil {
			u.RateLimitPerHour = &zero
		}
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
