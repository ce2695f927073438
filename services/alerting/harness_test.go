package alerting

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/accounts"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/streams"
)

// apiMigrations are the accounts schema the alerting role reads
// (projects, members).
var apiMigrations = accounts.Migrations

type harness struct {
	t    testing.TB
	db   *pgtest.DB
	nc   *natsx.Conn
	zenc *zstd.Encoder
	opt  Options
	ctx  context.Context
	reg  *prometheus.Registry // the first replica's metrics
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	ns := natstest.Start(t)
	nc := ns.Connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := streams.Apply(ctx, nc.JS, streams.IngestOptions{MaxAge: time.Hour, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewT(t, apiMigrations, Migrations)
	if _, err := db.Pool.Exec(ctx, `INSERT INTO api.organizations (slug, name) VALUES ('acme', 'Acme');
		INSERT INTO api.projects (organization_id, slug, name) VALUES (1, 'backend', 'Backend');
		INSERT INTO api.users (email, password_hash) VALUES ('dev@example.com', 'x');
		INSERT INTO api.members (organization_id, user_id, role) VALUES (1, 1, 'member')`); err != nil {
		t.Fatal(err)
	}
	zenc, _ := zstd.NewWriter(nil)
	opt := DefaultOptions()
	opt.PublicURL = "http://faultline.test:8080"
	opt.AllowPrivate = true
	opt.Backoff = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	opt.Poll = 20 * time.Millisecond
	opt.Linger = 5 * time.Millisecond
	opt.SendTimeout = 2 * time.Second
	opt.RulesRefresh = 50 * time.Millisecond
	return &harness{t: t, db: db, nc: nc, zenc: zenc, opt: opt, ctx: ctx, reg: prometheus.NewRegistry()}
}

// start runs n replicas until the test ends.
func (h *harness) start(n int) {
	h.t.Helper()
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(h.ctx)
	for i := range n {
		var reg prometheus.Registerer
		if i == 0 {
			reg = h.reg
		}
		s, err := New(h.db.Pool, h.nc, h.opt, reg, slog.New(slog.DiscardHandler).With("replica", i))
		if err != nil {
			h.t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil {
				h.t.Errorf("replica %d: %v", i, err)
			}
		}()
	}
	h.t.Cleanup(func() { cancel(); wg.Wait() })
	// Wait for the consumer to exist before anything is published.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := h.nc.JS.Consumer(h.ctx, streams.Events, h.opt.Consumer); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatal("consumer not created")
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// command publishes an ALERTING command and waits for its answer.
func (h *harness) command(c streams.AlertCommand) streams.AlertApplied {
	h.t.Helper()
	if c.ID == "" {
		c.ID = newID()
	}
	c.ProjectID, c.At = 1, time.Now()
	sub, err := h.nc.NC.SubscribeSync(streams.AlertingAppliedSubject(c.ID))
	if err != nil {
		h.t.Fatal(err)
	}
	defer sub.Unsubscribe()
	b, _ := json.Marshal(c)
	if _, err := h.nc.JS.PublishMsg(h.ctx, &nats.Msg{Subject: streams.AlertingSubject(1, c.Kind), Data: b,
		Header: nats.Header{"Nats-Msg-Id": {c.ID}}}); err != nil {
		h.t.Fatal(err)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		h.t.Fatalf("no answer to %s: %v", c.Kind, err)
	}
	var ans streams.AlertApplied
	json.Unmarshal(m.Data, &ans)
	return ans
}

// webhooks sets project 1's webhooks plugin to url.
func (h *harness) webhooks(url string) {
	h.t.Helper()
	if ans := h.command(streams.AlertCommand{Kind: streams.AlertPluginSet, Plugin: "webhooks",
		Config: json.RawMessage(fmt.Sprintf(`{"urls":%q}`, url+"\n"))}); ans.Errors != nil || ans.Detail != "" {
		h.t.Fatalf("plugin refused: %+v", ans)
	}
}

func (h *harness) rule(js string) int64 {
	h.t.Helper()
	ans := h.command(streams.AlertCommand{Kind: streams.AlertRuleCreate, Rule: json.RawMessage(js)})
	if ans.RuleID == 0 {
		h.t.Fatalf("rule refused: %+v", ans)
	}
	time.Sleep(2 * h.opt.RulesRefresh) // every replica sees it
	return ans.RuleID
}

// slackRule creates a rule named name with one condition that notifies
// a new Slack receiver at most once an hour per issue, and returns the
// receiver.
func (h *harness) slackRule(name, condition string) *receiver {
	h.t.Helper()
	hook := newReceiver(h.t, 0)
	h.rule(`{"name":"` + name + `","frequency":60,"conditions":[` + condition + `],
		"actions":[{"id":"faultline.rules.actions.SlackWebhookAction","webhook_url":"` + hook.URL + `/slack"}]}`)
	return hook
}

// grouped publishes an events.1.grouped message that does not tell the
// issue changes its event caused (as the outbox sweeper republishes them).
func (h *harness) grouped(issue int64, eventID string, received time.Time, event string) {
	h.t.Helper()
	h.publishGrouped(streams.GroupedHeader(newID(), 1, eventID, issue, []string{"h"}, received), event)
}

// groupedTelling publishes an events.1.grouped message that tells the
// issue changes its event caused, as grouping does.
func (h *harness) groupedTelling(changes []string, issue int64, eventID string, received time.Time, event string) {
	h.t.Helper()
	hdr := streams.GroupedHeader(newID(), 1, eventID, issue, []string{"h"}, received)
	streams.SetChanges(hdr, changes)
	h.publishGrouped(hdr, event)
}

func (h *harness) publishGrouped(hdr nats.Header, event string) {
	h.t.Helper()
	if _, err := h.nc.JS.PublishMsg(h.ctx, &nats.Msg{Subject: streams.GroupedSubject(1), Header: hdr,
		Data: h.zenc.EncodeAll([]byte(event), nil)}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) issue(m streams.IssueMessage) {
	h.t.Helper()
	m.ProjectID = 1
	b, _ := json.Marshal(m)
	if _, err := h.nc.JS.PublishMsg(h.ctx, &nats.Msg{Subject: streams.IssueSubject(1, m.Change), Data: b,
		Header: nats.Header{"Nats-Msg-Id": {newID()}}}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) count(sql string, args ...any) int {
	var n int
	if err := h.db.Pool.QueryRow(h.ctx, sql, args...).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// waitCount waits until sql counts want, or fails.
func (h *harness) waitCount(want int, sql string, args ...any) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		n := h.count(sql, args...)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: %d, want %d", sql, n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receiver is a real HTTP server that records requests, failing the first
// failFirst of them with 503.
type receiver struct {
	*httptest.Server
	mu        sync.Mutex
	reqs      []received
	failFirst int
}

type received struct {
	path   string
	header http.Header
	body   []byte
	status int
}

func newReceiver(t testing.TB, failFirst int) *receiver {
	r := &receiver{failFirst: failFirst}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status := 200
		if len(r.reqs) < r.failFirst {
			status = 503
		}
		r.reqs = append(r.reqs, received{req.URL.Path, req.Header, b, status})
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

func (r *receiver) waitOK(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok := 0
		for _, q := range r.got() {
			if q.status == 200 {
				ok++
			}
		}
		if ok >= n {
			return r.got()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d successful requests, want %d", ok, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func event(id string, extra string) string {
	return fmt.Sprintf(`{"event_id":%q,"level":"error","platform":"go","title":"TimeoutError: db","culprit":"app/db","message":"db timeout",
		"environment":"prod","release":"1.0","tags":[["server","web-1"]],"user":{"id":"u1"}%s}`, id, extra)
}
