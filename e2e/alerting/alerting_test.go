// Package alerting drives a running faultline serve end to end: an
// issue-alert rule made through the REST API, an error sent with sentry-go,
// and the webhook a real HTTP server receives.
package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/e2e/harness"
)

// hook is a webhook receiver: a real HTTP server recording every request.
type hook struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []hookRequest
}

type hookRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, hookRequest{r.Method, r.URL.Path, r.Header.Clone(), b})
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) got() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reqs...)
}

// rest calls the REST API with a bearer token.
type rest struct {
	t     *testing.T
	base  string
	token string
}

func (r rest) do(method, path string, body any, out any) int {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.base+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			r.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	if res.StatusCode >= 300 {
		r.t.Logf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	return res.StatusCode
}

// TestWebhookOnFirstSeen runs the all-in-one server (alerting among its
// default roles), configures the webhooks plugin and a first-seen rule
// through the REST API as Sentry's tooling would, and sends errors with
// sentry-go: the receiver gets exactly one POST, in Sentry's webhook-plugin
// shape, naming the new issue; a second event of the same issue notifies
// no one.
func TestWebhookOnFirstSeen(t *testing.T) {
	srv := harness.StartT(t, harness.Options{Env: map[string]string{"ALLOW_PRIVATE_WEBHOOKS": "true"}})
	receiver := newHook(t)
	p := srv.CreateProjectT(t, "alerts")
	ctx := context.Background()
	email := fmt.Sprintf("alerts-%d@example.test", p.ID)
	if out, err := srv.Run(ctx, "user", "create", "--email", email, "--password", "correct horse battery", "--org", "e2e", "--role", "owner"); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	out, err := srv.Run(ctx, "token", "create", "--user", email, "--scopes", "project:read,project:write")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	api := rest{t: t, base: srv.URL, token: strings.TrimSpace(lines[len(lines)-1])}
	project := fmt.Sprintf("/api/0/projects/e2e/%d/", p.ID)

	if code := api.do("PUT", project+"plugins/webhooks/", map[string]string{"urls": receiver.URL + "/sentry-hook"}, nil); code != http.StatusOK {
		t.Fatalf("set webhooks plugin: %d", code)
	}
	const ruleName = "e2e: new issues to the webhook"
	var rule struct {
		ID      string           `json:"id"`
		Name    string           `json:"name"`
		Actions []map[string]any `json:"actions"`
	}
	if code := api.do("POST", project+"rules/", map[string]any{
		"name": ruleName, "actionMatch": "all", "filterMatch": "all", "frequency": 30,
		"conditions": []any{map[string]any{"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}},
		"filters":    []any{map[string]any{"id": "sentry.rules.filters.level.LevelFilter", "match": "gte", "level": "40"}},
		"actions":    []any{map[string]any{"id": "sentry.rules.actions.notify_event_service.NotifyEventServiceAction", "service": "webhooks"}},
	}, &rule); code != http.StatusCreated {
		t.Fatalf("create rule: %d", code)
	}
	if rule.ID == "" || rule.Name != ruleName || len(rule.Actions) != 1 || rule.Actions[0]["service"] != "webhooks" {
		t.Fatalf("created rule: %+v", rule)
	}
	var listed []struct{ ID string }
	if code := api.do("GET", project+"rules/", nil, &listed); code != 200 || len(listed) != 1 || listed[0].ID != rule.ID {
		t.Fatalf("rules: %d %+v", code, listed)
	}

	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Release: "e2e@1.0.0", Environment: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	hub := sentry.NewHub(client, sentry.NewScope())
	send := func() string {
		t.Helper()
		id := hub.CaptureException(fmt.Errorf("reconcile ledger: %w", errLedger))
		if id == nil {
			t.Fatal("sentry-go returned no event id")
		}
		if !client.Flush(20 * time.Second) {
			t.Fatal("sentry-go did not flush within 20s")
		}
		return string(*id)
	}
	first := send()

	deadline := time.Now().Add(30 * time.Second)
	for len(receiver.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(receiver.got()) == 0 {
		t.Fatal("no webhook within 30s of the event")
	}

	// The issue the event made, as the REST API names it.
	var issues []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	for deadline := time.Now().Add(20 * time.Second); len(issues) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		api.do("GET", project+"issues/", nil, &issues)
	}
	if len(issues) != 1 {
		t.Fatalf("issues: %+v, want one", issues)
	}

	// A second event of the same issue is not first seen.
	send()
	time.Sleep(3 * time.Second) // a duplicate or a second notification would arrive by now
	got := receiver.got()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want exactly 1", len(got))
	}
	req := got[0]
	if req.method != "POST" || req.path != "/sentry-hook" || !strings.HasPrefix(req.header.Get("Content-Type"), "application/json") {
		t.Errorf("request: %s %s %q", req.method, req.path, req.header.Get("Content-Type"))
	}
	if req.header.Get("Sentry-Hook-Signature") == "" || req.header.Get("Sentry-Hook-Timestamp") == "" {
		t.Errorf("unsigned webhook: headers %v", req.header)
	}
	var body struct {
		ID              string          `json:"id"`
		Project         string          `json:"project"`
		ProjectName     string          `json:"project_name"`
		ProjectSlug     string          `json:"project_slug"`
		Level           string          `json:"level"`
		Culprit         *string         `json:"culprit"`
		Message         *string         `json:"message"`
		URL             string          `json:"url"`
		TriggeringRules []string        `json:"triggering_rules"`
		Event           json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(req.body, &body); err != nil {
		t.Fatalf("webhook body %s: %v", req.body, err)
	}
	var fields map[string]any
	json.Unmarshal(req.body, &fields)
	for _, k := range []string{"id", "project", "project_name", "project_slug", "level", "culprit", "message", "url", "triggering_rules", "event"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("webhook body lacks %q: %s", k, req.body)
		}
	}
	if body.ID != issues[0].ID {
		t.Errorf("webhook names issue %q, the REST API %q", body.ID, issues[0].ID)
	}
	if want := srv.URL + "/organizations/e2e/issues/" + issues[0].ID + "/"; !strings.HasPrefix(body.URL, want) {
		t.Errorf("url %q, want it to start with %q", body.URL, want)
	}
	if body.Level != "error" || body.ProjectSlug == "" || len(body.TriggeringRules) != 1 || body.TriggeringRules[0] != ruleName {
		t.Errorf("level %q, project_slug %q, triggering_rules %q", body.Level, body.ProjectSlug, body.TriggeringRules)
	}
	var ev struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(body.Event, &ev); err != nil || strings.ReplaceAll(ev.EventID, "-", "") != first {
		t.Errorf("event %s: event_id %q, want the first event's %q", body.Event, ev.EventID, first)
	}

	// The delivery is listed: rule, issue, channel, status.
	var attempts []struct {
		RuleID  string `json:"ruleId"`
		IssueID string `json:"issueId"`
		Channel string `json:"channel"`
		Status  string `json:"status"`
	}
	if code := api.do("GET", project+"alert-deliveries/", nil, &attempts); code != 200 || len(attempts) != 1 ||
		attempts[0].RuleID != rule.ID || attempts[0].IssueID != issues[0].ID || attempts[0].Status != "sent" {
		t.Errorf("alert-deliveries: %d %+v", code, attempts)
	}
}

var errLedger = errors.New("ledger out of balance")
