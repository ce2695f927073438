package analytics_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline/faultline/libs/telemetry"
	"github.com/faultline/faultline/streams"
)

// TestBatchSpans: with a tracer, each insert is a consumer span of its
// durable consumer, linked to the context its messages carry: the gateway
// request's on INGEST, the grouping batch's on EVENTS.
func TestBatchSpans(t *testing.T) {
	e := setup(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	ctx := context.Background()
	_, request := tp.Tracer("gateway").Start(ctx, "request")
	request.End()
	_, batch := tp.Tracer("grouping").Start(ctx, "grouping batch")
	batch.End()

	h := nats.Header{}
	h.Set(streams.HeaderProject, "5")
	h.Set(streams.HeaderReceived, time.Now().UTC().Format(time.RFC3339Nano))
	telemetry.Inject(request.SpanContext(), h)
	data := streams.EncodeEnvelope(h, sdk(t, "go-transaction"), nil)
	if _, err := e.nc.JS.PublishMsg(ctx, &nats.Msg{Subject: streams.IngestSubject(5, "transaction"), Header: h, Data: data}); err != nil {
		t.Fatal(err)
	}
	const id = "0123456789abcdef0123456789abcdef"
	enc, _ := zstd.NewWriter(nil)
	g := streams.GroupedHeader(id, 5, id, 9, []string{"h"}, time.Now())
	telemetry.Inject(batch.SpanContext(), g)
	event := enc.EncodeAll([]byte(`{"event_id":"`+id+`","timestamp":1795308929.5,"level":"error","title":"boom"}`), nil)
	if _, err := e.nc.JS.PublishMsg(ctx, &nats.Msg{Subject: streams.GroupedSubject(5), Header: g, Data: event}); err != nil {
		t.Fatal(err)
	}

	opt := testOptions()
	opt.Tracer = tp.Tracer("analytics")
	waitIdle(t, e.run(t, opt))

	for _, want := range []struct {
		name, stream string
		link         trace.SpanContext
	}{
		{"analytics-ingest process", streams.Ingest, request.SpanContext()},
		{"analytics-events process", streams.Events, batch.SpanContext()},
	} {
		var found bool
		for _, s := range rec.Ended() {
			if s.Name() != want.name {
				continue
			}
			attrs := map[string]string{}
			for _, kv := range s.Attributes() {
				attrs[string(kv.Key)] = kv.Value.Emit()
			}
			for _, l := range s.Links() {
				if l.SpanContext.SpanID() == want.link.SpanID() && l.SpanContext.TraceID() == want.link.TraceID() {
					found = true
					if s.SpanKind() != trace.SpanKindConsumer || attrs["messaging.destination.name"] != want.stream ||
						attrs["messaging.batch.message_count"] != strconv.Itoa(len(s.Links())) {
						t.Errorf("%s: kind %v, attributes %v", want.name, s.SpanKind(), attrs)
					}
				}
			}
		}
		if !found {
			t.Errorf("no %s span linked to %v", want.name, want.link)
		}
	}
}
