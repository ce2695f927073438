package alertrules

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Channels an action delivers through.
const (
	ChannelEmail      = "email"
	ChannelWebhooks   = "webhooks" // the legacy webhooks plugin: the project's URLs
	ChannelSlack      = "slack"
	ChannelDiscord    = "discord"
	ChannelMattermost = "mattermost"
	ChannelTeams      = "msteams"
	ChannelPagerDuty  = "pagerduty"
)

// Action is a validated action.
type Action struct {
	Channel string
	// Email: TargetType IssueOwners, Team or Member; TargetID the team or
	// member; Fallthrough (IssueOwners without owners) ActiveMembers,
	// AllMembers or NoOne.
	TargetType  string
	TargetID    int64
	Fallthrough string
	URL         string // incoming webhook URL of a chat service
	RoutingKey  string // PagerDuty Events v2 integration key
	Severity    string // PagerDuty: critical, error, warning, info; "" from the event's level
}

var chatActions = map[string]string{ActionSlack: ChannelSlack, ActionDiscord: ChannelDiscord,
	ActionMattermost: ChannelMattermost, ActionTeams: ChannelTeams}

func compileAction(n Node) (Action, error) {
	var a Action
	switch id := n.ID(); id {
	case ActionEmail:
		a.Channel = ChannelEmail
		var err error
		if a.TargetType, err = choice(n, "targetType", "", "IssueOwners", "Team", "Member"); err != nil {
			return a, err
		}
		if a.TargetType != "IssueOwners" {
			s, _ := str(n, "targetIdentifier")
			if a.TargetID, err = strconv.ParseInt(s, 10, 64); err != nil || a.TargetID <= 0 {
				return a, fmt.Errorf("targetIdentifier: the id of a %s is required", map[string]string{"Team": "team", "Member": "member"}[a.TargetType])
			}
		}
		if a.Fallthrough, err = choice(n, "fallthroughType", "ActiveMembers", "ActiveMembers", "AllMembers", "NoOne"); err != nil {
			return a, err
		}
	case ActionService:
		svc, err := text(n, "service", true)
		if err != nil {
			return a, err
		}
		if svc != "webhooks" && svc != "mail" {
			return a, fmt.Errorf("service: %q is not available; use webhooks or mail", svc)
		}
		a.Channel = ChannelWebhooks
		if svc == "mail" {
			a.Channel, a.TargetType, a.Fallthrough = ChannelEmail, "IssueOwners", "ActiveMembers"
		}
	case ActionSlack, ActionDiscord, ActionMattermost, ActionTeams:
		a.Channel = chatActions[id]
		u, err := text(n, "webhook_url", true)
		if err != nil {
			return a, err
		}
		if err := checkURL(u); err != nil {
			return a, fmt.Errorf("webhook_url: %w", err)
		}
		a.URL = u
	case ActionPagerDuty:
		a.Channel = ChannelPagerDuty
		k, err := text(n, "routing_key", true)
		if err != nil {
			return a, err
		}
		if len(k) != 32 {
			return a, fmt.Errorf("routing_key: a 32-character integration key is required")
		}
		a.RoutingKey = k
		if a.Severity, err = choice(n, "severity", "default", "default", "critical", "error", "warning", "info"); err != nil {
			return a, err
		}
		if a.Severity == "default" {
			a.Severity = ""
		}
	case "":
		return a, fmt.Errorf("id: this field is required")
	default:
		return a, fmt.Errorf("unknown action")
	}
	return a, nil
}

// checkURL accepts absolute http and https URLs; where they may connect to
// is decided when they are dialled.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("an http or https URL without credentials is required")
	}
	return nil
}

// SplitURLs reads the webhooks plugin's setting: one URL a line, blank
// lines ignored.
func SplitURLs(raw string) []string {
	var out []string
	for _, l := range strings.Split(raw, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// CheckWebhookURLs validates the webhooks plugin's setting: the messages
// for its "urls" field, nil when it is good.
func CheckWebhookURLs(raw string) []string {
	var errs []string
	urls := SplitURLs(raw)
	if len(urls) > 20 {
		errs = append(errs, "At most 20 URLs.")
	}
	for _, u := range urls {
		if len(u) > 2048 || checkURL(u) != nil {
			errs = append(errs, fmt.Sprintf("%q is not an http or https URL.", clip(u, 100)))
		}
	}
	return errs
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
