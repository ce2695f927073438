package alertrules

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// terraformRule is what the Sentry Terraform provider sends for an issue
// alert (its documented example, with Faultline's actions).
const terraformRule = `{
  "name": "My issue alert",
  "actionMatch": "any",
  "filterMatch": "all",
  "frequency": 30,
  "environment": "production",
  "owner": "team:3",
  "conditions": [
    {"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"},
    {"id": "sentry.rules.conditions.regression_event.RegressionEventCondition"},
    {"id": "sentry.rules.conditions.event_frequency.EventFrequencyCondition", "value": 100, "comparisonType": "count", "interval": "1h"},
    {"id": "sentry.rules.conditions.event_frequency.EventUniqueUserFrequencyCondition", "value": "100", "comparisonType": "percent", "interval": "1h", "comparisonInterval": "1w"},
    {"id": "sentry.rules.conditions.event_frequency.EventFrequencyPercentCondition", "value": 50.0, "interval": "1h"}
  ],
  "filters": [
    {"id": "sentry.rules.filters.age_comparison.AgeComparisonFilter", "comparison_type": "older", "value": 10, "time": "minute"},
    {"id": "sentry.rules.filters.issue_occurrences.IssueOccurrencesFilter", "value": 10},
    {"id": "sentry.rules.filters.assigned_to.AssignedToFilter", "targetType": "Unassigned"},
    {"id": "sentry.rules.filters.latest_release.LatestReleaseFilter"},
    {"id": "sentry.rules.filters.event_attribute.EventAttributeFilter", "attribute": "message", "match": "co", "value": "test"},
    {"id": "sentry.rules.filters.tagged_event.TaggedEventFilter", "key": "foo", "match": "eq", "value": "bar"},
    {"id": "sentry.rules.filters.level.LevelFilter", "match": "eq", "level": "50"}
  ],
  "actions": [
    {"id": "sentry.mail.actions.NotifyEmailAction", "targetType": "IssueOwners", "fallthroughType": "ActiveMembers"},
    {"id": "sentry.rules.actions.notify_event_service.NotifyEventServiceAction", "service": "webhooks"},
    {"id": "faultline.rules.actions.SlackWebhookAction", "webhook_url": "https://hooks.slack.com/services/T/B/X"},
    {"id": "faultline.rules.actions.PagerDutyAction", "routing_key": "0123456789abcdef0123456789abcdef"}
  ]
}`

func TestParseTerraformRule(t *testing.T) {
	r, err := Parse([]byte(terraformRule))
	if err != nil {
		t.Fatal(err)
	}
	if !r.HasStateCondition() || len(r.conds) != 5 || len(r.filters) != 7 || len(r.Actions) != 4 {
		t.Fatalf("got state %v, %d conditions, %d filters, %d actions", r.HasStateCondition(), len(r.conds), len(r.filters), len(r.Actions))
	}
	if got := r.Actions[2]; got.Channel != ChannelSlack || got.URL == "" {
		t.Errorf("slack action = %+v", got)
	}
	// count 1h, users 1h now and a week ago, events and project events 1h
	if got := len(r.Windows()); got != 5 {
		t.Errorf("windows = %d, want 5", got)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	const cond = `{"id":"sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}`
	const act = `{"id":"sentry.rules.actions.notify_event_service.NotifyEventServiceAction","service":"webhooks"}`
	for _, tc := range []struct{ body, field, contains string }{
		{`{"actions":[` + act + `],"conditions":[` + cond + `]}`, "name", "required"},
		{`{"name":"x","actions":[` + act + `],"conditions":[]}`, "conditions", "condition"},
		{`{"name":"x","actions":[],"conditions":[` + cond + `]}`, "actions", "action"},
		{`{"name":"x","actionMatch":"some","actions":[` + act + `],"conditions":[` + cond + `]}`, "actionMatch", "valid choice"},
		{`{"name":"x","frequency":99999,"actions":[` + act + `],"conditions":[` + cond + `]}`, "frequency", "between"},
		{`{"name":"x","actions":[` + act + `],"conditions":[{"id":"sentry.rules.conditions.event_frequency.EventFrequencyCondition","value":1,"interval":"2h"}]}`, "conditions", "interval"},
		{`{"name":"x","actions":[` + act + `],"conditions":[{"id":"sentry.rules.conditions.event_frequency.EventFrequencyCondition","interval":"1h"}]}`, "conditions", "value"},
		{`{"name":"x","actions":[` + act + `],"conditions":[{"id":"sentry.rules.conditions.event_frequency.EventFrequencyCondition","value":1,"interval":"1h","comparisonType":"percent"}]}`, "conditions", "comparisonInterval"},
		{`{"name":"x","actions":[` + act + `],"conditions":[{"id":"nope"}]}`, "conditions", "unknown condition"},
		{`{"name":"x","actions":[` + act + `],"conditions":[` + cond + `],"filters":[{"id":"sentry.rules.filters.level.LevelFilter","match":"eq","level":"45"}]}`, "filters", "level"},
		{`{"name":"x","actions":[{"id":"faultline.rules.actions.DiscordWebhookAction","webhook_url":"ftp://x"}],"conditions":[` + cond + `]}`, "actions", "webhook_url"},
		{`{"name":"x","actions":[{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"Member"}],"conditions":[` + cond + `]}`, "actions", "targetIdentifier"},
		{`{"name":"x","owner":"bob","actions":[` + act + `],"conditions":[` + cond + `]}`, "owner", "user:"},
		{`{"name":5}`, "name", "Invalid value"},
		{`not json`, "non_field_errors", "Invalid JSON"},
	} {
		_, err := Parse([]byte(tc.body))
		var ve ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: got %v, want a ValidationError", tc.body, err)
			continue
		}
		msgs := strings.Join(ve[tc.field], " ")
		if !strings.Contains(msgs, tc.contains) {
			t.Errorf("%s: errors %v, want %q naming %q", tc.body, ve, tc.field, tc.contains)
		}
	}
}

// mapCounts is a Counter over fixed counts.
type mapCounts map[Window]int64

func (m mapCounts) Count(w Window) int64 { return m[w] }

func rule(t testing.TB, actionMatch, filterMatch string, conds, filters string) *Rule {
	t.Helper()
	r, err := Parse([]byte(fmt.Sprintf(`{"name":"r","actionMatch":%q,"filterMatch":%q,"conditions":[%s],"filters":[%s],
		"actions":[{"id":"sentry.rules.actions.notify_event_service.NotifyEventServiceAction","service":"webhooks"}]}`,
		actionMatch, filterMatch, conds, filters)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConditions(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	ev := &Event{Level: "error"}
	freq := `{"id":"` + CondEventFrequency + `","value":10,"interval":"1h"}`
	spike := `{"id":"` + CondEventFrequency + `","value":100,"interval":"1h","comparisonType":"percent","comparisonInterval":"1d"}`
	share := `{"id":"` + CondFrequencyPercent + `","value":50,"interval":"5m"}`
	hour, day := time.Hour, 24*time.Hour
	for _, tc := range []struct {
		name    string
		r       *Rule
		trigger Trigger
		counts  mapCounts
		want    bool
	}{
		{"first seen on created", rule(t, "all", "all", `{"id":"`+CondFirstSeen+`"}`, ""), TriggerCreated, nil, true},
		{"first seen on an event", rule(t, "all", "all", `{"id":"`+CondFirstSeen+`"}`, ""), TriggerEvent, nil, false},
		{"first seen on regression", rule(t, "all", "all", `{"id":"`+CondFirstSeen+`"}`, ""), TriggerRegressed, nil, false},
		{"regression", rule(t, "all", "all", `{"id":"`+CondRegression+`"}`, ""), TriggerRegressed, nil, true},
		{"reappeared", rule(t, "all", "all", `{"id":"`+CondReappeared+`"}`, ""), TriggerReappeared, nil, true},
		{"frequency rules ignore issue changes", rule(t, "all", "all", freq, ""), TriggerCreated, mapCounts{{Length: hour}: 11}, false},
		{"count above", rule(t, "all", "all", freq, ""), TriggerEvent, mapCounts{{Length: hour}: 11}, true},
		{"count at", rule(t, "all", "all", freq, ""), TriggerEvent, mapCounts{{Length: hour}: 10}, false},
		{"spike", rule(t, "all", "all", spike, ""), TriggerEvent, mapCounts{{Length: hour}: 30, {Length: hour, Offset: day}: 10}, true},
		{"steady", rule(t, "all", "all", spike, ""), TriggerEvent, mapCounts{{Length: hour}: 1000, {Length: hour, Offset: day}: 900}, false},
		{"no baseline", rule(t, "all", "all", spike, ""), TriggerEvent, mapCounts{{Length: hour}: 1000}, false},
		{"share above", rule(t, "all", "all", share, ""), TriggerEvent, mapCounts{{Length: 5 * time.Minute}: 6, {Kind: CountProjectEvents, Length: 5 * time.Minute}: 10}, true},
		{"share below", rule(t, "all", "all", share, ""), TriggerEvent, mapCounts{{Length: 5 * time.Minute}: 4, {Kind: CountProjectEvents, Length: 5 * time.Minute}: 10}, false},
		{"any", rule(t, "any", "all", `{"id":"`+CondFirstSeen+`"},`+freq, ""), TriggerCreated, nil, true},
		{"all fails", rule(t, "all", "all", `{"id":"`+CondFirstSeen+`"},`+freq, ""), TriggerCreated, nil, false},
		{"none", rule(t, "none", "all", freq, ""), TriggerEvent, nil, true},
	} {
		in := &Input{Trigger: tc.trigger, Event: ev, Now: now, Counts: tc.counts}
		if tc.counts == nil {
			in.Counts = mapCounts{}
		}
		if got := tc.r.Matches(in); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFilters(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	ev, err := DecodeEvent([]byte(`{"level":"warning","platform":"go","message":"db timeout","title":"TimeoutError: db timeout",
		"release":"1.2","environment":"prod","tags":[["browser","Chrome 120"],["server","a1"]],"user":{"id":"42"},
		"exception":{"values":[{"type":"OSError","value":"x"},{"type":"TimeoutError","value":"db timeout","mechanism":{"handled":false}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	issue := Issue{FirstSeen: now.Add(-2 * time.Hour), TimesSeen: 7, Assignee: "team:3"}
	every := `{"id":"` + CondEveryEvent + `"}`
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{`{"id":"` + FilterLevel + `","match":"eq","level":"30"}`, true},
		{`{"id":"` + FilterLevel + `","match":"gte","level":"40"}`, false},
		{`{"id":"` + FilterLevel + `","match":"lte","level":"40"}`, true},
		{`{"id":"` + FilterTagged + `","key":"browser","match":"sw","value":"chrome"}`, true},
		{`{"id":"` + FilterTagged + `","key":"browser","match":"eq","value":"firefox"}`, false},
		{`{"id":"` + FilterTagged + `","key":"os","match":"ns"}`, true},
		{`{"id":"` + FilterTagged + `","key":"server","match":"is"}`, true},
		{`{"id":"` + FilterAttribute + `","attribute":"exception.type","match":"eq","value":"TimeoutError"}`, true},
		{`{"id":"` + FilterAttribute + `","attribute":"exception.type","match":"ne","value":"TimeoutError"}`, false},
		{`{"id":"` + FilterAttribute + `","attribute":"message","match":"co","value":"timeout"}`, true},
		{`{"id":"` + FilterAttribute + `","attribute":"platform","match":"eq","value":"python"}`, false},
		{`{"id":"` + FilterAttribute + `","attribute":"environment","match":"eq","value":"prod"}`, true},
		{`{"id":"` + FilterAttribute + `","attribute":"release","match":"ew","value":".2"}`, true},
		{`{"id":"` + FilterAttribute + `","attribute":"error.unhandled","match":"eq","value":"true"}`, true},
		{`{"id":"` + FilterAttribute + `","attribute":"user.id","match":"eq","value":"42"}`, true},
		{`{"id":"` + FilterAge + `","comparison_type":"older","value":1,"time":"hour"}`, true},
		{`{"id":"` + FilterAge + `","comparison_type":"newer","value":1,"time":"hour"}`, false},
		{`{"id":"` + FilterOccurrences + `","value":7}`, true},
		{`{"id":"` + FilterOccurrences + `","value":8}`, false},
		{`{"id":"` + FilterLatestRelease + `"}`, true},
		{`{"id":"` + FilterAssignedTo + `","targetType":"Team","targetIdentifier":3}`, true},
		{`{"id":"` + FilterAssignedTo + `","targetType":"Unassigned"}`, false},
		{`{"id":"` + FilterAssignedTo + `","targetType":"Member","targetIdentifier":"3"}`, false},
	} {
		r := rule(t, "all", "all", every, tc.filter)
		in := &Input{Trigger: TriggerEvent, Event: ev, Issue: issue, Now: now, LatestRelease: "1.2", Counts: mapCounts{}}
		if got := r.Matches(in); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.filter, got, tc.want)
		}
	}
	// filterMatch any and none, and the rule's environment
	lvl40 := `{"id":"` + FilterLevel + `","match":"eq","level":"40"},{"id":"` + FilterLevel + `","match":"eq","level":"30"}`
	in := &Input{Trigger: TriggerEvent, Event: ev, Issue: issue, Now: now, Counts: mapCounts{}}
	if !rule(t, "all", "any", every, lvl40).Matches(in) || rule(t, "all", "all", every, lvl40).Matches(in) || rule(t, "all", "none", every, lvl40).Matches(in) {
		t.Error("filterMatch any/all/none not applied")
	}
	r := rule(t, "all", "all", every, "")
	staging := "staging"
	r.Environment = &staging
	if r.Matches(in) {
		t.Error("a rule of another environment matched")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(terraformRule))
	f.Add([]byte(`{"name":"x","conditions":[{"id":"` + CondEventFrequency + `","value":"1e3","interval":"1m"}],"actions":[{"id":"` + ActionEmail + `","targetType":"Team","targetIdentifier":"7"}]}`))
	f.Add([]byte(`{"conditions":[{}],"filters":[null],"actions":[{"id":5}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			var ve ValidationError
			if !errors.As(err, &ve) || len(ve) == 0 {
				t.Fatalf("error %v is not a ValidationError naming a field", err)
			}
			return
		}
		in := &Input{Trigger: TriggerEvent, Event: &Event{}, Now: time.Now(), Counts: mapCounts{}}
		r.Matches(in)
		in.Trigger = TriggerCreated
		r.Matches(in)
	})
}
