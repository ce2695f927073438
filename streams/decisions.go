package streams

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The DECISIONS stream: what people decided, as commands that the grouping
// role applies, in order with the events it groups. Nothing else writes
// grouping's tables. A decision is published on decisions.<project>.<kind>
// with its ID as Nats-Msg-Id, so a publish retried within the duplicate
// window is stored once; grouping records the ids it applied, so a
// redelivered decision is applied once.
//
// Decisions name issues by their hashes as well as their ids: a replay
// numbers issues anew, and finds the issue a decision was about by the
// hashes it had then.
const Decisions = "DECISIONS"

// Decision kinds.
const (
	DecideResolve              = "resolve"
	DecideResolveInNextRelease = "resolve_in_next_release"
	DecideResolveInRelease     = "resolve_in_release" // Release names it
	DecideIgnore               = "ignore"             // Ignore says until when; nil for good
	DecideUnresolve            = "unresolve"
	DecideAssign               = "assign"       // Assignee; "" unassigns
	DecideMerge                = "merge"        // Issues are merged into one (the busiest, as Sentry does)
	DecideUnmerge              = "unmerge"      // Hashes are split off Issues[0] into a new issue
	DecideDeleteIssue          = "delete_issue" // Issues are deleted with their events
	DecideSetRules             = "set_rules"    // Rules become the project's grouping rules from At on
	DecideDeleteProject        = "delete_project"
	// DecideReprocess reads Issues[0]'s stored events again as they were
	// sent, symbolicates them with the source maps there are now, and
	// regroups them: they may move to other issues (MaxEvents, when set,
	// takes only the latest that many).
	DecideReprocess = "reprocess"
)

// Decision is one person's decision.
type Decision struct {
	ID        string     `json:"id"` // idempotency id: unique per decision
	Kind      string     `json:"kind"`
	ProjectID int64      `json:"project_id"`
	Actor     Actor      `json:"actor"`
	At        time.Time  `json:"at"`
	Issues    []IssueRef `json:"issues,omitempty"`

	Release  string       `json:"release,omitempty"`  // resolve_in_release
	Ignore   *IgnoreUntil `json:"ignore,omitempty"`   // ignore
	Assignee *string      `json:"assignee,omitempty"` // assign: "user:<id>", "team:<id>" or "" for nobody
	Hashes   []string     `json:"hashes,omitempty"`   // unmerge
	Rules    *Rules       `json:"rules,omitempty"`    // set_rules

	MaxEvents int      `json:"max_events,omitempty"` // reprocess: the latest this many events; 0 for all
	Monitor   *Monitor `json:"monitor,omitempty"`    // upsert_monitor, delete_monitor
}

// Actor is who made a decision.
type Actor struct {
	UserID  int64  `json:"user_id,omitempty"`
	TokenID int64  `json:"token_id,omitempty"`
	Name    string `json:"name,omitempty"` // an email, or "system"
}

// IssueRef names an issue by its id and the hashes it had when the
// decision was made.
type IssueRef struct {
	ID     int64    `json:"id"`
	Hashes []string `json:"hashes"`
}

// IgnoreUntil are the conditions that end an ignore; all zero ignores for
// good.
type IgnoreUntil struct {
	Count  int64     `json:"count,omitempty"`  // this many more events
	Window int64     `json:"window,omitempty"` // minutes: Count within this window
	Users  int64     `json:"users,omitempty"`  // this many more users
	Until  time.Time `json:"until,omitzero"`   // an event at or after this time
}

// Rules are a project's grouping rules in Sentry's syntax.
type Rules struct {
	Stacktrace     string `json:"stacktrace"`
	Fingerprinting string `json:"fingerprinting"`
}

// DecisionSubject is the subject a decision is published on.
func DecisionSubject(project int64, kind string) string {
	return "decisions." + strconv.FormatInt(project, 10) + "." + kind
}

// RefusedNoIssue is the reason grouping gives on AppliedSubject for a
// decision whose issues no longer exist.
const RefusedNoIssue = "no such issue"

// AppliedSubject is the core NATS subject grouping announces a decision's
// application on, once it is committed, for whoever waits for it.
func AppliedSubject(id string) string { return "faultline.applied." + id }

// Validate checks what every applier relies on.
func (d *Decision) Validate() error {
	if d.ID == "" || len(d.ID) > 64 {
		return errors.New("decision: id missing or longer than 64")
	}
	if d.ProjectID <= 0 {
		return errors.New("decision: no project")
	}
	if d.At.IsZero() {
		return errors.New("decision: no time")
	}
	switch d.Kind {
	case DecideResolve, DecideResolveInNextRelease, DecideUnresolve, DecideDeleteIssue:
		if len(d.Issues) == 0 {
			return fmt.Errorf("decision %s: no issue", d.Kind)
		}
	case DecideResolveInRelease:
		if len(d.Issues) == 0 || d.Release == "" {
			return fmt.Errorf("decision %s: no issue or release", d.Kind)
		}
	case DecideIgnore:
		if len(d.Issues) == 0 {
			return fmt.Errorf("decision %s: no issue", d.Kind)
		}
	case DecideAssign:
		if len(d.Issues) == 0 || d.Assignee == nil {
			return fmt.Errorf("decision %s: no issue or assignee", d.Kind)
		}
	case DecideMerge:
		if len(d.Issues) < 2 {
			return fmt.Errorf("decision %s: want two issues or more", d.Kind)
		}
	case DecideUnmerge:
		if len(d.Issues) != 1 || len(d.Hashes) == 0 {
			return fmt.Errorf("decision %s: want one issue and hashes", d.Kind)
		}
	case DecideSetRules:
		if d.Rules == nil {
			return fmt.Errorf("decision %s: no rules", d.Kind)
		}
	case DecideReprocess:
		if len(d.Issues) != 1 || d.MaxEvents < 0 {
			return fmt.Errorf("decision %s: want one issue and a count of events that is not negative", d.Kind)
		}
	case DecideUpsertMonitor, DecideDeleteMonitor:
		return d.validateMonitor()
	case DecideDeleteProject:
	default:
		return fmt.Errorf("decision: unknown kind %q", d.Kind)
	}
	return nil
}

// DecodeDecision reads a DECISIONS message and validates it.
func DecodeDecision(body []byte) (Decision, error) {
	return decodeCommand[Decision](body, "decision")
}

// decodeCommand reads a command's JSON and validates it.
func decodeCommand[T any, P interface {
	*T
	Validate() error
}](body []byte, what string) (T, error) {
	var c T
	if err := json.Unmarshal(body, &c); err != nil {
		return c, fmt.Errorf("%s: %w", what, err)
	}
	return c, P(&c).Validate()
}

// DecisionsConfig is the DECISIONS stream's definition. Decisions are few
// and small, and a replay needs every one of them: they are kept for good
// (at least as long as INGEST keeps envelopes).
func DecisionsConfig(o IngestOptions) jetstream.StreamConfig {
	return commandStream(Decisions, "People's decisions on issues and projects, applied by grouping in order with the events.",
		"decisions.>", o)
}

// commandStream is the definition of a stream of commands that one role
// applies: few, small, kept for good so that its projection can be rebuilt,
// replicated like INGEST, a retried publish stored once.
func commandStream(name, description, subjects string, o IngestOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: description,
		Subjects:    []string{subjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxMsgSize:  1 << 20,
		Replicas:    max(o.Replicas, 1),
		Duplicates:  10 * time.Minute,
	}
}
