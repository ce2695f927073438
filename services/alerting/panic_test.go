package alerting

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/faultline/faultline/libs/natsx"

	"github.com/faultline/faultline/streams"
)

// TestPanicRejectsOneMessage: a panic while one EVENTS message is decoded
// terminates that message; the messages around it are counted and the role
// goes on.
func TestPanicRejectsOneMessage(t *testing.T) {
	h := newHarness(t)
	poison := newID()
	hook := func(m jetstream.Msg) {
		if m.Headers().Get(streams.HeaderEventID) == poison {
			panic("a decoder bug")
		}
	}
	testHookDecode.Store(&hook)
	t.Cleanup(func() { testHookDecode.Store(nil) })
	before := testutil.ToFloat64(natsx.RejectedMessages.WithLabelValues(h.opt.Consumer, "panic"))
	h.start(1)
	now := time.Now().UTC()
	h.grouped(7, newID(), now, `{"level":"error","message":"before"}`)
	h.grouped(7, poison, now, `{"level":"error","message":"poison"}`)
	h.grouped(7, newID(), now, `{"level":"error","message":"after"}`)
	h.waitCount(2, `SELECT count(*) FROM alerting.seen_events`)
	h.grouped(7, newID(), now, `{"level":"error","message":"later"}`)
	h.waitCount(3, `SELECT count(*) FROM alerting.seen_events`)
	if n := testutil.ToFloat64(natsx.RejectedMessages.WithLabelValues(h.opt.Consumer, "panic")) - before; n != 1 {
		t.Errorf("panics counted: %v, want 1", n)
	}
}

// TestPanicWhileEvaluating: a panic while one event of a batch is
// evaluated rolls the batch back; its other messages are stored one at a
// time and notified, the one that panics is rejected, and the role goes on.
func TestPanicWhileEvaluating(t *testing.T) {
	h := newHarness(t)
	h.opt.Linger = 200 * time.Millisecond // the three events make one batch
	poison := newID()
	hook := func(eventID string) {
		if eventID == poison {
			panic("an evaluation bug")
		}
	}
	testHookEvaluate.Store(&hook)
	t.Cleanup(func() { testHookEvaluate.Store(nil) })
	before := testutil.ToFloat64(natsx.RejectedMessages.WithLabelValues(h.opt.Consumer, "panic"))
	h.start(1)
	recv := newReceiver(t, 0)
	h.rule(`{"name":"every event","frequency":5,"conditions":[{"id":"sentry.rules.conditions.event_frequency.EventFrequencyCondition","value":0,"interval":"1m"}],
		"actions":[{"id":"faultline.rules.actions.SlackWebhookAction","webhook_url":"` + recv.URL + `/slack"}]}`)
	now := time.Now().UTC()
	first, last := newID(), newID()
	h.grouped(7, first, now, event(first, ""))
	h.grouped(8, poison, now, event(poison, ""))
	h.grouped(9, last, now, event(last, ""))
	h.waitCount(2, `SELECT count(*) FROM alerting.notifications`)
	later := newID()
	h.grouped(10, later, now, event(later, ""))
	h.waitCount(3, `SELECT count(*) FROM alerting.notifications`)
	if n := h.count(`SELECT count(*) FROM alerting.notifications WHERE issue_id = 8`); n != 0 {
		t.Errorf("the event that panicked notified %d times", n)
	}
	if n := h.count(`SELECT count(*) FROM alerting.seen_events`); n != 3 {
		t.Errorf("%d events counted, want 3 (all but the one that panicked)", n)
	}
	if n := testutil.ToFloat64(natsx.RejectedMessages.WithLabelValues(h.opt.Consumer, "panic")) - before; n != 1 {
		t.Errorf("panics counted: %v, want 1", n)
	}
}
