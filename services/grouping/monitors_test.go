package grouping

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestMonitorClockWithTwoReplicas: two replicas share the check-ins and the
// clock; a check-in delivered twice is recorded once, and each missed slot
// is one missed check-in and one event of the monitor's issue, however many
// replicas look for it.
func TestMonitorClockWithTwoReplicas(t *testing.T) {
	e := newEnv(t)
	var skew atomic.Int64
	opt := testOptions()
	opt.MonitorTick = 20 * time.Millisecond
	opt.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	e.start(e.pool, opt)
	e.start(e.pool, opt)
	const project = 41
	checkIn := func(id, status string) {
		payload, _ := json.Marshal(map[string]any{"check_in_id": id, "monitor_slug": "sync", "status": status,
			"monitor_config": map[string]any{"schedule": map[string]any{"type": "interval", "value": 10, "unit": "minute"}, "checkin_margin": 1}})
		// Two messages: as if the gateway's publish was retried past the
		// stream's duplicate window.
		for range 2 {
			e.publish(ingestMsg(project, "check_in", "", envelopeOf(newEventID(), "check_in", payload), time.Now()))
		}
	}
	id := newEventID()
	checkIn(id, "in_progress")
	checkIn(id, "ok")
	waitFor(t, "the ok check-in", func() (bool, string) {
		n := count(t, e.pool, `SELECT count(*) FROM grouping.monitor_checkins WHERE status = 'ok'`)
		return n == 1, fmt.Sprint(n)
	})
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.monitor_checkins`); n != 1 {
		t.Errorf("check-ins: %d, want the one check-in", n)
	}

	// 35 minutes on, the slots at 10, 20 and 30 minutes were missed.
	skew.Store(int64(35*time.Minute + 30*time.Second))
	waitFor(t, "three missed check-ins and their events", func() (bool, string) {
		missed := count(t, e.pool, `SELECT count(*) FROM grouping.monitor_checkins WHERE status = 'missed'`)
		seen := count(t, e.pool, `SELECT coalesce(sum(times_seen), 0) FROM grouping.issues i JOIN grouping.issue_hashes h ON h.issue_id = i.id
			WHERE h.project_id = $1 AND h.hash = $2`, project, MonitorIssueHash("sync"))
		return missed == 3 && seen == 3, fmt.Sprintf("%d missed, %d events", missed, seen)
	})
	time.Sleep(300 * time.Millisecond) // many more ticks of both replicas
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.monitor_checkins WHERE status = 'missed'`); n != 3 {
		t.Errorf("missed check-ins: %d, want 3", n)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.events e JOIN grouping.issue_hashes h ON h.issue_id = e.issue_id
		WHERE h.hash = $1`, MonitorIssueHash("sync")); n != 3 {
		t.Errorf("failure events: %d, want 3", n)
	}
	var title, last string
	if err := e.pool.QueryRow(t.Context(), `SELECT i.title, m.last_status FROM grouping.issues i, grouping.monitors m
		WHERE i.project_id = $1 AND m.slug = 'sync'`, project).Scan(&title, &last); err != nil {
		t.Fatal(err)
	}
	if title != "Cron failure: Monitor sync missed a check-in" || last != "missed" {
		t.Errorf("issue %q, monitor's last status %q", title, last)
	}
}
