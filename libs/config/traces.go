package config

import (
	"net/url"
	"strconv"
	"strings"
)

// TracesConfig says whether and how OpenTelemetry traces are exported. The
// exporters and the SDK read the other standard variables themselves
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER,
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_*, …) from the process environment.
type TracesConfig struct {
	// Endpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
	// OTEL_EXPORTER_OTLP_ENDPOINT; "" when traces are off (none set,
	// OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true).
	Endpoint string
	// Protocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else
	// OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" (the default) or "grpc".
	Protocol string
}

// Protocols the OTLP trace exporter speaks.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// On reports whether traces are exported.
func (t TracesConfig) On() bool { return t.Endpoint != "" }

// traces reads the OTEL_* variables that decide whether traces are
// exported and with which exporter.
func (r *reader) traces(c *Config) {
	endpointVar := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	endpoint := r.raw(endpointVar)
	if generic := r.raw("OTEL_EXPORTER_OTLP_ENDPOINT"); endpoint == "" {
		endpointVar, endpoint = "OTEL_EXPORTER_OTLP_ENDPOINT", generic
	}
	protocolVar := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	protocol := r.raw(protocolVar)
	if generic := r.raw("OTEL_EXPORTER_OTLP_PROTOCOL"); protocol == "" {
		protocolVar, protocol = "OTEL_EXPORTER_OTLP_PROTOCOL", generic
	}
	switch protocol {
	case ProtocolHTTP, ProtocolGRPC:
	case "http/json":
		r.fail(protocolVar, "http/json is not supported; want http/protobuf or grpc")
	default:
		r.fail(protocolVar, "want http/protobuf or grpc, got "+strconv.Quote(protocol))
	}
	if endpoint != "" {
		if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.fail(endpointVar, "want an absolute http(s) URL such as http://collector:4318, got "+strconv.Quote(endpoint))
		}
	}
	on := true
	switch exporter := strings.ToLower(r.raw("OTEL_TRACES_EXPORTER")); exporter {
	case "otlp":
	case "none":
		on = false
	default:
		r.fail("OTEL_TRACES_EXPORTER", "want otlp or none, got "+strconv.Quote(exporter))
	}
	if r.bool("OTEL_SDK_DISABLED") {
		on = false
	}
	if on && endpoint != "" {
		c.Traces = TracesConfig{Endpoint: endpoint, Protocol: protocol}
	}
}
