package alerting

import (
	"bytes"
	"context"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"net/url"
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
// projection (read-only); alerting.digests makes each mail go out once
// whatever the replicas.

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
	sent := 0
	for _, u := range users {
		loc, err := time.LoadLocation(u.timezone)
		if err != nil {
			loc = time.UTC
		}
		for _, p := range duePeriods(u.daily, u.weekly, u.hour, loc, now) {
			ok, err := s.sendDigest(ctx, u, p)
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
// replica (or an earlier tick) has it, or the period was quiet.
func (s *Service) sendDigest(ctx context.Context, u digestUser, p digestPeriod) (bool, error) {
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
	d, err := s.digestOf(ctx, u.id, p)
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
	ID        int64
	Org, Slug string // project
	Title     string
	Events    int64 // in the period
	TimesSeen int64 // in all
	URL       string
	Bars      []digestBar
}

type digestBar struct {
	Label  string
	Count  int64
	Height int // pixels
}

// digestOf reads the period's numbers for the projects of u's
// organisations.
func (s *Service) digestOf(ctx context.Context, userID int64, p digestPeriod) (*digest, error) {
	d := &digest{Kind: p.kind, Period: periodText(p)}
	rows, err := s.pool.Query(ctx, `SELECT p.id, o.slug, p.slug FROM api.projects p
		JOIN api.organizations o ON o.id = p.organization_id
		JOIN api.members m ON m.organization_id = o.id AND m.user_id = $1 ORDER BY o.slug, p.slug`, userID)
	if err != nil {
		return nil, fmt.Errorf("digest projects: %w", err)
	}
	type proj struct{ org, slug string }
	projects := map[int64]proj{}
	var ids []int64
	for rows.Next() {
		var id int64
		var pr proj
		if err := rows.Scan(&id, &pr.org, &pr.slug); err != nil {
			rows.Close()
			return nil, fmt.Errorf("digest projects: %w", err)
		}
		projects[id] = pr
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("digest projects: %w", err)
	}
	if len(ids) == 0 {
		return d, nil
	}
	link := func(org string, id int64) string {
		return strings.TrimRight(s.opt.PublicURL, "/") + "/organizations/" + url.PathEscape(org) + "/issues/" + strconv.FormatInt(id, 10) + "/"
	}
	issueRows := func(sql string, args ...any) ([]digestIssue, error) {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (digestIssue, error) {
			var is digestIssue
			var project int64
			if err := r.Scan(&is.ID, &project, &is.Title, &is.TimesSeen, &is.Events); err != nil {
				return is, err
			}
			pr := projects[project]
			is.Org, is.Slug, is.URL = pr.org, pr.slug, link(pr.org, is.ID)
			return is, nil
		})
	}

	// Events per project.
	rows, err = s.pool.Query(ctx, `SELECT project_id, count(*) FROM grouping.events
		WHERE project_id = ANY($1) AND received >= $2 AND received < $3 GROUP BY 1`, ids, p.from, p.to)
	if err != nil {
		return nil, fmt.Errorf("digest events: %w", err)
	}
	perProject := map[int64]int64{}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("digest events: %w", err)
		}
		perProject[id] = n
		d.Events += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("digest events: %w", err)
	}
	for _, id := range ids {
		if n := perProject[id]; n > 0 {
			d.Projects = append(d.Projects, digestProject{Org: projects[id].org, Slug: projects[id].slug, Events: n})
		}
	}

	// New and regressed issues.
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE first_seen >= $2 AND first_seen < $3),
			count(*) FILTER (WHERE substatus = 'regressed' AND status_changed_at >= $2 AND status_changed_at < $3)
		FROM grouping.issues WHERE project_id = ANY($1)`, ids, p.from, p.to).Scan(&d.NewCount, &d.RegCount); err != nil {
		return nil, fmt.Errorf("digest issues: %w", err)
	}
	if d.New, err = issueRows(`SELECT id, project_id, title, times_seen, 0 FROM grouping.issues
		WHERE project_id = ANY($1) AND first_seen >= $2 AND first_seen < $3 ORDER BY times_seen DESC, id LIMIT $4`,
		ids, p.from, p.to, digestList); err != nil {
		return nil, fmt.Errorf("digest new issues: %w", err)
	}
	if d.Regressed, err = issueRows(`SELECT id, project_id, title, times_seen, 0 FROM grouping.issues
		WHERE project_id = ANY($1) AND substatus = 'regressed' AND status_changed_at >= $2 AND status_changed_at < $3
		ORDER BY times_seen DESC, id LIMIT $4`, ids, p.from, p.to, digestList); err != nil {
		return nil, fmt.Errorf("digest regressions: %w", err)
	}

	// The busiest issues, with their events per bucket.
	if d.Busiest, err = issueRows(`SELECT i.id, i.project_id, i.title, i.times_seen, b.n
		FROM (SELECT issue_id, count(*) AS n FROM grouping.events
			WHERE project_id = ANY($1) AND received >= $2 AND received < $3 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $4) b
		JOIN grouping.issues i ON i.id = b.issue_id ORDER BY b.n DESC, i.id`, ids, p.from, p.to, digestTop); err != nil {
		return nil, fmt.Errorf("digest busiest issues: %w", err)
	}
	if len(d.Busiest) > 0 {
		if err := s.digestBars(ctx, d.Busiest, p); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// digestBars fills each busy issue's bars: its events per bucket of the
// period, as heights out of 40 pixels.
func (s *Service) digestBars(ctx context.Context, issues []digestIssue, p digestPeriod) error {
	n := int(p.to.Sub(p.from) / p.bucket)
	counts := map[int64][]int64{}
	var ids []int64
	for _, is := range issues {
		ids = append(ids, is.ID)
		counts[is.ID] = make([]int64, n)
	}
	rows, err := s.pool.Query(ctx, `SELECT issue_id, floor(extract(epoch FROM received - $2) / $4)::int, count(*)
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
