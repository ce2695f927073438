package monitors

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/faultline/faultline/streams"
)

func TestParseCheckIn(t *testing.T) {
	ci, err := ParseCheckIn([]byte(`{"check_in_id":"83A7C03E-D0A0-4E1B-97E2-E3B18D38F244","monitor_slug":"Nightly Backup!",
		"status":"in_progress","environment":"production","duration":2.5,
		"monitor_config":{"schedule":{"type":"interval","value":10,"unit":"minute"},"checkin_margin":5,"timezone":"Europe/Paris"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ci.ID != "83a7c03ed0a04e1b97e2e3b18d38f244" || ci.Slug != "nightly-backup" || ci.Status != StatusInProgress ||
		*ci.Duration != 2.5 || ci.Environment != "production" {
		t.Errorf("check-in: %+v", ci)
	}
	want := streams.MonitorConfig{ScheduleType: "interval", Interval: 10, Unit: "minute", Margin: 5, MaxRuntime: 30,
		Timezone: "Europe/Paris", FailureAfter: 1, RecoverAfter: 1}
	if *ci.Config != want {
		t.Errorf("config: %+v, want %+v", *ci.Config, want)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"monitor_slug":"a","status":"done"}`, "status"},
		{`{"monitor_slug":"!!!","status":"ok"}`, "monitor_slug"},
		{`{"monitor_slug":"a","status":"ok","check_in_id":"xyz"}`, "check_in_id"},
		{`{"monitor_slug":"a","status":"ok","duration":-1}`, "duration"},
		{`{"monitor_slug":"a","status":"ok","monitor_config":{"schedule":{"type":"crontab","value":"61 * * * *"}}}`, "schedule"},
		{`{"monitor_slug":"a","status":"ok","monitor_config":{"schedule":{"type":"crontab","value":5}}}`, "schedule"},
		{`{"monitor_slug":"a","status":"ok","monitor_config":{"schedule":{"type":"crontab","value":"@every 1s"}}}`, "schedule"},
		{`{"monitor_slug":"a","status":"ok","monitor_config":{"schedule":{"type":"hourly"}}}`, "schedule_type"},
		{`{"monitor_slug":"a","status":"ok","monitor_config":{"schedule":{"type":"interval","value":1,"unit":"minute"},"timezone":"/etc/passwd"}}`, "timezone"},
	} {
		_, err := ParseCheckIn([]byte(tc.body))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: %v, want an error about %s", tc.body, err, tc.field)
		}
	}
	if _, err := ParseCheckIn([]byte(`[1]`)); err == nil {
		t.Error("an array was accepted")
	}
}

func TestNext(t *testing.T) {
	at := time.Date(2026, 1, 31, 10, 17, 0, 0, time.UTC)
	for _, tc := range []struct {
		cfg  streams.MonitorConfig
		want time.Time
	}{
		{streams.MonitorConfig{ScheduleType: "crontab", Crontab: "0 * * * *"}, time.Date(2026, 1, 31, 11, 0, 0, 0, time.UTC)},
		{streams.MonitorConfig{ScheduleType: "crontab", Crontab: "@daily"}, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		// 3:00 in Paris is 2:00 UTC in winter.
		{streams.MonitorConfig{ScheduleType: "crontab", Crontab: "0 3 * * *", Timezone: "Europe/Paris"}, time.Date(2026, 2, 1, 2, 0, 0, 0, time.UTC)},
		{streams.MonitorConfig{ScheduleType: "interval", Interval: 10, Unit: "minute"}, at.Add(10 * time.Minute)},
		{streams.MonitorConfig{ScheduleType: "interval", Interval: 2, Unit: "week"}, at.AddDate(0, 0, 14)},
		{streams.MonitorConfig{ScheduleType: "interval", Interval: 1, Unit: "month"}, at.AddDate(0, 1, 0)},
	} {
		if got := Next(&tc.cfg, at); !got.Equal(tc.want) {
			t.Errorf("%+v: next %v, want %v", tc.cfg, got, tc.want)
		}
	}
}

// FuzzParseCheckIn: any payload is a check-in or an error, never a panic;
// an accepted one has a valid configuration whose next check-in is later.
func FuzzParseCheckIn(f *testing.F) {
	for _, s := range []string{
		`{"monitor_slug":"a","status":"ok"}`,
		`{"check_in_id":"83a7c03ed0a04e1b97e2e3b18d38f244","monitor_slug":"job","status":"in_progress","duration":1,
			"monitor_config":{"schedule":{"type":"crontab","value":"*/5 * * * *"},"timezone":"America/New_York","max_runtime":3}}`,
		`{"monitor_slug":"b","status":"error","monitor_config":{"schedule":{"type":"interval","value":3,"unit":"year"}}}`,
		`{"monitor_slug":"c","status":"ok","monitor_config":{"schedule":{"type":"crontab","value":"@every 1s"}}}`,
		`{"monitor_slug":"c","status":"ok","monitor_config":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ci, err := ParseCheckIn(b)
		if err != nil {
			return
		}
		if ci.Slug == "" || len(ci.Slug) > MaxSlug {
			t.Fatalf("slug %q accepted", ci.Slug)
		}
		if ci.Config != nil {
			if err := Validate(ci.Config); err != nil {
				t.Fatalf("accepted an invalid configuration: %v", err)
			}
			at := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
			if n := Next(ci.Config, at); !n.IsZero() && !n.After(at) {
				t.Fatalf("next check-in %v is not after %v", n, at)
			}
			if _, err := json.Marshal(ci.Config); err != nil {
				t.Fatal(err)
			}
		}
	})
}
