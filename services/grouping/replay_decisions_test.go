package grouping

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/streams"
)

// TestReplayKeepsDecisions resolves, ignores, assigns and merges issues and
// changes a fingerprint rule through DECISIONS in the middle of the
// stream, replays, and compares the projection with the one before, row
// by row: every decision holds, the rule splits the events on its two
// sides as it did live.
func TestReplayKeepsDecisions(t *testing.T) {
	const n = 300
	ctx := context.Background()
	e := newEnv(t)
	e.start(e.pool, testOptions())
	before := workload(n, 7)
	e.publish(before...)
	e.waitEvents(e.pool, n)

	pub := decide.New(e.nc.NC, e.nc.JS, 10*time.Second)
	ref := func(title string, nth int) streams.IssueRef {
		t.Helper()
		var r streams.IssueRef
		if err := e.pool.QueryRow(ctx, `SELECT i.id, array_agg(h.hash ORDER BY h.hash) FROM grouping.issues i
			JOIN grouping.issue_hashes h ON h.issue_id = i.id WHERE i.title LIKE $1 || '%'
			GROUP BY i.id ORDER BY i.primary_hash OFFSET $2 LIMIT 1`, title, nth).Scan(&r.ID, &r.Hashes); err != nil {
			t.Fatalf("issue %s #%d: %v", title, nth, err)
		}
		return r
	}
	assignee := "user:7"
	for _, d := range []*streams.Decision{
		{Kind: streams.DecideResolve, Issues: []streams.IssueRef{ref("KeyError", 0)}},
		{Kind: streams.DecideResolveInNextRelease, Issues: []streams.IssueRef{ref("KeyError", 1)}},
		{Kind: streams.DecideIgnore, Issues: []streams.IssueRef{ref("ValueError", 0)}, Ignore: &streams.IgnoreUntil{Count: 5}},
		{Kind: streams.DecideAssign, Issues: []streams.IssueRef{ref("IOError", 0)}, Assignee: &assignee},
		{Kind: streams.DecideMerge, Issues: []streams.IssueRef{ref("PanicError", 0), ref("PanicError", 1)}},
		{Kind: streams.DecideDeleteIssue, Issues: []streams.IssueRef{ref("ValueError", 1)}},
		{Kind: streams.DecideSetRules, Rules: &streams.Rules{Fingerprinting: "error.type:TimeoutError -> timeouts"}},
	} {
		d.ProjectID = 5
		if applied, err := pub.Decide(ctx, d); err != nil || !applied {
			t.Fatalf("%s: applied %v, %v", d.Kind, applied, err)
		}
	}
	// Events received after the decisions: regressions, the ignore's end,
	// and TimeoutErrors grouped by the new rule.
	after := workload(n, 8)
	start := time.Now().UTC()
	for i, m := range after {
		m.Header.Set(streams.HeaderReceived, start.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano))
	}
	e.publish(after...)
	e.waitEvents(e.pool, 2*n-int64(deletedEvents(t, e.pool)))

	live := decisionSnapshot(t, e.pool)
	if live["timeouts"].(int64) == 0 {
		t.Fatal("the rule grouped nothing live")
	}
	var progress bytes.Buffer
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := Replay(rctx, e.pool, e.nc, ReplayOptions{Progress: &progress, Service: testOptions()}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))); err != nil {
		t.Fatalf("replay: %v\n%s", err, progress.String())
	}
	replayed := decisionSnapshot(t, e.pool)
	for k := range live {
		if !reflect.DeepEqual(live[k], replayed[k]) {
			t.Errorf("%s differ after the replay:\n%s", k, rowDiff(live[k], replayed[k]))
		}
	}
}

// rowDiff names the rows that differ between two snapshots of one table,
// so a failure shows what changed rather than both tables whole.
func rowDiff(live, replayed any) string {
	l, ok1 := live.([]map[string]any)
	r, ok2 := replayed.([]map[string]any)
	if !ok1 || !ok2 {
		return fmt.Sprintf("live     %v\nreplayed %v", live, replayed)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d rows live, %d replayed\n", len(l), len(r))
	for i := 0; i < len(l) || i < len(r); i++ {
		switch {
		case i >= len(l):
			fmt.Fprintf(&b, "row %d only replayed: %v\n", i, r[i])
		case i >= len(r):
			fmt.Fprintf(&b, "row %d only live:     %v\n", i, l[i])
		case !reflect.DeepEqual(l[i], r[i]):
			fmt.Fprintf(&b, "row %d live:     %v\nrow %d replayed: %v\n", i, l[i], i, r[i])
		}
	}
	return b.String()
}

// deletedEvents is how many events were in deleted issues: they are gone.
func deletedEvents(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM grouping.event_ids e
		WHERE NOT EXISTS (SELECT 1 FROM grouping.events v WHERE v.project_id = e.project_id AND v.event_id = e.event_id)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// decisionSnapshot is the projection with what decisions set, without ids.
func decisionSnapshot(t *testing.T, pool *pgxpool.Pool) map[string]any {
	t.Helper()
	ctx := context.Background()
	q := func(sql string) []map[string]any {
		rows, err := pool.Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowToMap)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var timeouts int64
	pool.QueryRow(ctx, `SELECT count(*) FROM grouping.events WHERE hashes[1] = (SELECT primary_hash FROM grouping.issues WHERE title LIKE 'TimeoutError%' ORDER BY times_seen DESC LIMIT 1)`).Scan(&timeouts)
	return map[string]any{
		"issues": q(`SELECT primary_hash, title, times_seen, users_seen, first_seen, last_seen, status, substatus, status_changed_at,
			resolved_in_release, ignore_until_count, ignore_base_count, assignee FROM grouping.issues ORDER BY primary_hash`),
		"hashes":   q(`SELECT h.hash, i.primary_hash FROM grouping.issue_hashes h JOIN grouping.issues i ON i.id = h.issue_id ORDER BY h.hash`),
		"events":   q(`SELECT e.event_id, i.primary_hash, e.hashes FROM grouping.events e JOIN grouping.issues i ON i.id = e.issue_id ORDER BY e.event_id`),
		"timeouts": timeouts,
	}
}
