package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/faultline/faultline/services/api"
)

// rulesData is the grouping rules editor: the rules shown (stored, or the
// candidate ones being previewed), a refusal, and a preview.
type rulesData struct {
	Stack, Fingerprint string
	Error              string
	Preview            *previewView
}

// previewView is what candidate rules would change, for people.
type previewView struct {
	Events, Moved, IssuesSplit, IssuesMerged, NewIssues int
	Sample                                              []previewRow
}

type previewRow struct {
	EventID, Title, From, To string // To "" is a new issue
}

// rulesSubmit previews (action=preview) or saves (action=save) the grouping
// rules of the form; rules that do not parse come back with their line.
func (w *Web) rulesSubmit(rw http.ResponseWriter, r *http.Request) {
	pr, err := w.projectOf(r)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	ctx := r.Context()
	issues := w.backend().store.Issues()
	rd := &rulesData{Stack: strings.ReplaceAll(r.PostFormValue("stacktrace"), "\r\n", "\n"),
		Fingerprint: strings.ReplaceAll(r.PostFormValue("fingerprinting"), "\r\n", "\n")}
	if len(rd.Stack) > 64<<10 || len(rd.Fingerprint) > 64<<10 {
		w.refuse(rw, r, http.StatusBadRequest, errors.New("grouping rules: at most 64 KiB each"))
		return
	}
	switch r.PostFormValue("action") {
	case "save":
		_, err := issues.SetGroupingRules(ctx, pr.ID, rd.Stack, rd.Fingerprint)
		if err == nil {
			redirectDone(rw, r, settingsPath(pr)+"#rules", "rules_saved")
			return
		}
		if !errors.Is(err, api.ErrInvalid) {
			w.fail(rw, r, err)
			return
		}
		rd.Error = strings.TrimPrefix(err.Error(), api.ErrInvalid.Error()+": ")
	case "preview":
		pv, err := issues.PreviewGroupingRules(ctx, pr.ID, rd.Stack, rd.Fingerprint)
		if err != nil && !errors.Is(err, api.ErrInvalid) {
			w.fail(rw, r, err)
			return
		}
		if err != nil {
			rd.Error = strings.TrimPrefix(err.Error(), api.ErrInvalid.Error()+": ")
			break
		}
		v := &previewView{Events: pv.Events, Moved: pv.Moved, IssuesSplit: pv.IssuesSplit, IssuesMerged: pv.IssuesMerged, NewIssues: pv.NewIssues}
		for _, c := range pv.Sample {
			row := previewRow{EventID: c.EventID, Title: c.Title, From: issueURL(pr.Org.Slug, c.FromIssue)}
			if c.ToIssue != 0 {
				row.To = issueURL(pr.Org.Slug, c.ToIssue)
			}
			v.Sample = append(v.Sample, row)
		}
		rd.Preview = v
	default:
		w.refuse(rw, r, http.StatusBadRequest, errors.New("unknown action"))
		return
	}
	status := http.StatusOK
	if rd.Error != "" {
		status = http.StatusBadRequest
	}
	w.renderSettings(rw, r, pr, rd, status)
}

// memberInvite invites someone to the organisation through the REST API's
// route, which checks the role and mails the invitation.
func (w *Web) memberInvite(rw http.ResponseWriter, r *http.Request) {
	pr, err := w.projectOf(r)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	body := map[string]any{"email": strings.TrimSpace(r.PostFormValue("email")), "orgRole": r.PostFormValue("role")}
	if t := r.PostFormValue("team"); t != "" {
		body["teams"] = []string{t}
	}
	status, detail := w.forwardSession(r, "/api/0/organizations/"+pr.Org.Slug+"/members/", body)
	if status >= 400 {
		if detail == "" {
			detail = http.StatusText(status)
		}
		w.refuse(rw, r, status, errors.New(detail))
		return
	}
	redirectDone(rw, r, settingsPath(pr)+"#members", "invited")
}

// forwardSession POSTs body as JSON to one of the REST API's routes as the
// signed-in person of r (their session cookie and the form's CSRF token),
// and returns its status and, for errors, its detail.
func (w *Web) forwardSession(r *http.Request, path string, body any) (int, string) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, path, bytes.NewReader(b))
	if err != nil {
		return http.StatusInternalServerError, "internal error"
	}
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.CSRFHeader, r.PostFormValue("csrf_token"))
	for _, h := range []string{"Cookie", "Origin", "Referer", "User-Agent", "X-Forwarded-For"} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	rec := &recorder{h: http.Header{}, status: http.StatusOK}
	w.fwd.ServeHTTP(rec, req)
	var e struct {
		Detail string `json:"detail"`
	}
	if rec.status >= 400 {
		json.Unmarshal(rec.body.Bytes(), &e)
	}
	return rec.status, e.Detail
}
