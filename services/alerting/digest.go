package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/libs/mailer"
)

// Digests: a daily and a weekly mail per user who asked for them
// (api.notification_settings), sent at their hour in their time zone, with
// the period's new issues, regressions and busiest issues of every project
// of their organisations. The issues and events are read from grouping's
// projection (read-only), once per project and period: the content is kept
// in alerting.digest_projects and every user's mail is assembled from it.
// alerting.digests makes each mail go out once whatever the replicas.

const (
	digestDaily  = "daily"
	digestWeekly = "weekly"
	digestTop    = 5  // busiest issues shown, with their bars
	digestList   = 10 // new and regressed issues listed
)

// digestPeriod is one mail's span: [from, to) in the user's time zone.
type digestPeriod struct {
	kind     string
	from, to time.Time
	bucket   time.Duration // one bar of the busiest issues' charts
}

// duePeriods are the periods whose digest is due at now for settings with
// the given hour and zone: yesterday's once today's hour has come, last
// week's (Monday to Sunday) once Monday's hour has come. A period stays due
// until the next one replaces it, so a process that was down at the hour
// still sends it.
func duePeriods(daily, weekly bool, hour int, loc *time.Location, now time.Time) []digestPeriod {
	local := now.In(loc)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	var out []digestPeriod
	if daily {
		to := midnight
		if local.Before(midnight.Add(time.Duration(hour) * time.Hour)) {
			to = to.AddDate(0, 0, -1) // today's is not due yet: yesterday's one was
		}
		out = append(out, digestPeriod{kind: digestDaily, from: to.AddDate(0, 0, -1), to: to, bucket: time.Hour})
	}
	if weekly {
		monday := midnight.AddDate(0, 0, -((int(local.Weekday()) + 6) % 7))
		if local.Before(monday.Add(time.Duration(hour) * time.Hour)) {
			monday = monday.AddDate(0, 0, -7)
		}
		out = append(out, digestPeriod{kind: digestWeekly, from: monday.AddDate(0, 0, -7), to: monday, bucket: 24 * time.Hour})
	}
	return out
}

// digestUser is who a digest goes to, and when.
type digestUser struct {
	id            int64
	email, name   string
	daily, weekly bool
	hour          int
	timezone      string
}

// runDigests sends the digests that are due, every DigestEvery.
func (s *Service) runDigests(ctx context.Context) error {
	if !s.sender.Mail.Enabled() || s.opt.DigestEvery <= 0 {
		return nil
	}
	t := time.NewTicker(s.opt.DigestEvery)
	defer t.Stop()
	for {
		if n, err := s.SendDueDigests(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("digests", slog.Any("error", err))
		} else if n > 0 {
			s.log.Info("digests sent", slog.Int("mails", n))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SendDueDigests sends every digest due at now that no replica has
// claimed, and returns how many mails went out.
func (s *Service) SendDueDigests(ctx context.Context, now time.Time) (int, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.id, u.email, u.name, n.daily_digest, n.weekly_digest, n.digest_hour, n.timezone
		FROM api.notification_settings n JOIN api.users u ON u.id = n.user_id
		WHERE (n.daily_digest OR n.weekly_digest) AND u.is_active ORDER BY u.id`)
	if err != nil {
		return 0, fmt.Errorf("digest recipients: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (digestUser, error) {
		var u digestUser
		err := r.Scan(&u.id, &u.email, &u.name, &u.daily, &u.weekly, &u.hour, &u.timezone)
		return u, err
	})
	if err != nil {
		return 0, fmt.Errorf("digest recipients: %w", err)
	}
	// A period stays due a week at most: older contents are read no more.
	if _, err := s.pool.Exec(ctx, `DELETE FROM alerting.digest_projects WHERE period_to < $1`, now.AddDate(0, 0, -15)); err != nil {
		return 0, fmt.Errorf("prune digest contents: %w", err)
	}
	sent := 0
	contents := digestContents{}
	for _, u := range users {
		loc, err := time.LoadLocation(u.timezone)
		if err != nil {
			loc = time.UTC
		}
		for _, p := range duePeriods(u.daily, u.weekly, u.hour, loc, now) {
			ok, err := s.sendDigest(ctx, u, p, &contents)
			if err != nil {
				if ctx.Err() != nil {
					return sent, nil
				}
				s.log.Warn("digest not sent; tried again later", slog.Int64("user", u.id), slog.String("kind", p.kind), slog.Any("error", err))
				continue
			}
			if ok {
				sent++
			}
		}
	}
	return sent, nil
}

// sendDigest claims u's digest for p and sends it; false when another
// replica (or an earlier tick) has it, or the period was quiet. The
// projects' contents come from contents, computed once per project and
// period whatever the number of users.
func (s *Service) sendDigest(ctx context.Context, u digestUser, p digestPeriod, contents *digestContents) (bool, error) {
	start := p.from.Format(time.DateOnly)
	tag, err := s.pool.Exec(ctx, `INSERT INTO alerting.digests (user_id, kind, period_start) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, u.id, p.kind, start)
	if err != nil {
		return false, fmt.Errorf("claim digest: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	release := func() {
		s.pool.Exec(context.WithoutCancel(ctx), `DELETE FROM alerting.digests WHERE user_id = $1 AND kind = $2 AND period_start = $3`,
			u.id, p.kind, start)
	}
	d, err := s.digestOf(ctx, u.id, p, contents)
	if err != nil {
		release()
		return false, err
	}
	if d.Events == 0 && len(d.New) == 0 && len(d.Regressed) == 0 {
		return false, nil // the claim stays: nothing to say for this period
	}
	msg, err := s.digestMessage(u, p, d)
	if err != nil {
		release()
		return false, err
	}
	if err := s.sender.Mail.Send(ctx, msg); err != nil {
		release()
		return false, err
	}
	if _, err := s.pool.Exec(ctx, `UPDATE alerting.digests SET sent_at = now(), events = $4
		WHERE user_id = $1 AND kind = $2 AND period_start = $3`, u.id, p.kind, start, d.Events); err != nil {
		s.log.Warn("digest sent but not recorded as sent", slog.Int64("user", u.id), slog.Any("error", err))
	}
	return true, nil
}

// digest is what one mail says.
type digest struct {
	Kind      string
	Period    string // "Thursday 3 December 2026", "30 November – 6 December 2026"
	Events    int64
	Projects  []digestProject
	New       []digestIssue
	NewCount  int64
	Regressed []digestIssue
	RegCount  int64
	Busiest   []digestIssue
}

type digestProject struct {
	Org, Slug string
	Events    int64
}

type digestIssue struct {
	ID        int64       `json:"id"`
	Org       string      `json:"-"` // project, filled for each mail
	Slug      string      `json:"-"`
	Title     string      `json:"title"`
	Events    int64       `json:"events"`     // in the period
	TimesSeen int64       `json:"times_seen"` // in all
	URL       string      `json:"-"`
	Bars      []digestBar `json:"bars,omitempty"`
}

type digestBar struct {
	Label  string `json:"label"`
	Count  int64  `json:"count"`
	Height int    `json:"height"` // pixels
}

// projectDigest is one project's part of every digest of a period: what
// digestProjectOf computes once and alerting.digest_projects keeps.
type projectDigest struct {
	Events    int64         `json:"events"`
	NewCount  int64         `json:"new_count"`
	RegCount  int64         `json:"regressed_count"`
	New       []digestIssue `json:"new"`       // the project's first digestList
	Regressed []digestIssue `json:"regressed"` // idem
	Busiest   []digestIssue `json:"busiest"`   // the project's first digestTop, with bars
}

// digestContents are the projects' contents one SendDueDigests call has
// read or computed, by project and period.
type digestContents map[digestContentKey]*projectDigest

type digestContentKey struct {
	project  int64
	kind     string
	from, to int64 // unix seconds: periods of users in different zones differ
}

// digestOf assembles u's digest for p from the contents of the projects of
// u's organisations.
func (s *Service) digestOf(ctx context.Context, userID int64, p digestPeriod, contents *digestContents) (*digest, error) {
	d := &digest{Kind: p.kind, Period: periodText(p)}
	rows, err := s.pool.Query(ctx, `SELECT p.id, o.slug, p.slug FROM api.projects p
		JOIN api.organizations o ON o.id = p.organization_id
		JOIN api.members m ON m.organization_id = o.id AND m.user_id = $1 ORDER BY o.slug, p.slug`, userID)
	if err != nil {
		return nil, fmt.Errorf("digest projects: %w", err)
	}
	type proj struct {
		id        int64
		org, slug string
	}
	projects, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (proj, error) {
		var pr proj
		err := r.Scan(&pr.id, &pr.org, &pr.slug)
		return pr, err
	})
	if err != nil {
		return nil, fmt.Errorf("digest projects: %w", err)
	}
	link := func(org string, id int64) string {
		return strings.TrimRight(s.opt.PublicURL, "/") + "/organizations/" + url.PathEscape(org) + "/issues/" + strconv.FormatInt(id, 10) + "/"
	}
	for _, pr := range projects {
		c, err := s.projectDigest(ctx, pr.id, p, contents)
		if err != nil {
			return nil, err
		}
		label := func(list []digestIssue) []digestIssue {
			out := make([]digestIssue, len(list))
			for i, is := range list {
				is.Org, is.Slug, is.URL = pr.org, pr.slug, link(pr.org, is.ID)
				out[i] = is
			}
			return out
		}
		if c.Events > 0 {
			d.Projects = append(d.Projects, digestProject{Org: pr.org, Slug: pr.slug, Events: c.Events})
		}
		d.Events += c.Events
		d.NewCount += c.NewCount
		d.RegCount += c.RegCount
		d.New = append(d.New, label(c.New)...)
		d.Regressed = append(d.Regressed, label(c.Regressed)...)
		d.Busiest = append(d.Busiest, label(c.Busiest)...)
	}
	// Each project's lists hold its first ones, so the first of their
	// union are the first of all the user's projects.
	first := func(list []digestIssue, n int, key func(digestIssue) int64) []digestIssue {
		sort.SliceStable(list, func(i, j int) bool {
			if a, b := key(list[i]), key(list[j]); a != b {
				return a > b
			}
			return list[i].ID < list[j].ID
		})
		return list[:min(n, len(list))]
	}
	timesSeen := func(is digestIssue) int64 { return is.TimesSeen }
	d.New = first(d.New, digestList, timesSeen)
	d.Regressed = first(d.Regressed, digestList, timesSeen)
	d.Busiest = first(d.Busiest, digestTop, func(is digestIssue) int64 { return is.Events })
	return d, nil
}

// projectDigest returns the project's content for p: from contents, else
// from alerting.digest_projects, else computed and stored there. The first
// replica to need it computes it under an advisory lock on the project and
// period; the others wait for it and read it.
func (s *Service) projectDigest(ctx context.Context, project int64, p digestPeriod, contents *digestContents) (*projectDigest, error) {
	key := digestContentKey{project: project, kind: p.kind, from: p.from.Unix(), to: p.to.Unix()}
	if c := (*contents)[key]; c != nil {
		return c, nil
	}
	c := new(projectDigest)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, $2))`,
			fmt.Sprintf("digest %s %d %d", p.kind, key.from, key.to), project); err != nil {
			return fmt.Errorf("lock digest content: %w", err)
		}
		var stored []byte
		err := tx.QueryRow(ctx, `SELECT content FROM alerting.digest_projects
			WHERE project_id = $1 AND kind = $2 AND period_from = $3 AND period_to = $4`, project, p.kind, p.from, p.to).Scan(&stored)
		if err == nil {
			if err := json.Unmarshal(stored, c); err != nil {
				return fmt.Errorf("stored digest content: %w", err)
			}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("stored digest content: %w", err)
		}
		if c, err = s.digestProjectOf(ctx, tx, project, p); err != nil {
			return err
		}
		b, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("digest content: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO alerting.digest_projects (project_id, kind, period_from, period_to, content)
			VALUES ($1, $2, $3, $4, $5)`, project, p.kind, p.from, p.to, b); err != nil {
			return fmt.Errorf("store digest content: %w", err)
		}
		s.m.digestProjects.Inc()
		return nil
	})
	if err != nil {
		return nil, err
	}
	(*contents)[key] = c
	return c, nil
}

// digestProjectOf computes one project's numbers for the period.
func (s *Service) digestProjectOf(ctx context.Context, tx pgx.Tx, project int64, p digestPeriod) (*projectDigest, error) {
	c := &projectDigest{}
	issueRows := func(sql string, args ...any) ([]digestIssue, error) {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (digestIssue, error) {
			var is digestIssue
			err := r.Scan(&is.ID, &is.Title, &is.TimesSeen, &is.Events)
			return is, err
		})
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM grouping.events
		WHERE project_id = $1 AND received >= $2 AND received < $3`, project, p.from, p.to).Scan(&c.Events); err != nil {
		return nil, fmt.Errorf("digest events: %w", err)
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE first_seen >= $2 AND first_seen < $3),
			count(*) FILTER (WHERE substatus = 'regressed' AND status_changed_at >= $2 AND status_changed_at < $3)
		FROM grouping.issues WHERE project_id = $1`, project, p.from, p.to).Scan(&c.NewCount, &c.RegCount); err != nil {
		return nil, fmt.Errorf("digest issues: %w", err)
	}
	var err error
	if c.New, err = issueRows(`SELECT id, title, times_seen, 0 FROM grouping.issues
		WHERE project_id = $1 AND first_seen >= $2 AND first_seen < $3 ORDER BY times_seen DESC, id LIMIT $4`,
		project, p.from, p.to, digestList); err != nil {
		return nil, fmt.Errorf("digest new issues: %w", err)
	}
	if c.Regressed, err = issueRows(`SELECT id, title, times_seen, 0 FROM grouping.issues
		WHERE project_id = $1 AND substatus = 'regressed' AND status_changed_at >= $2 AND status_changed_at < $3
		ORDER BY times_seen DESC, id LIMIT $4`, project, p.from, p.to, digestList); err != nil {
		return nil, fmt.Errorf("digest regressions: %w", err)
	}
	// The busiest issues, with their events per bucket.
	if c.Busiest, err = issueRows(`SELECT i.id, i.title, i.times_seen, b.n
		FROM (SELECT issue_id, count(*) AS n FROM grouping.events
			WHERE project_id = $1 AND received >= $2 AND received < $3 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $4) b
		JOIN grouping.issues i ON i.id = b.issue_id ORDER BY b.n DESC, i.id`, project, p.from, p.to, digestTop); err != nil {
		return nil, fmt.Errorf("digest busiest issues: %w", err)
	}
	if len(c.Busiest) > 0 {
		if err := digestBars(ctx, tx, c.Busiest, p); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// digestBars fills each busy issue's bars: its events per bucket of the
// period, as heights out of 40 pixels.
func digestBars(ctx context.Context, tx pgx.Tx, issues []digestIssue, p digestPeriod) error {
	n := int(p.to.Sub(p.from) / p.bucket)
	counts := map[int64][]int64{}
	var ids []int64
	for _, is := range issues {
		ids = append(ids, is.ID)
		counts[is.ID] = make([]int64, n)
	}
	rows, err := tx.Query(ctx, `SELECT issue_id, floor(extract(epoch FROM received - $2) / $4)::int, count(*)
		FROM grouping.events WHERE issue_id = ANY($1) AND received >= $2 AND received < $3 GROUP BY 1, 2`,
		ids, p.from, p.to, p.bucket.Seconds())
	if err != nil {
		return fmt.Errorf("digest bars: %w", err)
	}
	for rows.Next() {
		var id, c int64
		var b int
		if err := rows.Scan(&id, &b, &c); err != nil {
			rows.Close()
			return fmt.Errorf("digest bars: %w", err)
		}
		if cs := counts[id]; b >= 0 && b < len(cs) {
			cs[b] += c
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("digest bars: %w", err)
	}
	for i := range issues {
		cs := counts[issues[i].ID]
		var top int64 = 1
		for _, c := range cs {
			top = max(top, c)
		}
		for b, c := range cs {
			at := p.from.Add(time.Duration(b) * p.bucket)
			label := at.Format("15:04")
			if p.bucket >= 24*time.Hour {
				label = at.Format("Mon 2 Jan")
			}
			h := int(c * 40 / top)
			if c > 0 {
				h = max(h, 2)
			}
			issues[i].Bars = append(issues[i].Bars, digestBar{Label: label, Count: c, Height: h})
		}
	}
	return nil
}

func periodText(p digestPeriod) string {
	if p.kind == digestDaily {
		return p.from.Format("Monday 2 January 2006")
	}
	return p.from.Format("2 January") + " – " + p.to.AddDate(0, 0, -1).Format("2 January 2006")
}

// digestMessage renders d as a multipart text and HTML mail to u.
func (s *Service) digestMessage(u digestUser, p digestPeriod, d *digest) (mailer.Message, error) {
	subject := fmt.Sprintf("Faultline %s digest, %s: %d new, %d regressed, %d events", p.kind, d.Period, d.NewCount, d.RegCount, d.Events)
	data := struct {
		*digest
		Name, DashboardURL, SettingsURL string
	}{d, u.name, strings.TrimRight(s.opt.PublicURL, "/") + "/", strings.TrimRight(s.opt.PublicURL, "/") + "/settings/account/"}
	var text, html bytes.Buffer
	if err := digestText.Execute(&text, data); err != nil {
		return mailer.Message{}, fmt.Errorf("digest text: %w", err)
	}
	if err := digestHTML.Execute(&html, data); err != nil {
		return mailer.Message{}, fmt.Errorf("digest html: %w", err)
	}
	return mailer.Message{To: u.email, Subject: subject, Text: text.String(), HTML: html.String(),
		Headers: map[string]string{"X-Faultline-Digest": p.kind + " " + p.from.Format(time.DateOnly)}}, nil
}

var digestText = texttemplate.Must(texttemplate.New("text").Parse(`Your {{.Kind}} Faultline digest for {{.Period}}.

{{.Events}} events{{range .Projects}}
  {{.Org}}/{{.Slug}}: {{.Events}}{{end}}

New issues: {{.NewCount}}{{range .New}}
  {{.Title}} ({{.Org}}/{{.Slug}}, {{.TimesSeen}} events)
  {{.URL}}{{end}}

Regressions: {{.RegCount}}{{range .Regressed}}
  {{.Title}} ({{.Org}}/{{.Slug}}, {{.TimesSeen}} events)
  {{.URL}}{{end}}
{{if .Busiest}}
Busiest issues:{{range .Busiest}}
  {{.Events}} events: {{.Title}} ({{.Org}}/{{.Slug}})
  {{.URL}}{{end}}
{{end}}
Dashboard: {{.DashboardURL}}
Change or stop these mails: {{.SettingsURL}}
`))

var digestHTML = htmltemplate.Must(htmltemplate.New("html").Parse(`<!doctype html>
<html><body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1d1d1f;max-width:640px">
<h2 style="margin-bottom:4px">Your {{.Kind}} Faultline digest</h2>
<p style="color:#666;margin-top:0">{{.Period}}</p>
<p><strong>{{.Events}}</strong> events, <strong>{{.NewCount}}</strong> new issues, <strong>{{.RegCount}}</strong> regressions.</p>
{{if .Projects}}<table style="border-collapse:collapse">{{range .Projects}}
<tr><td style="padding:2px 12px 2px 0">{{.Org}}/{{.Slug}}</td><td style="text-align:right">{{.Events}}</td></tr>{{end}}
</table>{{end}}
{{if .Busiest}}<h3>Busiest issues</h3>{{range .Busiest}}
<p style="margin-bottom:2px"><a href="{{.URL}}">{{.Title}}</a> <span style="color:#666">{{.Org}}/{{.Slug}}, {{.Events}} events</span></p>
<table role="img" aria-label="events over the period" style="border-collapse:collapse;height:42px"><tr>{{range .Bars}}<td title="{{.Label}}: {{.Count}}" style="vertical-align:bottom;padding:0 1px"><div style="width:8px;height:{{.Height}}px;background:#6c5fc7"></div></td>{{end}}</tr></table>{{end}}{{end}}
{{if .New}}<h3>New issues</h3><ul>{{range .New}}
<li><a href="{{.URL}}">{{.Title}}</a> <span style="color:#666">{{.Org}}/{{.Slug}}, {{.TimesSeen}} events</span></li>{{end}}</ul>{{end}}
{{if .Regressed}}<h3>Regressions</h3><ul>{{range .Regressed}}
<li><a href="{{.URL}}">{{.Title}}</a> <span style="color:#666">{{.Org}}/{{.Slug}}, {{.TimesSeen}} events</span></li>{{end}}</ul>{{end}}
<p style="color:#666;font-size:small"><a href="{{.DashboardURL}}">Open Faultline</a> · <a href="{{.SettingsURL}}">change or stop these mails</a></p>
</body></html>
`))
