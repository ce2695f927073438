package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/httplog"
)

// templates holds one template set per page: the layout, the shared
// partials and the page's own file.
type templates struct {
	pages map[string]*template.Template
}

var funcs = template.FuncMap{
	"ago":      ago,
	"when":     when,
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"num":      compact,
	"safeURL":  SafeURL,
	"lower":    strings.ToLower,
	"add":      func(a, b int) int { return a + b },
	"join":     strings.Join,
	"levelOK":  levelClass,
	"contains": func(l []string, s string) bool { return contains(l, s) },
	"dict":     dict,
	"release":  releaseURL,
}

func parseTemplates() (*templates, error) {
	names, err := fs.Glob(templatesFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	t := &templates{pages: map[string]*template.Template{}}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || strings.HasPrefix(base, "_") {
			continue
		}
		files := []string{"templates/layout.html"}
		partials, _ := fs.Glob(templatesFS, "templates/_*.html")
		files = append(files, partials...)
		files = append(files, n)
		p, err := template.New("layout.html").Funcs(funcs).ParseFS(templatesFS, files...)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", n, err)
		}
		t.pages[strings.TrimSuffix(base, ".html")] = p
	}
	return t, nil
}

// view is what every page's template receives.
type view struct {
	Title  string // the page's h1 and <title>
	User   *accounts.User
	CSRF   string // the session's CSRF token, or the form cookie's before sign-in
	Crumbs []crumb
	Notice string // a confirmation after an action
	Error  string // why a form was refused
	Data   any
	// Org is the organisation of the page, for the header's section links;
	// Section the one the page belongs to. render sets both.
	Org     string
	Section string
}

type crumb struct {
	Label, Href string
}

// render writes page with status.
func (w *Web) render(rw http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	if p := principalOf(r.Context()); p != nil {
		v.User = p.User
		if v.CSRF == "" {
			v.CSRF = w.auth.CSRFToken(p.Session)
		}
	}
	if v.Notice == "" {
		v.Notice = notices[r.URL.Query().Get("done")]
	}
	if oa := orgOf(r.Context()); oa != nil && v.Org == "" {
		v.Org = oa.org.Slug
	}
	v.Section = sections[page]
	t := w.tpl.pages[page]
	if t == nil {
		w.fail(rw, r, fmt.Errorf("no template %q", page))
		return
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		w.fail(rw, r, fmt.Errorf("render %s: %w", page, err))
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(status)
	rw.Write(buf.Bytes())
}

// sections are the header's section of each page.
var sections = map[string]string{
	"issues": "issues", "issue": "issues",
	"performance": "performance", "summary": "performance", "trace": "performance",
	"discover": "discover",
	"stats":    "stats",
	"releases": "releases", "release": "releases",
}

// notices are the confirmations a redirect after an action may ask for with
// ?done=; only these fixed texts are ever shown.
var notices = map[string]string{
	"resolved":            "Resolved.",
	"resolved_next":       "Resolved in the next release.",
	"resolved_in_release": "Resolved in that release.",
	"ignored":             "Ignored.",
	"unresolved":          "Unresolved.",
	"deleted":             "Deleted.",
	"key_created":         "Key created.",
	"key_saved":           "Key saved.",
	"key_rotated":         "Key rotated: the old DSN no longer works.",
	"key_deleted":         "Key deleted.",
	"reset_sent":          "If the address has an account, a reset link is on its way.",
	"password_set":        "Your password was changed. Sign in with it.",
	"signed_out":          "You are signed out.",
	"assigned":            "Assignee saved.",
	"merged":              "Issues merged into this one.",
	"unmerged":            "The selected hashes were split off into this new issue, with their events.",
	"reprocessed":         "Reprocessed: the events were symbolicated with the source maps there are now and grouped again.",
	"reprocessed_moved":   "Reprocessed: every event of the issue moved, and the issue was removed. This is where its first events went.",
	"pending":             "Saved. It takes effect in a moment: reload to see it.",
	"privacy_saved":       "Scrubbing and filters saved. The gateway applies them within seconds.",
	"account_saved":       "Saved.",
	"rules_saved":         "Grouping rules saved. New events group with them within seconds; replay to regroup past events.",
	"invited":             "Invitation sent.",
}

// redirectDone sends the browser back to to with a fixed notice.
func redirectDone(rw http.ResponseWriter, r *http.Request, to, notice string) {
	u, _ := url.Parse(to)
	q := u.Query()
	q.Set("done", notice)
	u.RawQuery = q.Encode()
	http.Redirect(rw, r, u.String(), http.StatusSeeOther)
}

func (w *Web) notFound(rw http.ResponseWriter, r *http.Request) {
	w.render(rw, r, http.StatusNotFound, "error", &view{Title: "Not found",
		Error: "There is nothing here, or you do not have access to it."})
}

func (w *Web) refuse(rw http.ResponseWriter, r *http.Request, status int, err error) {
	w.logRefusal(r, status, err)
	w.render(rw, r, status, "error", &view{Title: http.StatusText(status), Error: err.Error()})
}

func (w *Web) unavailable(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Set("Retry-After", "5")
	w.render(rw, r, http.StatusServiceUnavailable, "error", &view{Title: "Starting",
		Error: "The database is not ready yet. Retry in a few seconds."})
}

// fail answers an internal error without its details, logged once.
func (w *Web) fail(rw http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNotFoundPage) {
		w.notFound(rw, r)
		return
	}
	w.log.Error("dashboard request failed", slog.String("method", r.Method), slog.String("route", httplog.Route(r)),
		slog.Any("error", err))
	t := w.tpl.pages["error"]
	var buf bytes.Buffer
	if t == nil || t.Execute(&buf, &view{Title: "Something went wrong", Error: "The error was logged."}) != nil {
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(http.StatusInternalServerError)
	rw.Write(buf.Bytes())
}

var errNotFoundPage = errors.New("not found")

// ago is a short relative time: "just now", "5 min ago", "3 h ago",
// "2 days ago", or the date.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	case d < 30*24*time.Hour:
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "yesterday"
		}
		return strconv.Itoa(n) + " days ago"
	}
	return t.UTC().Format("2 Jan 2006")
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006 15:04:05 UTC")
}

// compact writes counts the way lists show them: 999, 1.2k, 34k, 1.5M.
func compact(n int64) string {
	switch {
	case n < 1000:
		return strconv.FormatInt(n, 10)
	case n < 10_000:
		return strconv.FormatFloat(float64(n)/1000, 'f', 1, 64) + "k"
	case n < 1_000_000:
		return strconv.FormatInt(n/1000, 10) + "k"
	case n < 10_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	}
	return strconv.FormatInt(n/1_000_000, 10) + "M"
}

// levelClass maps a level to a known CSS class; anything else is "unknown".
func levelClass(level string) string {
	switch level {
	case "fatal", "error", "warning", "info", "debug":
		return level
	}
	return "unknown"
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, errors.New("dict: keys must be strings")
		}
		m[k] = kv[i+1]
	}
	return m, nil
}
