package alerting

import (
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/mailer"
	"github.com/faultline/faultline/libs/mailer/smtptest"
	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/services/grouping"
)

func TestDuePeriods(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", s, paris)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		now        string
		daily      string // period start, local
		weekly     string
		weeklyDays int
	}{
		// Saturday 5 December 2026, before and after 8:00.
		{now: "2026-12-05 07:59", daily: "2026-12-03", weekly: "2026-11-23"},
		{now: "2026-12-05 08:00", daily: "2026-12-04", weekly: "2026-11-23"},
		// Monday 7 December: last week's is due from 8:00.
		{now: "2026-12-07 07:00", daily: "2026-12-05", weekly: "2026-11-23"},
		{now: "2026-12-07 08:30", daily: "2026-12-06", weekly: "2026-11-30"},
	} {
		got := duePeriods(true, true, 8, paris, at(tc.now))
		if len(got) != 2 {
			t.Fatalf("%s: %d periods", tc.now, len(got))
		}
		d, w := got[0], got[1]
		if d.from.Format(time.DateOnly) != tc.daily || d.to.Sub(d.from) != 24*time.Hour || d.from.Location() != paris {
			t.Errorf("%s: daily %v – %v, want from %s", tc.now, d.from, d.to, tc.daily)
		}
		if w.from.Format(time.DateOnly) != tc.weekly || w.to.Sub(w.from) != 7*24*time.Hour || w.from.Weekday() != time.Monday {
			t.Errorf("%s: weekly %v – %v, want from %s", tc.now, w.from, w.to, tc.weekly)
		}
	}
	// 29 March 2026, the clocks go forward in Paris: the day has 23 hours.
	d := duePeriods(true, false, 8, paris, at("2026-03-30 09:00"))[0]
	if d.to.Sub(d.from) != 23*time.Hour {
		t.Errorf("the day of the change: %v", d.to.Sub(d.from))
	}
	if got := duePeriods(false, false, 8, paris, at("2026-03-30 09:00")); len(got) != 0 {
		t.Errorf("no digests asked for: %v", got)
	}
}

// TestDigestMail: a user who asked for a daily digest at 8:00 Paris time
// gets one mail for yesterday, whatever the replicas, through a real SMTP
// server: text and HTML parts, the busiest issue with its bars, new and
// regressed issues linked into the dashboard, titles escaped, and nothing
// of an organisation they are not in.
func TestDigestMail(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewT(t, apiMigrations, Migrations, grouping.Migrations)
	srv := smtptest.Start(t)
	fix := `INSERT INTO api.organizations (slug, name) VALUES ('acme', 'Acme'), ('rival', 'Rival');
		INSERT INTO api.projects (organization_id, slug, name) VALUES (1, 'backend', 'Backend'), (2, 'vault', 'Vault');
		INSERT INTO api.users (email, name, password_hash) VALUES ('dev@example.com', 'Dev', 'x'), ('other@example.com', 'Other', 'x');
		INSERT INTO api.members (organization_id, user_id, role) VALUES (1, 1, 'member'), (2, 2, 'owner');
		INSERT INTO api.notification_settings (user_id, daily_digest, digest_hour, timezone) VALUES (1, true, 8, 'Europe/Paris');
		CREATE TABLE grouping.events_all PARTITION OF grouping.events DEFAULT;
		INSERT INTO grouping.issues (id, project_id, primary_hash, grouping_config, type, title, culprit, level, platform,
			first_seen, last_seen, times_seen, status, substatus, status_changed_at, last_event_id, users_hll) OVERRIDING SYSTEM VALUE VALUES
		(10, 1, 'h10', 'c', 'error', 'ZeroDivisionError: <script>alert(1)</script>', '', 'error', 'python',
			'2026-12-04 09:00Z', '2026-12-04 20:00Z', 30, 'unresolved', 'new', '2026-12-04 09:00Z', gen_random_uuid(), ''),
		(11, 1, 'h11', 'c', 'error', 'KeyError: old', '', 'error', 'python',
			'2026-11-01 09:00Z', '2026-12-04 12:00Z', 500, 'unresolved', 'regressed', '2026-12-04 12:00Z', gen_random_uuid(), ''),
		(12, 1, 'h12', 'c', 'error', 'TypeError: quiet', '', 'error', 'python',
			'2026-11-01 09:00Z', '2026-11-02 12:00Z', 7, 'unresolved', 'ongoing', '2026-11-01 09:00Z', gen_random_uuid(), ''),
		(20, 2, 'h20', 'c', 'error', 'SecretError: rival', '', 'error', 'python',
			'2026-12-04 09:00Z', '2026-12-04 20:00Z', 50, 'unresolved', 'new', '2026-12-04 09:00Z', gen_random_uuid(), '');
		INSERT INTO grouping.events (project_id, issue_id, event_id, received, ts, type, level, title, hashes, data)
		SELECT 1, 10, gen_random_uuid(), '2026-12-04 09:00Z'::timestamptz + (g % 3) * interval '1 hour', now(), 'error', 'error', 't', '{h10}'::text[], ''::bytea
			FROM generate_series(1, 30) g
		UNION ALL SELECT 1, 11, gen_random_uuid(), '2026-12-04 12:00Z', now(), 'error', 'error', 't', '{h11}'::text[], ''::bytea FROM generate_series(1, 3)
		UNION ALL SELECT 1, 12, gen_random_uuid(), '2026-12-05 07:00Z', now(), 'error', 'error', 't', '{h12}'::text[], ''::bytea FROM generate_series(1, 4)
		UNION ALL SELECT 2, 20, gen_random_uuid(), '2026-12-04 10:00Z', now(), 'error', 'error', 't', '{h20}'::text[], ''::bytea FROM generate_series(1, 50)`
	if _, err := db.Pool.Exec(ctx, fix); err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	opt := DefaultOptions()
	opt.PublicURL = "https://faultline.example.com"
	opt.MailTLS = mailer.New(config.SMTPConfig{Host: srv.Host, Port: srv.Port, From: "digests@faultline.test", TLS: "none"})
	replica := func() *Service {
		s, err := New(db.Pool, nil, opt, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := replica(), replica()

	// Before 8:00 only Thursday's is due, and Thursday was quiet.
	if n, err := a.SendDueDigests(ctx, time.Date(2026, 12, 5, 7, 59, 0, 0, paris)); err != nil || n != 0 {
		t.Fatalf("before the hour: %d mails, %v", n, err)
	}
	// At 8:30, two replicas at once: one mail.
	at := time.Date(2026, 12, 5, 8, 30, 0, 0, paris)
	var wg sync.WaitGroup
	sent := make([]int, 2)
	for i, s := range []*Service{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := s.SendDueDigests(ctx, at)
			if err != nil {
				t.Error(err)
			}
			sent[i] = n
		}()
	}
	wg.Wait()
	if sent[0]+sent[1] != 1 {
		t.Fatalf("two replicas sent %v mails, want one in all", sent)
	}
	if n, _ := a.SendDueDigests(ctx, at.Add(time.Hour)); n != 0 {
		t.Fatalf("an hour later: %d more mails", n)
	}
	mails := srv.Wait(1, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	if got := len(srv.Mail()); got != 1 {
		t.Fatalf("%d mails received, want 1", got)
	}
	m := mails[0]
	if len(m.To) != 1 || m.To[0] != "dev@example.com" {
		t.Errorf("to %v", m.To)
	}
	subject, parts := mailParts(t, m)
	if !strings.Contains(subject, "daily digest, Friday 4 December 2026: 1 new, 1 regressed, 33 events") {
		t.Errorf("subject %q", subject)
	}
	text, html := parts["text/plain"], parts["text/html"]
	for _, want := range []string{"33 events", "acme/backend: 33", "https://faultline.example.com/organizations/acme/issues/10/",
		"KeyError: old", "https://faultline.example.com/organizations/acme/issues/11/", "30 events: ZeroDivisionError"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{`href="https://faultline.example.com/organizations/acme/issues/10/"`, "ZeroDivisionError: &lt;script&gt;",
		"height:40px", `title="10:00: 10"`} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, html)
		}
	}
	for name, part := range parts {
		for _, leak := range []string{"SecretError", "vault", "TypeError: quiet"} {
			if strings.Contains(part, leak) {
				t.Errorf("%s part holds %q", name, leak)
			}
		}
	}
	if strings.Contains(html, "<script>") {
		t.Error("the HTML part holds an unescaped title")
	}
	var recorded int64
	if err := db.Pool.QueryRow(ctx, `SELECT events FROM alerting.digests WHERE user_id = 1 AND period_start = '2026-12-04' AND sent_at IS NOT NULL`).Scan(&recorded); err != nil || recorded != 33 {
		t.Errorf("recorded digest: %d %v", recorded, err)
	}
}

// TestDigestComputedOncePerProject: several users get their daily digests
// through a real SMTP server, from two replicas at once. Each project's
// content is computed once per period, whoever and however many read it
// (the users of one time zone share a period whatever their hour; another
// zone's day is another period), and each mail holds the projects of its
// user's organisations only.
func TestDigestComputedOncePerProject(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewT(t, apiMigrations, Migrations, grouping.Migrations)
	srv := smtptest.Start(t)
	fix := `INSERT INTO api.organizations (slug, name) VALUES ('acme', 'Acme'), ('rival', 'Rival');
		INSERT INTO api.projects (organization_id, slug, name) VALUES (1, 'backend', 'Backend'), (2, 'vault', 'Vault'), (1, 'frontend', 'Frontend');
		INSERT INTO api.users (email, name, password_hash) VALUES ('dev@example.com', 'Dev', 'x'), ('ops@example.com', 'Ops', 'x'),
			('other@example.com', 'Other', 'x'), ('tokyo@example.com', 'Tokyo', 'x'), ('quiet@example.com', 'Quiet', 'x');
		INSERT INTO api.members (organization_id, user_id, role) VALUES (1, 1, 'member'), (1, 2, 'member'), (2, 3, 'owner'), (1, 4, 'member'), (1, 5, 'member');
		INSERT INTO api.notification_settings (user_id, daily_digest, digest_hour, timezone) VALUES
			(1, true, 8, 'Europe/Paris'), (2, true, 9, 'Europe/Paris'), (3, true, 8, 'Europe/Paris'), (4, true, 8, 'Asia/Tokyo'), (5, false, 8, 'Europe/Paris');
		CREATE TABLE grouping.events_all PARTITION OF grouping.events DEFAULT;
		INSERT INTO grouping.issues (id, project_id, primary_hash, grouping_config, type, title, culprit, level, platform,
			first_seen, last_seen, times_seen, status, substatus, status_changed_at, last_event_id, users_hll) OVERRIDING SYSTEM VALUE VALUES
		(10, 1, 'h10', 'c', 'error', 'BackendError: db', '', 'error', 'go',
			'2026-12-04 09:00Z', '2026-12-04 20:00Z', 12, 'unresolved', 'new', '2026-12-04 09:00Z', gen_random_uuid(), ''),
		(30, 3, 'h30', 'c', 'error', 'FrontendError: click', '', 'error', 'javascript',
			'2026-12-04 10:00Z', '2026-12-04 20:00Z', 7, 'unresolved', 'new', '2026-12-04 10:00Z', gen_random_uuid(), ''),
		(20, 2, 'h20', 'c', 'error', 'SecretError: rival', '', 'error', 'python',
			'2026-12-04 09:00Z', '2026-12-04 20:00Z', 5, 'unresolved', 'new', '2026-12-04 09:00Z', gen_random_uuid(), '');
		INSERT INTO grouping.events (project_id, issue_id, event_id, received, ts, type, level, title, hashes, data)
		SELECT 1, 10, gen_random_uuid(), '2026-12-04 09:00Z'::timestamptz, now(), 'error', 'error', 't', '{h10}'::text[], ''::bytea FROM generate_series(1, 12)
		UNION ALL SELECT 3, 30, gen_random_uuid(), '2026-12-04 10:00Z', now(), 'error', 'error', 't', '{h30}'::text[], ''::bytea FROM generate_series(1, 7)
		UNION ALL SELECT 2, 20, gen_random_uuid(), '2026-12-04 10:00Z', now(), 'error', 'error', 't', '{h20}'::text[], ''::bytea FROM generate_series(1, 5)`
	if _, err := db.Pool.Exec(ctx, fix); err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	opt := DefaultOptions()
	opt.PublicURL = "https://faultline.example.com"
	opt.MailTLS = mailer.New(config.SMTPConfig{Host: srv.Host, Port: srv.Port, From: "digests@faultline.test", TLS: "none"})
	replica := func() *Service {
		s, err := New(db.Pool, nil, opt, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := replica(), replica()
	computed := func() float64 {
		var n float64
		for _, s := range []*Service{a, b} {
			var m dto.Metric
			if err := s.m.digestProjects.Write(&m); err != nil {
				t.Fatal(err)
			}
			n += m.GetCounter().GetValue()
		}
		return n
	}

	// 8:30 in Paris (16:30 in Tokyo): Dev's, Other's and Tokyo's Friday
	// are due; Ops's (9:00) is not yet, but Ops's quiet Thursday still is.
	sendBoth := func(at time.Time) int {
		var wg sync.WaitGroup
		sent := make([]int, 2)
		for i, s := range []*Service{a, b} {
			wg.Go(func() {
				n, err := s.SendDueDigests(ctx, at)
				if err != nil {
					t.Error(err)
				}
				sent[i] = n
			})
		}
		wg.Wait()
		return sent[0] + sent[1]
	}
	if n := sendBoth(time.Date(2026, 12, 5, 8, 30, 0, 0, paris)); n != 3 {
		t.Fatalf("at 8:30: %d mails, want 3", n)
	}
	// Paris's Friday: backend, frontend, vault; Paris's Thursday and
	// Tokyo's Friday: backend, frontend.
	if got := computed(); got != 7 {
		t.Errorf("%v project contents computed, want 7 (one per project and period)", got)
	}
	if n := sendBoth(time.Date(2026, 12, 5, 9, 30, 0, 0, paris)); n != 1 {
		t.Fatalf("at 9:30: %d mails, want 1 (Ops's)", n)
	}
	if got := computed(); got != 7 {
		t.Errorf("Ops's digest computed projects again: %v computed in all, want 7", got)
	}
	var stored int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM alerting.digest_projects`).Scan(&stored); err != nil || stored != 7 {
		t.Errorf("%d contents stored (%v), want 7", stored, err)
	}

	srv.Wait(4, 5*time.Second)
	byTo := map[string]string{}
	for _, m := range srv.Mail() {
		if len(m.To) != 1 || byTo[m.To[0]] != "" {
			t.Fatalf("mail to %v (twice?)", m.To)
		}
		subject, parts := mailParts(t, m)
		byTo[m.To[0]] = subject + "\n" + parts["text/plain"]
	}
	if len(byTo) != 4 {
		t.Fatalf("mails to %v, want Dev, Ops, Other and Tokyo", len(byTo))
	}
	for _, to := range []string{"dev@example.com", "ops@example.com"} {
		mail := byTo[to]
		for _, want := range []string{"2 new, 0 regressed, 19 events", "acme/backend: 12", "acme/frontend: 7", "BackendError: db", "FrontendError: click",
			"https://faultline.example.com/organizations/acme/issues/30/"} {
			if !strings.Contains(mail, want) {
				t.Errorf("%s's mail lacks %q:\n%s", to, want, mail)
			}
		}
		if strings.Contains(mail, "SecretError") || strings.Contains(mail, "vault") {
			t.Errorf("%s's mail holds the rival organisation's project", to)
		}
	}
	if other := byTo["other@example.com"]; !strings.Contains(other, "1 new, 0 regressed, 5 events") || !strings.Contains(other, "rival/vault: 5") ||
		strings.Contains(other, "BackendError") {
		t.Errorf("Other's mail:\n%s", other)
	}
	// Tokyo's Friday 4 December ended at 15:00 UTC: every event above is in it.
	if tokyo := byTo["tokyo@example.com"]; !strings.Contains(tokyo, "Friday 4 December 2026: 2 new, 0 regressed, 19 events") {
		t.Errorf("Tokyo's mail:\n%s", tokyo)
	}
}

// mailParts reads m's subject and its parts by content type.
func mailParts(t *testing.T, m smtptest.Mail) (string, map[string]string) {
	t.Helper()
	msg, err := m.Parse()
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q %v", mt, err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p) // multipart's reader undoes quoted-printable
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	return subject, parts
}
