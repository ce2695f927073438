package telemetry

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// A message on INGEST or EVENTS carries the context of the span that made
// it in W3C Trace Context headers, spelled as the W3C spells them:
// "traceparent" and "tracestate". The gateway also keeps the client's own
// trace headers on INGEST messages, as received, under "Traceparent" (and
// Sentry-Trace, Baggage): that is the application's trace, data for
// analytics, and NATS header names are case-sensitive, so the two never mix.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// propagator reads and writes traceparent and tracestate; it holds no
// state.
var propagator = propagation.TraceContext{}

// Header is a propagation.TextMapCarrier over a NATS message header. Keys
// are matched exactly, as NATS does.
type Header nats.Header

// Get returns the first value of key.
func (h Header) Get(key string) string { return nats.Header(h).Get(key) }

// Set replaces the values of key.
func (h Header) Set(key, value string) { nats.Header(h).Set(key, value) }

// Keys lists the header's keys.
func (h Header) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes sc into h. An invalid sc (no span: tracing is off) writes
// nothing.
func Inject(sc trace.SpanContext, h nats.Header) {
	if !sc.IsValid() || h == nil {
		return
	}
	propagator.Inject(trace.ContextWithSpanContext(context.Background(), sc), Header(h))
}

// Extract reads the span context h carries; it is invalid when h carries
// none, or a malformed one.
func Extract(h nats.Header) trace.SpanContext {
	if h == nil || h.Get(HeaderTraceparent) == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(propagator.Extract(context.Background(), Header(h)))
}

// AppendLink appends a link to the span context h carries, if any and if
// the last link is not already to it: a grouping batch publishes an issue's
// change and its event one after the other, from one span.
func AppendLink(links []trace.Link, h nats.Header) []trace.Link {
	sc := Extract(h)
	if !sc.IsValid() || len(links) > 0 && links[len(links)-1].SpanContext.Equal(sc) {
		return links
	}
	return append(links, trace.Link{SpanContext: sc})
}

// StartBatch starts the span of one batch of a durable consumer of stream:
// "<consumer> process", a root of its own trace (a batch has many
// parents), linked to the context each of its messages carries. The SDK
// keeps the first OTEL_SPAN_LINK_COUNT_LIMIT links (128 by default) and
// counts the others as dropped. opts may add to the span's options (a
// start time).
func StartBatch(ctx context.Context, tracer trace.Tracer, consumer, stream string, messages int, links []trace.Link, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return tracer.Start(ctx, consumer+" process", append(opts,
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(links...),
		trace.WithAttributes(
			semconv.MessagingSystemKey.String("nats"),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationName(stream),
			semconv.MessagingConsumerGroupName(consumer),
			semconv.MessagingBatchMessageCount(messages),
		))...)
}

// EndBatch ends a batch span, marking it failed when err is not nil.
func EndBatch(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
