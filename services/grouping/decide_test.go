package grouping

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/streams"
)

func TestDecisionsFromTheStream(t *testing.T) {
	e := newEnv(t)
	e.start(e.pool, testOptions())
	ctx := context.Background()
	pub := decide.New(e.nc.NC, e.nc.JS, 10*time.Second)
	sent := map[int64]int64{}
	send := func(project int64, excType, release string) {
		t.Helper()
		e.publish(testEvent{excType: excType, excValue: "boom", function: "work", release: release}.msg(project))
		sent[project]++
		want := sent[project]
		waitFor(t, fmt.Sprintf("events of project %d", project), func() (bool, string) {
			n := count(t, e.pool, `SELECT coalesce(sum(times_seen), 0) FROM grouping.issues WHERE project_id = $1`, project)
			return n == want, fmt.Sprint(n)
		})
	}
	issue := func(project int64, excType string) (id int64, hashes []string, status string) {
		t.Helper()
		if err := e.pool.QueryRow(ctx, `SELECT i.id, array_agg(h.hash), i.status FROM grouping.issues i
			JOIN grouping.issue_hashes h ON h.issue_id = i.id WHERE i.project_id = $1 AND i.title LIKE $2 || '%'
			GROUP BY i.id`, project, excType).Scan(&id, &hashes, &status); err != nil {
			t.Fatalf("issue %s of project %d: %v", excType, project, err)
		}
		return id, hashes, status
	}
	decideOK := func(d *streams.Decision) {
		t.Helper()
		applied, err := pub.Decide(ctx, d)
		if err != nil || !applied {
			t.Fatalf("decision %s: applied %v, error %v", d.Kind, applied, err)
		}
	}

	send(9, "RuntimeError", "app@1.0.0")
	id, hashes, _ := issue(9, "RuntimeError")

	// Applied once, however often it is delivered: the same decision sent
	// again without the stream's deduplication is recognised by its id.
	d := streams.Decision{ID: decide.NewID(), Kind: streams.DecideResolve, ProjectID: 9, At: time.Now().UTC(),
		Actor: streams.Actor{UserID: 7, Name: "ada@example.com"}, Issues: []streams.IssueRef{{ID: id, Hashes: hashes}}}
	decideOK(&d)
	body, _ := json.Marshal(d)
	if _, err := e.nc.JS.PublishMsg(ctx, &nats.Msg{Subject: streams.DecisionSubject(9, d.Kind), Data: body}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the redelivered decision settled", func() (bool, string) {
		info, err := e.nc.JS.Consumer(ctx, streams.Decisions, DecisionsConsumer)
		if err != nil {
			return false, err.Error()
		}
		ci := info.CachedInfo()
		return ci.NumPending == 0 && ci.NumAckPending == 0, fmt.Sprint(ci.NumPending)
	})
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.decisions WHERE id = $1 AND actor->>'name' = 'ada@example.com'`, d.ID); n != 1 {
		t.Errorf("decision rows: %d, want 1", n)
	}
	waitFor(t, "one announcement of the resolution", func() (bool, string) {
		n := count(t, e.pool, `SELECT count(*) FROM grouping.outbox`)
		return n == 0, fmt.Sprint(n)
	})
	st, err := e.nc.JS.Stream(ctx, streams.Events)
	if err != nil {
		t.Fatal(err)
	}
	si, err := st.Info(ctx, jetstream.WithSubjectFilter(streams.IssueSubject(9, streams.ChangeResolved)))
	if err != nil {
		t.Fatal(err)
	}
	if n := si.State.Subjects[streams.IssueSubject(9, streams.ChangeResolved)]; n != 1 {
		t.Errorf("resolutions announced: %d, want 1", n)
	}
	_, _, status := issue(9, "RuntimeError")
	if status != streams.StatusResolved {
		t.Fatalf("status after resolve: %s", status)
	}

	// A decision takes effect at its own time: an event received before it
	// does not regress the issue, even when grouped after it.
	later := streams.Decision{Kind: streams.DecideResolve, ProjectID: 9, At: time.Now().Add(time.Hour).UTC(),
		Issues: []streams.IssueRef{{ID: id, Hashes: hashes}}}
	decideOK(&later)
	send(9, "RuntimeError", "app@1.0.0")
	if _, _, status := issue(9, "RuntimeError"); status != streams.StatusResolved {
		t.Errorf("an event received before the resolution's time regressed it: %s", status)
	}

	// Resolved in a release: events of older releases do not regress it;
	// events of that release do.
	decideOK(&streams.Decision{Kind: streams.DecideResolveInRelease, Release: "app@2.0.0", ProjectID: 9,
		Issues: []streams.IssueRef{{ID: id, Hashes: hashes}}})
	send(9, "RuntimeError", "app@1.5.0")
	if _, _, status := issue(9, "RuntimeError"); status != streams.StatusResolvedInRelease {
		t.Errorf("after an event of an older release: %s, want %s", status, streams.StatusResolvedInRelease)
	}
	send(9, "RuntimeError", "app@2.0.0")
	if _, _, status := issue(9, "RuntimeError"); status != streams.StatusUnresolved {
		t.Errorf("after an event of the release it was resolved in: %s, want unresolved", status)
	}

	// An issue named by hashes only is found by them; one that is gone is
	// refused, and the refusal reaches the caller.
	decideOK(&streams.Decision{Kind: streams.DecideIgnore, ProjectID: 9, Issues: []streams.IssueRef{{ID: 1 << 40, Hashes: hashes}}})
	if _, _, status := issue(9, "RuntimeError"); status != streams.StatusIgnored {
		t.Errorf("ignore by hashes: %s", status)
	}
	_, err = pub.Decide(ctx, &streams.Decision{Kind: streams.DecideResolve, ProjectID: 9, Issues: []streams.IssueRef{{ID: 1 << 40}}})
	if !errors.Is(err, decide.ErrRefused) {
		t.Errorf("resolve of no issue: %v, want a refusal", err)
	}

	// Deleting a project leaves nothing of it; other projects keep theirs.
	send(9, "TypeError", "")
	send(10, "RuntimeError", "")
	decideOK(&streams.Decision{Kind: streams.DecideDeleteProject, ProjectID: 9})
	for _, table := range []string{"issues", "issue_hashes", "events", "event_ids", "project_rules", "merges", "tombstones"} {
		if n := count(t, e.pool, `SELECT count(*) FROM grouping.`+table+` WHERE project_id = 9`); n != 0 {
			t.Errorf("grouping.%s: %d rows of the deleted project", table, n)
		}
	}
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.issue_tags t JOIN grouping.issues i ON i.id = t.issue_id WHERE i.project_id = 10`); n == 0 {
		t.Error("the other project lost its tag counts")
	}
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.events WHERE project_id = 10`); n != 1 {
		t.Errorf("the other project has %d events, want 1", n)
	}
}
