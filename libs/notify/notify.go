// Package notify owns the shapes of Faultline's alert notifications and
// their delivery: the legacy webhooks plugin's body as Sentry sends it,
// Slack, Discord, Mattermost and Microsoft Teams incoming webhooks,
// PagerDuty Events v2, and mail. Bodies are rendered once, when a
// notification is decided, so every retry sends the same bytes; HTTP bodies
// are signed with the project's secret.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/faultline/faultline/libs/mailer"
	"github.com/faultline/faultline/libs/outbound"
)

// Alert is what a notification says: a rule fired for an issue.
type Alert struct {
	RuleID    int64
	RuleName  string
	Trigger   string // created, regressed, unignored, event
	ProjectID int64
	Project   string // slug
	OrgSlug   string
	IssueID   int64
	Title     string
	Culprit   string
	Level     string
	Platform  string
	Logger    string
	Message   string
	EventID   string
	Event     json.RawMessage // the normalized event; may be nil
	At        time.Time
	PublicURL string
}

// IssueURL is the issue in the dashboard.
func (a *Alert) IssueURL() string {
	return fmt.Sprintf("%s/organizations/%s/issues/%d/", trimSlash(a.PublicURL), a.OrgSlug, a.IssueID)
}

// RuleURL is the rule in the dashboard.
func (a *Alert) RuleURL() string {
	return fmt.Sprintf("%s/organizations/%s/alerts/rules/%s/%d/", trimSlash(a.PublicURL), a.OrgSlug, a.Project, a.RuleID)
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// Signature headers on every HTTP body, as Sentry's integration platform
// signs them: the hex HMAC-SHA256 of the body with the project's secret.
const (
	HeaderSignature = "Sentry-Hook-Signature"
	HeaderTimestamp = "Sentry-Hook-Timestamp"
	HeaderResource  = "Sentry-Hook-Resource"
)

// Sign is the signature of body with secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Request is one rendered HTTP delivery.
type Request struct {
	URL  string          `json:"url"`
	Body json.RawMessage `json:"body"`
}

// PermanentError is a failure that retrying cannot mend: a refused
// address, a 4xx answer other than 408 and 429.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent reports whether err is a PermanentError.
func Permanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Sender delivers rendered notifications.
type Sender struct {
	HTTP *http.Client
	Mail *mailer.Mailer
	Now  func() time.Time
}

// Post sends a rendered request, signed with secret.
func (s *Sender) Post(ctx context.Context, r Request, secret []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return &PermanentError{fmt.Errorf("request: %w", err)}
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Faultline-Alerts/1")
	req.Header.Set(HeaderResource, "event_alert")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now().Unix(), 10))
	if len(secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(secret, r.Body))
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		if outbound.Forbidden(err) {
			return &PermanentError{err}
		}
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return &PermanentError{fmt.Errorf("receiver answered %s", resp.Status)}
}

// SendMail sends a rendered mail.
func (s *Sender) SendMail(ctx context.Context, m mailer.Message) error {
	err := s.Mail.Send(ctx, m)
	if errors.Is(err, mailer.ErrOff) {
		return &PermanentError{err}
	}
	return err
}
