package grouping

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/selfreport"
	"github.com/faultline/faultline/libs/selfreport/selfreporttest"
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

// TestPanicIsReported: with SELF_DSN's reporter on the role's logger, the
// panic the consumer recovers reaches the DSN as an exception named by the
// panic value, whose stack ends where it panicked, tagged with the role.
func TestPanicIsReported(t *testing.T) {
	r := selfreporttest.Start(t)
	rep, err := selfreport.New(selfreport.Options{DSN: r.DSN(), Release: "faultline@test"})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close(time.Second)
	e := newEnv(t)
	s := e.startWith(e.pool, testOptions(), nil, slog.New(rep.Handler(slog.DiscardHandler)).With(slog.String("role", "grouping")))
	poison := newEventID()
	hook := func(m *message) {
		if m.msg.Headers().Get(streams.HeaderEventID) == poison {
			panic("a normalizer bug")
		}
	}
	s.testHookPrepare.Store(&hook)
	e.publish(testEvent{id: poison, excType: "KeyError", excValue: "poison", function: "f"}.msg(3))
	waitFor(t, "the panic reported", func() (bool, string) {
		rep.Flush(time.Second)
		return len(r.Events()) > 0, fmt.Sprint(len(r.Events()), " events")
	})
	ev := r.Events()[0]
	if ev.Message != "panic while preparing a message; it is rejected" || ev.Level != "fatal" || ev.Tags["role"] != "grouping" {
		t.Errorf("event: message %q level %q tags %v", ev.Message, ev.Level, ev.Tags)
	}
	if len(ev.Exception) != 1 || ev.Exception[0].Type != "panic" || ev.Exception[0].Value != "a normalizer bug" {
		t.Fatalf("exception: %+v", ev.Exception)
	}
	if fn := ev.Exception[0].Stacktrace.Innermost(); !strings.HasPrefix(fn, "github.com/faultline/faultline/services/grouping.TestPanicIsReported.func") {
		t.Errorf("innermost frame %q, want the hook that panicked", fn)
	}
}
