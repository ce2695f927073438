package grouping

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/faultline/faultline/streams"
)

// TestMergeSurvivesReplay merges two issues, checks the parent's counters
// against the children's, resolves it, replays the whole stream and checks
// that the new generation has the issues merged again, with the decision.
func TestMergeSurvivesReplay(t *testing.T) {
	const n = 300
	ctx := context.Background()
	e := newEnv(t)
	e.start(e.pool, testOptions())
	e.publish(workload(n, 7)...)
	e.waitEvents(e.pool, n)
	before := len(issues(t, e.pool))

	type counters struct {
		id                  int64
		hash                string
		times, users        int64
		firstSeen, lastSeen time.Time
		tags                int64
	}
	read := func(id int64) counters {
		t.Helper()
		c := counters{id: id}
		if err := e.pool.QueryRow(ctx, `SELECT primary_hash, times_seen, users_seen, first_seen, last_seen,
				(SELECT coalesce(sum(times_seen), 0) FROM grouping.issue_tags WHERE issue_id = i.id)
			FROM grouping.issues i WHERE id = $1`, id).Scan(&c.hash, &c.times, &c.users, &c.firstSeen, &c.lastSeen, &c.tags); err != nil {
			t.Fatal(err)
		}
		return c
	}
	var ids []int64
	rows, _ := e.pool.Query(ctx, `SELECT id FROM grouping.issues ORDER BY times_seen DESC, id LIMIT 3`)
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != 3 {
		t.Fatalf("want 3 issues to merge, got %v", ids)
	}
	var want counters
	var all []counters
	for _, id := range ids {
		c := read(id)
		all = append(all, c)
		want.times += c.times
		want.tags += c.tags
		want.users = max(want.users, c.users)
		if want.firstSeen.IsZero() || c.firstSeen.Before(want.firstSeen) {
			want.firstSeen = c.firstSeen
		}
		if c.lastSeen.After(want.lastSeen) {
			want.lastSeen = c.lastSeen
		}
	}

	if _, err := Merge(ctx, e.pool, ids[:1]); err == nil {
		t.Error("merging one issue: no error")
	}
	if _, err := Merge(ctx, e.pool, []int64{ids[0], 1 << 40}); !errors.Is(err, ErrNoIssue) {
		t.Errorf("merging a missing issue: %v, want ErrNoIssue", err)
	}
	res, err := Merge(ctx, e.pool, ids)
	if err != nil {
		t.Fatal(err)
	}
	if res.Parent != ids[0] || !slices.Equal(res.Children, slices.Sorted(slices.Values(ids[1:]))) {
		t.Fatalf("merge %v = %+v, want the issue with most events as parent", ids, res)
	}
	got := read(res.Parent)
	if got.times != want.times || got.tags != want.tags || !got.firstSeen.Equal(want.firstSeen) || !got.lastSeen.Equal(want.lastSeen) || got.users < want.users {
		t.Errorf("parent after merge %+v, want %+v", got, want)
	}
	if c := count(t, e.pool, `SELECT count(*) FROM grouping.events WHERE issue_id = $1`, res.Parent); c != want.times {
		t.Errorf("parent has %d events, want %d", c, want.times)
	}
	if c := count(t, e.pool, `SELECT count(*) FROM grouping.issues WHERE id = ANY($1)`, res.Children); c != 0 {
		t.Errorf("%d children remain", c)
	}
	if c := count(t, e.pool, `SELECT count(*) FROM grouping.issue_hashes WHERE hash = ANY($1) AND issue_id <> $2`,
		[]string{all[0].hash, all[1].hash, all[2].hash}, res.Parent); c != 0 {
		t.Errorf("%d of the merged primary hashes are not the parent's", c)
	}
	if err := Resolve(ctx, e.pool, res.Parent, false); err != nil {
		t.Fatal(err)
	}

	if err := Replay(ctx, e.pool, e.nc, ReplayOptions{Progress: io.Discard, Service: testOptions()}, testLog); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if got := len(issues(t, e.pool)); got != before-2 {
		t.Errorf("issues after the replay: %d, want %d (the merge applied again)", got, before-2)
	}
	var parent int64
	var times int64
	var status string
	if err := e.pool.QueryRow(ctx, `SELECT i.id, i.times_seen, i.status FROM grouping.issues i
		JOIN grouping.issue_hashes h ON h.issue_id = i.id WHERE h.hash = $1`, all[1].hash).Scan(&parent, &times, &status); err != nil {
		t.Fatal(err)
	}
	if c := count(t, e.pool, `SELECT count(DISTINCT issue_id) FROM grouping.issue_hashes WHERE hash = ANY($1)`,
		[]string{all[0].hash, all[1].hash, all[2].hash}); c != 1 {
		t.Errorf("after the replay the merged hashes belong to %d issues, want 1", c)
	}
	if times != want.times || status != streams.StatusResolved {
		t.Errorf("merged issue after the replay: %d events, %s; want %d, resolved", times, status, want.times)
	}
	if c := count(t, e.pool, `SELECT count(*) FROM grouping.merges`); c != 1 {
		t.Errorf("recorded merges after the replay: %d, want 1 (kept, not doubled)", c)
	}
}

// TestMergeDuringBatch merges an issue away while a batch that looked it up
// is between its lookup and its writes. The batch must not fail, its event
// must end in the merged issue, and no event may name a deleted issue.
func TestMergeDuringBatch(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	s := e.start(e.pool, testOptions())
	const project = 5
	ev := func(typ string) *nats.Msg {
		return testEvent{excType: typ, excValue: "boom", function: "handle" + typ}.msg(project)
	}
	e.publish(ev("ParentError"), ev("ParentError"), ev("ParentError"), ev("ChildError"))
	e.waitEvents(e.pool, 4)
	parent, child := issueByTitle(t, e.pool, "ParentError").ID, issueByTitle(t, e.pool, "ChildError").ID

	merged := make(chan error, 1)
	var once sync.Once
	hook := func() {
		once.Do(func() {
			done := make(chan error, 1)
			go func() {
				_, err := Merge(ctx, e.pool, []int64{parent, child})
				done <- err
				merged <- err
			}()
			// Return once the merge has committed or waits for this batch.
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				select {
				case <-done:
					return
				default:
				}
				var waiting int
				if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err == nil && waiting > 0 {
					return
				}
			}
		})
	}
	s.testHookAssigned.Store(&hook)
	e.publish(ev("ChildError"))
	if err := <-merged; err != nil {
		t.Fatalf("merge: %v", err)
	}
	e.waitEvents(e.pool, 5)
	waitFor(t, "the merged issue to count every event", func() (bool, string) {
		n := count(t, e.pool, `SELECT times_seen FROM grouping.issues WHERE id = $1`, parent)
		return n == 5, fmt.Sprint(n)
	})
	if n := testutil.ToFloat64(s.m.failures); n != 0 {
		t.Errorf("batch failures: %v, want 0 (the batch wrote to an issue merged away meanwhile)", n)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.events e
		WHERE NOT EXISTS (SELECT 1 FROM grouping.issues i WHERE i.id = e.issue_id)`); n != 0 {
		t.Errorf("%d events name an issue that does not exist", n)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.events WHERE issue_id = $1`, parent); n != 5 {
		t.Errorf("the merged issue has %d events, want 5", n)
	}
	if n := count(t, e.pool, `SELECT coalesce(sum(times_seen), 0) FROM grouping.issue_tags WHERE issue_id = $1 AND key = 'level'`, parent); n != 5 {
		t.Errorf("the merged issue's level tag counts %d events, want 5", n)
	}

	// The merge is announced once, by the outbox sweeper.
	waitFor(t, "the merge's announcement", func() (bool, string) {
		got := eventsSubjects(t, e.nc)
		return got["issues.5.merged"] == 1, fmt.Sprint(got)
	})
	st, err := e.nc.JS.Stream(ctx, streams.Events)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.GetLastMsgForSubject(ctx, "issues.5.merged")
	if err != nil {
		t.Fatal(err)
	}
	var m streams.IssueMessage
	if err := json.Unmarshal(raw.Data, &m); err != nil {
		t.Fatal(err)
	}
	if m.ProjectID != project || m.IssueID != parent || !slices.Equal(m.Children, []int64{child}) || m.Change != streams.ChangeMerged ||
		!strings.HasSuffix(m.Title, "Error: boom") {
		t.Errorf("issues.5.merged = %+v, want parent %d, children [%d]", m, parent, child)
	}
	waitFor(t, "the outbox to empty", func() (bool, string) {
		n := count(t, e.pool, `SELECT count(*) FROM grouping.outbox`)
		return n == 0, fmt.Sprint(n)
	})
}
