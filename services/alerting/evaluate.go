package alerting

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline/faultline/libs/alertrules"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/ownership"
	"github.com/faultline/faultline/libs/telemetry"
	"github.com/faultline/faultline/streams"
)

// testHookDecode, when set, is called on each message decoded (tests
// inject a panic with it).
var testHookDecode atomic.Pointer[func(jetstream.Msg)]

// testHookCommitted, when set, is called after a batch's transaction
// committed; when it returns true the batch is nak'ed rather than
// acknowledged, as if the acknowledgements were lost (tests redeliver
// committed batches with it).
var testHookCommitted atomic.Pointer[func() bool]

// testHookEvaluate, when set, is called on each evaluation of a batch
// (tests inject a panic with it).
var testHookEvaluate atomic.Pointer[func(eventID string)]

// testHookStoring, when set, is called as a batch starts being stored;
// what it returns is called when the batch is settled (tests measure how
// many batches a replica stores at once).
var testHookStoring atomic.Pointer[func() func()]

// emptyEvent is what seen_events keeps of an event no rule looks at, or
// of one whose grouped message told it caused no issue change (nothing
// will come to be evaluated with it).
var emptyEvent = []byte("{}")

// item is one EVENTS message of a batch.
type item struct {
	msg     jetstream.Msg
	history bool // stored before the consumer existed: counted, never notified
	g       *streams.GroupedMessage
	ev      *alertrules.Event
	compact []byte // ev as JSON, kept in seen_events; emptyEvent when no change will name it
	im      *streams.IssueMessage
	fresh   bool   // a grouped event not counted before
	pos     int    // where in its batch
	uuid    string // the grouped event's id as a UUID
}

// mayTrigger tells whether an issue change may name the grouped event of
// g: one it told it caused, or any when it did not tell.
func mayTrigger(g *streams.GroupedMessage) bool {
	return !g.ChangesTold || len(g.Changes) > 0
}

// evaluation is one thing rules are evaluated on.
type evaluation struct {
	project, issue int64
	trigger        alertrules.Trigger
	change         string // created, regressed, unignored, "" for an event
	ev             *alertrules.Event
	raw            json.RawMessage // the event's JSON for webhook bodies
	eventID        string
	now            time.Time
	triggerID      string
	pos            int // where in the batch what is evaluated came
}

var triggerOf = map[string]alertrules.Trigger{
	streams.ChangeCreated: alertrules.TriggerCreated, streams.ChangeRegressed: alertrules.TriggerRegressed,
	streams.ChangeUnignored: alertrules.TriggerReappeared,
}

// consume evaluates EVENTS messages in batches until ctx ends.
func (s *Service) consume(ctx context.Context, cons jetstream.Consumer) error {
	// Messages are held, and kept alive, from the moment they are handed
	// over until they are settled; the client's buffer, where they are not,
	// is one batch.
	alive := natsx.NewKeepalive(s.ConsumerConfig().AckWait)
	defer alive.GiveBack() // runs last: what the stopped consumer did not settle goes back now
	kctx, stopAlive := context.WithCancel(ctx)
	defer stopAlive()
	go alive.Run(kctx)
	ch := make(chan jetstream.Msg, 2*s.opt.BatchSize)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		h := alive.Hold(m)
		select {
		case ch <- h:
		case <-ctx.Done():
		}
	}, jetstream.PullMaxMessages(s.opt.BatchSize))
	if err != nil {
		return fmt.Errorf("consume %q: %w", s.opt.Consumer, err)
	}
	defer natsx.StopConsuming(cc, 5*time.Second)
	// The next batch is collected and decoded while this one is stored.
	ready := make(chan *batch, 1)
	go func() {
		defer close(ready)
		for {
			b := collect(ctx, ch, s.opt.BatchSize, s.opt.Linger)
			if b == nil {
				return
			}
			ready <- s.prepare(ctx, b)
		}
	}()
	defer func() {
		for b := range ready { // stopped: what was prepared goes back
			for _, m := range b.msgs {
				m.Nak()
			}
		}
	}()
	// Batches are stored InFlight at a time: while one waits on Postgres,
	// the next claims its events. Concurrent batches are as safe as
	// concurrent replicas: rows are taken in key order, and a deadlock
	// that a redelivered event could still cause is retried (handle).
	var failures atomic.Int32
	inflight := make(chan struct{}, max(s.opt.InFlight, 1))
	var wg sync.WaitGroup
	defer wg.Wait()
	for b := range ready {
		inflight <- struct{}{}
		wg.Go(func() {
			defer func() { <-inflight }()
			s.store1(ctx, b, &failures)
		})
	}
	return nil
}

// store1 stores one batch and settles its messages: acknowledged once
// stored, nak'ed with a growing delay when storing failed.
func (s *Service) store1(ctx context.Context, b *batch, failures *atomic.Int32) {
	if hook := testHookStoring.Load(); hook != nil {
		defer (*hook)()()
	}
	start := time.Now()
	span := s.startBatch(ctx, b.msgs)
	err := s.handleConfined(ctx, b)
	if span != nil {
		telemetry.EndBatch(span, err)
	}
	if err != nil {
		if ctx.Err() != nil {
			for _, m := range b.msgs {
				m.Nak()
			}
			return
		}
		n := failures.Add(1)
		wait := min(250*time.Millisecond<<min(n, 8), 10*time.Second)
		s.log.Warn("alerting batch failed; nak'ed for redelivery", slog.Int("messages", len(b.msgs)), slog.Any("error", err))
		for _, m := range b.msgs {
			m.NakWithDelay(wait)
		}
		return
	}
	s.m.batch.Observe(time.Since(start).Seconds())
	s.m.batchSize.Observe(float64(len(b.msgs)))
	failures.Store(0)
}

// handleConfined is handle with a panic (a bug some message meets while
// it is counted or evaluated) confined to that message: the batch's
// transaction is rolled back and its messages are stored again one at a
// time; a message that panics alone is rejected, and the others go on.
func (s *Service) handleConfined(ctx context.Context, b *batch) error {
	v, _, err := s.tryHandle(ctx, b)
	if v == nil {
		return err
	}
	s.log.Warn("panic while storing an EVENTS batch; storing its messages one at a time", slog.Int("messages", len(b.items)),
		slog.Any("panic", v))
	for _, it := range b.items {
		one := &batch{msgs: []jetstream.Msg{it.msg}, rules: b.rules, items: []*item{it}}
		v, stack, err := s.tryHandle(ctx, one)
		if v != nil {
			s.log.Error("panic while storing an EVENTS message; it is rejected", slog.String("subject", it.msg.Subject()),
				slog.Any("panic", v), slog.String("stack", string(stack)))
			natsx.Reject(it.msg, s.opt.Consumer, "panic", fmt.Sprintf("panic: %v", v))
			continue
		}
		if err != nil {
			return err // the batch is nak'ed: what was stored is not stored twice
		}
	}
	return nil
}

// tryHandle runs handle, returning what it panicked with and where, if it
// did (its transaction is rolled back).
func (s *Service) tryHandle(ctx context.Context, b *batch) (panicked any, stack []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			panicked, stack = v, debug.Stack()
		}
	}()
	return nil, nil, s.handle(ctx, b)
}

// batch is a batch of EVENTS messages, decoded with the rules it is
// evaluated against.
type batch struct {
	msgs  []jetstream.Msg
	rules map[int64][]rule
	items []*item
	err   error // the rules could not be read
}

// prepare reads the rules and decodes msgs.
func (s *Service) prepare(ctx context.Context, msgs []jetstream.Msg) *batch {
	b := &batch{msgs: msgs}
	if b.rules, b.err = s.rules.get(ctx); b.err == nil {
		b.items = s.decode(msgs, b.rules)
	}
	return b
}

// startBatch starts b's span, linked to the grouping batches its messages
// came from; nil when not tracing.
func (s *Service) startBatch(ctx context.Context, b []jetstream.Msg) trace.Span {
	if s.opt.Tracer == nil {
		return nil
	}
	links := make([]trace.Link, 0, len(b))
	for _, m := range b {
		links = telemetry.AppendLink(links, m.Headers())
	}
	_, span := telemetry.StartBatch(ctx, s.opt.Tracer, s.opt.Consumer, streams.Events, len(b), links)
	return span
}

func collect(ctx context.Context, ch <-chan jetstream.Msg, n int, linger time.Duration) []jetstream.Msg {
	var b []jetstream.Msg
	select {
	case m := <-ch:
		b = append(b, m)
	case <-ctx.Done():
		return nil
	}
	t := time.NewTimer(linger)
	defer t.Stop()
	for len(b) < n {
		select {
		case m := <-ch:
			b = append(b, m)
		case <-t.C:
			return b
		case <-ctx.Done():
			return b
		}
	}
	return b
}

// decode reads the batch's messages; the ones that cannot be read are
// terminated. The events of projects without rules are read from their
// headers only: nothing will be evaluated on them, so their bodies are
// neither decompressed nor parsed nor kept, and they are counted without
// their users and releases (a rule made later counts those from then on).
func (s *Service) decode(msgs []jetstream.Msg, rules map[int64][]rule) []*item {
	s.startMu.Lock()
	since := s.since
	s.startMu.Unlock()
	var out []*item
	for _, m := range msgs {
		if it := s.decodeOne(m, since, rules); it != nil {
			out = append(out, it)
		}
	}
	return out
}

// decodeOne reads one message, or terminates it (nil): unreadable, or a
// panic while reading it, which ends that message, not the role.
func (s *Service) decodeOne(m jetstream.Msg, since time.Time, rules map[int64][]rule) (out *item) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic while decoding an EVENTS message; it is rejected", slog.String("subject", m.Subject()),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			natsx.Reject(m, s.opt.Consumer, "panic", fmt.Sprintf("panic: %v", v))
			out = nil
		}
	}()
	if hook := testHookDecode.Load(); hook != nil {
		(*hook)(m)
	}
	it := &item{msg: m}
	if md, err := m.Metadata(); err == nil && md.Timestamp.Before(since) {
		it.history = true
	}
	var err error
	if strings.HasPrefix(m.Subject(), "events.") {
		var g streams.GroupedMessage
		if g, err = streams.DecodeGrouped(m.Headers(), nil, nil); err == nil && len(rules[g.ProjectID]) == 0 {
			it.g, it.ev, it.compact = &g, &alertrules.Event{}, emptyEvent
		} else if g, err = streams.DecodeGrouped(m.Headers(), m.Data(), s.zdec); err == nil {
			it.g = &g
			if it.ev, err = alertrules.DecodeEvent(g.Event); err == nil {
				// What ownership rules match, from the full event: the
				// compact one kept for issue changes has no frames. Only
				// for a project whose rules mail issue owners.
				if mailsOwners(rules[g.ProjectID]) {
					owned := ownership.SubjectOf(g.Event)
					it.ev.Owned = &owned
				}
				// Kept for an issue change that comes after its event.
				// Grouping publishes changes first, and tells which an event
				// caused; an event that caused none is kept without a body.
				it.compact = emptyEvent
				if mayTrigger(&g) {
					it.compact, err = json.Marshal(it.ev)
				}
			}
		}
	} else {
		var im streams.IssueMessage
		if im, err = streams.DecodeIssue(m.Data()); err == nil {
			it.im = &im
		}
	}
	if err != nil {
		s.log.Warn("EVENTS message rejected", slog.String("subject", m.Subject()), slog.Any("error", err))
		natsx.Reject(m, s.opt.Consumer, "invalid", err.Error())
		return nil
	}
	return it
}

// handle counts, evaluates and queues one batch in one transaction, then
// acknowledges it.
func (s *Service) handle(ctx context.Context, b *batch) error {
	if b.err != nil {
		return b.err
	}
	items, rules := b.items, b.rules
	if len(items) == 0 {
		return nil
	}
	var err error
	queued := 0
	for attempt := 0; ; attempt++ {
		queued = 0
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			queued, err = s.store(ctx, tx, items, rules)
			return err
		})
		var pgErr *pgconn.PgError
		if err == nil || attempt >= 4 || !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") {
			break
		}
		s.m.retries.Inc()
	}
	if err != nil {
		return err
	}
	if hook := testHookCommitted.Load(); hook != nil && (*hook)() {
		for _, it := range items {
			it.msg.Nak()
		}
		return nil
	}
	for _, it := range items {
		it.msg.Ack()
	}
	if queued > 0 {
		select {
		case s.poke <- struct{}{}:
		default:
		}
	}
	return nil
}

func uuidOf(hex32 string) (string, bool) {
	if len(hex32) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(hex32); err != nil {
		return "", false
	}
	return hex32[:8] + "-" + hex32[8:12] + "-" + hex32[12:16] + "-" + hex32[16:20] + "-" + hex32[20:], true
}

func minute(t time.Time) time.Time { return t.UTC().Truncate(time.Minute) }

// store is the batch's transaction; it returns how many deliveries it
// queued.
func (s *Service) store(ctx context.Context, tx pgx.Tx, items []*item, rules map[int64][]rule) (int, error) {
	// 1. Events not counted before.
	var ids []string
	var issues []int64
	var received []time.Time
	var compact [][]byte
	byID := map[string]*item{}
	for i, it := range items {
		it.pos = i
		if it.g == nil {
			continue
		}
		u, ok := uuidOf(it.g.EventID)
		if !ok || byID[u] != nil {
			continue
		}
		byID[u], it.uuid = it, u
		ids, issues, received, compact = append(ids, u), append(issues, it.g.IssueID), append(received, it.g.Received), append(compact, it.compact)
	}
	var freshIDs []string
	if len(ids) > 0 {
		rows, err := tx.Query(ctx, `INSERT INTO alerting.seen_events (event_id, issue_id, received, event)
			SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[], $4::json[]) ON CONFLICT DO NOTHING RETURNING event_id::text`,
			ids, issues, received, compact)
		if err != nil {
			return 0, fmt.Errorf("claim events: %w", err)
		}
		if freshIDs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return 0, fmt.Errorf("claim events: %w", err)
		}
		for _, id := range freshIDs {
			byID[id].fresh = true
		}
	}
	// 2. Counts, users, releases, issues.
	if err := s.count(ctx, tx, items); err != nil {
		return 0, err
	}
	// 3. Issue changes: triggers to rendezvous with their events.
	var evals []evaluation
	seen := map[string]bool{} // event id + change evaluated
	var trigIDs, trigChanges []string
	var trigIssues []int64
	var trigAt []time.Time
	var trigItems []*item
	for _, it := range items {
		im := it.im
		if im == nil {
			continue
		}
		switch im.Change {
		case streams.ChangeAssigned:
			assignee := ""
			if im.Assignee != nil {
				assignee = *im.Assignee
			}
			if _, err := tx.Exec(ctx, `UPDATE alerting.issues SET assignee = $2 WHERE issue_id = $1`, im.IssueID, assignee); err != nil {
				return 0, fmt.Errorf("assignee: %w", err)
			}
			continue
		case streams.ChangeCreated, streams.ChangeRegressed, streams.ChangeUnignored:
		default:
			continue // a decision triggers nothing a rule does not ask for
		}
		if u, ok := uuidOf(im.EventID); ok {
			trigIDs, trigChanges, trigIssues, trigAt, trigItems = append(trigIDs, u), append(trigChanges, im.Change), append(trigIssues, im.IssueID), append(trigAt, im.At), append(trigItems, it)
			continue
		}
		if !it.history { // unignored by the passing of time: no event
			evals = append(evals, evaluation{project: im.ProjectID, issue: im.IssueID, trigger: triggerOf[im.Change], change: im.Change,
				ev: &alertrules.Event{Level: im.Level, Title: im.Title, Culprit: im.Culprit}, now: im.At,
				triggerID: im.Change + ":" + strconv.FormatInt(im.At.UnixMicro(), 36), pos: it.pos})
		}
	}
	if len(trigIDs) > 0 {
		rows, err := tx.Query(ctx, `INSERT INTO alerting.triggers (event_id, change, issue_id, at)
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::timestamptz[]) ON CONFLICT DO NOTHING RETURNING event_id::text, change`,
			trigIDs, trigChanges, trigIssues, trigAt)
		if err != nil {
			return 0, fmt.Errorf("triggers: %w", err)
		}
		type key struct{ ID, Change string }
		added, err := pgx.CollectRows(rows, pgx.RowToStructByPos[key])
		if err != nil {
			return 0, fmt.Errorf("triggers: %w", err)
		}
		isNew := map[key]bool{}
		for _, k := range added {
			isNew[k] = true
		}
		// A trigger whose event was counted (by this batch or an earlier
		// one) is evaluated now with it; otherwise its event evaluates it
		// when it comes. Both sides lock the issue's row first (count), so
		// one of them sees the other.
		rows, err = tx.Query(ctx, `SELECT event_id::text, event FROM alerting.seen_events WHERE event_id = ANY($1::uuid[])`, trigIDs)
		if err != nil {
			return 0, fmt.Errorf("trigger events: %w", err)
		}
		type seenEv struct {
			ID    string
			Event []byte
		}
		found, err := pgx.CollectRows(rows, pgx.RowToStructByPos[seenEv])
		if err != nil {
			return 0, fmt.Errorf("trigger events: %w", err)
		}
		have := map[string][]byte{}
		for _, f := range found {
			have[f.ID] = f.Event
		}
		for i, id := range trigIDs {
			k := key{id, trigChanges[i]}
			raw, ok := have[id]
			if !isNew[k] || !ok || trigItems[i].history || seen[id+k.Change] {
				continue
			}
			if it := byID[id]; it != nil && it.fresh {
				continue // evaluated below, with the fresh event
			}
			im := trigItems[i].im
			ev, err := alertrules.DecodeEvent(raw)
			if err != nil {
				continue
			}
			if bytes.Equal(raw, emptyEvent) {
				// Kept without its body (its grouped message told no
				// change, as a reprocess's new issue does not): what the
				// issue change says of it.
				ev, raw = &alertrules.Event{Level: im.Level, Title: im.Title, Culprit: im.Culprit}, nil
			}
			seen[id+k.Change] = true
			evals = append(evals, evaluation{project: im.ProjectID, issue: im.IssueID, trigger: triggerOf[k.Change], change: k.Change,
				ev: ev, raw: raw, eventID: im.EventID, now: im.At, triggerID: k.Change + ":" + im.EventID, pos: trigItems[i].pos})
		}
	}
	// 4. Fresh events: every event, and the issue changes waiting for
	// them, looked for only for events a change may name.
	var named []string
	for _, id := range freshIDs {
		if it := byID[id]; !it.history && (mayTrigger(it.g) || slices.Contains(trigIDs, id)) {
			named = append(named, id)
		}
	}
	changes := map[string][]string{}
	if len(named) > 0 {
		rows, err := tx.Query(ctx, `SELECT event_id::text, change FROM alerting.triggers WHERE event_id = ANY($1::uuid[])`, named)
		if err != nil {
			return 0, fmt.Errorf("waiting triggers: %w", err)
		}
		type waiting struct{ ID, Change string }
		ws, err := pgx.CollectRows(rows, pgx.RowToStructByPos[waiting])
		if err != nil {
			return 0, fmt.Errorf("waiting triggers: %w", err)
		}
		for _, w := range ws {
			changes[w.ID] = append(changes[w.ID], w.Change)
		}
	}
	for _, it := range items { // in stream order
		if !it.fresh || it.history {
			continue
		}
		g, id := it.g, it.uuid
		base := evaluation{project: g.ProjectID, issue: g.IssueID, ev: it.ev, raw: g.Event, eventID: g.EventID, now: g.Received, pos: it.pos}
		for _, c := range changes[id] {
			if seen[id+c] {
				continue
			}
			seen[id+c] = true
			e := base
			e.trigger, e.change, e.triggerID = triggerOf[c], c, c+":"+g.EventID
			evals = append(evals, e)
		}
		e := base
		e.trigger, e.triggerID = alertrules.TriggerEvent, "event:"+g.EventID
		evals = append(evals, e)
	}
	if len(evals) == 0 {
		return 0, nil
	}
	return s.evaluate(ctx, tx, evals, rules, laterOf(items))
}

// laterEvents are a batch's fresh events by issue and by project, in
// stream order: the counts a batch reads hold all of them, and an
// evaluation takes back those that came after what it evaluates, so a
// rule meets its threshold at the event that crossed it, whatever the
// batch's size.
type laterEvents struct {
	byIssue, byProject map[int64][]batchEvent
}

type batchEvent struct {
	pos    int
	minute time.Time
}

func laterOf(items []*item) *laterEvents {
	l := &laterEvents{byIssue: map[int64][]batchEvent{}, byProject: map[int64][]batchEvent{}}
	for _, it := range items {
		if it.fresh {
			c := batchEvent{it.pos, minute(it.g.Received)}
			l.byIssue[it.g.IssueID] = append(l.byIssue[it.g.IssueID], c)
			l.byProject[it.g.ProjectID] = append(l.byProject[it.g.ProjectID], c)
		}
	}
	return l
}

// counts are e's window counts: base, the batch's, without the events
// that came after e in the batch. Distinct users are left as they are
// (a later event's user may have come before too).
func (l *laterEvents) counts(base windowCounts, e *evaluation) windowCounts {
	if len(base) == 0 {
		return base
	}
	out := slices.Clone(base)
	end := minute(e.now).Add(time.Minute)
	for i := range out {
		var evs []batchEvent
		switch out[i].w.Kind {
		case alertrules.CountEvents:
			evs = l.byIssue[e.issue]
		case alertrules.CountProjectEvents:
			evs = l.byProject[e.project]
		}
		we := end.Add(-out[i].w.Offset)
		ws := we.Add(-out[i].w.Length)
		after := sort.Search(len(evs), func(j int) bool { return evs[j].pos > e.pos })
		for _, c := range evs[after:] {
			if !c.minute.Before(ws) && c.minute.Before(we) {
				out[i].n--
			}
		}
	}
	return out
}

// count adds the fresh events to the per-minute counts, users, releases
// and issues, in key order so replicas never deadlock.
func (s *Service) count(ctx context.Context, tx pgx.Tx, items []*item) error {
	type ck struct {
		project, issue int64
		minute         time.Time
	}
	type uk struct {
		issue  int64
		minute time.Time
		user   string
	}
	type rk struct {
		project int64
		release string
	}
	type is struct {
		project int64
		first   time.Time
		n       int64
	}
	counts, users, releases, iss := map[ck]int64{}, map[uk]bool{}, map[rk]time.Time{}, map[int64]*is{}
	touch := func(issue, project int64, t time.Time, n int64) {
		x := iss[issue]
		if x == nil {
			x = &is{project: project, first: t}
			iss[issue] = x
		}
		if t.Before(x.first) {
			x.first = t
		}
		x.n += n
	}
	for _, it := range items {
		if it.g != nil && it.fresh {
			g, m := it.g, minute(it.g.Received)
			counts[ck{g.ProjectID, g.IssueID, m}]++
			counts[ck{g.ProjectID, 0, m}]++
			if u := it.ev.UserKey(); u != "" {
				users[uk{g.IssueID, m, clip(u, 200)}] = true
			}
			if r := it.ev.Release; r != "" {
				k := rk{g.ProjectID, clip(r, 200)}
				if t, ok := releases[k]; !ok || g.Received.Before(t) {
					releases[k] = g.Received
				}
			}
			touch(g.IssueID, g.ProjectID, g.Received, 1)
		}
		if it.im != nil && triggerOf[it.im.Change] != 0 {
			touch(it.im.IssueID, it.im.ProjectID, it.im.At, 0)
		}
	}
	// One round trip for the four statements, issues first: their rows
	// are what an issue change and its event rendezvous on.
	var q pgx.Batch
	var what []string
	ids := make([]int64, 0, len(iss))
	for id := range iss {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var projs, ns []int64
	var firsts []time.Time
	for _, id := range ids {
		projs, firsts, ns = append(projs, iss[id].project), append(firsts, iss[id].first), append(ns, iss[id].n)
	}
	if len(ids) > 0 {
		q.Queue(`INSERT INTO alerting.issues (issue_id, project_id, first_seen, times_seen)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::bigint[])
			ON CONFLICT (issue_id) DO UPDATE SET times_seen = issues.times_seen + excluded.times_seen,
				first_seen = least(issues.first_seen, excluded.first_seen)`, ids, projs, firsts, ns)
		what = append(what, "issues")
	}
	if len(counts) > 0 {
		keys := make([]ck, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, b := keys[i], keys[j]
			if a.issue != b.issue {
				return a.issue < b.issue
			}
			if a.project != b.project {
				return a.project < b.project
			}
			return a.minute.Before(b.minute)
		})
		var p, i, n []int64
		var m []time.Time
		for _, k := range keys {
			p, i, m, n = append(p, k.project), append(i, k.issue), append(m, k.minute), append(n, counts[k])
		}
		q.Queue(`INSERT INTO alerting.counts (project_id, issue_id, minute, n)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::bigint[])
			ON CONFLICT (issue_id, project_id, minute) DO UPDATE SET n = counts.n + excluded.n`, p, i, m, n)
		what = append(what, "counts")
		// The same by hour, in the same key order.
		type hk struct {
			project, issue int64
			hour           time.Time
		}
		hourly := map[hk]int64{}
		var hkeys []hk
		for _, k := range keys {
			h := hk{k.project, k.issue, k.minute.Truncate(time.Hour)}
			if _, ok := hourly[h]; !ok {
				hkeys = append(hkeys, h)
			}
			hourly[h] += counts[k]
		}
		var hp, hi, hn []int64
		var hh []time.Time
		for _, k := range hkeys {
			hp, hi, hh, hn = append(hp, k.project), append(hi, k.issue), append(hh, k.hour), append(hn, hourly[k])
		}
		q.Queue(`INSERT INTO alerting.counts_hourly (project_id, issue_id, hour, n)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::bigint[])
			ON CONFLICT (issue_id, project_id, hour) DO UPDATE SET n = counts_hourly.n + excluded.n`, hp, hi, hh, hn)
		what = append(what, "hourly counts")
	}
	if len(users) > 0 {
		// In key order, as the counts; the hourly rows are the same keys
		// with their minutes truncated, sorted again and deduplicated (a
		// user of minute 1 sorts after one of minute 0; in their hour, by
		// name).
		byKey := func(a, b uk) int {
			return cmp.Or(cmp.Compare(a.issue, b.issue), a.minute.Compare(b.minute), strings.Compare(a.user, b.user))
		}
		columns := func(keys []uk) ([]int64, []time.Time, []string) {
			slices.SortFunc(keys, byKey)
			keys = slices.CompactFunc(keys, func(a, b uk) bool { return byKey(a, b) == 0 })
			i, m, u := make([]int64, len(keys)), make([]time.Time, len(keys)), make([]string, len(keys))
			for j, k := range keys {
				i[j], m[j], u[j] = k.issue, k.minute, k.user
			}
			return i, m, u
		}
		minutes, hours := make([]uk, 0, len(users)), make([]uk, 0, len(users))
		for k := range users {
			minutes = append(minutes, k)
			hours = append(hours, uk{k.issue, k.minute.Truncate(time.Hour), k.user})
		}
		i, m, u := columns(minutes)
		q.Queue(`INSERT INTO alerting.users (issue_id, minute, user_key)
			SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) ON CONFLICT DO NOTHING`, i, m, u)
		i, m, u = columns(hours)
		q.Queue(`INSERT INTO alerting.users_hourly (issue_id, hour, user_key)
			SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) ON CONFLICT DO NOTHING`, i, m, u)
		what = append(what, "users", "hourly users")
	}
	if len(releases) > 0 {
		var p []int64
		var r []string
		var t []time.Time
		for k, v := range releases {
			p, r, t = append(p, k.project), append(r, k.release), append(t, v)
		}
		q.Queue(`INSERT INTO alerting.releases (project_id, release, first_seen)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[])
			ON CONFLICT (project_id, release) DO UPDATE SET first_seen = least(releases.first_seen, excluded.first_seen)
			WHERE excluded.first_seen < releases.first_seen`, p, r, t)
		what = append(what, "releases")
	}
	if len(what) == 0 {
		return nil
	}
	br := tx.SendBatch(ctx, &q)
	for _, w := range what {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("%s: %w", w, err)
		}
	}
	return br.Close()
}

// windowCounts is a Counter over counts fetched for one evaluation: the
// few windows its project's rules read, looked through in order (cheaper
// than hashing a Window for each of 50 rules' conditions).
type windowCounts []windowCount

type windowCount struct {
	w alertrules.Window
	n int64
}

func (c windowCounts) Count(w alertrules.Window) int64 {
	for _, x := range c {
		if x.w == w {
			return x.n
		}
	}
	return 0
}

// countKey names the counts of an issue at a minute.
type countKey struct {
	issue  int64
	minute time.Time
}

// batchCounts fetches, in one query, the windows the rules of each
// evaluation's project read, for its issue at its minute. Windows are
// whole minutes ending with that minute.
func batchCounts(ctx context.Context, tx pgx.Tx, evals []evaluation, rules map[int64][]rule) (map[countKey]windowCounts, error) {
	windows := map[int64][]alertrules.Window{}
	out := map[countKey]windowCounts{}
	type ref struct {
		key countKey
		w   alertrules.Window
	}
	var refs []ref
	var kinds []int32
	var projects, issues []int64
	var starts, ends, hourStarts, hourEnds []time.Time
	for _, e := range evals {
		rs := rules[e.project]
		if len(rs) == 0 {
			continue
		}
		k := countKey{e.issue, minute(e.now)}
		if _, ok := out[k]; ok {
			continue
		}
		out[k] = nil
		ws, ok := windows[e.project]
		if !ok {
			seen := map[alertrules.Window]bool{}
			for _, r := range rs {
				for _, w := range r.Windows() {
					if !seen[w] {
						seen[w] = true
						ws = append(ws, w)
					}
				}
			}
			windows[e.project] = ws
		}
		end := k.minute.Add(time.Minute)
		for _, w := range ws {
			we := end.Add(-w.Offset)
			refs = append(refs, ref{k, w})
			kinds, projects, issues = append(kinds, int32(w.Kind)), append(projects, e.project), append(issues, e.issue)
			start := we.Add(-w.Length)
			hs, he := wholeHours(start, we)
			starts, ends, hourStarts, hourEnds = append(starts, start), append(ends, we), append(hourStarts, hs), append(hourEnds, he)
		}
	}
	if len(refs) == 0 {
		return out, nil
	}
	// Counts of a window with whole hours in it read those hours from
	// counts_hourly and only the minutes before and after from counts;
	// its distinct users are those of users_hourly's whole hours and of
	// the minutes at either end, counted together.
	sum := func(issue string) string {
		minutes := func(from, to string) string {
			return `(SELECT coalesce(sum(n), 0) FROM alerting.counts WHERE issue_id = ` + issue +
				` AND project_id = w.project AND minute >= ` + from + ` AND minute < ` + to + `)`
		}
		return `CASE WHEN w.hs < w.he THEN ` + minutes("w.s", "w.hs") + ` + ` + minutes("w.he", "w.e") +
			` + (SELECT coalesce(sum(n), 0) FROM alerting.counts_hourly WHERE issue_id = ` + issue +
			` AND project_id = w.project AND hour >= w.hs AND hour < w.he) ELSE ` + minutes("w.s", "w.e") + ` END`
	}
	rows, err := tx.Query(ctx, `SELECT CASE w.kind
		WHEN 0 THEN `+sum("w.issue")+`
		WHEN 1 THEN CASE WHEN w.hs < w.he THEN (SELECT count(DISTINCT user_key) FROM (
				SELECT user_key FROM alerting.users WHERE issue_id = w.issue AND minute >= w.s AND minute < w.hs
				UNION ALL SELECT user_key FROM alerting.users WHERE issue_id = w.issue AND minute >= w.he AND minute < w.e
				UNION ALL SELECT user_key FROM alerting.users_hourly WHERE issue_id = w.issue AND hour >= w.hs AND hour < w.he) u)
			ELSE (SELECT count(DISTINCT user_key) FROM alerting.users WHERE issue_id = w.issue AND minute >= w.s AND minute < w.e) END
		ELSE `+sum("0")+` END
		FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[])
			WITH ORDINALITY AS w(kind, project, issue, s, e, hs, he, i)
		ORDER BY w.i`, kinds, projects, issues, starts, ends, hourStarts, hourEnds)
	if err != nil {
		return nil, fmt.Errorf("counts: %w", err)
	}
	ns, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("counts: %w", err)
	}
	if len(ns) != len(refs) {
		return nil, fmt.Errorf("counts: %d windows answered, want %d", len(ns), len(refs))
	}
	for i, r := range refs {
		out[r.key] = append(out[r.key], windowCount{r.w, ns[i]})
	}
	return out, nil
}

// wholeHours is the span of whole (UTC) hours within [start, end); an
// empty span (from == to) when there is none.
func wholeHours(start, end time.Time) (from, to time.Time) {
	from, to = start.Truncate(time.Hour), end.Truncate(time.Hour)
	if from.Before(start) {
		from = from.Add(time.Hour)
	}
	if !from.Before(to) {
		return end, end
	}
	return from, to
}

// mailsOwners tells whether any of rules mails issue owners.
func mailsOwners(rules []rule) bool {
	for _, r := range rules {
		for _, a := range r.Actions {
			if a.Channel == alertrules.ChannelEmail && a.TargetType == "IssueOwners" {
				return true
			}
		}
	}
	return false
}
