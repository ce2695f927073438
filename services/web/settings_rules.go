package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/faultline/faultline/libs/accounts"
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
	iss := w.backend().issues
	rd := &rulesData{Stack: strings.ReplaceAll(r.PostFormValue("stacktrace"), "\r\n", "\n"),
		Fingerprint: strings.ReplaceAll(r.PostFormValue("fingerprinting"), "\r\n", "\n")}
	if len(rd.Stack) > 64<<10 || len(rd.Fingerprint) > 64<<10 {
		w.refuse(rw, r, http.StatusBadRequest, errors.New("grouping rules: at most 64 KiB each"))
		return
	}
	switch r.PostFormValue("action") {
	case "save":
		_, err := iss.SetGroupingRules(ctx, pr.ID, rd.Stack, rd.Fingerprint)
		if err == nil {
			redirectDone(rw, r, settingsPath(pr)+"#rules", "rules_saved")
			return
		}
		if !errors.Is(err, accounts.ErrInvalid) {
			w.fail(rw, r, err)
			return
		}
		rd.Error = strings.TrimPrefix(err.Error(), accounts.ErrInvalid.Error()+": ")
	case "preview":
		pv, err := iss.PreviewGroupingRules(ctx, pr.ID, rd.Stack, rd.Fingerprint)
		if err != nil && !errors.Is(err, accounts.ErrInvalid) {
			w.fail(rw, r, err)
			return
		}
		if err != nil {
			rd.Error = strings.TrimPrefix(err.Error(), accounts.ErrInvalid.Error()+": ")
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

// memberInvite invites someone to the organisation: the accounts check
// the role against the inviter's and mail the invitation, as for the REST
// API's route.
func (w *Web) memberInvite(rw http.ResponseWriter, r *http.Request) {
	pr, err := w.projectOf(r)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	var teams []string
	if t := r.PostFormValue("team"); t != "" {
		teams = []string{t}
	}
	oa := orgOf(r.Context())
	_, err = w.acc.Invite(r.Context(), oa.org, principalOf(r.Context()).User, oa.level,
		strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("role"), teams)
	if err != nil {
		status, detail := w.refusal(rw, r, err)
		w.render(rw, r, status, "error", &view{Title: "The invitation was not sent", Error: detail})
		return
	}
	redirectDone(rw, r, settingsPath(pr)+"#members", "invited")
}
