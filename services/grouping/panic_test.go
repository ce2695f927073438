package grouping

import (
	"fmt"
	"testing"

	"github.com/faultline/faultline/streams"
)

// TestPanicRejectsOneMessage: a panic while one message is prepared
// terminates that message with its reason and records it; the messages
// around it are grouped and the consumer goes on.
func TestPanicRejectsOneMessage(t *testing.T) {
	e := newEnv(t)
	s := e.start(e.pool, testOptions())
	poison := newEventID()
	hook := func(m *message) {
		if m.msg.Headers().Get(streams.HeaderEventID) == poison {
			panic("a normalizer bug")
		}
	}
	s.testHookPrepare.Store(&hook)
	e.publish(testEvent{excType: "KeyError", excValue: "before", function: "f"}.msg(3))
	e.publish(testEvent{id: poison, excType: "KeyError", excValue: "poison", function: "f"}.msg(3))
	e.publish(testEvent{excType: "KeyError", excValue: "after", function: "f"}.msg(3))
	waitFor(t, "the poison message rejected and the others grouped", func() (bool, string) {
		events := count(t, e.pool, `SELECT count(*) FROM grouping.events`)
		rejected := count(t, e.pool, `SELECT count(*) FROM grouping.rejected WHERE reason LIKE 'panic: a normalizer bug%'`)
		return events == 2 && rejected == 1, fmt.Sprintf("%d events, %d rejected", events, rejected)
	})
}
