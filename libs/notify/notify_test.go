package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/outbound"
)

func alert() *Alert {
	return &Alert{RuleID: 3, RuleName: "errors in prod", Trigger: "created", ProjectID: 1, Project: "backend", OrgSlug: "acme",
		IssueID: 42, Title: strings.Repeat("TimeoutError: db <timeout> ", 20), Culprit: "app/db in query", Level: "error",
		Message: "db timeout", EventID: "0123456789abcdef0123456789abcdef", Event: json.RawMessage(`{"event_id":"0123456789abcdef0123456789abcdef","tags":[["a","b"]]}`),
		At: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), PublicURL: "https://faultline.example.com/"}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// path walks objects and arrays: "embeds.0.title".
func path(v any, p string) any {
	for _, k := range strings.Split(p, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, _ := strconv.Atoi(k)
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// TestPayloadFormats checks each service's body against the fields and
// limits its documentation requires.
func TestPayloadFormats(t *testing.T) {
	a := alert()
	issueURL := "https://faultline.example.com/organizations/acme/issues/42/"
	for _, tc := range []struct {
		name string
		body []byte
		want map[string]any // path -> value (nil: must be present)
		max  map[string]int // path -> max length
	}{
		{"webhooks plugin", Webhook(a), map[string]any{"id": "42", "project": "backend", "project_name": "backend", "project_slug": "backend",
			"level": "error", "culprit": "app/db in query", "message": "db timeout", "url": issueURL + "?referrer=webhooks_plugin",
			"triggering_rules.0": "errors in prod", "event.event_id": a.EventID}, nil},
		{"slack", Slack(a), map[string]any{"text": nil, "blocks.0.type": "section", "blocks.0.text.type": "mrkdwn", "blocks.1.type": "context"},
			map[string]int{"blocks.0.text.text": 3000}},
		{"discord", Discord(a), map[string]any{"content": nil, "embeds.0.url": issueURL, "embeds.0.color": float64(0xe03e2f),
			"embeds.0.timestamp": "2025-01-02T03:04:05.000Z", "embeds.0.fields.0.name": "Project"},
			map[string]int{"content": 2000, "embeds.0.title": 256, "embeds.0.description": 4096}},
		{"mattermost", Mattermost(a), map[string]any{"text": nil, "attachments.0.title_link": issueURL, "attachments.0.color": "#e03e2f",
			"attachments.0.fields.0.short": true}, nil},
		{"teams", Teams(a), map[string]any{"type": "message", "attachments.0.contentType": "application/vnd.microsoft.card.adaptive",
			"attachments.0.content.type": "AdaptiveCard", "attachments.0.content.version": "1.4",
			"attachments.0.content.actions.0.type": "Action.OpenUrl", "attachments.0.content.actions.0.url": issueURL}, nil},
		{"pagerduty", PagerDuty(a, "0123456789abcdef0123456789abcdef", ""), map[string]any{"routing_key": "0123456789abcdef0123456789abcdef",
			"event_action": "trigger", "dedup_key": "faultline-issue-42", "payload.source": "backend", "payload.severity": "error",
			"payload.timestamp": "2025-01-02T03:04:05.000Z", "links.0.href": issueURL}, map[string]int{"payload.summary": 1024}},
	} {
		m := decode(t, tc.body)
		for p, want := range tc.want {
			got := path(m, p)
			if got == nil || (want != nil && got != want) {
				t.Errorf("%s: %s = %v, want %v", tc.name, p, got, want)
			}
		}
		for p, n := range tc.max {
			s, _ := path(m, p).(string)
			if s == "" || len([]rune(s)) > n {
				t.Errorf("%s: %s has %d characters, want 1 to %d", tc.name, p, len([]rune(s)), n)
			}
		}
	}
	if got := path(decode(t, Slack(a)), "blocks.0.text.text").(string); strings.Contains(got, "<timeout>") {
		t.Errorf("slack text not escaped: %q", got)
	}
	if got := path(decode(t, PagerDuty(a, "k", "critical")), "payload.severity"); got != "critical" {
		t.Errorf("pagerduty severity %v", got)
	}
}

func TestMailLinks(t *testing.T) {
	m := Mail(alert(), "dev@example.com")
	for _, part := range []string{m.Text, m.HTML} {
		if !strings.Contains(part, "https://faultline.example.com/organizations/acme/issues/42/") {
			t.Errorf("no link to the issue in %q", part)
		}
	}
	if strings.Contains(m.HTML, "<timeout>") {
		t.Error("HTML not escaped")
	}
}

func TestPostSignsAndClassifies(t *testing.T) {
	secret := []byte("s3cret")
	status := 200
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	s := &Sender{HTTP: outbound.NewClient(outbound.Options{AllowPrivate: true}), Now: func() time.Time { return time.Unix(1700000000, 0) }}
	req := Request{URL: srv.URL, Body: Webhook(alert())}
	if err := s.Post(context.Background(), req, secret); err != nil {
		t.Fatal(err)
	}
	if got.Header.Get(HeaderSignature) != Sign(secret, body) || got.Header.Get(HeaderTimestamp) != "1700000000" {
		t.Fatalf("signature %q timestamp %q", got.Header.Get(HeaderSignature), got.Header.Get(HeaderTimestamp))
	}
	if Sign(secret, body) == Sign([]byte("other"), body) {
		t.Fatal("the signature does not depend on the secret")
	}
	status = 503
	if err := s.Post(context.Background(), req, secret); err == nil || Permanent(err) {
		t.Fatalf("503: %v, want a retryable error", err)
	}
	status = 404
	if err := s.Post(context.Background(), req, secret); !Permanent(err) {
		t.Fatalf("404: %v, want a permanent error", err)
	}
	s.HTTP = outbound.NewClient(outbound.Options{})
	if err := s.Post(context.Background(), req, secret); !Permanent(err) {
		t.Fatalf("loopback without ALLOW_PRIVATE_WEBHOOKS: %v, want a permanent refusal", err)
	}
}
