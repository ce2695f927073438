package selfreport_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/libs/selfreport"
	"github.com/faultline/faultline/libs/selfreport/selfreporttest"
)

func newReporter(t *testing.T, r *selfreporttest.Receiver, o selfreport.Options) *selfreport.Reporter {
	t.Helper()
	o.DSN, o.Release = r.DSN(), "faultline@test"
	rep, err := selfreport.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close(time.Second) })
	return rep
}

// TestErrorRecordIsReported: an Error record reaches the DSN as an event
// with its message, the logger's role as a tag, its attributes in its log
// context with secrets redacted (as in the log), and the stack of the log
// call; records below Error are logged and not sent.
func TestErrorRecordIsReported(t *testing.T) {
	r := selfreporttest.Start(t)
	rep := newReporter(t, r, selfreport.Options{})
	var logged bytes.Buffer
	log := slog.New(rep.Handler(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: slog.LevelWarn,
		ReplaceAttr: selfreport.Redact}))).With(slog.String("role", "grouping"))

	log.Info("not logged, not sent")
	log.Warn("logged, not sent")
	logStoreFailure(log)
	if !rep.Flush(10 * time.Second) {
		t.Fatal("not flushed within 10 s")
	}
	got := r.Events()
	if len(got) != 1 {
		t.Fatalf("%d events sent, want 1 (the Error record): %+v", len(got), got)
	}
	ev := got[0]
	if ev.Message != "batch failed to store" || ev.Level != "error" || ev.Release != "faultline@test" || ev.Logger != "faultline" {
		t.Errorf("event: message %q level %q release %q logger %q", ev.Message, ev.Level, ev.Release, ev.Logger)
	}
	if ev.Tags["role"] != "grouping" {
		t.Errorf("tags %v, want role=grouping", ev.Tags)
	}
	wantAttrs := map[string]any{
		"messages":          float64(12),
		"error":             "connect postgres://faultline:" + "[redacted]" + "@db:5432/faultline: refused",
		"smtp_password":     "[redacted]",
		"request.auth_hdr":  "Bearer [redacted]",
		"request.api_token": "[redacted]",
	}
	for k, want := range wantAttrs {
		if ev.Contexts.Log[k] != want {
			t.Errorf("contexts.log[%s] = %#v, want %#v", k, ev.Contexts.Log[k], want)
		}
	}
	for _, secret := range []string{"s3cr3t-pw", "hunter2", "abc.def.ghi", "flt_0123456789"} {
		if strings.Contains(ev.Raw, secret) {
			t.Errorf("the event holds the secret %q: %s", secret, ev.Raw)
		}
		if strings.Contains(logged.String(), secret) {
			t.Errorf("the log holds the secret %q: %s", secret, logged.String())
		}
	}
	if len(ev.Threads) != 1 {
		t.Fatalf("%d threads, want 1 with the log call's stack", len(ev.Threads))
	}
	if fn := ev.Threads[0].Stacktrace.Innermost(); fn != "github.com/faultline/faultline/libs/selfreport_test.logStoreFailure" {
		t.Errorf("innermost frame %q, want the log call in logStoreFailure", fn)
	}
	if !strings.Contains(logged.String(), "logged, not sent") || strings.Contains(logged.String(), "not logged") {
		t.Errorf("the wrapped handler's level is not kept: %s", logged.String())
	}
	if got := reports(t, rep); got["captured"] != 1 || got["rate_limited"] != 0 {
		t.Errorf("faultline_self_reports_total: %v, want captured 1", got)
	}
}

func logStoreFailure(log *slog.Logger) {
	log.Error("batch failed to store", slog.Int("messages", 12),
		slog.Any("error", errors.New("connect postgres://faultline:s3cr3t-pw@db:5432/faultline: refused")),
		slog.String("smtp_password", "hunter2"),
		slog.Group("request", slog.String("auth_hdr", "Bearer abc.def.ghi"), slog.String("api_token", "flt_0123456789")))
}

// reports reads faultline_self_reports_total by outcome.
func reports(t *testing.T, rep *selfreport.Reporter) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(rep.Metrics())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return got
}

// TestRecoveredPanicIsReported: a panic recovered and logged the way
// Faultline's consumers do (slog.Any("panic", v) in the deferred recover)
// reaches the DSN as a fatal exception named by the panic value, whose
// stack ends in the function that panicked, not in the recovery.
func TestRecoveredPanicIsReported(t *testing.T) {
	r := selfreporttest.Start(t)
	rep := newReporter(t, r, selfreport.Options{})
	log := slog.New(rep.Handler(slog.DiscardHandler))

	handleOne(log, func() { panic("a normalizer bug") })
	var m map[string]int
	handleOne(log, func() { m["x"]++ }) // a runtime error
	if !rep.Flush(10 * time.Second) {
		t.Fatal("not flushed within 10 s")
	}
	got := r.Events()
	if len(got) != 2 {
		t.Fatalf("%d events sent, want 2", len(got))
	}
	for i, want := range []struct{ typ, value string }{
		{"panic", "a normalizer bug"},
		{"runtime.plainError", "assignment to entry in nil map"},
	} {
		ev := got[i]
		if ev.Level != "fatal" || ev.Message != "panic while preparing a message; it is rejected" {
			t.Errorf("event %d: level %q message %q", i, ev.Level, ev.Message)
		}
		if len(ev.Exception) != 1 {
			t.Fatalf("event %d: %d exceptions, want 1: %s", i, len(ev.Exception), ev.Raw)
		}
		x := ev.Exception[0]
		if x.Type != want.typ || x.Value != want.value {
			t.Errorf("event %d: exception %s: %q, want %s: %q", i, x.Type, x.Value, want.typ, want.value)
		}
		if fn := x.Stacktrace.Innermost(); !strings.HasPrefix(fn, "github.com/faultline/faultline/libs/selfreport_test.TestRecoveredPanicIsReported.func") {
			t.Errorf("event %d: innermost frame %q, want the function that panicked", i, fn)
		}
		if _, ok := ev.Contexts.Log["stack"]; ok {
			t.Errorf("event %d: the text stack is sent too", i)
		}
		if ev.Contexts.Log["subject"] != "ingest.1.error" {
			t.Errorf("event %d: log context %v", i, ev.Contexts.Log)
		}
	}
}

// handleOne runs f the way a consumer handles one message: a panic is
// recovered, logged and the message rejected.
func handleOne(log *slog.Logger, f func()) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("panic while preparing a message; it is rejected", slog.String("subject", "ingest.1.error"),
				slog.Any("panic", v), slog.String("stack", "goroutine 1 [running]: ..."))
		}
	}()
	f()
}

// TestReportsAreRateLimited: past the burst, errors are counted and not
// sent, so a failure on every request cannot flood the receiver.
func TestReportsAreRateLimited(t *testing.T) {
	r := selfreporttest.Start(t)
	rep := newReporter(t, r, selfreport.Options{Burst: 5, PerSecond: 0.001})
	log := slog.New(rep.Handler(slog.DiscardHandler))
	for i := range 30 {
		log.Error("request failed", slog.Int("i", i))
	}
	if !rep.Flush(10 * time.Second) {
		t.Fatal("not flushed within 10 s")
	}
	if got := len(r.Events()); got != 5 {
		t.Errorf("%d events sent, want the burst of 5", got)
	}
	if got := reports(t, rep); got["captured"] != 5 || got["rate_limited"] != 25 {
		t.Errorf("faultline_self_reports_total: %v, want captured 5 and rate_limited 25", got)
	}
}

// TestRedactKeepsWhatIsNotSecret: Redact leaves ordinary attributes alone.
func TestRedactKeepsWhatIsNotSecret(t *testing.T) {
	for _, a := range []slog.Attr{
		slog.String("route", "/api/{project_id}/envelope/"),
		slog.String("url", "nats://127.0.0.1:4222"),
		slog.String("key", "5b0c6e7d"), // a DSN's public key
		slog.Any("error", fmt.Errorf("dial tcp 10.0.0.7:5432: connection refused")),
		slog.Int("status", 500),
	} {
		if got := selfreport.Redact(nil, a); !got.Equal(a) {
			t.Errorf("Redact(%v) = %v, want it unchanged", a, got)
		}
	}
}

// TestCloseSendsWhatIsQueued: Close returns once the events logged before
// it have reached a slow receiver, as a process's shutdown needs.
func TestCloseSendsWhatIsQueued(t *testing.T) {
	r := selfreporttest.Start(t)
	r.SetDelay(300 * time.Millisecond)
	rep, err := selfreport.New(selfreport.Options{DSN: r.DSN()})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(rep.Handler(slog.DiscardHandler))
	log.Error("stopping with an error")
	rep.Close(10 * time.Second)
	if got := r.Events(); len(got) != 1 || got[0].Message != "stopping with an error" {
		t.Errorf("received by the time Close returned: %+v, want the error", got)
	}
}
