package grouping

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/streams"
)

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	e.start(e.pool, testOptions())
	ctx := context.Background()
	const project = 9
	seen := int64(0)
	send := func(release, user string) {
		t.Helper()
		e.publish(testEvent{excType: "RuntimeError", excValue: "boom", function: "work", release: release, user: user}.msg(project))
		seen++
		waitFor(t, fmt.Sprintf("event %d", seen), func() (bool, string) {
			n := count(t, e.pool, `SELECT coalesce(sum(times_seen), 0) FROM grouping.issues`)
			return n == seen, fmt.Sprint(n)
		})
	}
	state := func() (status, substatus string) {
		t.Helper()
		if err := e.pool.QueryRow(ctx, `SELECT status, substatus FROM grouping.issues`).Scan(&status, &substatus); err != nil {
			t.Fatal(err)
		}
		return status, substatus
	}
	var id int64
	step := func(name, wantStatus, wantSub string) {
		t.Helper()
		if st, sub := state(); st != wantStatus || sub != wantSub {
			t.Errorf("%s: got %s/%s, want %s/%s", name, st, sub, wantStatus, wantSub)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	send("app@1.0.0", "a")
	must(e.pool.QueryRow(ctx, `SELECT id FROM grouping.issues`).Scan(&id))
	step("new issue", streams.StatusUnresolved, "new")

	must(Resolve(ctx, e.pool, id, false))
	send("app@1.0.0", "a")
	step("event on a resolved issue", streams.StatusUnresolved, streams.ChangeRegressed)

	must(Resolve(ctx, e.pool, id, true))
	send("app@1.0.0", "a")
	step("event from the same release", streams.StatusResolvedInNextRelease, "")
	send("", "a")
	step("event without a release", streams.StatusResolvedInNextRelease, "")
	send("app@0.9.0", "a")
	step("event from an older release", streams.StatusResolvedInNextRelease, "")
	send("app@1.1.0", "a")
	step("event from a newer release", streams.StatusUnresolved, streams.ChangeRegressed)

	must(Ignore(ctx, e.pool, id, streams.IgnoreUntil{Count: 2}))
	send("app@1.1.0", "a")
	step("ignored, 1 of 2 events", streams.StatusIgnored, "")
	send("app@1.1.0", "a")
	step("ignored, 2 of 2 events", streams.StatusUnresolved, streams.ChangeUnignored)

	must(Ignore(ctx, e.pool, id, streams.IgnoreUntil{Users: 2}))
	send("app@1.1.0", "a")
	send("app@1.1.0", "b")
	step("ignored, 1 new user of 2", streams.StatusIgnored, "")
	send("app@1.1.0", "c")
	step("ignored, 2 new users of 2", streams.StatusUnresolved, streams.ChangeUnignored)

	must(Ignore(ctx, e.pool, id, streams.IgnoreUntil{Until: time.Now().Add(time.Hour)}))
	send("app@1.1.0", "a")
	step("ignored for an hour", streams.StatusIgnored, "")
	must(Ignore(ctx, e.pool, id, streams.IgnoreUntil{Until: time.Now()}))
	send("app@1.1.0", "a")
	step("ignore time passed", streams.StatusUnresolved, streams.ChangeUnignored)

	must(Ignore(ctx, e.pool, id, streams.IgnoreUntil{}))
	send("app@1.1.0", "d")
	step("ignored forever", streams.StatusIgnored, "")

	waitFor(t, "lifecycle publications", func() (bool, string) {
		got := eventsSubjects(t, e.nc)
		return got["issues.9.created"] == 1 && got["issues.9.regressed"] == 2 && got["issues.9.unignored"] == 3, fmt.Sprint(got)
	})
	// Each change came before its event's grouped message, which tells
	// it; every other grouped message tells none.
	changesOf := map[string][]string{} // event id → what its issue messages say it caused
	told := map[string][]string{}      // event id → what its grouped message says
	cons, err := e.nc.JS.OrderedConsumer(ctx, streams.Events, jetstream.OrderedConsumerConfig{})
	must(err)
	for range seen + 6 {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		must(err)
		if g, err := streams.DecodeGrouped(m.Headers(), nil, nil); err == nil {
			if !g.ChangesTold {
				t.Errorf("event %s: grouped message without %s", g.EventID, streams.HeaderChanges)
			}
			told[g.EventID] = g.Changes
			continue
		}
		im, err := streams.DecodeIssue(m.Data())
		must(err)
		if told[im.EventID] != nil {
			t.Errorf("%s of event %s published after the event", im.Change, im.EventID)
		}
		changesOf[im.EventID] = append(changesOf[im.EventID], im.Change)
	}
	if len(told) != int(seen) || len(changesOf) != 6 {
		t.Fatalf("%d grouped events, %d events with changes; want %d and 6", len(told), len(changesOf), seen)
	}
	for id, cs := range told {
		if !slices.Equal(cs, changesOf[id]) {
			t.Errorf("event %s: grouped message tells %q, issue messages say %q", id, cs, changesOf[id])
		}
	}
	if err := Resolve(ctx, e.pool, id+1000, false); err == nil {
		t.Error("resolving a missing issue: want an error")
	}
}

func TestReleaseNewer(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"app@1.1.0", "app@1.0.0", true},
		{"app@1.0.0", "app@1.1.0", false},
		{"app@1.10.0", "app@1.9.0", true},
		{"app@1.0.0", "app@1.0.0", false},
		{"v2", "v1.9.9", true},
		{"1.0.0-rc1", "1.0.0", false},
		{"", "app@1.0.0", false},
		{"abc123", "def456", true}, // not versions: different is newer
		{"app@1.0.1", "", true},
	} {
		t.Run(tc.a+"_vs_"+tc.b, func(t *testing.T) {
			if got := releaseNewer(tc.a, tc.b); got != tc.want {
				t.Errorf("releaseNewer(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestHLL(t *testing.T) {
	for _, n := range []int{0, 1, 10, 100, 1000, 20000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			h := newHLL()
			for i := range n {
				h.add(fmt.Sprintf("id:user-%d", i))
				h.add(fmt.Sprintf("id:user-%d", i)) // duplicates do not count
			}
			got := h.estimate()
			tol := max(int64(n)/10, 1) // 3 standard errors of 1024 registers
			if n <= 100 {
				tol = max(int64(n)/50, 1)
			}
			if d := got - int64(n); d > tol || d < -tol {
				t.Errorf("estimate of %d users: got %d", n, got)
			}
		})
	}
	a, b := newHLL(), newHLL()
	for i := range 500 {
		a.add(fmt.Sprint(i))
		b.add(fmt.Sprint(i + 250))
	}
	a.merge(b)
	if got := a.estimate(); got < 712 || got > 788 {
		t.Errorf("merged estimate: got %d, want about 750", got)
	}
}

// TestIgnoreUntilTimeEnds ignores one issue until a time soon and another
// for an hour: without any new event, the first is unignored when its time
// passes (and announced once), the second stays ignored.
func TestIgnoreUntilTimeEnds(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.start(e.pool, testOptions())
	const project = 8
	e.publish(testEvent{excType: "SoonError", excValue: "x", function: "soon"}.msg(project),
		testEvent{excType: "LaterError", excValue: "x", function: "later"}.msg(project))
	e.waitEvents(e.pool, 2)
	soon, later := issueByTitle(t, e.pool, "SoonError").ID, issueByTitle(t, e.pool, "LaterError").ID
	until := time.Now().Add(time.Second).Truncate(time.Microsecond)
	if err := Ignore(ctx, e.pool, later, streams.IgnoreUntil{Until: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := Ignore(ctx, e.pool, soon, streams.IgnoreUntil{Until: until}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ignore to end", func() (bool, string) {
		var st, sub string
		if err := e.pool.QueryRow(ctx, `SELECT status, substatus FROM grouping.issues WHERE id = $1`, soon).Scan(&st, &sub); err != nil {
			return false, err.Error()
		}
		return st == streams.StatusUnresolved && sub == streams.ChangeUnignored, st + "/" + sub
	})
	var changed time.Time
	var ignoreUntil *time.Time
	if err := e.pool.QueryRow(ctx, `SELECT status_changed_at, ignore_until FROM grouping.issues WHERE id = $1`, soon).
		Scan(&changed, &ignoreUntil); err != nil {
		t.Fatal(err)
	}
	if !changed.Equal(until) || ignoreUntil != nil {
		t.Errorf("unignored issue: status changed at %v, ignore_until %v; want %v and none", changed, ignoreUntil, until)
	}
	waitFor(t, "the unignore's announcement", func() (bool, string) {
		got := eventsSubjects(t, e.nc)
		return got["issues.8.unignored"] == 1, fmt.Sprint(got)
	})
	waitFor(t, "the outbox to empty", func() (bool, string) {
		n := count(t, e.pool, `SELECT count(*) FROM grouping.outbox`)
		return n == 0, fmt.Sprint(n)
	})
	var st string
	if err := e.pool.QueryRow(ctx, `SELECT status FROM grouping.issues WHERE id = $1`, later).Scan(&st); err != nil || st != streams.StatusIgnored {
		t.Errorf("issue ignored for an hour: %s (%v), want ignored", st, err)
	}
	if got := eventsSubjects(t, e.nc)["issues.8.unignored"]; got != 1 {
		t.Errorf("unignored announcements: %d, want 1", got)
	}
}

// TestDecisionsAnnounced: a user's resolve, ignore, unresolve and
// assignment are each published once on issues.<project>.<change>, with the
// issue's state after the decision.
func TestDecisionsAnnounced(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.start(e.pool, testOptions())
	const project = 9
	e.publish(testEvent{excType: "DecidedError", excValue: "x", function: "decided"}.msg(project))
	e.waitEvents(e.pool, 1)
	id := issueByTitle(t, e.pool, "DecidedError").ID
	steps := []func() error{
		func() error { return Resolve(ctx, e.pool, id, true) },
		func() error { return Assign(ctx, e.pool, id, "ana@example.com") },
		func() error { return Ignore(ctx, e.pool, id, streams.IgnoreUntil{Count: 10}) },
		func() error { return Unresolve(ctx, e.pool, id) },
		func() error { return Assign(ctx, e.pool, id, "") },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := Resolve(ctx, e.pool, 1<<40, false); !errors.Is(err, ErrNoIssue) {
		t.Errorf("resolving a missing issue: %v, want ErrNoIssue", err)
	}
	waitFor(t, "the decisions' announcements", func() (bool, string) {
		got := eventsSubjects(t, e.nc)
		return got["issues.9.resolved"] == 1 && got["issues.9.assigned"] == 2 && got["issues.9.ignored"] == 1 &&
			got["issues.9.unresolved"] == 1, fmt.Sprint(got)
	})
	msgs := map[string][]streams.IssueMessage{}
	cons, err := e.nc.JS.OrderedConsumer(ctx, streams.Events, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"issues.9.>"}})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(10)
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		var im streams.IssueMessage
		if err := json.Unmarshal(m.Data(), &im); err != nil {
			t.Fatal(err)
		}
		if im.IssueID != id || im.ProjectID != project || im.Title == "" {
			t.Errorf("%s: %+v, want issue %d of project %d with its title", m.Subject(), im, id, project)
		}
		msgs[im.Change] = append(msgs[im.Change], im)
	}
	if m := msgs[streams.ChangeResolved]; len(m) != 1 || m[0].Status != streams.StatusResolvedInNextRelease {
		t.Errorf("resolved: %+v, want one with status %s", m, streams.StatusResolvedInNextRelease)
	}
	if m := msgs[streams.ChangeAssigned]; len(m) != 2 || m[0].Assignee == nil || *m[0].Assignee != "ana@example.com" ||
		m[1].Assignee == nil || *m[1].Assignee != "" {
		t.Errorf("assigned: %+v, want ana@example.com then nobody", m)
	}
	if m := msgs[streams.ChangeIgnored]; len(m) != 1 || m[0].Status != streams.StatusIgnored {
		t.Errorf("ignored: %+v", m)
	}
	if m := msgs[streams.ChangeUnresolved]; len(m) != 1 || m[0].Status != streams.StatusUnresolved {
		t.Errorf("unresolved: %+v", m)
	}
}

// TestUsersSketchKeptWhenUnchanged sends an issue's user again in a batch
// of its own, which leaves the sketch as it was (the update then keeps the
// stored one instead of writing it), and then a new user, which changes it.
func TestUsersSketchKeptWhenUnchanged(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.start(e.pool, testOptions())
	const project = 14
	ev := func(user string) *nats.Msg {
		return testEvent{excType: "SketchError", excValue: "x", function: "sketch", user: user}.msg(project)
	}
	sketch := func() (users int64, hll []byte) {
		t.Helper()
		if err := e.pool.QueryRow(ctx, `SELECT users_seen, users_hll FROM grouping.issues WHERE project_id = $1`, project).
			Scan(&users, &hll); err != nil {
			t.Fatal(err)
		}
		return users, hll
	}
	e.publish(ev("ann"))
	e.waitEvents(e.pool, 1)
	_, first := sketch()
	want := newHLL()
	want.add("id:ann")
	if !bytes.Equal(first, want) {
		t.Fatalf("sketch after ann: %d bytes, not ann's", len(first))
	}
	e.publish(ev("ann"))
	e.waitEvents(e.pool, 2)
	if users, hll := sketch(); users != 1 || !bytes.Equal(hll, first) {
		t.Errorf("ann again: %d users, sketch of %d bytes equal to before: %v", users, len(hll), bytes.Equal(hll, first))
	}
	e.publish(ev("bob"))
	e.waitEvents(e.pool, 3)
	want.add("id:bob")
	if users, hll := sketch(); users != 2 || !bytes.Equal(hll, want) {
		t.Errorf("then bob: %d users, sketch equal to ann's and bob's: %v", users, bytes.Equal(hll, want))
	}
}

// TestIgnoreEndsOnTheNthEventWhateverTheBatches splits one run of events
// into batches every way up to a few cuts and checks that an ignore until
// N events, or N users, ends on the same event each time: the replay cuts
// the stream differently from the live consumer and must agree with it.
func TestIgnoreEndsOnTheNthEventWhateverTheBatches(t *testing.T) {
	start := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	var events []*prepared
	for i := range 12 {
		p := &prepared{received: start.Add(time.Duration(i) * time.Millisecond), userKey: fmt.Sprintf("u%d", i/2)}
		p.eventID[15] = byte(i)
		events = append(events, p)
	}
	for _, tc := range []struct {
		name   string
		ignore streams.IgnoreUntil
		want   int // index of the event that ends the ignore
	}{
		{"5 events", streams.IgnoreUntil{Count: 5}, 4},
		{"3 users", streams.IgnoreUntil{Users: 3}, 4}, // users u0, u0, u1, u1, u2
	} {
		t.Run(tc.name, func(t *testing.T) {
			for cut1 := 1; cut1 < len(events); cut1++ {
				for cut2 := cut1; cut2 <= len(events); cut2++ {
					st := issueState{status: streams.StatusIgnored}
					if tc.ignore.Count > 0 {
						st.ignoreUntilCount = &tc.ignore.Count
					}
					if tc.ignore.Users > 0 {
						st.ignoreUntilUsers = &tc.ignore.Users
					}
					users := newHLL()
					seen := int64(0)
					var got *prepared
					for _, batch := range [][]*prepared{events[:cut1], events[cut1:cut2], events[cut2:]} {
						if len(batch) == 0 || got != nil {
							continue
						}
						// Batches arrive in any order inside.
						shuffled := slices.Clone(batch)
						slices.Reverse(shuffled)
						seen += int64(len(batch))
						if _, trigger := st.transition(shuffled, seen, users); trigger != nil {
							got = trigger
						}
						for _, p := range batch {
							users.add(p.userKey)
						}
					}
					if got != events[tc.want] {
						t.Fatalf("cuts %d,%d: ended on %v, want event %d", cut1, cut2, got, tc.want)
					}
				}
			}
		})
	}
}

// TestIgnoreWindowCountsTrailingEvents: ignored until 3 events within a
// minute, events 0 s, 50 s, 70 s and 100 s after the ignore end it on the
// fourth (50, 70 and 100 fall within one minute; no earlier minute held
// three), however the events are cut into batches.
func TestIgnoreWindowCountsTrailingEvents(t *testing.T) {
	start := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	var events []*prepared
	for i, s := range []int{0, 50, 70, 100, 101} {
		p := &prepared{received: start.Add(time.Duration(s) * time.Second)}
		p.eventID[15] = byte(i)
		events = append(events, p)
	}
	count, window := int64(3), int64(1)
	for cut := 0; cut <= len(events); cut++ {
		st := issueState{status: streams.StatusIgnored, ignoreUntilCount: &count, ignoreUntilWindow: &window, ignoreBaseCount: 40}
		seen := int64(40)
		var got *prepared
		for _, batch := range [][]*prepared{events[:cut], events[cut:]} {
			if len(batch) == 0 || got != nil {
				continue
			}
			seen += int64(len(batch))
			_, got = st.transition(batch, seen, nil)
		}
		if got != events[3] {
			t.Fatalf("cut at %d: ended on %v, want the event at 100 s", cut, got)
		}
		if st.status != streams.StatusUnresolved || st.ignoreUntilWindow != nil || st.windowSeen != nil {
			t.Fatalf("cut at %d: after the ignore ended: %+v", cut, st)
		}
	}
	// Without the window the same events end a 3-event ignore on the third.
	st := issueState{status: streams.StatusIgnored, ignoreUntilCount: &count, ignoreBaseCount: 40}
	if _, got := st.transition(events, 45, nil); got != events[2] {
		t.Fatalf("no window: ended on %v, want the third event", got)
	}
}

// TestIgnoreWindowStored: an ignore until 2 events in a minute, applied as
// a decision, holds through events two minutes apart and ends on two
// within a minute, with the window state kept in the issue row between
// batches.
func TestIgnoreWindowStored(t *testing.T) {
	e := newEnv(t)
	e.start(e.pool, testOptions())
	ctx := context.Background()
	const project = 11
	base := time.Now().UTC()
	sent := int64(0)
	send := func(after time.Duration) {
		t.Helper()
		m := testEvent{excType: "RuntimeError", excValue: "windowed", function: "work"}.msg(project)
		m.Header.Set(streams.HeaderReceived, base.Add(after).Format(time.RFC3339Nano))
		e.publish(m)
		sent++
		waitFor(t, fmt.Sprintf("event %d", sent), func() (bool, string) {
			n := count(t, e.pool, `SELECT coalesce(sum(times_seen), 0) FROM grouping.issues`)
			return n == sent, fmt.Sprint(n)
		})
	}
	status := func() string {
		t.Helper()
		var s string
		if err := e.pool.QueryRow(ctx, `SELECT status FROM grouping.issues`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	send(0)
	var id int64
	if err := e.pool.QueryRow(ctx, `SELECT id FROM grouping.issues`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := Ignore(ctx, e.pool, id, streams.IgnoreUntil{Count: 2, Window: 1}); err != nil {
		t.Fatal(err)
	}
	for i, after := range []time.Duration{2 * time.Minute, 4 * time.Minute, 6 * time.Minute} {
		send(after)
		if s := status(); s != streams.StatusIgnored {
			t.Fatalf("event %d, two minutes after the one before: %s, want still ignored", i+1, s)
		}
	}
	send(6*time.Minute + 30*time.Second)
	if s := status(); s != streams.StatusUnresolved {
		t.Fatalf("second event within a minute: %s, want unresolved", s)
	}
	var window *int64
	var seen []time.Time
	if err := e.pool.QueryRow(ctx, `SELECT ignore_until_window, ignore_window_seen FROM grouping.issues`).Scan(&window, &seen); err != nil {
		t.Fatal(err)
	}
	if window != nil || seen != nil {
		t.Errorf("ended ignore kept its window: %v %v", window, seen)
	}
}
