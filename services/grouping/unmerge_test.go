package grouping

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/streams"
)

// TestUnmergeUndoesAMerge merges two issues and splits one's hashes off
// again: each side gets back its events, counts, users, environments and
// tag counts as they were before the merge; later events follow the hashes;
// a replay rebuilds the same projection.
func TestUnmergeUndoesAMerge(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.start(e.pool, testOptions())
	pub := decide.New(e.nc.NC, e.nc.JS, 10*time.Second)
	const project = 3
	base := time.Now().Add(-time.Hour)
	var msgs = workloadFor(project, base, "KeyError", 8, "prod", 4)
	// The IOErrors come last, so the merged issue's latest event is one of
	// them and the kept issue's must be found again.
	msgs = append(msgs, workloadFor(project, base.Add(30*time.Second), "IOError", 5, "staging", 2)...)
	e.publish(msgs...)
	e.waitEvents(e.pool, 13)

	type side struct {
		Times, Users int64
		FirstSeen    time.Time
		LastSeen     time.Time
		Envs         []string
		Title        string
		Tags         map[string]int64
	}
	read := func(id int64) side {
		t.Helper()
		var s side
		if err := e.pool.QueryRow(ctx, `SELECT times_seen, users_seen, first_seen, last_seen, environments, title
			FROM grouping.issues WHERE id = $1`, id).Scan(&s.Times, &s.Users, &s.FirstSeen, &s.LastSeen, &s.Envs, &s.Title); err != nil {
			t.Fatalf("issue %d: %v", id, err)
		}
		rows, _ := e.pool.Query(ctx, `SELECT key || '=' || value, times_seen FROM grouping.issue_tags WHERE issue_id = $1`, id)
		s.Tags = map[string]int64{}
		var kv string
		var n int64
		pgx.ForEachRow(rows, []any{&kv, &n}, func() error { s.Tags[kv] = n; return nil })
		return s
	}
	ref := func(title string, id int64) streams.IssueRef {
		t.Helper()
		var r streams.IssueRef
		if err := e.pool.QueryRow(ctx, `SELECT i.id, array_agg(h.hash ORDER BY h.hash) FROM grouping.issues i
			JOIN grouping.issue_hashes h ON h.issue_id = i.id WHERE i.project_id = $1 AND (i.title LIKE $2 || '%' OR i.id = $3)
			GROUP BY i.id`, project, title, id).Scan(&r.ID, &r.Hashes); err != nil {
			t.Fatalf("issue %s: %v", title, err)
		}
		return r
	}
	decideOK := func(d *streams.Decision) {
		t.Helper()
		d.ProjectID = project
		if applied, err := pub.Decide(ctx, d); err != nil || !applied {
			t.Fatalf("%s: applied %v, %v", d.Kind, applied, err)
		}
	}
	keyErr, ioErr := ref("KeyError", 0), ref("IOError", 0)
	wantKey, wantIO := read(keyErr.ID), read(ioErr.ID)
	if wantKey.Tags["environment=prod"] != 8 || wantIO.Users != 2 {
		t.Fatalf("the workload is not what the test assumes: %+v %+v", wantKey, wantIO)
	}

	decideOK(&streams.Decision{Kind: streams.DecideMerge, Issues: []streams.IssueRef{keyErr, ioErr}})
	merged := ref("", keyErr.ID)
	if m := read(merged.ID); m.Times != 13 || m.Title != wantIO.Title || len(merged.Hashes) != len(keyErr.Hashes)+len(ioErr.Hashes) {
		t.Fatalf("after the merge: %d events, %q, hashes %v", m.Times, m.Title, merged.Hashes)
	}

	// Refused: a hash the issue does not have, and all of its hashes.
	for _, hashes := range [][]string{{"0123456789abcdef0123456789abcdef"}, merged.Hashes} {
		_, err := pub.Decide(ctx, &streams.Decision{Kind: streams.DecideUnmerge, ProjectID: project,
			Issues: []streams.IssueRef{merged}, Hashes: hashes})
		if !errors.Is(err, decide.ErrRefused) {
			t.Errorf("unmerge of %v: %v, want a refusal", hashes, err)
		}
	}

	decideOK(&streams.Decision{Kind: streams.DecideUnmerge, Issues: []streams.IssueRef{merged}, Hashes: ioErr.Hashes})
	gotKey, gotIO := ref("KeyError", 0), ref("IOError", 0)
	if gotKey.ID != merged.ID || gotIO.ID == merged.ID {
		t.Fatalf("after the unmerge: KeyError is issue %d (was %d), IOError %d", gotKey.ID, merged.ID, gotIO.ID)
	}
	for _, c := range []struct {
		name      string
		got, want side
	}{{"kept", read(gotKey.ID), wantKey}, {"split off", read(gotIO.ID), wantIO}} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("the %s issue:\ngot  %+v\nwant %+v", c.name, c.got, c.want)
		}
	}
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.events WHERE issue_id = $1`, gotIO.ID); n != 5 {
		t.Errorf("events of the split-off issue: %d, want 5", n)
	}
	var status string
	e.pool.QueryRow(ctx, `SELECT status FROM grouping.issues WHERE id = $1`, gotIO.ID).Scan(&status)
	if status != streams.StatusUnresolved {
		t.Errorf("the split-off issue is %s", status)
	}
	waitFor(t, "the unmerge announced", func() (bool, string) {
		st, err := e.nc.JS.Stream(ctx, streams.Events)
		if err != nil {
			return false, err.Error()
		}
		subj := streams.IssueSubject(project, streams.ChangeUnmerged)
		si, err := st.Info(ctx, jetstream.WithSubjectFilter(subj))
		if err != nil {
			return false, err.Error()
		}
		return si.State.Subjects[subj] == 1, fmt.Sprint(si.State.Subjects)
	})

	// Later events follow their hashes into the split-off issue.
	later := workloadFor(project, time.Now(), "IOError", 1, "staging", 1)
	e.publish(later...)
	waitFor(t, "a later IOError in the split-off issue", func() (bool, string) {
		n := count(t, e.pool, `SELECT times_seen FROM grouping.issues WHERE id = $1`, gotIO.ID)
		return n == 6, fmt.Sprint(n)
	})

	live := decisionSnapshot(t, e.pool)
	var progress bytes.Buffer
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := Replay(rctx, e.pool, e.nc, ReplayOptions{Progress: &progress, Service: testOptions()},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))); err != nil {
		t.Fatalf("replay: %v\n%s", err, progress.String())
	}
	replayed := decisionSnapshot(t, e.pool)
	for k := range live {
		if !reflect.DeepEqual(live[k], replayed[k]) {
			t.Errorf("%s differ after the replay:\nlive     %v\nreplayed %v", k, live[k], replayed[k])
		}
	}
}

// workloadFor is n events of one error type in project, one per second
// from start, in env, from users distinct users.
func workloadFor(project int64, start time.Time, excType string, n int, env string, users int) []*nats.Msg {
	var out []*nats.Msg
	for i := range n {
		te := testEvent{excType: excType, excValue: "boom", function: "work", environment: env, release: "app@1.0.0",
			user: fmt.Sprintf("%s-user-%d", excType, i%users), ts: start.Add(time.Duration(i) * time.Second)}
		m := te.msg(project)
		m.Header.Set(streams.HeaderReceived, start.Add(time.Duration(i)*time.Second).UTC().Format(time.RFC3339Nano))
		out = append(out, m)
	}
	return out
}
