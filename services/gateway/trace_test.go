package gateway_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline/faultline/libs/telemetry"
)

// clientTraceparent is the client application's trace, as an SDK sends it.
const clientTraceparent = "00-771a43a4192642f0b136d5159a501700-b3a9e5a1f1c34d52-01"

// TestRequestSpan: with a tracer, each ingestion request is a server span,
// a root of its own trace (not a child of the client's traceparent), and
// the INGEST message carries its context in traceparent beside the client's
// own Traceparent; a rejected request's span says why and how it was
// answered.
func TestRequestSpan(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	opt := defaultOptions(t)
	opt.Tracer = tp.Tracer("test")
	g := c.startGateway(opt)

	id := eventID(1)
	res := g.post(t, "/api/42/envelope/", eventEnvelope(id), map[string][]string{
		"X-Sentry-Auth": {authHeader(key)},
		"Traceparent":   {clientTraceparent},
	})
	if got := res.id(t); got != id {
		t.Fatalf("id %q, want %q", got, id)
	}
	g.send(t, 42, "ffffffffffffffffffffffffffffffff", eventEnvelope(eventID(2))) // unknown key: 401

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans ended, want 2 (one per request)", len(spans))
	}
	ok, refused := spans[0], spans[1]
	if ok.Name() != "POST /api/{project_id}/envelope/" || ok.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q of kind %v, want POST /api/{project_id}/envelope/, server", ok.Name(), ok.SpanKind())
	}
	if ok.Parent().IsValid() || ok.SpanContext().TraceID().String() == "771a43a4192642f0b136d5159a501700" {
		t.Errorf("the request's span joined the client's trace (parent %v)", ok.Parent())
	}
	want := map[attribute.Key]attribute.Value{
		"http.route":                attribute.StringValue("/api/{project_id}/envelope/"),
		"http.response.status_code": attribute.IntValue(200),
		"faultline.project_id":      attribute.Int64Value(42),
		"faultline.event_id":        attribute.StringValue(id),
		"faultline.envelope.kind":   attribute.StringValue("error"),
	}
	checkAttributes(t, ok, want)

	m := c.last()
	if got := telemetry.Extract(m.Header); got.SpanID() != ok.SpanContext().SpanID() || got.TraceID() != ok.SpanContext().TraceID() {
		t.Errorf("INGEST message carries %v, want the request span's context %v", got, ok.SpanContext())
	}
	if got := m.Header.Get("Traceparent"); got != clientTraceparent {
		t.Errorf("client's Traceparent on INGEST %q, want it as received", got)
	}

	checkAttributes(t, refused, map[attribute.Key]attribute.Value{
		"http.response.status_code": attribute.IntValue(401),
		"faultline.rejected.reason": attribute.StringValue("unknown_key"),
	})
	if refused.Status().Code == codes.Error {
		t.Error("a 401 marked the span failed; only 5xx answers are the server's errors")
	}
}

// TestNoTracer: without a tracer the INGEST message carries no trace
// context of Faultline's.
func TestNoTracer(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))
	g.send(t, 42, key, eventEnvelope(eventID(1))).id(t)
	m := c.last()
	if v := m.Header.Values(telemetry.HeaderTraceparent); len(v) != 0 {
		t.Errorf("traceparent %q without a tracer", v)
	}
}

func checkAttributes(t *testing.T, s sdktrace.ReadOnlySpan, want map[attribute.Key]attribute.Value) {
	t.Helper()
	got := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		got[kv.Key] = kv.Value
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("span %s: %s = %v, want %v", s.Name(), k, got[k].Emit(), v.Emit())
		}
	}
}
