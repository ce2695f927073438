package telemetry_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/telemetry"
	"github.com/faultline/faultline/libs/telemetry/otlptest"
)

// TestOff: without an endpoint there is no provider and no tracer, and
// shutting the nothing down is fine.
func TestOff(t *testing.T) {
	tr, err := telemetry.Setup(context.Background(), config.TracesConfig{}, "test", nil, slog.New(slog.DiscardHandler))
	if err != nil || tr != nil {
		t.Fatalf("Setup without an endpoint: %v, %v; want nil, nil", tr, err)
	}
	if tracer := tr.Tracer("x"); tracer != nil {
		t.Errorf("Tracer of nothing: %v, want nil", tracer)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestExport sends a span to an in-process receiver over each protocol,
// reading the endpoint and the rest from the standard variables. The batch
// delay is a minute, so only Shutdown's flush can have sent it.
func TestExport(t *testing.T) {
	for _, tt := range []struct {
		protocol string
		start    func(testing.TB) *otlptest.Receiver
		env      map[string]string
		service  string
	}{
		{config.ProtocolHTTP, otlptest.StartHTTP, nil, "faultline"},
		{config.ProtocolHTTP, otlptest.StartHTTP, map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_SERVICE_NAME": "faultline-eu"}, "faultline-eu"},
		{config.ProtocolGRPC, otlptest.StartGRPC, map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test,service.name=from-attrs"}, "from-attrs"},
	} {
		t.Run(tt.protocol, func(t *testing.T) {
			rcv := tt.start(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.Endpoint)
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", tt.protocol)
			t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			ctx := context.Background()
			tr, err := telemetry.Setup(ctx, config.TracesConfig{Endpoint: rcv.Endpoint, Protocol: tt.protocol}, "v1.2.3", []string{"gateway", "grouping"}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			_, span := tr.Tracer("test").Start(ctx, "work", trace.WithSpanKind(trace.SpanKindServer))
			span.End()
			if n := rcv.Requests(); n != 0 {
				t.Fatalf("%d export requests before Shutdown; the batch delay is a minute", n)
			}
			if err := tr.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			spans := rcv.Spans()
			if len(spans) != 1 {
				t.Fatalf("received %v, want the one span", spans)
			}
			s := spans[0]
			if s.Name != "work" || s.Kind != tracepb.Span_SPAN_KIND_SERVER || s.SpanID != span.SpanContext().SpanID() {
				t.Errorf("received %v, want span %s named work", s, span.SpanContext().SpanID())
			}
			if got := s.Resource["service.name"]; got != tt.service {
				t.Errorf("service.name %q, want %q", got, tt.service)
			}
			if s.Resource["service.version"] != "v1.2.3" || s.Resource["faultline.roles"] != "[gateway grouping]" {
				t.Errorf("resource %v, want service.version v1.2.3 and faultline.roles [gateway grouping]", s.Resource)
			}
		})
	}
}

// TestSamplerFromEnv: OTEL_TRACES_SAMPLER is the SDK's to read; always_off
// exports nothing, and the span's context says it was not sampled.
func TestSamplerFromEnv(t *testing.T) {
	rcv := otlptest.StartHTTP(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.Endpoint)
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	ctx := context.Background()
	tr, err := telemetry.Setup(ctx, config.TracesConfig{Endpoint: rcv.Endpoint, Protocol: config.ProtocolHTTP}, "test", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Tracer("test").Start(ctx, "unsampled")
	span.End()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if span.SpanContext().IsSampled() || len(rcv.Spans()) != 0 {
		t.Errorf("with OTEL_TRACES_SAMPLER=always_off: sampled %v, %d spans exported", span.SpanContext().IsSampled(), len(rcv.Spans()))
	}
}

// TestHeaderCarriesContext: a span context written into a NATS header is
// read back as the remote context it is; nothing is written for no span;
// and a client's own "Traceparent", which the gateway keeps on INGEST
// messages as received, is not taken for Faultline's.
func TestHeaderCarriesContext(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	h := nats.Header{}
	telemetry.Inject(sc, h)
	if got := h.Get(telemetry.HeaderTraceparent); got != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Errorf("traceparent %q", got)
	}
	got := telemetry.Extract(h)
	if !got.IsRemote() || got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsSampled() {
		t.Errorf("extracted %+v, want the remote %+v", got, sc)
	}
	if links := telemetry.AppendLink(nil, h); len(links) != 1 || links[0].SpanContext.SpanID() != sc.SpanID() {
		t.Errorf("links %+v, want one to %s", links, sc.SpanID())
	}
	other := nats.Header{}
	telemetry.Inject(trace.NewSpanContext(trace.SpanContextConfig{TraceID: sc.TraceID(), SpanID: trace.SpanID{1}}), other)
	links := telemetry.AppendLink(telemetry.AppendLink(telemetry.AppendLink(nil, h), h), other)
	if len(links) != 2 || links[1].SpanContext.SpanID() != (trace.SpanID{1}) {
		t.Errorf("links to h, h, other: %+v, want one to each", links)
	}

	empty := nats.Header{}
	telemetry.Inject(trace.SpanContext{}, empty)
	if len(empty) != 0 {
		t.Errorf("no span wrote %v", empty)
	}
	telemetry.Inject(sc, nil) // no header, no panic

	client := nats.Header{"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
	if got := telemetry.Extract(client); got.IsValid() {
		t.Errorf("a client's Traceparent was taken for Faultline's: %+v", got)
	}
	if links := telemetry.AppendLink(nil, client); len(links) != 0 {
		t.Errorf("links %+v from a client's Traceparent", links)
	}
	bad := nats.Header{telemetry.HeaderTraceparent: {"00-zz-nonsense"}}
	if got := telemetry.Extract(bad); got.IsValid() {
		t.Errorf("malformed traceparent read as %+v", got)
	}
}
