package alerting

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/libs/alertrules"
	"github.com/faultline/faultline/libs/alertstore"
	"github.com/faultline/faultline/libs/notify"
)

// evaluate runs the projects' rules on evals and queues the notifications
// of those that fire.
func (s *Service) evaluate(ctx context.Context, tx pgx.Tx, evals []evaluation, rules map[int64][]rule, later *laterEvents) (int, error) {
	// In issue order, so replicas take the rows of alerting.fires in the
	// same order; an issue's in stream order, so the first to match fires.
	sort.SliceStable(evals, func(i, j int) bool {
		if evals[i].issue != evals[j].issue {
			return evals[i].issue < evals[j].issue
		}
		return evals[i].pos < evals[j].pos
	})
	var issueIDs []int64
	projects := map[int64]bool{}
	for _, e := range evals {
		if len(rules[e.project]) > 0 {
			if n := len(issueIDs); n == 0 || issueIDs[n-1] != e.issue {
				issueIDs = append(issueIDs, e.issue)
			}
			projects[e.project] = true
		}
	}
	if len(issueIDs) == 0 {
		return 0, nil
	}
	state := map[int64]alertrules.Issue{}
	rows, err := tx.Query(ctx, `SELECT issue_id, first_seen, times_seen, assignee FROM alerting.issues WHERE issue_id = ANY($1)`, issueIDs)
	if err != nil {
		return 0, fmt.Errorf("issue state: %w", err)
	}
	for rows.Next() {
		var is alertrules.Issue
		if err := rows.Scan(&is.ID, &is.FirstSeen, &is.TimesSeen, &is.Assignee); err != nil {
			rows.Close()
			return 0, err
		}
		state[is.ID] = is
	}
	rows.Close()
	latest := map[int64]string{}
	var projIDs []int64
	for p := range projects {
		projIDs = append(projIDs, p)
	}
	rows, err = tx.Query(ctx, `SELECT DISTINCT ON (project_id) project_id, release FROM alerting.releases
		WHERE project_id = ANY($1) ORDER BY project_id, first_seen DESC, release DESC`, projIDs)
	if err != nil {
		return 0, fmt.Errorf("latest releases: %w", err)
	}
	for rows.Next() {
		var p int64
		var r string
		if err := rows.Scan(&p, &r); err != nil {
			rows.Close()
			return 0, err
		}
		latest[p] = r
	}
	rows.Close()

	// The windows every evaluation's rules read, fetched for the whole
	// batch in one query.
	wc, err := batchCounts(ctx, tx, evals, rules)
	if err != nil {
		return 0, err
	}
	// When each rule last fired for these issues: a rule that fired within
	// its frequency is throttled without asking again. fired_at only moves
	// forward, so what this read says is throttled still is; a stale read
	// only costs the conditional write in fire, which decides.
	type fireKey struct{ rule, issue int64 }
	last := map[fireKey]time.Time{}
	var ruleIDs []int64
	for p := range projects {
		for _, r := range rules[p] {
			ruleIDs = append(ruleIDs, r.id)
		}
	}
	rows, err = tx.Query(ctx, `SELECT rule_id, issue_id, fired_at FROM alerting.fires WHERE rule_id = ANY($1) AND issue_id = ANY($2)`,
		ruleIDs, issueIDs)
	if err != nil {
		return 0, fmt.Errorf("fires: %w", err)
	}
	for rows.Next() {
		var k fireKey
		var at time.Time
		if err := rows.Scan(&k.rule, &k.issue, &at); err != nil {
			rows.Close()
			return 0, err
		}
		last[k] = at
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("fires: %w", err)
	}

	queued := 0
	look := &lookups{projects: map[int64]projectInfo{}, webhooks: map[int64][]string{}}
	for _, e := range evals {
		if hook := testHookEvaluate.Load(); hook != nil {
			(*hook)(e.eventID)
		}
		rs := rules[e.project]
		if len(rs) == 0 {
			continue
		}
		is := state[e.issue]
		is.ID = e.issue
		in := &alertrules.Input{Trigger: e.trigger, Event: e.ev, Issue: is, Now: e.now, LatestRelease: latest[e.project],
			Counts: later.counts(wc[countKey{e.issue, minute(e.now)}], &e)}
		for _, r := range rs {
			k := fireKey{r.id, e.issue}
			if at, ok := last[k]; ok && at.After(e.now.Add(-time.Duration(r.Frequency)*time.Minute)) {
				continue // throttled: the condition the write in fire checks
			}
			if !r.Matches(in) {
				continue
			}
			n, won, err := s.fire(ctx, tx, r, e, look)
			if err != nil {
				return 0, err
			}
			if won {
				last[k] = e.now
			}
			queued += n
		}
	}
	return queued, nil
}

// lookups are what a batch's notifications read of their projects, read
// once per batch.
type lookups struct {
	projects map[int64]projectInfo
	webhooks map[int64][]string
}

// fire records that r fired for e, unless the rule notified about the
// issue within its frequency, and, in the same statement, r's notification
// for e's trigger, unless it was recorded before; then it queues a
// delivery per destination. won says the rule's fired_at for the issue is
// now e.now.
func (s *Service) fire(ctx context.Context, tx pgx.Tx, r rule, e evaluation, look *lookups) (queued int, won bool, err error) {
	var nid *int64
	err = tx.QueryRow(ctx, `WITH f AS (INSERT INTO alerting.fires (rule_id, issue_id, fired_at) VALUES ($1, $2, $3)
			ON CONFLICT (rule_id, issue_id) DO UPDATE SET fired_at = excluded.fired_at
			WHERE fires.fired_at <= excluded.fired_at - make_interval(mins => $4)
			RETURNING true AS won),
		n AS (INSERT INTO alerting.notifications (rule_id, issue_id, trigger_id, project_id)
			SELECT $1, $2, $5, $6 FROM f ON CONFLICT DO NOTHING RETURNING id)
		SELECT EXISTS (SELECT 1 FROM f), (SELECT id FROM n)`, r.id, e.issue, e.now, r.Frequency, e.triggerID, e.project).Scan(&won, &nid)
	if err != nil {
		return 0, false, fmt.Errorf("throttle: %w", err)
	}
	if !won || nid == nil {
		return 0, won, nil // throttled, or notified before
	}
	queued, err = s.queue(ctx, tx, r, e, *nid, look)
	return queued, true, err
}

// queue queues a delivery per destination of r's notification nid for e.
func (s *Service) queue(ctx context.Context, tx pgx.Tx, r rule, e evaluation, nid int64, look *lookups) (int, error) {
	p, ok := look.projects[e.project]
	if !ok {
		var err error
		if p, err = s.dir.project(ctx, tx, e.project); err != nil {
			return 0, fmt.Errorf("project: %w", err)
		}
		look.projects[e.project] = p
	}
	a := &notify.Alert{RuleID: r.id, RuleName: r.Name, Trigger: e.change, ProjectID: e.project, Project: p.Slug, OrgSlug: p.Org,
		IssueID: e.issue, Title: e.ev.Title, Culprit: e.ev.Culprit, Level: e.ev.Level, Platform: e.ev.Platform,
		Message: e.ev.Message, EventID: e.eventID, Event: e.raw, At: e.now, PublicURL: s.opt.PublicURL}
	if a.Trigger == "" {
		a.Trigger = "event"
	}
	if a.Message == "" {
		a.Message = a.Title
	}
	type dest struct {
		channel, kind, target string
		body                  any
	}
	var ds []dest
	for _, act := range r.Actions {
		switch act.Channel {
		case alertrules.ChannelWebhooks:
			urls, ok := look.webhooks[e.project]
			if !ok {
				var err error
				if urls, _, err = alertstore.WebhookURLs(ctx, tx, e.project); err != nil {
					return 0, err
				}
				look.webhooks[e.project] = urls
			}
			for _, u := range urls {
				ds = append(ds, dest{act.Channel, "http", u, notify.Webhook(a)})
			}
		case alertrules.ChannelSlack:
			ds = append(ds, dest{act.Channel, "http", act.URL, notify.Slack(a)})
		case alertrules.ChannelDiscord:
			ds = append(ds, dest{act.Channel, "http", act.URL, notify.Discord(a)})
		case alertrules.ChannelMattermost:
			ds = append(ds, dest{act.Channel, "http", act.URL, notify.Mattermost(a)})
		case alertrules.ChannelTeams:
			ds = append(ds, dest{act.Channel, "http", act.URL, notify.Teams(a)})
		case alertrules.ChannelPagerDuty:
			ds = append(ds, dest{act.Channel, "http", s.opt.PagerDutyURL, notify.PagerDuty(a, act.RoutingKey, act.Severity)})
		case alertrules.ChannelEmail:
			to, err := s.dir.recipients(ctx, tx, e.project, act, e.ev)
			if err != nil {
				return 0, err
			}
			for _, addr := range to {
				ds = append(ds, dest{act.Channel, "mail", addr, notify.Mail(a, addr)})
			}
		}
	}
	if len(ds) == 0 {
		return 0, nil
	}
	channels, kinds, targets := make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds))
	bodies := make([][]byte, len(ds))
	for i, d := range ds {
		b, err := json.Marshal(d.body)
		if err != nil {
			return 0, err
		}
		channels[i], kinds[i], targets[i], bodies[i] = d.channel, d.kind, d.target, b
	}
	if _, err := tx.Exec(ctx, `INSERT INTO alerting.deliveries (notification_id, project_id, rule_id, issue_id, channel, kind, target, body)
		SELECT $1, $2, $3, $4, d.* FROM unnest($5::text[], $6::text[], $7::text[], $8::jsonb[]) AS d`,
		nid, e.project, r.id, e.issue, channels, kinds, targets, bodies); err != nil {
		return 0, fmt.Errorf("queue delivery: %w", err)
	}
	return len(ds), nil
}
