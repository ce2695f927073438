package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/alertrules"
	"github.com/faultline/faultline/libs/alertstore"
	"github.com/faultline/faultline/libs/httplog"
	"github.com/faultline/faultline/streams"
)

// The api reads the alerting schema (libs/alertstore) and changes it only
// through commands on the ALERTING stream, waiting for the alerting role's
// answer so the caller reads its own write.

// AlertingBus is how the api reaches the alerting role.
type AlertingBus struct {
	NC      *nats.Conn
	JS      jetstream.JetStream
	Timeout time.Duration // how long to wait for the role's answer; 0 is 10 s
}

// SetAlerting enables the alert-rule routes' writes.
func (a *API) SetAlerting(b *AlertingBus) { a.alerting.Store(b) }

func (a *API) alertingRoutes() []route {
	const rules = "/api/0/projects/{org}/{project}/rules/"
	return []route{
		{"GET", rules, "List a project's issue-alert rules", user, accounts.LevelRead, 200, "", "[]IssueAlertRule", a.listAlertRules},
		{"POST", rules, "Create an issue-alert rule (Sentry's JSON); invalid rules answer their field errors", user, accounts.LevelWrite, 201, "IssueAlertRule", "IssueAlertRule", a.createAlertRule},
		{"GET", rules + "{rule_id}/", "Retrieve an issue-alert rule", user, accounts.LevelRead, 200, "", "IssueAlertRule", a.getAlertRule},
		{"PUT", rules + "{rule_id}/", "Replace an issue-alert rule", user, accounts.LevelWrite, 200, "IssueAlertRule", "IssueAlertRule", a.updateAlertRule},
		{"DELETE", rules + "{rule_id}/", "Delete an issue-alert rule", user, accounts.LevelWrite, 202, "", "", a.deleteAlertRule},
		{"GET", "/api/0/projects/{org}/{project}/plugins/webhooks/", "The webhooks plugin's URLs", user, accounts.LevelRead, 200, "", "WebhooksPluginState", a.getWebhooksPlugin},
		{"PUT", "/api/0/projects/{org}/{project}/plugins/webhooks/", "Set the webhooks plugin's URLs, one a line", user, accounts.LevelWrite, 200, "WebhooksPlugin", "WebhooksPluginState", a.setWebhooksPlugin},
		{"GET", "/api/0/projects/{org}/{project}/alert-deliveries/", "Notification attempts: rule, issue, channel, status, error, time", user, accounts.LevelRead, 200, "", "[]AlertDelivery", a.listAlertDeliveries},
	}
}

// queuedChange says whether rt's change is a command for the alerting role,
// answered 202 with a detail when that role does not apply it in time.
func queuedChange(rt route) bool {
	return rt.method != http.MethodGet && (strings.HasPrefix(rt.path, "/api/0/projects/{org}/{project}/rules/") ||
		rt.path == "/api/0/projects/{org}/{project}/plugins/webhooks/")
}

// fieldErrors is a 400 answered in Sentry's shape: field -> messages.
type fieldErrors map[string][]string

func (e fieldErrors) Error() string { return "invalid: " + alertrules.ValidationError(e).Error() }

// answerFields answers field errors as they are, and anything else as fail does.
func (a *API) answerFields(c *call, err error) bool {
	var fe fieldErrors
	if !errors.As(err, &fe) {
		return false
	}
	// The request's own line (httplog.Requests) says it was refused.
	a.log.Debug("api request refused", "method", c.r.Method, "route", httplog.Route(c.r), "status", 400, "reason", fe.Error())
	a.respond(c.w, http.StatusBadRequest, map[string][]string(fe))
	return true
}

// errNoAlertingSchema answers reads of the alerting schema before the
// alerting role has created it: with 'faultline api' running alone, rules
// exist only once an alerting replica has started somewhere.
var errNoAlertingSchema = &httpError{http.StatusServiceUnavailable,
	"alerting is not available: its schema is not migrated yet (run the alerting role or 'faultline migrate')"}

// alertingRead turns a missing alerting schema into errNoAlertingSchema.
func alertingRead(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000") { // undefined_table, invalid_schema_name
		return errNoAlertingSchema
	}
	return err
}

// errAnswered stops serve from answering again.
var errAnswered = errors.New("answered")

func (a *API) ruleID(c *call) (int64, error) {
	id, err := strconv.ParseInt(c.param("rule_id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound
	}
	return id, nil
}

func (a *API) listAlertRules(c *call) (any, error) {
	rules, err := page(c, func(limit, offset int) ([]alertstore.Rule, error) {
		rs, err := alertstore.Rules(c.r.Context(), c.store.Pool(), c.project.ID, limit, offset)
		return rs, alertingRead(err)
	})
	if err != nil {
		return nil, err
	}
	out := make([]alertstore.RuleJSON, 0, len(rules))
	for _, r := range rules {
		out = append(out, r.JSON(c.project.Slug))
	}
	return out, nil
}

func (a *API) getAlertRule(c *call) (any, error) {
	id, err := a.ruleID(c)
	if err != nil {
		return nil, err
	}
	r, err := alertstore.GetRule(c.r.Context(), c.store.Pool(), c.project.ID, id)
	if errors.Is(err, alertstore.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, alertingRead(err)
	}
	return r.JSON(c.project.Slug), nil
}

// readRule reads and validates a rule body.
func (a *API) readRule(c *call) (json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, 1<<20))
	if err != nil {
		return nil, &httpError{http.StatusRequestEntityTooLarge, "the body is larger than 1 MiB"}
	}
	r, err := alertrules.Parse(body)
	var ve alertrules.ValidationError
	if errors.As(err, &ve) {
		return nil, fieldErrors(ve)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(r.Spec)
}

// command publishes cmd and waits for the alerting role's answer.
func (a *API) alertCommand(c *call, cmd streams.AlertCommand) (streams.AlertApplied, error) {
	bus := a.alerting.Load()
	if bus == nil {
		return streams.AlertApplied{}, &httpError{http.StatusServiceUnavailable, "alerting is not available"}
	}
	id := make([]byte, 16)
	rand.Read(id)
	cmd.ID, cmd.ProjectID, cmd.At = hex.EncodeToString(id), c.project.ID, time.Now().UTC()
	cmd.Actor = streams.Actor{UserID: c.p.User.ID, Name: c.p.User.Email}
	if c.p.Token != nil {
		cmd.Actor.TokenID = c.p.Token.ID
	}
	sub, err := bus.NC.SubscribeSync(streams.AlertingAppliedSubject(cmd.ID))
	if err != nil {
		return streams.AlertApplied{}, err
	}
	defer sub.Unsubscribe()
	b, _ := json.Marshal(cmd)
	ctx := c.r.Context()
	if _, err := bus.JS.PublishMsg(ctx, &nats.Msg{Subject: streams.AlertingSubject(cmd.ProjectID, cmd.Kind), Data: b,
		Header: nats.Header{jetstream.MsgIDHeader: {cmd.ID}}}); err != nil {
		return streams.AlertApplied{}, &httpError{http.StatusServiceUnavailable, "the change could not be queued, retry later"}
	}
	timeout := bus.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	m, err := sub.NextMsg(timeout)
	if err != nil {
		return streams.AlertApplied{}, &httpError{http.StatusAccepted, "the change is queued; the alerting role has not applied it yet"}
	}
	var ans streams.AlertApplied
	if err := json.Unmarshal(m.Data, &ans); err != nil {
		return ans, err
	}
	switch {
	case len(ans.Errors) > 0:
		return ans, fieldErrors(ans.Errors)
	case ans.Detail != "":
		return ans, errNotFound
	}
	return ans, nil
}

func (a *API) writeRule(c *call, kind string, id int64) (any, error) {
	spec, err := a.readRule(c)
	if err == nil {
		var ans streams.AlertApplied
		ans, err = a.alertCommand(c, streams.AlertCommand{Kind: kind, RuleID: id, Rule: spec})
		if err == nil {
			id = ans.RuleID
			return a.getStoredRule(c, id)
		}
	}
	if a.answerFields(c, err) {
		return nil, errAnswered
	}
	return nil, err
}

func (a *API) getStoredRule(c *call, id int64) (any, error) {
	r, err := alertstore.GetRule(c.r.Context(), c.store.Pool(), c.project.ID, id)
	if err != nil {
		return nil, err
	}
	return r.JSON(c.project.Slug), nil
}

func (a *API) createAlertRule(c *call) (any, error) {
	return a.writeRule(c, streams.AlertRuleCreate, 0)
}

func (a *API) updateAlertRule(c *call) (any, error) {
	id, err := a.ruleID(c)
	if err != nil {
		return nil, err
	}
	return a.writeRule(c, streams.AlertRuleUpdate, id)
}

func (a *API) deleteAlertRule(c *call) (any, error) {
	id, err := a.ruleID(c)
	if err != nil {
		return nil, err
	}
	_, err = a.alertCommand(c, streams.AlertCommand{Kind: streams.AlertRuleDelete, RuleID: id})
	return nil, err
}

// WebhooksPlugin is the plugin's setting.
type WebhooksPlugin struct {
	URLs string `json:"urls"`
}

// WebhooksPluginState is the webhooks plugin as Sentry answers a plugin
// (what the Terraform provider reads back: its config's urls value), with
// Faultline's urls beside it.
type WebhooksPluginState struct {
	ID      string         `json:"id"`
	Slug    string         `json:"slug"`
	Name    string         `json:"name"`
	Type    string         `json:"type"`
	Enabled bool           `json:"enabled"`
	Status  string         `json:"status"`
	Config  []PluginConfig `json:"config"`
	URLs    string         `json:"urls"`
}

// PluginConfig is one field of a plugin's configuration, as Sentry's.
type PluginConfig struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
	Help     string `json:"help"`
	Value    string `json:"value"`
}

func webhooksPluginState(urls string) WebhooksPluginState {
	return WebhooksPluginState{ID: "webhooks", Slug: "webhooks", Name: "WebHooks", Type: "notification",
		Enabled: urls != "", Status: "unknown", URLs: urls,
		Config: []PluginConfig{{Name: "urls", Label: "Callback URLs", Type: "textarea", Required: false,
			Help: "Enter callback URLs to POST new events to (one per line).", Value: urls}}}
}

func (a *API) getWebhooksPlugin(c *call) (any, error) {
	_, raw, err := alertstore.WebhookURLs(c.r.Context(), c.store.Pool(), c.project.ID)
	if err != nil {
		return nil, alertingRead(err)
	}
	return webhooksPluginState(raw), nil
}

func (a *API) setWebhooksPlugin(c *call) (any, error) {
	var body WebhooksPlugin
	if err := c.decode(&body); err != nil {
		return nil, err
	}
	err := error(nil)
	if errs := alertrules.CheckWebhookURLs(body.URLs); errs != nil {
		err = fieldErrors{"urls": errs}
	} else {
		cfg, _ := json.Marshal(body)
		_, err = a.alertCommand(c, streams.AlertCommand{Kind: streams.AlertPluginSet, Plugin: "webhooks", Config: cfg})
	}
	if a.answerFields(c, err) {
		return nil, errAnswered
	}
	if err != nil {
		return nil, err
	}
	return webhooksPluginState(body.URLs), nil
}

func (a *API) listAlertDeliveries(c *call) (any, error) {
	return page(c, func(limit, offset int) ([]alertstore.Attempt, error) {
		as, err := alertstore.Attempts(c.r.Context(), c.store.Pool(), c.project.ID, limit, offset)
		return as, alertingRead(err)
	})
}

// The routes' OpenAPI schemas, added once before any request reads them.
func init() {
	node := map[string]any{"type": "object", "required": []string{"id"}, "properties": map[string]any{"id": str},
		"additionalProperties": true, "description": "a condition, filter or action: Sentry's id and its fields"}
	nodes := map[string]any{"type": "array", "items": node}
	nullable := map[string]any{"type": []string{"string", "null"}}
	maps.Copy(schemas, map[string]any{
		"IssueAlertRule": obj([]string{"name", "conditions", "actions"}, map[string]any{
			"id": str, "name": str, "actionMatch": map[string]any{"enum": []string{"all", "any", "none"}},
			"filterMatch": map[string]any{"enum": []string{"all", "any", "none"}},
			"frequency":   map[string]any{"type": "integer", "minimum": alertrules.MinFrequency, "maximum": alertrules.MaxFrequency},
			"environment": nullable, "owner": nullable, "conditions": nodes, "filters": nodes, "actions": nodes,
			"dateCreated": map[string]any{"type": "string", "format": "date-time"}, "createdBy": map[string]any{"type": []string{"object", "null"}},
			"projects": map[string]any{"type": "array", "items": str}, "status": str, "snooze": map[string]any{"type": "boolean"},
		}),
		"WebhooksPlugin": obj([]string{"urls"}, map[string]any{"urls": map[string]any{"type": "string", "description": "URLs, one a line"}}),
		"WebhooksPluginState": obj([]string{"id", "urls"}, map[string]any{"id": str, "slug": str, "name": str, "type": str, "enabled": boolean, "status": str,
			"urls":   map[string]any{"type": "string", "description": "URLs, one a line"},
			"config": map[string]any{"type": "array", "items": obj(nil, map[string]any{"name": str, "label": str, "type": str, "required": boolean, "help": str, "value": str})}}),
		"AlertDelivery": obj(nil, map[string]any{"id": str, "ruleId": str, "issueId": str, "channel": str, "target": str,
			"status": map[string]any{"enum": []string{"sent", "retrying", "failed"}}, "error": str,
			"dateCreated": map[string]any{"type": "string", "format": "date-time"}}),
	})
}
