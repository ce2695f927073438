package alerting

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/alertrules"
	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/mailer"
	"github.com/faultline/faultline/libs/mailer/smtptest"
	"github.com/faultline/faultline/libs/notify"
	"github.com/faultline/faultline/streams"
)

const webhooksAction = `{"id":"sentry.rules.actions.notify_event_service.NotifyEventServiceAction","service":"webhooks"}`

// TestFirstSeenExactlyOnceAcrossReplicas: three replicas, every message
// delivered twice, the issue change before or after its event: each rule
// notifies once per issue, through a receiver that fails twice first.
func TestFirstSeenExactlyOnceAcrossReplicas(t *testing.T) {
	h := newHarness(t)
	h.start(3)
	hook := newReceiver(t, 2)
	h.webhooks(hook.URL + "/hook")
	rule := h.rule(`{"name":"new issues","actionMatch":"all","frequency":30,"environment":"prod",
		"conditions":[{"id":"sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}],
		"filters":[{"id":"sentry.rules.filters.level.LevelFilter","match":"gte","level":"40"}],
		"actions":[` + webhooksAction + `]}`)
	now := time.Now().UTC()
	const issues = 4
	for i := range int64(issues) {
		id := newID()
		created := streams.IssueMessage{IssueID: 100 + i, Change: streams.ChangeCreated, Title: "TimeoutError: db", Level: "error", EventID: id, At: now}
		for range 2 { // redelivered, in both orders
			if i%2 == 0 {
				h.issue(created)
				h.grouped(100+i, id, now, event(id, ""))
			} else {
				h.grouped(100+i, id, now, event(id, ""))
				h.issue(created)
			}
		}
		h.grouped(100+i, newID(), now, event(newID(), "")) // a second event is not "first seen"
	}
	h.waitCount(issues*2, `SELECT count(*) FROM alerting.seen_events`)
	got := hook.waitOK(t, issues)
	time.Sleep(300 * time.Millisecond) // anything extra would arrive by now
	if n := h.count(`SELECT count(*) FROM alerting.notifications WHERE rule_id = $1`, rule); n != issues {
		t.Fatalf("%d notifications, want %d", n, issues)
	}
	ok := map[string]int{}
	for _, r := range hook.got() {
		if r.status == 200 {
			var body map[string]any
			json.Unmarshal(r.body, &body)
			ok[body["id"].(string)]++
		}
	}
	if len(ok) != issues || len(hook.got()) != issues+2 {
		t.Fatalf("received %v in %d requests, want %d issues once each after 2 failures", ok, len(got), issues)
	}
	// The body is Sentry's webhook-plugin shape, signed with the project's secret.
	r := hook.got()[len(hook.got())-1]
	var sec string
	h.db.Pool.QueryRow(h.ctx, `SELECT secret FROM alerting.secrets WHERE project_id = 1`).Scan(&sec)
	if r.header.Get(notify.HeaderSignature) != notify.Sign([]byte(sec), r.body) || r.header.Get(notify.HeaderTimestamp) == "" {
		t.Fatalf("signature %q does not match the body", r.header.Get(notify.HeaderSignature))
	}
	var body map[string]any
	json.Unmarshal(r.body, &body)
	for _, k := range []string{"id", "project", "project_name", "project_slug", "level", "culprit", "message", "url", "triggering_rules", "event"} {
		if _, ok := body[k]; !ok {
			t.Errorf("webhook body lacks %q: %s", k, r.body)
		}
	}
	if !strings.HasPrefix(body["url"].(string), "http://faultline.test:8080/organizations/acme/issues/") || body["project_slug"] != "backend" {
		t.Errorf("url %v, project_slug %v", body["url"], body["project_slug"])
	}
	// Every attempt is recorded: two retried failures, then one success per issue.
	h.waitCount(issues, `SELECT count(*) FROM alerting.attempts WHERE status = 'sent'`)
	if n := h.count(`SELECT count(*) FROM alerting.attempts WHERE status = 'retrying' AND error LIKE '%503%'`); n != 2 {
		t.Errorf("%d retried attempts recorded, want 2", n)
	}
}

// TestFrequencyFiresOnceAtThreshold: more than 5 events in an hour fires
// at the sixth event, and not again within the rule's frequency.
// TestToldChanges: grouped messages that tell which issue changes their
// event caused. An event that caused none is kept without its body; one
// that caused a change is kept whole, so its change is evaluated with it
// whether it comes before or after the event; and a change naming an
// event kept without its body (a reprocess's new issue) is evaluated with
// what the change says.
func TestToldChanges(t *testing.T) {
	h := newHarness(t)
	h.start(1)
	hook := newReceiver(t, 0)
	h.webhooks(hook.URL + "/hook")
	firstSeen := h.rule(`{"name":"new db timeouts","conditions":[{"id":"` + alertrules.CondFirstSeen + `"}],
		"filters":[{"id":"` + alertrules.FilterAttribute + `","attribute":"message","match":"co","value":"db timeout"}],
		"actions":[` + webhooksAction + `]}`)
	regressed := h.rule(`{"name":"regressions","conditions":[{"id":"` + alertrules.CondRegression + `"}],"actions":[` + webhooksAction + `]}`)
	now := time.Now().UTC()
	created := []string{streams.ChangeCreated}

	after, before, plain := newID(), newID(), newID()
	h.groupedTelling(created, 201, after, now, event(after, "")) // its change comes in a later batch
	h.waitCount(1, `SELECT count(*) FROM alerting.seen_events`)
	h.issue(streams.IssueMessage{IssueID: 201, Change: streams.ChangeCreated, Title: "TimeoutError: db", Level: "error", EventID: after, At: now})
	h.issue(streams.IssueMessage{IssueID: 202, Change: streams.ChangeCreated, Title: "TimeoutError: db", Level: "error", EventID: before, At: now})
	h.groupedTelling(created, 202, before, now, event(before, ""))
	h.groupedTelling(nil, 203, plain, now, event(plain, ""))
	h.waitCount(2, `SELECT count(*) FROM alerting.notifications WHERE rule_id = $1`, firstSeen)
	h.waitCount(3, `SELECT count(*) FROM alerting.seen_events`)
	if n := h.count(`SELECT count(*) FROM alerting.seen_events WHERE event::text = '{}'`); n != 1 {
		t.Fatalf("%d events kept without their body, want 1 (the one that caused no change)", n)
	}
	if n := h.count(`SELECT count(*) FROM alerting.seen_events WHERE event_id = $1::uuid AND event::text = '{}'`, plain); n != 1 {
		t.Fatal("the event that caused no change is kept with its body")
	}

	// A change naming the event kept without its body.
	h.issue(streams.IssueMessage{IssueID: 203, Change: streams.ChangeRegressed, Title: "TimeoutError: db (moved)", Culprit: "app/db",
		Level: "error", EventID: plain, At: now.Add(time.Second)})
	h.waitCount(1, `SELECT count(*) FROM alerting.notifications WHERE rule_id = $1 AND issue_id = 203`, regressed)
	got := hook.waitOK(t, 3)
	time.Sleep(200 * time.Millisecond)
	if n := h.count(`SELECT count(*) FROM alerting.notifications`); n != 3 {
		t.Fatalf("%d notifications, want 3", n)
	}
	ids := map[string]string{}
	for _, r := range got {
		var body struct{ ID, Message string }
		json.Unmarshal(r.body, &body)
		ids[body.ID] = body.Message
	}
	if ids["201"] != "db timeout" || ids["202"] != "db timeout" || ids["203"] != "TimeoutError: db (moved)" {
		t.Fatalf("webhooks sent for %v, want 201 and 202 with the event's message and 203 with the change's title", ids)
	}
}

func TestFrequencyFiresOnceAtThreshold(t *testing.T) {
	h := newHarness(t)
	h.start(1)
	hook := h.slackRule("busy", `{"id":"sentry.rules.conditions.event_frequency.EventFrequencyCondition","value":5,"interval":"1h"}`)
	now := time.Now().UTC()
	for i := range 5 {
		id := newID()
		h.grouped(7, id, now.Add(time.Duration(i)*time.Second), event(id, ""))
	}
	h.waitCount(5, `SELECT count(*) FROM alerting.seen_events`)
	if n := h.count(`SELECT count(*) FROM alerting.notifications`); n != 0 {
		t.Fatalf("fired at 5 events: %d notifications", n)
	}
	sixth := newID()
	h.grouped(7, sixth, now.Add(6*time.Second), event(sixth, ""))
	h.waitCount(1, `SELECT count(*) FROM alerting.notifications WHERE trigger_id = $1`, "event:"+sixth)
	for i := range 20 {
		id := newID()
		h.grouped(7, id, now.Add(time.Duration(7+i)*time.Second), event(id, ""))
	}
	h.waitCount(26, `SELECT count(*) FROM alerting.seen_events`)
	hook.waitOK(t, 1)
	time.Sleep(200 * time.Millisecond)
	if n := len(hook.got()); n != 1 {
		t.Fatalf("%d Slack messages within the frequency, want 1", n)
	}
	var msg map[string]any
	json.Unmarshal(hook.got()[0].body, &msg)
	if msg["text"] == nil || msg["blocks"] == nil {
		t.Fatalf("not a Slack incoming-webhook message: %s", hook.got()[0].body)
	}
}

// TestThresholdCrossedWithinABatch: ten events of an issue in one batch
// and a rule for more than five an hour: the rule fires on the sixth
// event, the one that crossed the threshold, not on whichever came first
// (the batch's counts hold all ten).
func TestThresholdCrossedWithinABatch(t *testing.T) {
	h := newHarness(t)
	h.opt.Linger = 300 * time.Millisecond
	h.start(1)
	h.slackRule("busy", `{"id":"sentry.rules.conditions.event_frequency.EventFrequencyCondition","value":5,"interval":"1h"}`)
	before := observedCount(t, h, "faultline_alerting_batch_size")
	now := time.Now().UTC()
	var ids []string
	for i := range 10 {
		id := newID()
		ids = append(ids, id)
		h.grouped(7, id, now.Add(time.Duration(i)*time.Millisecond), event(id, ""))
	}
	h.waitCount(1, `SELECT count(*) FROM alerting.notifications`)
	if n := observedCount(t, h, "faultline_alerting_batch_size") - before; n != 1 {
		t.Skipf("the ten events came in %d batches, not one", n)
	}
	var trigger string
	if err := h.db.Pool.QueryRow(h.ctx, `SELECT trigger_id FROM alerting.notifications`).Scan(&trigger); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if trigger == "event:"+id && i != 5 {
			t.Fatalf("fired on event %d of 10, want the sixth", i+1)
		}
	}
	if trigger != "event:"+ids[5] {
		t.Fatalf("fired on %s, want the sixth event", trigger)
	}
}

// observedCount is how many observations the histogram name holds.
func observedCount(t *testing.T, h *harness, name string) uint64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// TestFrequencyOverAWeek: a window of days counts the events of its whole
// hours (alerting.counts_hourly) and of its partial ones (the minutes)
// alike: the rule fires at its threshold, with events hours apart.
func TestFrequencyOverAWeek(t *testing.T) {
	h := newHarness(t)
	h.start(1)
	hook := h.slackRule("busy this week", `{"id":"sentry.rules.conditions.event_frequency.EventFrequencyCondition","value":5,"interval":"1w"}`)
	now := time.Now().UTC()
	for _, ago := range []time.Duration{50 * time.Hour, 5 * time.Hour, 3*time.Hour + 30*time.Minute, 61 * time.Minute, 2 * time.Minute} {
		id := newID()
		h.grouped(7, id, now.Add(-ago), event(id, ""))
	}
	h.waitCount(5, `SELECT count(*) FROM alerting.seen_events`)
	if n := h.count(`SELECT count(*) FROM alerting.notifications`); n != 0 {
		t.Fatalf("fired at 5 events in a week: %d notifications", n)
	}
	if n := h.count(`SELECT coalesce(sum(n), 0) FROM alerting.counts_hourly WHERE issue_id = 7`); n != 5 {
		t.Fatalf("hourly counts hold %d events, want 5", n)
	}
	sixth := newID()
	h.grouped(7, sixth, now, event(sixth, ""))
	h.waitCount(1, `SELECT count(*) FROM alerting.notifications WHERE trigger_id = $1`, "event:"+sixth)
	hook.waitOK(t, 1)
}

// TestUniqueUsersOverAWeek: a unique-user window of days counts each user
// once whether they came in its whole hours (alerting.users_hourly), its
// partial ones (the minutes) or both.
func TestUniqueUsersOverAWeek(t *testing.T) {
	h := newHarness(t)
	h.start(1)
	hook := h.slackRule("many users this week", `{"id":"sentry.rules.conditions.event_frequency.EventUniqueUserFrequencyCondition","value":3,"interval":"1w"}`)
	now := time.Now().UTC()
	send := func(at time.Time, user string) string {
		id := newID()
		h.grouped(7, id, at, strings.Replace(event(id, ""), `"user":{"id":"u1"}`, `"user":{"id":"`+user+`"}`, 1))
		return id
	}
	// u1 in a whole hour, then again in the partial hour at the end;
	// u2 in two whole hours; u3 twice in the end's minutes.
	hours := map[string]bool{}
	for _, e := range []struct {
		ago  time.Duration
		user string
	}{{50 * time.Hour, "u1"}, {5 * time.Hour, "u2"}, {3 * time.Hour, "u2"}, {2 * time.Minute, "u1"}, {2 * time.Minute, "u3"}, {time.Minute, "u3"}} {
		at := now.Add(-e.ago)
		send(at, e.user)
		hours[e.user+at.Truncate(time.Hour).String()] = true
	}
	h.waitCount(6, `SELECT count(*) FROM alerting.seen_events`)
	if n := h.count(`SELECT count(*) FROM alerting.notifications`); n != 0 {
		t.Fatalf("fired at 3 users in a week: %d notifications", n)
	}
	if n := h.count(`SELECT count(*) FROM alerting.users_hourly WHERE issue_id = 7`); n != len(hours) {
		t.Fatalf("%d hourly users, want %d", n, len(hours))
	}
	fourth := send(now, "u4")
	h.waitCount(1, `SELECT count(*) FROM alerting.notifications WHERE trigger_id = $1`, "event:"+fourth)
	hook.waitOK(t, 1)
}

// TestSpike: a rise of more than 100 % over the same hour a day before
// fires on a burst after a quiet baseline, not on steady load.
func TestSpike(t *testing.T) {
	h := newHarness(t)
	h.start(1)
	h.rule(`{"name":"spike","conditions":[{"id":"sentry.rules.conditions.event_frequency.EventFrequencyCondition","value":100,
		"interval":"1h","comparisonType":"percent","comparisonInterval":"1d"}],"actions":[` + webhooksAction + `]}`)
	now := time.Now().UTC()
	day := now.Add(-24 * time.Hour)
	send := func(issue int64, at time.Time, n int) {
		for i := range n {
			id := newID()
			h.grouped(issue, id, at.Add(-time.Duration(i)*time.Second), event(id, ""))
		}
	}
	send(1, day, 3)  // quiet baseline
	send(2, day, 20) // steady
	h.waitCount(23, `SELECT count(*) FROM alerting.seen_events`)
	send(2, now, 20)
	h.waitCount(43, `SELECT count(*) FROM alerting.seen_events`)
	if n := h.count(`SELECT count(*) FROM alerting.notifications`); n != 0 {
		t.Fatalf("steady load fired %d notifications", n)
	}
	send(1, now, 10) // burst
	h.waitCount(1, `SELECT count(*) FROM alerting.notifications WHERE issue_id = 1`)
	if n := h.count(`SELECT count(*) FROM alerting.notifications WHERE issue_id = 2`); n != 0 {
		t.Fatalf("steady issue notified %d times", n)
	}
}

// TestEmailAndChat: a regression mails a member through a real SMTP server
// (text and HTML with links to PUBLIC_URL) and posts to every chat service.
func TestEmailAndChat(t *testing.T) {
	h := newHarness(t)
	srv := smtptest.Start(t)
	h.opt.MailTLS = mailer.New(config.SMTPConfig{Host: srv.Host, Port: srv.Port, From: "alerts@faultline.test", TLS: "none"})
	chat := newReceiver(t, 0)
	h.opt.PagerDutyURL = chat.URL + "/pagerduty"
	h.start(1)
	h.rule(`{"name":"regressions","conditions":[{"id":"sentry.rules.conditions.regression_event.RegressionEventCondition"}],
		"actions":[{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"Member","targetIdentifier":1},
		{"id":"faultline.rules.actions.DiscordWebhookAction","webhook_url":"` + chat.URL + `/discord"},
		{"id":"faultline.rules.actions.MattermostWebhookAction","webhook_url":"` + chat.URL + `/mattermost"},
		{"id":"faultline.rules.actions.MSTeamsWebhookAction","webhook_url":"` + chat.URL + `/teams"},
		{"id":"faultline.rules.actions.PagerDutyAction","routing_key":"0123456789abcdef0123456789abcdef"}]}`)
	id := newID()
	now := time.Now().UTC()
	h.grouped(9, id, now, event(id, ""))
	h.issue(streams.IssueMessage{IssueID: 9, Change: streams.ChangeRegressed, Title: "TimeoutError: db", Level: "error", EventID: id, At: now})
	reqs := chat.waitOK(t, 4)
	byPath := map[string]map[string]any{}
	for _, r := range reqs {
		var m map[string]any
		json.Unmarshal(r.body, &m)
		byPath[r.path] = m
	}
	if byPath["/discord"]["embeds"] == nil || byPath["/mattermost"]["attachments"] == nil ||
		byPath["/teams"]["type"] != "message" || byPath["/pagerduty"]["event_action"] != "trigger" {
		t.Fatalf("chat payloads: %v", byPath)
	}
	mails := srv.Wait(1, 10*time.Second)
	if len(mails) != 1 || mails[0].To[0] != "dev@example.com" {
		t.Fatalf("mail: %+v", mails)
	}
	msg, err := mails[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	subj, parts := mailParts(t, mails[0])
	if !strings.Contains(subj, "Regression: TimeoutError: db") || msg.Header.Get("From") != "<alerts@faultline.test>" {
		t.Errorf("subject %q from %q", subj, msg.Header.Get("From"))
	}
	for ct, b := range parts {
		if !strings.Contains(b, "http://faultline.test:8080/organizations/acme/issues/9/") {
			t.Errorf("part %s has no link to the issue: %s", ct, b)
		}
	}
	if len(parts) != 2 {
		t.Errorf("%d parts, want text and HTML", len(parts))
	}
}

// TestHistoryIsNotNotified: what the stream held before the consumer
// existed (a replay, a new install over an old stream) notifies nobody.
func TestHistoryIsNotNotified(t *testing.T) {
	h := newHarness(t)
	hook := newReceiver(t, 0)
	id := newID()
	h.grouped(5, id, time.Now(), event(id, ""))
	h.issue(streams.IssueMessage{IssueID: 5, Change: streams.ChangeCreated, EventID: id, At: time.Now()})
	h.start(1)
	h.command(streams.AlertCommand{Kind: streams.AlertPluginSet, Plugin: "webhooks", Config: json.RawMessage(fmt.Sprintf(`{"urls":%q}`, hook.URL))})
	h.rule(`{"name":"all","conditions":[{"id":"sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}],"actions":[` + webhooksAction + `]}`)
	later := newID()
	h.grouped(6, later, time.Now(), event(later, ""))
	h.issue(streams.IssueMessage{IssueID: 6, Change: streams.ChangeCreated, EventID: later, At: time.Now()})
	hook.waitOK(t, 1)
	time.Sleep(200 * time.Millisecond)
	if n := h.count(`SELECT count(*) FROM alerting.notifications`); n != 1 || len(hook.got()) != 1 {
		t.Fatalf("%d notifications, %d requests: history was notified", n, len(hook.got()))
	}
}

// TestInvalidRuleCommand: the applier answers Sentry's field errors.
func TestInvalidRuleCommand(t *testing.T) {
	h := newHarness(t)
	h.start(1)
	ans := h.command(streams.AlertCommand{Kind: streams.AlertRuleCreate, Rule: json.RawMessage(`{"name":"x","conditions":[],"actions":[]}`)})
	if len(ans.Errors["conditions"]) == 0 || len(ans.Errors["actions"]) == 0 || ans.RuleID != 0 {
		t.Fatalf("answer %+v", ans)
	}
	ans = h.command(streams.AlertCommand{Kind: streams.AlertPluginSet, Plugin: "webhooks", Config: json.RawMessage(`{"urls":"ftp://x"}`)})
	if len(ans.Errors["urls"]) == 0 {
		t.Fatalf("answer %+v", ans)
	}
}

// TestEmailIssueOwners: an email action to IssueOwners mails the owners
// of the triggering event by the project's ownership rules (the last
// matching rule's team), and the fallthrough when no rule matches.
func TestEmailIssueOwners(t *testing.T) {
	h := newHarness(t)
	srv := smtptest.Start(t)
	h.opt.MailTLS = mailer.New(config.SMTPConfig{Host: srv.Host, Port: srv.Port, From: "alerts@faultline.test", TLS: "none"})
	if _, err := h.db.Pool.Exec(h.ctx, `INSERT INTO api.users (email, password_hash) VALUES ('pay@example.com', 'x');
		INSERT INTO api.members (organization_id, user_id, role) VALUES (1, 2, 'member');
		INSERT INTO api.teams (organization_id, slug, name) VALUES (1, 'payments', 'Payments'), (1, 'backend', 'Backend');
		INSERT INTO api.team_members (team_id, member_id) VALUES (1, 2), (2, 1);
		INSERT INTO api.project_ownership (project_id, raw) VALUES (1, 'path:src/* #backend
path:src/payments/* #payments')`); err != nil {
		t.Fatal(err)
	}
	h.start(1)
	h.rule(`{"name":"new","conditions":[{"id":"sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}],
		"actions":[{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"IssueOwners","fallthroughType":"AllMembers"}]}`)
	now := time.Now().UTC()
	for i, extra := range []string{
		`,"exception":{"values":[{"type":"E","stacktrace":{"frames":[{"filename":"src/payments/charge.go"}]}}]}`,
		`,"exception":{"values":[{"type":"E","stacktrace":{"frames":[{"filename":"vendor/lib.go"}]}}]}`,
	} {
		id := newID()
		h.grouped(int64(20+i), id, now, event(id, extra))
		h.issue(streams.IssueMessage{IssueID: int64(20 + i), Change: streams.ChangeCreated, Title: "TimeoutError: db", Level: "error", EventID: id, At: now})
	}
	mails := srv.Wait(3, 10*time.Second)
	got := map[string]int{}
	for _, m := range mails {
		msg, err := m.Parse()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(msg.Body)
		issue := "21"
		if strings.Contains(string(b), "/issues/20/") {
			issue = "20"
		}
		got[issue+" "+m.To[0]]++
	}
	want := map[string]int{"20 pay@example.com": 1, "21 dev@example.com": 1, "21 pay@example.com": 1}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mails (issue recipient): %v, want %v", got, want)
	}
}
