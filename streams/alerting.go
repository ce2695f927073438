package streams

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The ALERTING stream: changes people make to alert rules and the webhooks
// plugin, as commands that the alerting role applies to its schema. The api
// publishes a command on alerting.<project>.<kind> with its ID as
// Nats-Msg-Id, and waits for the answer on AlertingAppliedSubject(ID).
const Alerting = "ALERTING"

// Alerting command kinds.
const (
	AlertRuleCreate = "rule_create" // Rule is the new rule's Sentry JSON
	AlertRuleUpdate = "rule_update" // RuleID, Rule
	AlertRuleDelete = "rule_delete" // RuleID
	AlertPluginSet  = "plugin_set"  // Plugin ("webhooks") and its Config ({"urls": "..."})
)

// AlertCommand is one change to a project's alerting.
type AlertCommand struct {
	ID        string          `json:"id"` // idempotency id
	Kind      string          `json:"kind"`
	ProjectID int64           `json:"project_id"`
	RuleID    int64           `json:"rule_id,omitempty"`
	Rule      json.RawMessage `json:"rule,omitempty"`
	Plugin    string          `json:"plugin,omitempty"`
	Config    json.RawMessage `json:"config,omitempty"`
	Actor     Actor           `json:"actor"`
	At        time.Time       `json:"at"`
}

// AlertApplied is the alerting role's answer to a command.
type AlertApplied struct {
	RuleID int64               `json:"rule_id,omitempty"`
	Errors map[string][]string `json:"errors,omitempty"` // the command was refused: Sentry's field errors
	Detail string              `json:"detail,omitempty"` // refused for another reason (not found)
}

// AlertingSubject is the subject of a command.
func AlertingSubject(project int64, kind string) string {
	return "alerting." + strconv.FormatInt(project, 10) + "." + kind
}

// AlertingAppliedSubject is the core NATS subject the alerting role answers
// a command on.
func AlertingAppliedSubject(id string) string { return "faultline.alerting.applied." + id }

// Validate checks what the applier relies on.
func (c *AlertCommand) Validate() error {
	if c.ID == "" || len(c.ID) > 64 {
		return errors.New("alert command: id missing or longer than 64")
	}
	if c.ProjectID <= 0 {
		return errors.New("alert command: no project")
	}
	switch c.Kind {
	case AlertRuleCreate:
		if len(c.Rule) == 0 {
			return errors.New("alert command: no rule")
		}
	case AlertRuleUpdate:
		if c.RuleID <= 0 || len(c.Rule) == 0 {
			return errors.New("alert command: no rule or rule id")
		}
	case AlertRuleDelete:
		if c.RuleID <= 0 {
			return errors.New("alert command: no rule id")
		}
	case AlertPluginSet:
		if c.Plugin == "" {
			return errors.New("alert command: no plugin")
		}
	default:
		return fmt.Errorf("alert command: unknown kind %q", c.Kind)
	}
	return nil
}

// DecodeAlertCommand reads an ALERTING message and validates it.
func DecodeAlertCommand(body []byte) (AlertCommand, error) {
	return decodeCommand[AlertCommand](body, "alert command")
}

// AlertingConfig is the ALERTING stream's definition: commands are few and
// small; a rebuild of the alerting schema replays them all.
func AlertingConfig(o IngestOptions) jetstream.StreamConfig {
	return commandStream(Alerting, "Changes to alert rules and the webhooks plugin, applied by the alerting role.", "alerting.>", o)
}
