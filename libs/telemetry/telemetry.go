// Package telemetry owns Faultline's OpenTelemetry traces: the tracer
// provider set up from the standard OTEL_* variables, exported with OTLP
// (http/protobuf or grpc), and the W3C trace context that NATS messages
// carry from one role to the next (nats.go).
//
// Traces are off unless an OTLP endpoint is configured. Off, Setup returns
// a nil *Tracing whose Tracer is nil: the roles test for a nil tracer and
// do no tracing work at all, so tracing costs nothing on the hot paths.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline/faultline/libs/config"
)

// ServiceName is the service.name of Faultline's spans unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES says otherwise.
const ServiceName = "faultline"

// Tracing is a process's tracer provider and its OTLP exporter.
type Tracing struct {
	provider *sdktrace.TracerProvider
}

// Setup starts exporting traces when cfg is on; otherwise it returns nil,
// and a nil *Tracing is off. The exporter and the SDK read the rest of the
// standard variables from the process environment themselves: the endpoint
// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT with
// /v1/traces appended for http/protobuf), OTEL_EXPORTER_OTLP_HEADERS,
// _TIMEOUT, _COMPRESSION, _CERTIFICATE, _INSECURE, OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and its argument, OTEL_BSP_*
// and the span limits. version and roles describe the process in the
// resource. Exporter errors are logged to log.
func Setup(ctx context.Context, cfg config.TracesConfig, version string, roles []string, log *slog.Logger) (*Tracing, error) {
	if !cfg.On() {
		return nil, nil
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch cfg.Protocol {
	case config.ProtocolGRPC:
		exp, err = otlptracegrpc.New(ctx)
	case config.ProtocolHTTP, "":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, fmt.Errorf("traces: protocol %q not supported", cfg.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("traces: OTLP exporter: %w", err)
	}
	// Later sources win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override the defaults.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithAttributes(
			semconv.ServiceName(ServiceName),
			semconv.ServiceVersion(version),
			attribute.StringSlice("faultline.roles", roles),
		),
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		exp.Shutdown(ctx)
		return nil, fmt.Errorf("traces: resource: %w", err)
	}
	// OpenTelemetry reports export failures through its one global handler.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("opentelemetry", slog.Any("error", err))
	}))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp), // OTEL_BSP_* tune it
		sdktrace.WithResource(res),
		// The sampler is OTEL_TRACES_SAMPLER's, parentbased_always_on by default.
	)
	log.Info("exporting traces", slog.String("endpoint", cfg.Endpoint), slog.String("protocol", cfg.Protocol))
	return &Tracing{provider: tp}, nil
}

// Tracer is the named tracer, or nil when t is off.
func (t *Tracing) Tracer(name string) trace.Tracer {
	if t == nil {
		return nil
	}
	return t.provider.Tracer(name)
}

// Shutdown exports the spans still buffered and stops the exporter, waiting
// at most until ctx ends. A nil *Tracing has nothing to do.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("traces: shutdown: %w", err)
	}
	return nil
}

// ShutdownTimeout bounds how long a stopping process waits to export its
// last spans.
const ShutdownTimeout = 10 * time.Second
