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
	msg, err := m.Parse()
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if !strings.Contains(subject, "daily digest, Friday 4 December 2026: 1 new, 1 regressed, 33 events") {
		t.Errorf("subject %q", subject)
	}
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
