package notify

import (
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"unicode/utf8"

	"github.com/faultline/faultline/libs/mailer"
)

// PagerDutyURL is the Events API v2 endpoint.
const PagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:max(n-1, 0)] + "…"
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps, slices and strings: cannot fail
	}
	return b
}

func (a *Alert) kind() string {
	if k := map[string]string{"created": "New issue", "regressed": "Regression", "unignored": "Issue reappeared"}[a.Trigger]; k != "" {
		return k
	}
	return "Alert"
}

func (a *Alert) headline() string { return a.kind() + ": " + a.Title }

var levelColors = map[string]int{"fatal": 0xd1001f, "error": 0xe03e2f, "warning": 0xf5b000, "info": 0x2562d4, "debug": 0x8a8a8a}

func (a *Alert) color() int {
	if c, ok := levelColors[a.Level]; ok {
		return c
	}
	return 0xe03e2f
}

// Webhook is the legacy webhooks plugin's body, as Sentry posts it.
func Webhook(a *Alert) json.RawMessage {
	ev := a.Event
	if len(ev) == 0 {
		ev = json.RawMessage("{}")
	}
	var logger any
	if a.Logger != "" {
		logger = a.Logger
	}
	return mustJSON(map[string]any{
		"id":               fmt.Sprint(a.IssueID),
		"project":          a.Project,
		"project_name":     a.Project,
		"project_slug":     a.Project,
		"logger":           logger,
		"level":            a.Level,
		"culprit":          a.Culprit,
		"message":          a.Message,
		"url":              a.IssueURL() + "?referrer=webhooks_plugin",
		"triggering_rules": []string{a.RuleName},
		"event":            ev,
	})
}

// Slack is an incoming-webhook message: text for notifications, Block Kit
// blocks for the message (api.slack.com/messaging/webhooks).
func Slack(a *Alert) json.RawMessage {
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return mustJSON(map[string]any{
		"text": clip(a.headline(), 3000),
		"blocks": []any{
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn",
				"text": clip(fmt.Sprintf("*<%s|%s>*\n%s", a.IssueURL(), esc.Replace(a.Title), esc.Replace(a.Culprit)), 3000)}},
			map[string]any{"type": "context", "elements": []any{map[string]any{"type": "mrkdwn",
				"text": clip(fmt.Sprintf("%s · %s · level %s · rule <%s|%s>", a.kind(), esc.Replace(a.Project), a.Level, a.RuleURL(), esc.Replace(a.RuleName)), 3000)}}},
		},
	})
}

// Discord is an execute-webhook body with one embed
// (discord.com/developers/docs/resources/webhook).
func Discord(a *Alert) json.RawMessage {
	return mustJSON(map[string]any{
		"username": "Faultline",
		"content":  clip(a.headline(), 2000),
		"embeds": []any{map[string]any{
			"title":       clip(a.Title, 256),
			"url":         a.IssueURL(),
			"description": clip(a.Culprit, 4096),
			"color":       a.color(),
			"timestamp":   a.At.UTC().Format("2006-01-02T15:04:05.000Z"),
			"fields": []any{
				map[string]any{"name": "Project", "value": clip(a.Project, 1024), "inline": true},
				map[string]any{"name": "Level", "value": clip(orDash(a.Level), 1024), "inline": true},
				map[string]any{"name": "Rule", "value": clip(a.RuleName, 1024), "inline": true},
			},
		}},
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Mattermost is an incoming-webhook body: Markdown text and a
// message attachment (developers.mattermost.com/integrate/webhooks/incoming).
func Mattermost(a *Alert) json.RawMessage {
	return mustJSON(map[string]any{
		"username": "Faultline",
		"text":     clip(fmt.Sprintf("#### %s\n[%s](%s)", a.headline(), a.Title, a.IssueURL()), 16383),
		"attachments": []any{map[string]any{
			"fallback":   clip(a.headline(), 1000),
			"color":      fmt.Sprintf("#%06x", a.color()),
			"title":      clip(a.Title, 1000),
			"title_link": a.IssueURL(),
			"text":       clip(a.Culprit, 4000),
			"fields": []any{
				map[string]any{"short": true, "title": "Project", "value": a.Project},
				map[string]any{"short": true, "title": "Level", "value": orDash(a.Level)},
				map[string]any{"short": false, "title": "Rule", "value": a.RuleName},
			},
		}},
	})
}

// Teams is a Microsoft Teams incoming-webhook (Workflows) message with an
// Adaptive Card (learn.microsoft.com: "Create incoming webhooks with
// Workflows for Microsoft Teams").
func Teams(a *Alert) json.RawMessage {
	return mustJSON(map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content": map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard",
				"version": "1.4",
				"body": []any{
					map[string]any{"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true, "text": clip(a.headline(), 1000)},
					map[string]any{"type": "TextBlock", "wrap": true, "isSubtle": true, "text": clip(a.Culprit, 1000)},
					map[string]any{"type": "FactSet", "facts": []any{
						map[string]any{"title": "Project", "value": a.Project},
						map[string]any{"title": "Level", "value": orDash(a.Level)},
						map[string]any{"title": "Rule", "value": a.RuleName},
					}},
				},
				"actions": []any{map[string]any{"type": "Action.OpenUrl", "title": "Open the issue", "url": a.IssueURL()}},
			},
		}},
	})
}

var pdSeverity = map[string]string{"fatal": "critical", "error": "error", "warning": "warning", "info": "info", "debug": "info"}

// PagerDuty is an Events API v2 trigger; the dedup key is the issue, so
// repeated alerts of one issue stay one incident
// (developer.pagerduty.com/docs/events-api-v2/trigger-events).
func PagerDuty(a *Alert, routingKey, severity string) json.RawMessage {
	if severity == "" {
		severity = pdSeverity[a.Level]
	}
	if severity == "" {
		severity = "error"
	}
	return mustJSON(map[string]any{
		"routing_key":  routingKey,
		"event_action": "trigger",
		"dedup_key":    fmt.Sprintf("faultline-issue-%d", a.IssueID),
		"client":       "Faultline",
		"client_url":   a.IssueURL(),
		"payload": map[string]any{
			"summary":   clip(a.headline(), 1024),
			"source":    a.Project,
			"severity":  severity,
			"timestamp": a.At.UTC().Format("2006-01-02T15:04:05.000Z"),
			"component": clip(a.Culprit, 255),
			"group":     a.Project,
			"class":     a.Level,
			"custom_details": map[string]any{
				"issue_id": a.IssueID, "event_id": a.EventID, "rule": a.RuleName, "title": a.Title,
			},
		},
		"links": []any{map[string]any{"href": a.IssueURL(), "text": "Issue in Faultline"}},
	})
}

// Mail is the alert mail to one address, as text and HTML with links into
// the dashboard.
func Mail(a *Alert, to string) mailer.Message {
	text := fmt.Sprintf("%s\n\n%s\n%s\n\nProject: %s\nLevel: %s\nRule: %s\n\nIssue: %s\nRule settings: %s\n",
		a.headline(), a.Title, a.Culprit, a.Project, orDash(a.Level), a.RuleName, a.IssueURL(), a.RuleURL())
	e := html.EscapeString
	body := fmt.Sprintf(`<!doctype html><html><body style="font-family:sans-serif">
<h2 style="margin:0 0 8px">%s</h2>
<p style="margin:0 0 4px"><a href="%s"><strong>%s</strong></a></p>
<p style="margin:0 0 12px;color:#666">%s</p>
<table cellpadding="2"><tr><td>Project</td><td>%s</td></tr><tr><td>Level</td><td>%s</td></tr><tr><td>Rule</td><td><a href="%s">%s</a></td></tr></table>
<p><a href="%s">Open the issue in Faultline</a></p>
</body></html>`, e(a.headline()), e(a.IssueURL()), e(a.Title), e(a.Culprit), e(a.Project), e(orDash(a.Level)),
		e(a.RuleURL()), e(a.RuleName), e(a.IssueURL()))
	return mailer.Message{
		To:      to,
		Subject: clip(fmt.Sprintf("[%s] %s", a.Project, a.headline()), 200),
		Text:    text,
		HTML:    body,
		Headers: map[string]string{"X-Faultline-Project": a.Project, "X-Faultline-Rule": a.RuleName,
			"X-Faultline-Issue": fmt.Sprint(a.IssueID)},
	}
}
