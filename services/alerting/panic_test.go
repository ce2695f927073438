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
