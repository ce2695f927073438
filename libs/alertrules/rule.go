// Package alertrules owns Faultline's issue-alert rules in Sentry's JSON
// shape: parsing and validating them (errors name the field, as Sentry's API
// does) and evaluating them against an event or an issue change. It does no
// I/O: counts over time windows come from whoever calls it.
package alertrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Condition, filter and action ids, as Sentry names them. The incoming
// webhook actions of chat services have no Sentry counterpart (Sentry talks
// to them through integrations); they are Faultline's own ids.
const (
	CondFirstSeen        = "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"
	CondRegression       = "sentry.rules.conditions.regression_event.RegressionEventCondition"
	CondReappeared       = "sentry.rules.conditions.reappeared_event.ReappearedEventCondition"
	CondEveryEvent       = "sentry.rules.conditions.every_event.EveryEventCondition"
	CondEventFrequency   = "sentry.rules.conditions.event_frequency.EventFrequencyCondition"
	CondUniqueUsers      = "sentry.rules.conditions.event_frequency.EventUniqueUserFrequencyCondition"
	CondFrequencyPercent = "sentry.rules.conditions.event_frequency.EventFrequencyPercentCondition"

	FilterLevel         = "sentry.rules.filters.level.LevelFilter"
	FilterTagged        = "sentry.rules.filters.tagged_event.TaggedEventFilter"
	FilterAttribute     = "sentry.rules.filters.event_attribute.EventAttributeFilter"
	FilterAge           = "sentry.rules.filters.age_comparison.AgeComparisonFilter"
	FilterOccurrences   = "sentry.rules.filters.issue_occurrences.IssueOccurrencesFilter"
	FilterLatestRelease = "sentry.rules.filters.latest_release.LatestReleaseFilter"
	FilterAssignedTo    = "sentry.rules.filters.assigned_to.AssignedToFilter"

	ActionEmail      = "sentry.mail.actions.NotifyEmailAction"
	ActionService    = "sentry.rules.actions.notify_event_service.NotifyEventServiceAction"
	ActionSlack      = "faultline.rules.actions.SlackWebhookAction"
	ActionDiscord    = "faultline.rules.actions.DiscordWebhookAction"
	ActionMattermost = "faultline.rules.actions.MattermostWebhookAction"
	ActionTeams      = "faultline.rules.actions.MSTeamsWebhookAction"
	ActionPagerDuty  = "faultline.rules.actions.PagerDutyAction"
)

// Node is one condition, filter or action: Sentry's "id" and its fields,
// kept as sent so a rule reads back as it was written.
type Node map[string]any

// ID is the node's id.
func (n Node) ID() string { s, _ := n["id"].(string); return s }

// Spec is a rule as Sentry's API reads and writes it.
type Spec struct {
	Name        string  `json:"name"`
	ActionMatch string  `json:"actionMatch"`
	FilterMatch string  `json:"filterMatch"`
	Frequency   int     `json:"frequency"` // minutes
	Environment *string `json:"environment"`
	Owner       *string `json:"owner"`
	Conditions  []Node  `json:"conditions"`
	Filters     []Node  `json:"filters"`
	Actions     []Node  `json:"actions"`
}

// ValidationError is Sentry's error shape: field name to messages.
type ValidationError map[string][]string

func (e ValidationError) Error() string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k + ": " + strings.Join(e[k], " "))
	}
	return "invalid rule: " + b.String()
}

func (e ValidationError) add(field, msg string) { e[field] = append(e[field], msg) }

// Limits on what a rule may hold.
const (
	MaxNodes         = 50
	MaxFrequency     = 43200 // 30 days, in minutes
	MinFrequency     = 1
	DefaultFrequency = 30
	maxNameLen       = 256
	maxValueLen      = 1024
)

// Rule is a validated rule, ready to evaluate.
type Rule struct {
	Spec
	conds   []condition
	filters []filter
	Actions []Action

	state   bool // some condition is about an issue change
	windows []Window
}

// Parse reads and validates a rule's JSON. Absent frequency, actionMatch
// and filterMatch take Sentry's defaults (30, "all", "all"). A bad rule is
// a ValidationError.
func Parse(body []byte) (*Rule, error) {
	var s Spec
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&s); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, ValidationError{te.Field: {"Invalid value of type " + te.Value + "."}}
		}
		return nil, ValidationError{"non_field_errors": {"Invalid JSON: " + err.Error()}}
	}
	return Compile(s)
}

// Compile validates s and prepares it for evaluation.
func Compile(s Spec) (*Rule, error) {
	ve := ValidationError{}
	s.Name = strings.TrimSpace(s.Name)
	switch {
	case s.Name == "":
		ve.add("name", "This field is required.")
	case len(s.Name) > maxNameLen:
		ve.add("name", fmt.Sprintf("Ensure this field has no more than %d characters.", maxNameLen))
	}
	for _, m := range []struct {
		field string
		v     *string
	}{{"actionMatch", &s.ActionMatch}, {"filterMatch", &s.FilterMatch}} {
		if *m.v == "" {
			*m.v = "all"
		}
		if *m.v != "all" && *m.v != "any" && *m.v != "none" {
			ve.add(m.field, fmt.Sprintf("%q is not a valid choice.", *m.v))
		}
	}
	if s.Frequency == 0 {
		s.Frequency = DefaultFrequency
	}
	if s.Frequency < MinFrequency || s.Frequency > MaxFrequency {
		ve.add("frequency", fmt.Sprintf("Ensure this value is between %d and %d.", MinFrequency, MaxFrequency))
	}
	if s.Environment != nil && (*s.Environment == "" || len(*s.Environment) > 64) {
		s.Environment = nil
	}
	if s.Owner != nil && *s.Owner == "" {
		s.Owner = nil
	}
	if s.Owner != nil && !validOwner(*s.Owner) {
		ve.add("owner", "Owner must be user:<id> or team:<id>.")
	}
	if s.Conditions == nil {
		s.Conditions = []Node{}
	}
	if s.Filters == nil {
		s.Filters = []Node{}
	}
	if s.Actions == nil {
		s.Actions = []Node{}
	}
	r := &Rule{Spec: s}
	if len(s.Conditions) == 0 {
		ve.add("conditions", "Must select a condition.")
	}
	if len(s.Actions) == 0 {
		ve.add("actions", "You must add an action for this alert to fire.")
	}
	for field, n := range map[string]int{"conditions": len(s.Conditions), "filters": len(s.Filters), "actions": len(s.Actions)} {
		if n > MaxNodes {
			ve.add(field, fmt.Sprintf("Ensure this field has no more than %d elements.", MaxNodes))
		}
	}
	if len(ve) > 0 {
		return nil, ve
	}
	for i, n := range s.Conditions {
		c, err := compileCondition(n)
		if err != nil {
			ve.add("conditions", fmt.Sprintf("condition %d (%s): %v", i, n.ID(), err))
			continue
		}
		r.conds = append(r.conds, c)
		if c.state != 0 {
			r.state = true
		}
		r.windows = append(r.windows, c.windows()...)
	}
	for i, n := range s.Filters {
		f, err := compileFilter(n)
		if err != nil {
			ve.add("filters", fmt.Sprintf("filter %d (%s): %v", i, n.ID(), err))
			continue
		}
		r.filters = append(r.filters, f)
	}
	for i, n := range s.Actions {
		a, err := compileAction(n)
		if err != nil {
			ve.add("actions", fmt.Sprintf("action %d (%s): %v", i, n.ID(), err))
			continue
		}
		r.Actions = append(r.Actions, a)
	}
	if len(ve) > 0 {
		return nil, ve
	}
	return r, nil
}

func validOwner(s string) bool {
	kind, id, ok := strings.Cut(s, ":")
	if !ok || (kind != "user" && kind != "team") {
		return false
	}
	n, err := strconv.ParseInt(id, 10, 64)
	return err == nil && n > 0
}

// HasStateCondition reports whether some condition is about an issue
// change (first seen, regression, reappeared): such rules are evaluated on
// issue changes; the others only on events.
func (r *Rule) HasStateCondition() bool { return r.state }

// Windows are the counts the rule's conditions need, relative to the
// evaluation's time.
func (r *Rule) Windows() []Window { return r.windows }

// MarshalJSON writes the spec.
func (r *Rule) MarshalJSON() ([]byte, error) { return json.Marshal(r.Spec) }

// field readers: Sentry's forms send numbers as numbers or strings.

func str(n Node, key string) (string, bool) {
	switch v := n[key].(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

func num(n Node, key string) (float64, error) {
	s, ok := str(n, key)
	if !ok || s == "" {
		return 0, fmt.Errorf("%s: this field is required", key)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f != f || f < 0 || f > 1e15 {
		return 0, fmt.Errorf("%s: a non-negative number is required", key)
	}
	return f, nil
}

func choice(n Node, key string, def string, options ...string) (string, error) {
	s, ok := str(n, key)
	if !ok || s == "" {
		if def != "" {
			return def, nil
		}
		return "", fmt.Errorf("%s: this field is required", key)
	}
	for _, o := range options {
		if s == o {
			return s, nil
		}
	}
	return "", fmt.Errorf("%s: %q is not a valid choice (%s)", key, s, strings.Join(options, ", "))
}

func text(n Node, key string, required bool) (string, error) {
	s, ok := str(n, key)
	if required && (!ok || s == "") {
		return "", fmt.Errorf("%s: this field is required", key)
	}
	if len(s) > maxValueLen {
		return "", fmt.Errorf("%s: at most %d characters", key, maxValueLen)
	}
	return s, nil
}
