package analytics_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/analyticsquery"
	"github.com/faultline/faultline/services/analytics"
	"github.com/faultline/faultline/streams"
)

// publishRegrouped puts a regrouped event on EVENTS the way grouping's
// reprocess does.
func (e *env) publishRegrouped(t *testing.T, project, issue int64, eventID string, event []byte) {
	t.Helper()
	enc, _ := zstd.NewWriter(nil)
	body := streams.EncodeRegrouped(streams.RegroupedMessage{ProjectID: project, EventID: eventID, IssueID: issue, Hashes: []string{"h2"},
		Received: time.Now(), Decision: "d1", Event: enc.EncodeAll(event, nil)})
	msg := &nats.Msg{Subject: streams.RegroupedSubject(project), Header: nats.Header{jetstream.MsgIDHeader: {"regrouped-" + eventID}}, Data: body}
	if _, err := e.nc.JS.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

// TestRegroupedEventsChangeIssue: events a reprocess moved to another
// issue are counted in that issue from then on, once: whether the move
// comes in a later batch than the event or in the same one, and after
// everything is delivered again.
func TestRegroupedEventsChangeIssue(t *testing.T) {
	e := setup(t)
	ids := make([]string, 4)
	events := make([][]byte, 4)
	for i := range ids {
		ids[i] = fmt.Sprintf("%032x", 0xe0+i)
		events[i] = fmt.Appendf(nil, `{"event_id":%q,"timestamp":1795308929.5,"level":"error","title":"i","release":"r1"}`, ids[i])
		e.publishGrouped(t, 5, 7, ids[i], events[i])
	}
	// The last one moves before the role has read it.
	e.publishRegrouped(t, 5, 9, ids[3], fmt.Appendf(nil, `{"event_id":%q,"timestamp":1795308929.5,"level":"error","title":"explode","release":"r1"}`, ids[3]))
	s := e.run(t, testOptions())
	waitIdle(t, s)
	// Two more move once the role has stored them.
	for _, i := range []int{0, 1} {
		e.publishRegrouped(t, 5, 9, ids[i], fmt.Appendf(nil, `{"event_id":%q,"timestamp":1795308929.5,"level":"error","title":"explode","release":"r1"}`, ids[i]))
	}
	waitIdle(t, s)
	ctx := context.Background()
	start := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	check := func(when string) {
		t.Helper()
		tbl, err := analyticsquery.Run(ctx, e.ch, analyticsquery.Query{Dataset: analyticsquery.Errors, Projects: []int64{5},
			Start: start, End: start.Add(72 * time.Hour), Fields: []string{"issue.id", "title", "count()"}, Sort: "issue.id"})
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprint(tbl.Data)
		want := fmt.Sprint([]map[string]any{{"issue.id": uint64(7), "title": "i", "count()": uint64(1)},
			{"issue.id": uint64(9), "title": "explode", "count()": uint64(3)}})
		if got != want {
			t.Errorf("%s: errors by issue %s, want %s", when, got, want)
		}
		if n := e.count(t, "SELECT count() FROM errors FINAL WHERE project_id = 5"); n != 4 {
			t.Errorf("%s: %d error rows, want 4", when, n)
		}
	}
	check("after the moves")
	// Everything again, in stream order: the moves still win.
	if err := e.nc.JS.DeleteConsumer(ctx, streams.Events, "analytics-events"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e.run(t, testOptions()))
	check("after a redelivery")
}

// TestRedeliveredAfterRegrouped: a grouped message whose first insert
// failed comes again after its event's regrouped message was stored; the
// event stays in the issue it was moved to.
func TestRedeliveredAfterRegrouped(t *testing.T) {
	e := setup(t)
	var inserts atomic.Int32
	failed := make(chan struct{})
	analytics.SetTestHookInsert(func() error {
		if inserts.Add(1) == 1 {
			close(failed)
			return errors.New("the first insert fails")
		}
		return nil
	})
	t.Cleanup(func() { analytics.SetTestHookInsert(nil) })
	id := fmt.Sprintf("%032x", 0xf1)
	event := func(title string) []byte {
		return fmt.Appendf(nil, `{"event_id":%q,"timestamp":1795308929.5,"level":"error","title":%q}`, id, title)
	}
	s := e.run(t, testOptions())
	e.publishGrouped(t, 5, 7, id, event("i"))
	select {
	case <-failed:
	case <-time.After(30 * time.Second):
		t.Fatal("the grouped message was never inserted")
	}
	e.publishRegrouped(t, 5, 9, id, event("explode")) // stored before the grouped message comes again
	waitIdle(t, s)
	if n := inserts.Load(); n < 3 {
		t.Fatalf("%d inserts: the grouped message did not come again in a batch of its own", n)
	}
	if n := e.count(t, "SELECT count() FROM errors FINAL WHERE project_id = 5"); n != 1 {
		t.Fatalf("%d error rows, want 1", n)
	}
	if issue := e.count(t, "SELECT issue_id FROM errors FINAL WHERE project_id = 5 AND event_id = ?", id); issue != 9 {
		t.Fatalf("the event is in issue %d after its grouped message came again, want 9 (where it was moved)", issue)
	}
}
