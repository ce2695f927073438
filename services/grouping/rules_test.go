package grouping

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/streams"
)

// TestRuleChangeHoldsFromItsTime: a fingerprint rule changed while a
// backlog waits groups the envelopes received before the change without
// it and those received after with it, on every replica at once (the one
// that applied the change and the one that did not, with a refresh far
// longer than the test), as a replay would.
func TestRuleChangeHoldsFromItsTime(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	opt := testOptions()
	opt.RulesRefresh = time.Hour
	replicas := []*Service{e.start(e.pool, opt), e.start(e.pool, opt)}
	for _, r := range replicas {
		if err := r.rules.load(ctx); err != nil { // both hold the rules from before the change
			t.Fatal(err)
		}
	}
	pub := decide.New(e.nc.NC, e.nc.JS, 10*time.Second)
	const project = 4

	changed := time.Now().UTC()
	if applied, err := pub.Decide(ctx, &streams.Decision{Kind: streams.DecideSetRules, ProjectID: project, At: changed,
		Rules: &streams.Rules{Fingerprinting: "error.type:TimeoutError -> timeouts"}}); err != nil || !applied {
		t.Fatalf("set rules: applied %v, %v", applied, err)
	}
	// Every replica sees the change now, not at its next refresh.
	for i, r := range replicas {
		waitFor(t, fmt.Sprintf("replica %d reads the new rules", i), func() (bool, string) {
			if err := r.rules.load(ctx); err != nil {
				return false, err.Error()
			}
			return r.rules.get(project, changed) != r.rules.none && r.rules.get(project, changed.Add(-time.Second)) == r.rules.none, ""
		})
	}
	var msgs []*nats.Msg
	for i := range 40 {
		received := changed.Add(-time.Minute) // the backlog: received before the change
		if i%2 == 1 {
			received = changed.Add(time.Second)
		}
		te := testEvent{id: newEventID(), excType: "TimeoutError", excValue: "slow", function: fmt.Sprintf("call%d", i%4)}
		m := te.msg(project)
		m.Header.Set(streams.HeaderReceived, received.Format(time.RFC3339Nano))
		msgs = append(msgs, m)
	}
	e.publish(msgs...)
	e.waitEvents(e.pool, 40)

	// Before the change: one issue per stack (call0, call2); after it: one.
	rows, err := e.pool.Query(ctx, `SELECT i.times_seen, bool_and(e.received < $2), bool_and(e.received >= $2)
		FROM grouping.issues i JOIN grouping.events e ON e.issue_id = i.id WHERE i.project_id = $1 GROUP BY i.id ORDER BY 1`,
		project, changed)
	if err != nil {
		t.Fatal(err)
	}
	var before, after []int
	for rows.Next() {
		var n int
		var allBefore, allAfter bool
		if err := rows.Scan(&n, &allBefore, &allAfter); err != nil {
			t.Fatal(err)
		}
		switch {
		case allBefore:
			before = append(before, n)
		case allAfter:
			after = append(after, n)
		default:
			t.Errorf("an issue of %d events mixes both sides of the rule change", n)
		}
	}
	if fmt.Sprint(before) != "[10 10]" || fmt.Sprint(after) != "[20]" {
		t.Errorf("issues before the change %v (want [10 10]: one per stack), after %v (want [20]: the rule's)", before, after)
	}
}
