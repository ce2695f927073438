package alerting

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline/faultline/streams"
)

// TestCountsExactUnderRedelivery: two replicas, every event published
// twice, and the first batches redelivered after their transaction
// committed (their acknowledgements lost): the per-minute counts, the
// issues' times seen and the users are exact, and a frequency rule fires
// once per issue.
func TestCountsExactUnderRedelivery(t *testing.T) {
	countsExact(t, 2, func(*Options) {})
}

// TestConcurrentBatchesExact: the same with one replica storing small
// batches three at a time: concurrent batches of one replica are as
// exact as concurrent replicas.
func TestConcurrentBatchesExact(t *testing.T) {
	var storing, peak atomic.Int32
	hook := func() func() {
		n := storing.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		return func() { storing.Add(-1) }
	}
	testHookStoring.Store(&hook)
	t.Cleanup(func() { testHookStoring.Store(nil) })
	countsExact(t, 1, func(o *Options) { o.BatchSize, o.InFlight = 10, 3 })
	if peak.Load() < 2 {
		t.Fatalf("at most %d batch stored at once: nothing was concurrent", peak.Load())
	}
}

func countsExact(t *testing.T, replicas int, tune func(*Options)) {
	var lost atomic.Int32
	hook := func() bool { return lost.Add(1) <= 6 }
	testHookCommitted.Store(&hook)
	t.Cleanup(func() { testHookCommitted.Store(nil) })

	h := newHarness(t)
	tune(&h.opt)
	h.start(replicas)
	recv := newReceiver(t, 0)
	h.rule(`{"name":"busy","frequency":60,"conditions":[{"id":"sentry.rules.conditions.event_frequency.EventFrequencyCondition","value":30,"interval":"1h"}],
		"actions":[{"id":"faultline.rules.actions.SlackWebhookAction","webhook_url":"` + recv.URL + `/slack"}]}`)

	const issues, perIssue, users = 4, 50, 7
	now := time.Now().UTC()
	type ck struct {
		issue  int64
		minute time.Time
	}
	want := map[ck]int{}
	wantUsers := map[ck]map[string]bool{}
	for i := range issues * perIssue {
		issue := int64(1 + i%issues)
		at := now.Add(-time.Duration(i%3) * time.Minute)
		id, user := newID(), fmt.Sprintf("u%d", i%users)
		ev := fmt.Sprintf(`{"event_id":%q,"level":"error","platform":"go","title":"TimeoutError: db","message":"db timeout","user":{"id":%q}}`, id, user)
		h.grouped(issue, id, at, ev)
		h.grouped(issue, id, at, ev) // published twice
		k := ck{issue, minute(at)}
		want[k]++
		want[ck{0, minute(at)}]++
		if wantUsers[k] == nil {
			wantUsers[k] = map[string]bool{}
		}
		wantUsers[k][user] = true
	}
	h.waitCount(issues*perIssue, `SELECT count(*) FROM alerting.seen_events`)
	// Settled: nothing pending or unacknowledged on the consumer.
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := h.nc.JS.Consumer(h.ctx, streams.Events, h.opt.Consumer)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer not settled: %d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lost.Load() <= 6 {
		t.Fatalf("only %d batches committed: none was redelivered after committing", lost.Load())
	}

	rows, err := h.db.Pool.Query(h.ctx, `SELECT issue_id, minute, n FROM alerting.counts`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[ck]int{}
	for rows.Next() {
		var k ck
		var n int
		if err := rows.Scan(&k.issue, &k.minute, &n); err != nil {
			t.Fatal(err)
		}
		got[ck{k.issue, k.minute.UTC()}] = n
	}
	if len(got) != len(want) {
		t.Errorf("%d count rows, want %d: %v", len(got), len(want), got)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("issue %d at %s: counted %d, want %d", k.issue, k.minute.Format(time.TimeOnly), got[k], n)
		}
	}
	// The hourly sums are the minutes' sums.
	if n := h.count(`SELECT count(*) FROM (SELECT project_id, issue_id, date_trunc('hour', minute AT TIME ZONE 'UTC') AS hour, sum(n) AS n
		FROM alerting.counts GROUP BY 1, 2, 3) m FULL JOIN alerting.counts_hourly h
		ON h.project_id = m.project_id AND h.issue_id = m.issue_id AND h.hour AT TIME ZONE 'UTC' = m.hour
		WHERE h.n IS DISTINCT FROM m.n`); n != 0 {
		t.Errorf("%d hourly counts differ from the sums of their minutes", n)
	}
	// The hourly users are the minutes' users.
	if n := h.count(`SELECT count(*) FROM (SELECT DISTINCT issue_id, date_trunc('hour', minute AT TIME ZONE 'UTC') AS hour, user_key
		FROM alerting.users) m FULL JOIN alerting.users_hourly h
		ON h.issue_id = m.issue_id AND h.hour AT TIME ZONE 'UTC' = m.hour AND h.user_key = m.user_key
		WHERE h.user_key IS NULL OR m.user_key IS NULL`); n != 0 {
		t.Errorf("%d hourly users differ from the users of their minutes", n)
	}
	if h.count(`SELECT count(*) FROM alerting.users_hourly`) == 0 {
		t.Error("no hourly users were written")
	}
	for issue := range int64(issues) {
		if n := h.count(`SELECT times_seen FROM alerting.issues WHERE issue_id = $1`, issue+1); n != perIssue {
			t.Errorf("issue %d seen %d times, want %d", issue+1, n, perIssue)
		}
	}
	for k, us := range wantUsers {
		if n := h.count(`SELECT count(*) FROM alerting.users WHERE issue_id = $1 AND minute = $2`, k.issue, k.minute); n != len(us) {
			t.Errorf("issue %d at %s: %d users, want %d", k.issue, k.minute.Format(time.TimeOnly), n, len(us))
		}
	}
	if n := h.count(`SELECT count(*) FROM alerting.notifications`); n != issues {
		t.Errorf("%d notifications, want one per issue (%d)", n, issues)
	}
	recv.waitOK(t, issues)
	time.Sleep(300 * time.Millisecond) // anything extra would arrive by now
	if n := len(recv.got()); n != issues {
		t.Errorf("%d Slack messages, want %d", n, issues)
	}
}
