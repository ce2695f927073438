package grouping

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/streams"
)

var testLog = slog.New(slog.DiscardHandler)

// env is a JetStream server with Faultline's streams and a migrated database.
type env struct {
	t    testing.TB
	srv  *natstest.Server
	nc   *natsx.Conn
	db   *pgtest.DB
	pool *pgxpool.Pool
}

func newEnv(t testing.TB) *env {
	t.Helper()
	srv := natstest.Start(t)
	nc := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := streams.Apply(ctx, nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewT(t, Migrations)
	return &env{t: t, srv: srv, nc: nc, db: db, pool: db.Pool}
}

func testOptions() Options {
	o := DefaultOptions()
	o.OutboxAge = time.Second
	o.RulesRefresh = 50 * time.Millisecond
	return o
}

// start runs a replica until the test ends.
func (e *env) start(pool *pgxpool.Pool, opt Options) *Service {
	e.t.Helper()
	return e.startWith(pool, opt, nil, testLog)
}

// startWith runs a replica that registers its metrics with reg and logs
// to log until the test ends.
func (e *env) startWith(pool *pgxpool.Pool, opt Options, reg prometheus.Registerer, log *slog.Logger) *Service {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(ctx, pool, e.nc, opt, reg, log)
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			e.t.Error(err)
		}
	}()
	e.t.Cleanup(func() { cancel(); <-done })
	return s
}

// testEvent describes an SDK event.
type testEvent struct {
	id          string
	excType     string
	excValue    string
	function    string
	release     string
	environment string
	user        string
	message     string // a message event instead of an exception
	fingerprint []string
	padding     int       // extra bytes of breadcrumbs, to make realistic sizes
	ts          time.Time // default now
}

func newEventID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (te testEvent) payload() []byte {
	ev := map[string]any{
		"event_id":  te.id,
		"timestamp": float64(cmp.Or(te.ts, time.Now()).UnixMilli()) / 1000,
		"platform":  "go",
		"level":     "error",
		"sdk":       map[string]any{"name": "sentry.go", "version": "0.29.0"},
		"tags":      map[string]string{"server": "web-1"},
	}
	if te.release != "" {
		ev["release"] = te.release
	}
	if te.environment != "" {
		ev["environment"] = te.environment
	}
	if te.user != "" {
		ev["user"] = map[string]any{"id": te.user}
	}
	if te.fingerprint != nil {
		ev["fingerprint"] = te.fingerprint
	}
	if te.message != "" {
		ev["message"] = te.message
	} else {
		ev["exception"] = []any{map[string]any{
			"type": te.excType, "value": te.excValue,
			"stacktrace": map[string]any{"frames": []any{
				map[string]any{"function": "main", "module": "main", "filename": "main.go", "lineno": 10, "in_app": true},
				map[string]any{"function": te.function, "module": "example.com/app/handlers", "filename": "handlers.go", "lineno": 42, "in_app": true},
			}},
		}}
	}
	if te.padding > 0 {
		var crumbs []any
		for i := 0; i*100 < te.padding; i++ {
			crumbs = append(crumbs, map[string]any{"timestamp": 1700000000 + i, "category": "http",
				"message": fmt.Sprintf("GET https://api.example.com/v1/items/%d?page=%d returned 200 in %dms", i*7919, i, i%97)})
		}
		ev["breadcrumbs"] = map[string]any{"values": crumbs}
	}
	b, _ := json.Marshal(ev)
	return b
}

// envelope frames payload as an envelope with one item of typ.
func envelopeOf(id, typ string, payload []byte) []byte {
	return []byte(fmt.Sprintf("{\"event_id\":%q}\n{\"type\":%q,\"length\":%d}\n%s\n", id, typ, len(payload), payload))
}

// ingestMsg builds an INGEST message the way the gateway does.
func ingestMsg(project int64, kind, eventID string, body []byte, received time.Time) *nats.Msg {
	h := nats.Header{}
	h.Set(streams.HeaderProject, strconv.FormatInt(project, 10))
	h.Set(streams.HeaderKey, strings.Repeat("a", 32))
	h.Set(streams.HeaderReceived, received.UTC().Format(time.RFC3339Nano))
	h.Set(streams.HeaderEndpoint, "envelope")
	h.Set(streams.HeaderClientIP, "192.0.2.7")
	h.Set(streams.HeaderUserAgent, "sentry.go/0.29.0")
	h.Set(jetstream.MsgIDHeader, newEventID())
	if eventID != "" {
		h.Set(streams.HeaderEventID, eventID)
	}
	return &nats.Msg{Subject: streams.IngestSubject(project, kind), Header: h, Data: body}
}

func (e *env) publish(msgs ...*nats.Msg) {
	e.t.Helper()
	publishTo(e.t, e.nc, msgs...)
}

func publishTo(t testing.TB, nc *natsx.Conn, msgs ...*nats.Msg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var futs []jetstream.PubAckFuture
	for _, m := range msgs {
		f, err := nc.JS.PublishMsgAsync(m)
		if err != nil {
			t.Fatal(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("publish: timed out")
		}
	}
}

func (te testEvent) msg(project int64) *nats.Msg {
	if te.id == "" {
		te.id = newEventID()
	}
	return ingestMsg(project, "error", te.id, envelopeOf(te.id, "event", te.payload()), time.Now())
}

// waitFor polls cond until it holds; the deadline is generous so a loaded
// machine does not fail the test, and says what was last seen.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: last seen %s", what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func count(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) waitEvents(pool *pgxpool.Pool, n int64) {
	e.t.Helper()
	waitFor(e.t, fmt.Sprintf("%d events", n), func() (bool, string) {
		got := count(e.t, pool, `SELECT count(*) FROM grouping.events`)
		return got >= n, strconv.FormatInt(got, 10)
	})
}

// eventsSubjects counts the EVENTS stream's messages per subject.
func eventsSubjects(t testing.TB, nc *natsx.Conn) map[string]int {
	t.Helper()
	ctx := context.Background()
	st, err := nc.JS.Stream(ctx, streams.Events)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for s, n := range info.State.Subjects {
		out[s] = int(n)
	}
	return out
}

type issueRow struct {
	ID                          int64
	Title, Culprit, Level, Type string
	TimesSeen, UsersSeen        int64
	FirstRelease, LastRelease   string
	Environments                []string
	Status, Substatus           string
}

func issues(t testing.TB, pool *pgxpool.Pool) map[string]issueRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT primary_hash, id, title, culprit, level, type, times_seen, users_seen,
		first_release, last_release, environments, status, substatus FROM grouping.issues`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]issueRow{}
	for rows.Next() {
		var h string
		var r issueRow
		if err := rows.Scan(&h, &r.ID, &r.Title, &r.Culprit, &r.Level, &r.Type, &r.TimesSeen, &r.UsersSeen,
			&r.FirstRelease, &r.LastRelease, &r.Environments, &r.Status, &r.Substatus); err != nil {
			t.Fatal(err)
		}
		out[h] = r
	}
	return out
}

func issueByTitle(t testing.TB, pool *pgxpool.Pool, prefix string) issueRow {
	t.Helper()
	var found []issueRow
	for _, r := range issues(t, pool) {
		if strings.HasPrefix(r.Title, prefix) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("issues titled %q: got %d, want 1 (all: %v)", prefix, len(found), issues(t, pool))
	}
	return found[0]
}

func TestEndToEnd(t *testing.T) {
	e := newEnv(t)
	const project = 7
	var msgs []*nats.Msg
	for i, u := range []string{"u1", "u2", "u1"} {
		msgs = append(msgs, testEvent{excType: "TimeoutError", excValue: fmt.Sprintf("request %d timed out", i),
			function: "fetchItems", release: []string{"app@1.0.0", "app@1.1.0", "app@1.2.0"}[i],
			environment: []string{"production", "staging", "production"}[i], user: u,
			ts: time.Now().Add(time.Duration(i-3) * time.Second)}.msg(project))
	}
	for range 2 {
		msgs = append(msgs, testEvent{excType: "KeyError", excValue: "missing 'id'", function: "parseItem",
			release: "app@1.2.0", environment: "production"}.msg(project))
	}
	csp := []byte(`{"csp-report":{"document-uri":"https://example.com/page","violated-directive":"script-src-elem","effective-directive":"script-src-elem","blocked-uri":"https://evil.example.net/x.js","original-policy":"script-src 'self'"}}`)
	secID := newEventID()
	msgs = append(msgs, ingestMsg(project, "security", secID, envelopeOf(secID, "raw_security", csp), time.Now()))
	// A poison message between good ones: its payload is not JSON.
	badID := newEventID()
	msgs = append(msgs, ingestMsg(project, "error", badID, envelopeOf(badID, "event", []byte(`{"exception": [`)), time.Now()))
	// A large envelope whose body is in the object store.
	bigID := newEventID()
	big := ingestMsg(project, "error", bigID, envelopeOf(bigID, "event", testEvent{id: bigID, excType: "KeyError",
		excValue: "missing 'id'", function: "parseItem", release: "app@1.2.0", environment: "production", padding: 200 << 10}.payload()), time.Now())
	blobs, err := e.nc.JS.ObjectStore(context.Background(), streams.BlobsBucket)
	if err != nil {
		t.Fatal(err)
	}
	name := big.Header.Get(jetstream.MsgIDHeader)
	if _, err := blobs.PutBytes(context.Background(), name, big.Data); err != nil {
		t.Fatal(err)
	}
	big.Header.Set(streams.HeaderBlob, name)
	big.Data = nil
	msgs = append(msgs, big)
	// Messages the service does not consume: a transaction.
	txID := newEventID()
	msgs = append(msgs, ingestMsg(project, "transaction", txID, envelopeOf(txID, "transaction", []byte(`{"type":"transaction"}`)), time.Now()))
	e.publish(msgs...)

	s := e.start(e.pool, testOptions())
	e.waitEvents(e.pool, 7)
	waitFor(t, "the rejected message", func() (bool, string) {
		n := count(t, e.pool, `SELECT count(*) FROM grouping.rejected`)
		return n == 1, strconv.FormatInt(n, 10)
	})

	timeout := issueByTitle(t, e.pool, "TimeoutError")
	want := issueRow{ID: timeout.ID, Title: timeout.Title, Culprit: timeout.Culprit, Level: "error", Type: "error",
		TimesSeen: 3, UsersSeen: 2, FirstRelease: "app@1.0.0", LastRelease: "app@1.2.0",
		Environments: []string{"production", "staging"}, Status: "unresolved", Substatus: "new"}
	if fmt.Sprint(timeout) != fmt.Sprint(want) {
		t.Errorf("TimeoutError issue:\n got %+v\nwant %+v", timeout, want)
	}
	if !strings.Contains(timeout.Title, "timed out") {
		t.Errorf("title %q: want the exception value in it", timeout.Title)
	}
	key := issueByTitle(t, e.pool, "KeyError")
	if key.TimesSeen != 3 || key.UsersSeen != 0 {
		t.Errorf("KeyError issue: times_seen %d users %d, want 3 and 0", key.TimesSeen, key.UsersSeen)
	}
	if n := len(issues(t, e.pool)); n != 3 {
		t.Errorf("issues: got %d, want 3 (TimeoutError, KeyError, CSP)", n)
	}
	var reason string
	if err := e.pool.QueryRow(context.Background(), `SELECT reason FROM grouping.rejected WHERE event_id = $1`, badID).Scan(&reason); err != nil {
		t.Fatalf("rejected row for the poison message: %v", err)
	}
	if !strings.Contains(reason, "JSON") {
		t.Errorf("rejection reason %q: want it to say the JSON is bad", reason)
	}
	// Tag counts for facets.
	var prod int64
	if err := e.pool.QueryRow(context.Background(), `SELECT times_seen FROM grouping.issue_tags
		WHERE issue_id = $1 AND key = 'environment' AND value = 'production'`, timeout.ID).Scan(&prod); err != nil || prod != 2 {
		t.Errorf("environment=production on TimeoutError: got %d (%v), want 2", prod, err)
	}
	// The stored event decompresses to the normalized event.
	var data []byte
	var release string
	if err := e.pool.QueryRow(context.Background(), `SELECT data, release FROM grouping.events WHERE issue_id = $1 ORDER BY ts LIMIT 1`,
		timeout.ID).Scan(&data, &release); err != nil {
		t.Fatal(err)
	}
	js, err := s.zdec.DecodeAll(data, nil)
	if err != nil || !json.Valid(js) || !strings.Contains(string(js), "TimeoutError") {
		t.Errorf("stored event: %v %.200s", err, js)
	}
	// Every decision is published once.
	waitFor(t, "publications", func() (bool, string) {
		got := eventsSubjects(t, e.nc)
		return got["events.7.grouped"] == 7 && got["issues.7.created"] == 3, fmt.Sprint(got)
	})
	// A grouped message carries the event, its issue and its hashes.
	checkGroupedMessages(t, e, s, 7)
	// The stream is not blocked: nothing is left pending.
	waitFor(t, "the consumer to settle", func() (bool, string) {
		c, err := e.nc.JS.Consumer(context.Background(), streams.Ingest, "grouping")
		if err != nil {
			return false, err.Error()
		}
		info, err := c.Info(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return info.NumPending == 0 && info.NumAckPending == 0, fmt.Sprintf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
	})
	waitFor(t, "the outbox to empty", func() (bool, string) {
		n := count(t, e.pool, `SELECT count(*) FROM grouping.outbox`)
		return n == 0, strconv.FormatInt(n, 10)
	})
}

func TestRedeliveryChangesNothing(t *testing.T) {
	e := newEnv(t)
	const project = 3
	m := testEvent{excType: "ValueError", excValue: "bad", function: "f", user: "u1"}.msg(project)
	// The same envelope twice in the stream (as after a redelivery or a
	// retried publish outside the duplicate window): same event, same
	// received time.
	again := &nats.Msg{Subject: m.Subject, Header: nats.Header{}, Data: m.Data}
	for k, v := range m.Header {
		again.Header[k] = v
	}
	again.Header.Set(jetstream.MsgIDHeader, newEventID())
	other := testEvent{excType: "ValueError", excValue: "bad", function: "f", user: "u2"}.msg(project)
	e.publish(m, again, other)
	s := e.start(e.pool, testOptions())
	e.waitEvents(e.pool, 2)
	waitFor(t, "both copies settled", func() (bool, string) {
		got := testutil.ToFloat64(s.m.events)
		return got == 2, fmt.Sprint(got)
	})
	// And once more, later.
	m.Header.Set(jetstream.MsgIDHeader, newEventID())
	e.publish(m)
	waitFor(t, "the third copy", func() (bool, string) {
		c, _ := e.nc.JS.Consumer(context.Background(), streams.Ingest, "grouping")
		info, err := c.Info(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return info.AckFloor.Stream == 4 && info.NumAckPending == 0, fmt.Sprint(info.AckFloor.Stream)
	})
	is := issues(t, e.pool)
	if len(is) != 1 {
		t.Fatalf("issues: got %d, want 1", len(is))
	}
	for _, r := range is {
		if r.TimesSeen != 2 || r.UsersSeen != 2 {
			t.Errorf("issue: times_seen %d users %d, want 2 and 2", r.TimesSeen, r.UsersSeen)
		}
	}
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.events`); n != 2 {
		t.Errorf("events: got %d, want 2", n)
	}
	if n := count(t, e.pool, `SELECT sum(times_seen) FROM grouping.issue_tags WHERE key = 'user'`); n != 2 {
		t.Errorf("user tag counts: got %d, want 2", n)
	}
	waitFor(t, "publications", func() (bool, string) {
		got := eventsSubjects(t, e.nc)
		return got["events.3.grouped"] == 2 && got["issues.3.created"] == 1, fmt.Sprint(got)
	})
	time.Sleep(200 * time.Millisecond)
	if got := eventsSubjects(t, e.nc); got["events.3.grouped"] != 2 || got["issues.3.created"] != 1 {
		t.Errorf("publications: got %v, want 2 grouped and 1 created", got)
	}
}

// TestDerivedTagsStored checks that the tags derived from an event's
// contexts, request and user are counted per issue, for search and facets.
func TestDerivedTagsStored(t *testing.T) {
	e := newEnv(t)
	e.start(e.pool, testOptions())
	const project = 12
	id := newEventID()
	payload := []byte(`{"event_id":"` + id + `","platform":"javascript","level":"error",
		"exception":{"values":[{"type":"TypeError","value":"x is undefined","mechanism":{"type":"onerror","handled":false},
			"stacktrace":{"frames":[{"function":"render","filename":"app.js","in_app":true}]}}]},
		"request":{"url":"https://shop.example.com/cart?id=3","headers":{"User-Agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36"}},
		"contexts":{"runtime":{"name":"node","version":"v20.11.0"}},
		"user":{"id":"42","email":"ann@example.com"},"transaction":"/cart","tags":{"url":"set-by-sdk"}}`)
	e.publish(ingestMsg(project, "error", id, envelopeOf(id, "event", payload), time.Now()))
	e.waitEvents(e.pool, 1)
	rows, err := e.pool.Query(context.Background(), `SELECT key, value FROM grouping.issue_tags ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		got[k] = v
	}
	rows.Close()
	want := map[string]string{
		"level": "error", "user": "id:42", "user.email": "ann@example.com",
		"browser": "Chrome 120.0.6099", "browser.name": "Chrome", "os": "Mac OS X 10.15.7", "os.name": "Mac OS X",
		"runtime": "node v20.11.0", "runtime.name": "node", "url": "set-by-sdk", "transaction": "/cart",
		"handled": "no", "mechanism": "onerror",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("issue tags\n got %v\nwant %v", got, want)
	}
}

// checkGroupedMessages reads every events.<project>.grouped message back
// and compares it with the stored event it announces.
func checkGroupedMessages(t *testing.T, e *env, s *Service, project int64) {
	t.Helper()
	ctx := context.Background()
	subject := fmt.Sprintf("events.%d.grouped", project)
	cons, err := e.nc.JS.OrderedConsumer(ctx, streams.Events, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	n := eventsSubjects(t, e.nc)[subject]
	batch, err := cons.FetchNoWait(n)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for m := range batch.Messages() {
		got++
		g, err := streams.DecodeGrouped(m.Headers(), m.Data(), s.zdec)
		if err != nil {
			t.Fatalf("decode %s: %v", subject, err)
		}
		var stored struct {
			EventID string `json:"event_id"`
			Project int64  `json:"project"`
		}
		if err := json.Unmarshal(g.Event, &stored); err != nil || stored.EventID != g.EventID || stored.Project != project {
			t.Fatalf("event in the message: %+v (%v), want id %s of project %d", stored, err, g.EventID, project)
		}
		var issueID int64
		var hashes []string
		var received time.Time
		if err := e.pool.QueryRow(ctx, `SELECT issue_id, hashes, received FROM grouping.events WHERE event_id = $1::uuid`,
			g.EventID).Scan(&issueID, &hashes, &received); err != nil {
			t.Fatalf("stored event %s: %v", g.EventID, err)
		}
		if g.ProjectID != project || g.IssueID != issueID || !slices.Equal(g.Hashes, hashes) || !g.Received.Truncate(time.Microsecond).Equal(received) {
			t.Fatalf("message %d/%s/%d/%v/%v, stored issue %d hashes %v received %v", g.ProjectID, g.EventID, g.IssueID, g.Hashes, g.Received, issueID, hashes, received)
		}
		if len(m.Data()) >= len(g.Event) {
			t.Errorf("body of %d bytes for an event of %d: not compressed", len(m.Data()), len(g.Event))
		}
	}
	if got != n || n == 0 {
		t.Fatalf("read %d grouped messages, the stream holds %d", got, n)
	}
}

// TestNELReportBecomesIssue: a network-error report from the gateway's NEL
// endpoint is grouped into an issue of type nel titled by its error, and two
// reports of the same error on the same page are one issue.
func TestNELReportBecomesIssue(t *testing.T) {
	e := newEnv(t)
	const project = 7
	nel := []byte(`{"age":0,"type":"network-error","url":"https://www.example.com/checkout","user_agent":"Mozilla/5.0 Chrome/126.0",` +
		`"body":{"elapsed_time":41,"method":"POST","phase":"connection","protocol":"http/1.1","referrer":"","sampling_fraction":1,"server_ip":"203.0.113.9","status_code":0,"type":"tcp.refused"}}`)
	var msgs []*nats.Msg
	for range 2 {
		id := newEventID()
		msgs = append(msgs, ingestMsg(project, "security", id, envelopeOf(id, "raw_security", nel), time.Now()))
	}
	e.publish(msgs...)
	e.start(e.pool, testOptions())
	e.waitEvents(e.pool, 2)
	is := issueByTitle(t, e.pool, "The TCP connection was refused")
	if is.Type != "nel" || is.TimesSeen != 2 || is.Culprit != "https://www.example.com/checkout" {
		t.Errorf("NEL issue = %+v, want type nel, seen twice, culprit the page", is)
	}
}
