package grouping

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestDeleteSurvivesReplay deletes an issue, sends another event of it
// (which starts a new issue, as in Sentry), replays the whole stream, and
// checks that the deleted issue's events stay deleted and the new one's
// issue is there with only its own event.
func TestDeleteSurvivesReplay(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.start(e.pool, testOptions())
	const project = 6
	base := time.Now().Add(-time.Minute)
	ev := func(typ string, at time.Time) *nats.Msg {
		te := testEvent{id: newEventID(), excType: typ, excValue: "boom", function: "handle" + typ}
		return ingestMsg(project, "error", te.id, envelopeOf(te.id, "event", te.payload()), at)
	}
	e.publish(ev("GoneError", base), ev("GoneError", base.Add(time.Second)), ev("KeptError", base.Add(2*time.Second)))
	e.waitEvents(e.pool, 3)
	gone := issueByTitle(t, e.pool, "GoneError")
	if err := Delete(ctx, e.pool, gone.ID); err != nil {
		t.Fatal(err)
	}
	if err := Delete(ctx, e.pool, gone.ID); !errors.Is(err, ErrNoIssue) {
		t.Errorf("deleting it again: %v, want ErrNoIssue", err)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.tombstones WHERE issue_id = $1 AND project_id = $2`, gone.ID, project); n != 1 {
		t.Fatalf("tombstones of the deleted issue: %d, want 1", n)
	}
	// The same error again, after the deletion: a new issue.
	e.publish(ev("GoneError", time.Now()))
	e.waitEvents(e.pool, 2)
	again := issueByTitle(t, e.pool, "GoneError")
	if again.ID == gone.ID || again.TimesSeen != 1 {
		t.Fatalf("the error after the deletion: issue %+v, want a new issue with 1 event", again)
	}
	want := issues(t, e.pool)

	if err := Replay(ctx, e.pool, e.nc, ReplayOptions{Progress: io.Discard, Service: testOptions()}, testLog); err != nil {
		t.Fatalf("replay: %v", err)
	}
	got := issues(t, e.pool)
	if len(got) != len(want) {
		t.Fatalf("issues after the replay: %v, want %v", got, want)
	}
	for h, w := range want {
		g, ok := got[h]
		if !ok || g.TimesSeen != w.TimesSeen || g.Title != w.Title {
			t.Errorf("issue %s after the replay: %+v, want %+v", h, g, w)
		}
	}
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.events`); n != 2 {
		t.Errorf("events after the replay: %d, want 2 (the deleted issue's stay deleted)", n)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.tombstones`); n != 1 {
		t.Errorf("tombstones after the replay: %d, want 1 (kept)", n)
	}
}
