package config_test

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		DatabaseURL:        "postgres://postgres@127.0.0.1:5432/faultline?sslmode=disable",
		Host:               "0.0.0.0",
		Port:               8080,
		PublicURL:          "http://localhost:8080",
		LogLevel:           "info",
		MetricsListen:      "127.0.0.1:9091",
		DataDir:            "./data",
		EventRetentionDays: 90, SourcemapRetentionDays: 90,
		AnalyticsBatchSize: 5000, AnalyticsFlushInterval: time.Second,
		Ingest: config.IngestConfig{
			MaxAge:          2160 * time.Hour,
			MaxBytes:        -1,
			Replicas:        1,
			DuplicateWindow: 2 * time.Minute,
			MaxInFlight:     512,
			BodyMemory:      256 << 20,
			LogSample:       0.01,
			LoaderCDN:       "https://browser.sentry-cdn.com",
		},
		Limits: config.RateLimits{
			PerMinute:           60000,
			PerHour:             1000000,
			PerProjectPerMinute: 20000,
			PerProjectPerHour:   500000,
		},
		Spike: config.SpikeConfig{Enabled: true, Window: time.Hour, Multiplier: 10, Floor: 1000},
		SMTP:  config.SMTPConfig{Port: 587, From: "faultline@localhost", TLS: "starttls"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if got := c.ListenAddr(); got != "0.0.0.0:8080" {
		t.Errorf("ListenAddr %q", got)
	}
}

func TestEveryVariableParsed(t *testing.T) {
	vars := map[string]string{
		"DATABASE_URL":                      "postgres://u@db:5433/x?sslmode=disable",
		"HOST":                              "127.0.0.1",
		"PORT":                              "9000",
		"PUBLIC_URL":                        "https://errors.example.com/",
		"SSL_PROXY":                         "TRUE",
		"LOG_LEVEL":                         "Debug",
		"NATS_URL":                          "nats://a:4222,nats://b:4222",
		"NATS_LISTEN":                       "127.0.0.1:4333",
		"NATS_TOKEN":                        "0123456789abcdef0123",
		"NATS_SYNC_INTERVAL":                "10s",
		"METRICS_LISTEN":                    "127.0.0.1:9300",
		"SELF_DSN":                          "https://0123abcd@errors.example.org/sentry/42",
		"DATA_DIR":                          "/var/lib/faultline",
		"CLICKHOUSE_URL":                    "http://ch:8123/faultline",
		"ANALYTICS_BATCH_SIZE":              "2_000",
		"ANALYTICS_FLUSH_INTERVAL":          "250ms",
		"INGEST_MAX_AGE":                    "48h",
		"INGEST_MAX_BYTES":                  "10_000_000",
		"INGEST_REPLICAS":                   "3",
		"INGEST_DUPLICATE_WINDOW":           "90s",
		"GATEWAY_MAX_IN_FLIGHT":             "64",
		"GATEWAY_BODY_MEMORY":               "1073741824",
		"GATEWAY_LOG_SAMPLE":                "0.25",
		"JS_SDK_LOADER_CDN_URL":             "https://cdn.example.com/sentry/",
		"JS_SDK_LOADER_VERSIONS":            " latest=11.20.0, 9.x=9.50.1-beta.2",
		"MAX_EVENTS_PER_MINUTE":             "1",
		"MAX_EVENTS_PER_HOUR":               "2",
		"MAX_EVENTS_PER_PROJECT_PER_MINUTE": "3",
		"MAX_EVENTS_PER_PROJECT_PER_HOUR":   "0",
		"SPIKE_PROTECTION":                  "off",
		"SPIKE_PROTECTION_WINDOW":           "30m",
		"SPIKE_PROTECTION_MULTIPLIER":       "2.5",
		"SPIKE_PROTECTION_FLOOR":            "250",
		"TRUSTED_PROXIES":                   " 10.0.0.0/8, 192.168.1.7 ,fd00::/8,2001:db8::1, 172.16.5.4/12",
		"SESSION_SECRET_KEY":                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"CREATE_SUPERUSER":                  "admin@example.com:s3cret:with:colons",
		"ALLOW_ORG_CREATION":                "all",
		"SMTP_HOST":                         "mail.example.com",
		"SMTP_PORT":                         "465",
		"SMTP_USERNAME":                     "mailer",
		"SMTP_PASSWORD":                     "pw",
		"SMTP_FROM":                         "errors@example.com",
		"SMTP_TLS":                          "tls",
		"EVENT_RETENTION_DAYS":              "30",
		"SOURCEMAP_RETENTION_DAYS":          "0",
	}
	for k, v := range map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://collector:4318",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example.com:4317",
		"OTEL_EXPORTER_OTLP_PROTOCOL":        "http/protobuf",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
		"OTEL_TRACES_EXPORTER":               "otlp",
		"OTEL_SDK_DISABLED":                  "false",
	} {
		vars[k] = v
	}
	// The test sets every documented variable, and Load reads every one.
	asked := map[string]bool{}
	for _, v := range config.Variables {
		if _, ok := vars[v.Name]; !ok {
			t.Errorf("variable %s is not covered by this test", v.Name)
		}
	}
	c, err := config.Load(func(k string) string { asked[k] = true; return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range config.Variables {
		if !asked[v.Name] {
			t.Errorf("Load does not read documented variable %s", v.Name)
		}
	}
	for k := range asked {
		if _, ok := vars[k]; !ok {
			t.Errorf("Load reads undocumented variable %s", k)
		}
	}
	want := config.Config{
		DatabaseURL:        "postgres://u@db:5433/x?sslmode=disable",
		Host:               "127.0.0.1",
		Port:               9000,
		PublicURL:          "https://errors.example.com",
		SSLProxy:           true,
		LogLevel:           "debug",
		NATSURL:            "nats://a:4222,nats://b:4222",
		NATSListen:         "127.0.0.1:4333",
		NATSToken:          "0123456789abcdef0123",
		NATSSyncInterval:   10 * time.Second,
		MetricsListen:      "127.0.0.1:9300",
		SelfDSN:            "https://0123abcd@errors.example.org/sentry/42",
		DataDir:            "/var/lib/faultline",
		ClickHouseURL:      "http://ch:8123/faultline",
		EventRetentionDays: 30,
		AnalyticsBatchSize: 2000, AnalyticsFlushInterval: 250 * time.Millisecond,
		Ingest: config.IngestConfig{
			MaxAge:          48 * time.Hour,
			MaxBytes:        10000000,
			Replicas:        3,
			DuplicateWindow: 90 * time.Second,
			MaxInFlight:     64,
			BodyMemory:      1 << 30,
			LogSample:       0.25,
			LoaderCDN:       "https://cdn.example.com/sentry",
			LoaderVersions:  map[string]string{"latest": "11.20.0", "9.x": "9.50.1-beta.2"},
		},
		Limits: config.RateLimits{PerMinute: 1, PerHour: 2, PerProjectPerMinute: 3, PerProjectPerHour: 0},
		Spike:  config.SpikeConfig{Window: 30 * time.Minute, Multiplier: 2.5, Floor: 250},
		Proxies: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.168.1.7/32"),
			netip.MustParsePrefix("fd00::/8"),
			netip.MustParsePrefix("2001:db8::1/128"),
			netip.MustParsePrefix("172.16.0.0/12"), // masked
		},
		SessionSecretKey: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		CreateSuperuser:  &config.Superuser{Email: "admin@example.com", Password: "s3cret:with:colons"},
		AllowOrgCreation: true,
		SMTP: config.SMTPConfig{Host: "mail.example.com", Port: 465, Username: "mailer", Password: "pw",
			From: "errors@example.com", TLS: "tls"},
		Traces: config.TracesConfig{Endpoint: "https://traces.example.com:4317", Protocol: "grpc"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if got := c.ListenAddr(); got != "127.0.0.1:9000" {
		t.Errorf("ListenAddr %q", got)
	}
}

func TestPublicURL(t *testing.T) {
	tests := []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{}, "http://localhost:8080"},
		{map[string]string{"PORT": "3000"}, "http://localhost:3000"},
		{map[string]string{"PORT": "3000", "PUBLIC_URL": "https://x.example"}, "https://x.example"},
		{map[string]string{"PUBLIC_URL": "https://x.example///"}, "https://x.example"},
		{map[string]string{"PUBLIC_URL": "  http://x.example:8000/sub/  "}, "http://x.example:8000/sub"},
	}
	for _, tt := range tests {
		c, err := config.Load(env(tt.vars))
		if err != nil {
			t.Errorf("%v: %v", tt.vars, err)
			continue
		}
		if c.PublicURL != tt.want {
			t.Errorf("%v: PublicURL %q, want %q", tt.vars, c.PublicURL, tt.want)
		}
	}
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		name, value string
	}{
		{"PORT", "eighty"},
		{"PORT", "0"},
		{"PORT", "70000"},
		{"PUBLIC_URL", "ftp://x.example"},
		{"PUBLIC_URL", "x.example"},
		{"PUBLIC_URL", "http://"},
		{"SSL_PROXY", "maybe"},
		{"LOG_LEVEL", "loud"},
		{"NATS_LISTEN", "4222"},
		{"NATS_TOKEN", "short"},
		{"METRICS_LISTEN", "9091"},
		{"NATS_SYNC_INTERVAL", "sometimes"},
		{"NATS_SYNC_INTERVAL", "0s"},
		{"INGEST_MAX_AGE", "30 days"},
		{"INGEST_MAX_AGE", "-1h"},
		{"INGEST_MAX_BYTES", "-2"},
		{"INGEST_REPLICAS", "0"},
		{"INGEST_REPLICAS", "7"},
		{"INGEST_DUPLICATE_WINDOW", "2"},
		{"GATEWAY_MAX_IN_FLIGHT", "0"},
		{"GATEWAY_BODY_MEMORY", "1000"},
		{"GATEWAY_LOG_SAMPLE", "2"},
		{"GATEWAY_LOG_SAMPLE", "-0.1"},
		{"GATEWAY_LOG_SAMPLE", "half"},
		{"GATEWAY_LOG_SAMPLE", "NaN"},
		{"MAX_EVENTS_PER_MINUTE", "-5"},
		{"MAX_EVENTS_PER_HOUR", "lots"},
		{"MAX_EVENTS_PER_PROJECT_PER_MINUTE", "1.5"},
		{"MAX_EVENTS_PER_PROJECT_PER_HOUR", "1e6"},
		{"SPIKE_PROTECTION", "maybe"},
		{"SPIKE_PROTECTION_WINDOW", "1m"},
		{"SPIKE_PROTECTION_WINDOW", "90s"},
		{"SPIKE_PROTECTION_WINDOW", "3h"},
		{"SPIKE_PROTECTION_MULTIPLIER", "0.5"},
		{"SPIKE_PROTECTION_MULTIPLIER", "NaN"},
		{"SPIKE_PROTECTION_FLOOR", "0"},
		{"TRUSTED_PROXIES", "10.0.0.0/8, not-an-ip"},
		{"TRUSTED_PROXIES", "10.0.0.0/33"},
		{"DATABASE_URL", "postgres://[bad"},
		{"CLICKHOUSE_URL", "http://[bad"},
		{"JS_SDK_LOADER_VERSIONS", "latest"},
		{"JS_SDK_LOADER_VERSIONS", "newest=11.20.0"},
		{"JS_SDK_LOADER_VERSIONS", "latest=11.20.0/../../evil"},
		{"JS_SDK_LOADER_VERSIONS", "9.x=9.1.0,latest=x"},
		{"CLICKHOUSE_URL", "postgres://ch:9000/x"},
		{"ANALYTICS_BATCH_SIZE", "0"},
		{"ANALYTICS_FLUSH_INTERVAL", "0s"},
		{"SELF_DSN", "errors.example.org"},
		{"SELF_DSN", "https://errors.example.org/42"},
		{"SELF_DSN", "https://key@errors.example.org/"},
		{"SELF_DSN", "ftp://key@errors.example.org/42"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "grpc://collector:4317"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift"},
		{"OTEL_TRACES_EXPORTER", "console"},
		{"OTEL_SDK_DISABLED", "perhaps"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{tt.name: tt.value}))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), tt.name+": ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line naming %s", err, tt.name)
			}
			if tt.name == "SELF_DSN" && strings.Contains(err.Error(), tt.value) {
				t.Errorf("error %q repeats the DSN, whose key is a credential", err)
			}
		})
	}
}

func TestAllErrorsAtOnce(t *testing.T) {
	_, err := config.Load(env(map[string]string{
		"PORT":            "abc",
		"LOG_LEVEL":       "loud",
		"TRUSTED_PROXIES": "nope, 10.0.0.1, alsonope",
		"PUBLIC_URL":      "ftp://x",
		"INGEST_MAX_AGE":  "forever",
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 6 {
		t.Errorf("%d errors, want 6 (one per bad value):\n%v", len(lines), err)
	}
	for _, name := range []string{"PORT", "LOG_LEVEL", "TRUSTED_PROXIES", "PUBLIC_URL", "INGEST_MAX_AGE"} {
		if !strings.Contains(err.Error(), name+": ") {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	if !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), `"alsonope"`) {
		t.Errorf("error does not quote the bad proxies:\n%v", err)
	}
}

// TestNATSListenBeyondLoopbackNeedsToken: an embedded NATS listening on
// other interfaces must require a token; loopback may go without.
func TestNATSListenBeyondLoopbackNeedsToken(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:4222", ":4222", "10.0.0.5:4222", "[::]:4222", "nats.internal:4222"} {
		_, err := config.Load(env(map[string]string{"NATS_LISTEN": addr}))
		if err == nil || !strings.HasPrefix(err.Error(), "NATS_TOKEN: ") {
			t.Errorf("NATS_LISTEN=%s without NATS_TOKEN: error %v, want one naming NATS_TOKEN", addr, err)
		}
		if _, err := config.Load(env(map[string]string{"NATS_LISTEN": addr, "NATS_TOKEN": "0123456789abcdef"})); err != nil {
			t.Errorf("NATS_LISTEN=%s with a token: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:4222", "localhost:4222", "[::1]:4222"} {
		if _, err := config.Load(env(map[string]string{"NATS_LISTEN": addr})); err != nil {
			t.Errorf("NATS_LISTEN=%s (loopback): %v", addr, err)
		}
	}
}

func TestNATSSyncAlways(t *testing.T) {
	c, err := config.Load(env(map[string]string{"NATS_SYNC_INTERVAL": "Always"}))
	if err != nil || !c.NATSSyncAlways || c.NATSSyncInterval != 0 {
		t.Errorf("NATS_SYNC_INTERVAL=always: %+v, %v", c, err)
	}
}

// TestTraces: traces are on only with an OTLP endpoint, the traces-only
// variables win over the generic ones, and OTEL_TRACES_EXPORTER=none or
// OTEL_SDK_DISABLED=true turn them off.
func TestTraces(t *testing.T) {
	tests := []struct {
		vars map[string]string
		want config.TracesConfig
	}{
		{nil, config.TracesConfig{}},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, config.TracesConfig{}},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
			config.TracesConfig{Endpoint: "http://c:4318", Protocol: config.ProtocolHTTP}},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"},
			config.TracesConfig{Endpoint: "http://c:4318/v1/traces", Protocol: config.ProtocolHTTP}},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			config.TracesConfig{Endpoint: "http://c:4317", Protocol: config.ProtocolGRPC}},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
			config.TracesConfig{Endpoint: "http://c:4317", Protocol: config.ProtocolHTTP}},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, config.TracesConfig{}},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, config.TracesConfig{}},
	}
	for _, tt := range tests {
		c, err := config.Load(env(tt.vars))
		if err != nil {
			t.Errorf("%v: %v", tt.vars, err)
			continue
		}
		if c.Traces != tt.want || c.Traces.On() != (tt.want.Endpoint != "") {
			t.Errorf("%v: %+v, want %+v", tt.vars, c.Traces, tt.want)
		}
	}
}
