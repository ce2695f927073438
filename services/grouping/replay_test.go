package grouping

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline/faultline/streams"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
)

// TestReplayAfterRuleChange changes a project's fingerprint rule, replays
// while the live replica keeps running, and checks that the issues equal
// those a fresh ingest of the same events with the rule produces, that a
// user's decision survives, that nothing is announced again, and that the
// live replica continues on the new generation.
func TestReplayAfterRuleChange(t *testing.T) {
	const n = 400
	const rule = "error.type:TimeoutError -> timeouts"
	msgs := workload(n, 99)
	ctx := context.Background()

	e := newEnv(t)
	e.start(e.pool, testOptions())
	e.publish(msgs...)
	e.waitEvents(e.pool, n)
	if got := len(issues(t, e.pool)); got != 25 {
		t.Fatalf("issues before the rule: got %d, want 25", got)
	}
	var resolved int64
	var hash string
	if err := e.pool.QueryRow(ctx, `SELECT id, primary_hash FROM grouping.issues WHERE title LIKE 'KeyError%' ORDER BY primary_hash LIMIT 1`).
		Scan(&resolved, &hash); err != nil {
		t.Fatal(err)
	}
	if err := Resolve(ctx, e.pool, resolved, false); err != nil {
		t.Fatal(err)
	}
	if err := Assign(ctx, e.pool, resolved, "user:alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `INSERT INTO grouping.project_rules (project_id, fingerprint_rules) VALUES (5, $1)`, rule); err != nil {
		t.Fatal(err)
	}

	var progress bytes.Buffer
	if err := Replay(ctx, e.pool, e.nc, ReplayOptions{Progress: &progress, Service: testOptions()}, testLog); err != nil {
		t.Fatalf("replay: %v\n%s", err, progress.String())
	}
	if !strings.Contains(progress.String(), "replay: switched") || !strings.Contains(progress.String(), "envelopes left") {
		t.Errorf("progress output:\n%s", progress.String())
	}

	fresh := newEnv(t)
	if _, err := fresh.pool.Exec(ctx, `INSERT INTO grouping.project_rules (project_id, fingerprint_rules) VALUES (5, $1)`, rule); err != nil {
		t.Fatal(err)
	}
	fresh.publish(msgs...)
	fresh.start(fresh.pool, testOptions())
	fresh.waitEvents(fresh.pool, n)

	strip := func(m map[string]any) map[string]any {
		var out []map[string]any
		for _, r := range m["issues"].([]map[string]any) {
			c := map[string]any{}
			for k, v := range r {
				if k != "status" && k != "substatus" {
					c[k] = v
				}
			}
			out = append(out, c)
		}
		m["issues"] = out
		return m
	}
	a, b := strip(snapshot(t, e.pool)), strip(snapshot(t, fresh.pool))
	for _, k := range []string{"issues", "hashes", "tags", "events"} {
		if !reflect.DeepEqual(a[k], b[k]) {
			t.Errorf("%s differ between the replay and a fresh ingest:\nreplay: %.1500v\n fresh: %.1500v", k, a[k], b[k])
		}
	}
	if got := len(a["issues"].([]map[string]any)); got != 21 {
		t.Errorf("issues after the rule: got %d, want 21 (the 5 TimeoutError issues merged)", got)
	}
	var status, assignee string
	if err := e.pool.QueryRow(ctx, `SELECT status, assignee FROM grouping.issues WHERE primary_hash = $1`, hash).Scan(&status, &assignee); err != nil {
		t.Fatal(err)
	}
	if status != streams.StatusResolved || assignee != "user:alice" {
		t.Errorf("the resolved issue after the replay: got %s assigned to %q, want resolved and user:alice", status, assignee)
	}

	// The live replica goes on, on the new generation; only a new issue is
	// announced.
	e.publish(testEvent{excType: "BrandNewError", excValue: "x", function: "fresh"}.msg(5))
	e.waitEvents(e.pool, n+1)
	waitFor(t, "the new issue's announcement", func() (bool, string) {
		got := eventsSubjects(t, e.nc)
		return got["issues.5.created"] == 26 && got["events.5.grouped"] == n+1, fmt.Sprint(got)
	})
	if got := count(t, e.pool, `SELECT count(*) FROM grouping.issues WHERE title LIKE 'BrandNewError%'`); got != 1 {
		t.Errorf("new issue in the new generation: got %d, want 1", got)
	}
	if got := count(t, e.pool, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'grouping_old_%'`); got != 1 {
		t.Errorf("old generations kept: got %d, want 1", got)
	}
}

// TestReplayOneProject replays one project after a rule change; the other
// project's rows stay exactly as they were.
func TestReplayOneProject(t *testing.T) {
	const rule = "error.type:TimeoutError -> timeouts"
	five, six := projectWorkload(5, 300, 3), projectWorkload(6, 200, 4)
	ctx := context.Background()

	e := newEnv(t)
	e.start(e.pool, testOptions())
	e.publish(append(append([]*nats.Msg{}, five...), six...)...)
	e.waitEvents(e.pool, 500)
	var ignored int64
	if err := e.pool.QueryRow(ctx, `SELECT id FROM grouping.issues WHERE project_id = 5 AND title LIKE 'KeyError%' ORDER BY primary_hash LIMIT 1`).
		Scan(&ignored); err != nil {
		t.Fatal(err)
	}
	if err := Ignore(ctx, e.pool, ignored, streams.IgnoreUntil{Count: 1000}); err != nil {
		t.Fatal(err)
	}
	before6 := projectSnapshot(t, e.pool, 6)
	var ids6 []int64
	rows, _ := e.pool.Query(ctx, `SELECT id FROM grouping.issues WHERE project_id = 6 ORDER BY id`)
	ids6, _ = pgx.CollectRows(rows, pgx.RowTo[int64])
	if _, err := e.pool.Exec(ctx, `INSERT INTO grouping.project_rules (project_id, fingerprint_rules) VALUES (5, $1)`, rule); err != nil {
		t.Fatal(err)
	}

	var progress bytes.Buffer
	if err := Replay(ctx, e.pool, e.nc, ReplayOptions{Project: 5, Progress: &progress, Service: testOptions()}, testLog); err != nil {
		t.Fatalf("replay: %v\n%s", err, progress.String())
	}
	if !strings.Contains(progress.String(), "switched project 5") {
		t.Errorf("progress output:\n%s", progress.String())
	}

	fresh := newEnv(t)
	if _, err := fresh.pool.Exec(ctx, `INSERT INTO grouping.project_rules (project_id, fingerprint_rules) VALUES (5, $1)`, rule); err != nil {
		t.Fatal(err)
	}
	fresh.publish(five...)
	fresh.start(fresh.pool, testOptions())
	fresh.waitEvents(fresh.pool, 300)

	a, b := projectSnapshot(t, e.pool, 5), projectSnapshot(t, fresh.pool, 5)
	for _, r := range append(a["issues"].([]map[string]any), b["issues"].([]map[string]any)...) {
		delete(r, "status")
		delete(r, "substatus")
	}
	for _, k := range []string{"issues", "hashes", "tags", "events"} {
		if !reflect.DeepEqual(a[k], b[k]) {
			t.Errorf("project 5 %s differ between the replay and a fresh ingest:\nreplay: %.1500v\n fresh: %.1500v", k, a[k], b[k])
		}
	}
	if got := len(a["issues"].([]map[string]any)); got != 21 {
		t.Errorf("project 5 issues after the rule: got %d, want 21", got)
	}
	if after6 := projectSnapshot(t, e.pool, 6); !reflect.DeepEqual(before6, after6) {
		t.Error("project 6 changed in a replay of project 5")
	}
	rows, _ = e.pool.Query(ctx, `SELECT id FROM grouping.issues WHERE project_id = 6 ORDER BY id`)
	if got, _ := pgx.CollectRows(rows, pgx.RowTo[int64]); !reflect.DeepEqual(got, ids6) {
		t.Errorf("project 6 issue ids: got %v, want %v", got, ids6)
	}
	if got := count(t, e.pool, `SELECT count(*) FROM grouping.issues WHERE project_id = 5 AND status = 'ignored' AND ignore_until_count = 1000`); got != 1 {
		t.Errorf("ignored issues of project 5 after the replay: got %d, want 1", got)
	}
	if got := count(t, e.pool, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'grouping_%'`); got != 0 {
		t.Errorf("schemas left by a project replay: got %d, want 0", got)
	}
	// The live replica goes on.
	e.publish(testEvent{excType: "TimeoutError", excValue: "late", function: "handler0"}.msg(5))
	e.waitEvents(e.pool, 501)
	if got := count(t, e.pool, `SELECT count(*) FROM grouping.issues WHERE project_id = 5 AND title LIKE 'TimeoutError%'`); got != 1 {
		t.Errorf("TimeoutError issues after a new event: got %d, want the merged one only", got)
	}
}
