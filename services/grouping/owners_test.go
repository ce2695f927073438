package grouping

import (
	"context"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/streams"
)

// TestAutoAssignToOwner: a new issue is assigned, by a decision on
// DECISIONS that grouping then applies, to the first owner of the last
// ownership rule its first event matches; an issue no rule matches, and a
// project with auto-assignment off, stay unassigned.
func TestAutoAssignToOwner(t *testing.T) {
	srv := natstest.Start(t)
	nc := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := streams.Apply(ctx, nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewT(t, accounts.Migrations, Migrations)
	e := &env{t: t, srv: srv, nc: nc, db: db, pool: db.Pool}
	const rules = "path:*.go #backend\nmodule:example.com/app/handlers pay@example.com\ntags.server:web-9 #backend"
	if _, err := db.Pool.Exec(ctx, `INSERT INTO api.organizations (slug, name) VALUES ('acme', 'Acme');
		INSERT INTO api.projects (organization_id, slug, name) VALUES (1, 'backend', 'Backend'), (1, 'web', 'Web');
		INSERT INTO api.users (email, password_hash) VALUES ('dev@example.com', 'x'), ('pay@example.com', 'x');
		INSERT INTO api.members (organization_id, user_id, role) VALUES (1, 1, 'member'), (1, 2, 'member');
		INSERT INTO api.teams (organization_id, slug, name) VALUES (1, 'backend', 'Backend')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO api.project_ownership (project_id, raw, auto_assignment)
		VALUES (1, $1, 'Auto Assign to Suspect Commits'), (2, $1, 'Turn off Auto-Assignment')`, rules); err != nil {
		t.Fatal(err)
	}
	e.start(e.pool, testOptions())
	e.publish(testEvent{message: "hello there"}.msg(1), testEvent{excType: "WebError", excValue: "x", function: "f"}.msg(2))
	e.waitEvents(e.pool, 2)
	e.publish(testEvent{excType: "PayError", excValue: "card declined", function: "charge"}.msg(1))
	waitFor(t, "PayError assigned", func() (bool, string) {
		var a string
		db.Pool.QueryRow(ctx, `SELECT assignee FROM grouping.issues WHERE title LIKE 'PayError%'`).Scan(&a)
		return a == "user:2", a
	})
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.issues WHERE assignee <> ''`); n != 1 {
		t.Errorf("%d issues assigned, want only PayError's", n)
	}
	st, err := nc.JS.Stream(ctx, streams.Decisions)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, "decisions.>")
	if err != nil {
		t.Fatal(err)
	}
	d, err := streams.DecodeDecision(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(ctx)
	if info.State.Msgs != 1 || d.Kind != streams.DecideAssign || d.Actor.Name != AutoAssignActor || d.ID == "" {
		t.Fatalf("DECISIONS holds %d messages, last %+v; want one assignment by %q", info.State.Msgs, d, AutoAssignActor)
	}
}

// TestOwnershipReadOncePerRefresh: batches that create issues read a
// project's ownership rules once per refresh, not once per batch; a change
// is seen once the refresh has passed.
func TestOwnershipReadOncePerRefresh(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewT(t, accounts.Migrations, Migrations)
	if _, err := db.Pool.Exec(ctx, `INSERT INTO api.organizations (slug, name) VALUES ('acme', 'Acme');
		INSERT INTO api.projects (organization_id, slug, name) VALUES (1, 'backend', 'Backend'), (1, 'web', 'Web');
		INSERT INTO api.project_ownership (project_id, raw, auto_assignment) VALUES (1, 'path:*.go #backend', 'Auto Assign to Issue Owner')`); err != nil {
		t.Fatal(err)
	}
	var c ownershipCache
	created := []*issueAgg{{projectID: 1}, {projectID: 2}, {projectID: 1}}
	got, err := c.get(ctx, db.Pool, created, time.Hour)
	if err != nil || len(got) != 1 || got[1].org != 1 || len(got[1].rules) != 1 {
		t.Fatalf("first read: %+v, %v; want project 1's one rule", got, err)
	}
	if _, err := db.Pool.Exec(ctx, `DELETE FROM api.project_ownership`); err != nil {
		t.Fatal(err)
	}
	if got, err := c.get(ctx, db.Pool, created, time.Hour); err != nil || len(got[1].rules) != 1 {
		t.Errorf("within the refresh: %+v, %v; want the rules read before", got, err)
	}
	if got, err := c.get(ctx, db.Pool, created, 0); err != nil || len(got) != 0 {
		t.Errorf("past the refresh: %+v, %v; want the deletion seen", got, err)
	}
}
