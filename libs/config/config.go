// Package config owns Faultline's configuration: every environment variable
// the binary reads, its default, and its validation. Load is the only way in;
// it reports every bad variable at once with the variable's name.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is the validated configuration of a Faultline process.
type Config struct {
	DatabaseURL string // DATABASE_URL
	Host        string // HOST
	Port        int    // PORT
	PublicURL   string // PUBLIC_URL, without a trailing slash
	SSLProxy    bool   // SSL_PROXY: served behind a TLS-terminating proxy
	LogLevel    string // LOG_LEVEL: debug, info, warn, error

	MetricsListen string // METRICS_LISTEN: host:port of /metrics and the detailed /readyz; "" when off
	SelfDSN       string // SELF_DSN: where Faultline reports its own errors and panics; "" when off

	NATSURL    string // NATS_URL: empty means an embedded server
	NATSListen string // NATS_LISTEN: host:port the embedded server also listens on; empty means in-process only
	// NATS_SYNC_INTERVAL: how often the embedded server fsyncs JetStream
	// files (0: its default, 2m); NATSSyncAlways after every write.
	NATSSyncInterval time.Duration
	NATSSyncAlways   bool
	NATSToken        string // NATS_TOKEN: required by the embedded server and sent to NATS_URL; needed to listen beyond loopback
	DataDir          string // DATA_DIR

	ClickHouseURL          string        // CLICKHOUSE_URL: empty means analytics off
	AnalyticsBatchSize     int           // ANALYTICS_BATCH_SIZE: messages per ClickHouse insert, at most
	AnalyticsFlushInterval time.Duration // ANALYTICS_FLUSH_INTERVAL: how long a partial batch waits

	EventRetentionDays int // EVENT_RETENTION_DAYS: stored events older than this are dropped
	// SOURCEMAP_RETENTION_DAYS: source-map bundles not uploaded again for
	// this long are dropped; 0 keeps them.
	SourcemapRetentionDays int

	Ingest  IngestConfig
	Limits  RateLimits
	Spike   SpikeConfig
	Proxies []netip.Prefix // TRUSTED_PROXIES: X-Forwarded-For is read only from these peers

	SessionSecretKey string     // SESSION_SECRET_KEY: signs session and CSRF tokens; required with SSL_PROXY
	CreateSuperuser  *Superuser // CREATE_SUPERUSER: nil when unset
	// ALLOW_ORG_CREATION: who may create organisations: "superusers"
	// (the default) or "all" signed-in users.
	AllowOrgCreation bool
	SMTP             SMTPConfig

	Traces TracesConfig // OTEL_*: where OpenTelemetry traces go, if anywhere
}

// Superuser is the first admin CREATE_SUPERUSER=email:password asks for.
type Superuser struct {
	Email, Password string
}

// SMTPConfig is the mail server invitations and password resets go through.
// An empty Host means mail is off.
type SMTPConfig struct {
	Host     string // SMTP_HOST
	Port     int    // SMTP_PORT
	Username string // SMTP_USERNAME
	Password string // SMTP_PASSWORD
	From     string // SMTP_FROM
	TLS      string // SMTP_TLS: starttls, tls (implicit) or none
}

// MinSessionSecretKey is the shortest SESSION_SECRET_KEY accepted, as in Rustrak.
const MinSessionSecretKey = 64

// IngestConfig shapes the INGEST stream and the gateway's size limits.
type IngestConfig struct {
	MaxAge          time.Duration // INGEST_MAX_AGE
	MaxBytes        int64         // INGEST_MAX_BYTES (-1: unlimited)
	Replicas        int           // INGEST_REPLICAS
	DuplicateWindow time.Duration // INGEST_DUPLICATE_WINDOW
	MaxInFlight     int           // GATEWAY_MAX_IN_FLIGHT: requests beyond this get 503 at once
	BodyMemory      int64         // GATEWAY_BODY_MEMORY: shared budget for large bodies
	LogSample       float64       // GATEWAY_LOG_SAMPLE: fraction of ingestion requests logged, one line each
	LoaderCDN       string        // JS_SDK_LOADER_CDN_URL: where the loader script loads SDK bundles from, without a trailing slash
	// LoaderVersions (JS_SDK_LOADER_VERSIONS) override the release the
	// loader script loads for a key's browserSdkVersion ("latest", "9.x").
	LoaderVersions map[string]string
}

// RateLimits are the operator's event quotas, per data category. Zero means
// no limit, as in Rustrak.
type RateLimits struct {
	PerMinute           int64 // MAX_EVENTS_PER_MINUTE
	PerHour             int64 // MAX_EVENTS_PER_HOUR
	PerProjectPerMinute int64 // MAX_EVENTS_PER_PROJECT_PER_MINUTE
	PerProjectPerHour   int64 // MAX_EVENTS_PER_PROJECT_PER_HOUR
}

// SpikeConfig is how the gateway caps a project's spike of errors: at
// max(Floor, Multiplier × the mean per minute of the last Window), once the
// project has that much history.
type SpikeConfig struct {
	Enabled    bool          // SPIKE_PROTECTION
	Window     time.Duration // SPIKE_PROTECTION_WINDOW: whole minutes
	Multiplier float64       // SPIKE_PROTECTION_MULTIPLIER
	Floor      int64         // SPIKE_PROTECTION_FLOOR: events per minute
}

// Variable documents one environment variable; README's table is made from
// the same facts.
type Variable struct {
	Name, Default, Help string
}

// Variables lists every variable Load reads, in the README's order.
var Variables = []Variable{
	{"DATABASE_URL", "postgres://postgres@127.0.0.1:5432/faultline?sslmode=disable", "Postgres; the database is created if missing"},
	{"HOST", "0.0.0.0", "address the HTTP server listens on"},
	{"PORT", "8080", "port the HTTP server listens on"},
	{"PUBLIC_URL", "http://localhost:PORT", "URL SDKs and browsers reach Faultline at; DSNs are built from it"},
	{"SSL_PROXY", "false", "true when served behind a TLS-terminating proxy"},
	{"LOG_LEVEL", "info", "debug, info, warn or error"},
	{"METRICS_LISTEN", "127.0.0.1:9091", "host:port serving /metrics and a /readyz that names what is not ready (off: none); keep it off the public network"},
	{"SELF_DSN", "(off)", "a Sentry DSN (of another Faultline, or any Sentry) that every role sends its own errors (each log record at error level) and recovered panics to, through sentry-go; at most 20 at once, then one a second"},
	{"NATS_URL", "(embedded)", "NATS server or cluster URLs, comma-separated; unset runs an embedded server"},
	{"NATS_LISTEN", "(in-process only)", "host:port the embedded NATS server also listens on, for other processes"},
	{"NATS_TOKEN", "(none)", "token the embedded NATS server requires of every client, and that clients of NATS_URL send; at least 16 characters; required when NATS_LISTEN is not a loopback address"},
	{"NATS_SYNC_INTERVAL", "(2m)", "how often the embedded NATS server flushes JetStream files to disk, or always (after every write). A 200 from the gateway means JetStream holds the envelope: on one node it is in the OS at once and on disk within this interval, so a power loss or kernel crash (not a crash of Faultline) can lose the last interval; with always every 200 is on disk. On an R3 cluster (INGEST_REPLICAS=3, your own NATS) a 200 means a majority of replicas hold it, so one node's loss loses nothing"},
	{"DATA_DIR", "./data", "where the embedded NATS server keeps its JetStream files"},
	{"CLICKHOUSE_URL", "(analytics off)", "ClickHouse for analytics, clickhouse://host:9000/database?…; the database is created if missing"},
	{"ANALYTICS_BATCH_SIZE", "5000", "messages the analytics role buffers per ClickHouse insert, at most (and 4× as many rows of one table)"},
	{"ANALYTICS_FLUSH_INTERVAL", "1s", "how long the analytics role lets a partial batch wait before inserting it"},
	{"EVENT_RETENTION_DAYS", "90", "days stored events are kept; older days are dropped whole"},
	{"SOURCEMAP_RETENTION_DAYS", "90", "days an uploaded source-map bundle (or release file) is kept after it was last uploaded; 0 keeps them. Deleting a release or a release file drops its files at once"},
	{"INGEST_MAX_AGE", "2160h", "how long the INGEST stream keeps envelopes (S2-compressed); a replay rebuilds from what it still holds, so keep it at least EVENT_RETENTION_DAYS"},
	{"INGEST_MAX_BYTES", "-1", "size cap of the INGEST stream in bytes; -1 is unlimited"},
	{"INGEST_REPLICAS", "1", "replicas of the INGEST stream and KV buckets (3 on a cluster)"},
	{"INGEST_DUPLICATE_WINDOW", "2m", "window in which a resent envelope is recognised and stored once"},
	{"GATEWAY_MAX_IN_FLIGHT", "512", "ingestion requests in flight before the gateway sheds load with 503"},
	{"GATEWAY_BODY_MEMORY", "268435456", "bytes all ingestion requests together may hold in bodies beyond 1 MiB each; past it large bodies wait, then get 503"},
	{"GATEWAY_LOG_SAMPLE", "0.01", "fraction of ingestion requests, accepted or refused, the gateway logs with one line each (0 to 1; 0: none); failures (5xx) are always logged"},
	{"JS_SDK_LOADER_CDN_URL", "https://browser.sentry-cdn.com", "where the JavaScript loader script (/js-sdk-loader/<public key>.min.js) loads the browser SDK from: <url>/<version>/bundle[.tracing][.replay][.debug].min.js"},
	{"JS_SDK_LOADER_VERSIONS", "", "the browser SDK release the loader script loads for a key's SDK version, over the built-in table: comma-separated <latest|N.x>=<release>, e.g. latest=11.20.0,10.x=10.80.1"},
	{"MAX_EVENTS_PER_MINUTE", "60000", "global quota per data category per minute (0: none)"},
	{"MAX_EVENTS_PER_HOUR", "1000000", "global quota per data category per hour (0: none)"},
	{"MAX_EVENTS_PER_PROJECT_PER_MINUTE", "20000", "per-project quota per data category per minute (0: none)"},
	{"MAX_EVENTS_PER_PROJECT_PER_HOUR", "500000", "per-project quota per data category per hour (0: none)"},
	{"SPIKE_PROTECTION", "on", "on or off: off, the gateway caps no project's spike of errors, whatever its switch says"},
	{"SPIKE_PROTECTION_WINDOW", "1h", "history of a project's error counts (whole minutes, 5m to 2h) its baseline is the mean per minute of; a project is capped only once its counts cover the whole window, so a fresh project (a load test, a soak) never is"},
	{"SPIKE_PROTECTION_MULTIPLIER", "10", "a project's cap in a minute is this many times its baseline (1 to 1000)…"},
	{"SPIKE_PROTECTION_FLOOR", "1000", "…and never below this many errors per minute, nor below the sending key's own per-minute rate limit"},
	{"TRUSTED_PROXIES", "(none)", "comma-separated CIDRs whose X-Forwarded-For is believed"},
	{"SESSION_SECRET_KEY", "(none)", "at least 64 bytes; keys session and CSRF tokens; required when SSL_PROXY=true"},
	{"CREATE_SUPERUSER", "(none)", "email:password of an admin created at start when there are no users"},
	{"ALLOW_ORG_CREATION", "superusers", "who may create organisations: superusers or all signed-in users"},
	{"SMTP_HOST", "(mail off)", "mail server for invitations and password resets"},
	{"SMTP_PORT", "587", "mail server port"},
	{"SMTP_USERNAME", "(none)", "mail server user (PLAIN auth); unset sends without auth"},
	{"SMTP_PASSWORD", "(none)", "mail server password"},
	{"SMTP_FROM", "(faultline@PUBLIC_URL host)", "sender address of Faultline's mail"},
	{"SMTP_TLS", "starttls", "starttls, tls (implicit, usually port 465) or none"},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "(traces off)", "OTLP receiver (collector) base URL, http(s)://host:port; set, every role exports its traces there (/v1/traces is appended for http/protobuf)"},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "(traces off)", "OTLP traces URL, used as it is; wins over OTEL_EXPORTER_OTLP_ENDPOINT"},
	{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "http/protobuf or grpc"},
	{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "(OTEL_EXPORTER_OTLP_PROTOCOL)", "http/protobuf or grpc, for traces; wins over OTEL_EXPORTER_OTLP_PROTOCOL"},
	{"OTEL_TRACES_EXPORTER", "otlp", "otlp, or none to turn traces off with an endpoint set"},
	{"OTEL_SDK_DISABLED", "false", "true turns traces off with an endpoint set"},
}

// Load reads and validates the configuration. getenv is os.Getenv in
// production and a map lookup in tests.
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{
		DatabaseURL:        r.str("DATABASE_URL"),
		Host:               r.str("HOST"),
		Port:               int(r.int("PORT", 1, 65535)),
		SSLProxy:           r.bool("SSL_PROXY"),
		LogLevel:           r.oneOf("LOG_LEVEL", "debug", "info", "warn", "error"),
		MetricsListen:      r.raw("METRICS_LISTEN"),
		NATSURL:            r.raw("NATS_URL"),
		NATSListen:         r.raw("NATS_LISTEN"),
		NATSToken:          r.raw("NATS_TOKEN"),
		DataDir:            r.str("DATA_DIR"),
		ClickHouseURL:      r.raw("CLICKHOUSE_URL"),
		AnalyticsBatchSize: int(r.int("ANALYTICS_BATCH_SIZE", 1, 1_000_000)),
		EventRetentionDays: int(r.int("EVENT_RETENTION_DAYS", 1, 36500)),
		Ingest: IngestConfig{
			MaxAge:          r.duration("INGEST_MAX_AGE"),
			MaxBytes:        r.int("INGEST_MAX_BYTES", -1, 1<<62),
			Replicas:        int(r.int("INGEST_REPLICAS", 1, 5)),
			DuplicateWindow: r.duration("INGEST_DUPLICATE_WINDOW"),
			MaxInFlight:     int(r.int("GATEWAY_MAX_IN_FLIGHT", 1, 1<<20)),
			BodyMemory:      r.int("GATEWAY_BODY_MEMORY", 1<<20, 1<<40),
			LogSample:       r.fraction("GATEWAY_LOG_SAMPLE"),
		},
		Limits: RateLimits{
			PerMinute:           r.int("MAX_EVENTS_PER_MINUTE", 0, 1<<62),
			PerHour:             r.int("MAX_EVENTS_PER_HOUR", 0, 1<<62),
			PerProjectPerMinute: r.int("MAX_EVENTS_PER_PROJECT_PER_MINUTE", 0, 1<<62),
			PerProjectPerHour:   r.int("MAX_EVENTS_PER_PROJECT_PER_HOUR", 0, 1<<62),
		},
	}
	c.SourcemapRetentionDays = int(r.int("SOURCEMAP_RETENTION_DAYS", 0, 36500))
	c.Ingest.LoaderCDN = strings.TrimRight(r.raw("JS_SDK_LOADER_CDN_URL"), "/")
	if u, err := url.Parse(c.Ingest.LoaderCDN); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail("JS_SDK_LOADER_CDN_URL", "want an absolute http(s) URL, got "+strconv.Quote(c.Ingest.LoaderCDN))
	}
	c.Ingest.LoaderVersions = r.loaderVersions("JS_SDK_LOADER_VERSIONS")
	r.spike(&c)
	if _, err := url.Parse(c.DatabaseURL); err != nil {
		r.fail("DATABASE_URL", err.Error())
	}
	c.PublicURL = strings.TrimRight(r.raw("PUBLIC_URL"), "/")
	if c.PublicURL == "" {
		c.PublicURL = "http://localhost:" + strconv.Itoa(c.Port)
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail("PUBLIC_URL", "want an absolute http(s) URL, got "+strconv.Quote(c.PublicURL))
	}
	switch sync := r.raw("NATS_SYNC_INTERVAL"); {
	case sync == "":
	case strings.EqualFold(sync, "always"):
		c.NATSSyncAlways = true
	default:
		d, err := time.ParseDuration(sync)
		if err != nil || d <= 0 {
			r.fail("NATS_SYNC_INTERVAL", "want a duration such as 10s or 2m, or always, got "+strconv.Quote(sync))
		}
		c.NATSSyncInterval = d
	}
	if c.SelfDSN = r.raw("SELF_DSN"); c.SelfDSN != "" && !sentryDSN(c.SelfDSN) {
		// The DSN is not repeated: its key is a credential.
		r.fail("SELF_DSN", "want a Sentry DSN such as https://<public key>@<host>/<project id>")
	}
	if strings.EqualFold(c.MetricsListen, "off") {
		c.MetricsListen = ""
	} else if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
		r.fail("METRICS_LISTEN", "want host:port or off: "+err.Error())
	}
	if c.NATSListen != "" {
		if host, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			r.fail("NATS_LISTEN", "want host:port: "+err.Error())
		} else if c.NATSToken == "" && c.NATSURL == "" && !loopback(host) {
			r.fail("NATS_TOKEN", "required when NATS_LISTEN listens beyond loopback ("+c.NATSListen+"): anyone reaching it could read and delete every stream (e.g. from 'openssl rand -hex 24')")
		}
	}
	if c.NATSToken != "" && len(c.NATSToken) < 16 {
		r.fail("NATS_TOKEN", fmt.Sprintf("want at least 16 characters, got %d", len(c.NATSToken)))
	}
	if c.ClickHouseURL != "" {
		if u, err := url.Parse(c.ClickHouseURL); err != nil {
			r.fail("CLICKHOUSE_URL", err.Error())
		} else if u.Scheme != "clickhouse" && u.Scheme != "tcp" && u.Scheme != "http" && u.Scheme != "https" {
			r.fail("CLICKHOUSE_URL", "want clickhouse://host:9000/database, got scheme "+strconv.Quote(u.Scheme))
		}
	}
	if c.AnalyticsFlushInterval = r.duration("ANALYTICS_FLUSH_INTERVAL"); c.AnalyticsFlushInterval <= 0 || c.AnalyticsFlushInterval > time.Hour {
		r.fail("ANALYTICS_FLUSH_INTERVAL", "want a duration from 1ms to 1h")
	}
	for _, s := range splitList(r.raw("TRUSTED_PROXIES")) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				r.fail("TRUSTED_PROXIES", "want CIDRs or addresses, got "+strconv.Quote(s))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.Proxies = append(c.Proxies, p.Masked())
	}
	r.accounts(&c)
	r.traces(&c)
	return c, errors.Join(r.errs...)
}

// spike reads the spike-protection variables.
var (
	loaderVersionKey = regexp.MustCompile(`^(latest|[0-9]{1,3}\.x)$`)
	loaderRelease    = regexp.MustCompile(`^[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}(-[0-9A-Za-z.]{1,40})?$`)
)

// loaderVersions reads <latest|N.x>=<release> pairs; nil when none. A
// release goes into the bundle's URL, so only a version's characters pass.
func (r *reader) loaderVersions(name string) map[string]string {
	v := strings.TrimSpace(r.raw(name))
	if v == "" {
		return nil
	}
	out := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		key, release, ok := strings.Cut(strings.TrimSpace(pair), "=")
		key, release = strings.TrimSpace(key), strings.TrimSpace(release)
		if !ok || !loaderVersionKey.MatchString(key) || !loaderRelease.MatchString(release) {
			r.fail(name, "want comma-separated <latest|N.x>=<release> (e.g. latest=11.20.0), got "+strconv.Quote(pair))
			continue
		}
		out[key] = release
	}
	return out
}

func (r *reader) spike(c *Config) {
	switch v := strings.ToLower(r.raw("SPIKE_PROTECTION")); v {
	case "on", "true", "1":
		c.Spike.Enabled = true
	case "off", "false", "0":
	default:
		r.fail("SPIKE_PROTECTION", "want on or off, got "+strconv.Quote(v))
	}
	if c.Spike.Window = r.duration("SPIKE_PROTECTION_WINDOW"); c.Spike.Window < 5*time.Minute || c.Spike.Window > 2*time.Hour || c.Spike.Window%time.Minute != 0 {
		// At most the limits bucket's TTL: older counts are gone from it.
		r.fail("SPIKE_PROTECTION_WINDOW", "want whole minutes from 5m to 2h, such as 1h")
	}
	s := r.raw("SPIKE_PROTECTION_MULTIPLIER")
	if f, err := strconv.ParseFloat(s, 64); err != nil || !(f >= 1 && f <= 1000) {
		r.fail("SPIKE_PROTECTION_MULTIPLIER", "want a number from 1 to 1000, got "+strconv.Quote(s))
	} else {
		c.Spike.Multiplier = f
	}
	c.Spike.Floor = r.int("SPIKE_PROTECTION_FLOOR", 1, 1<<40)
}

// accounts reads the sign-in and mail variables.
func (r *reader) accounts(c *Config) {
	c.SessionSecretKey = r.raw("SESSION_SECRET_KEY")
	switch {
	case c.SessionSecretKey == "" && c.SSLProxy:
		r.fail("SESSION_SECRET_KEY", fmt.Sprintf("required when SSL_PROXY=true (at least %d bytes, e.g. from 'openssl rand -hex 32')", MinSessionSecretKey))
	case c.SessionSecretKey != "" && len(c.SessionSecretKey) < MinSessionSecretKey:
		r.fail("SESSION_SECRET_KEY", fmt.Sprintf("want at least %d bytes, got %d", MinSessionSecretKey, len(c.SessionSecretKey)))
	}
	switch v := r.raw("ALLOW_ORG_CREATION"); v {
	case "", "superusers":
	case "all":
		c.AllowOrgCreation = true
	default:
		r.fail("ALLOW_ORG_CREATION", "want superusers or all, got "+strconv.Quote(v))
	}
	if s := r.raw("CREATE_SUPERUSER"); s != "" {
		email, password, ok := strings.Cut(s, ":")
		email = strings.TrimSpace(email)
		if !ok || !strings.Contains(email, "@") || strings.ContainsAny(email, " \t") || password == "" {
			r.fail("CREATE_SUPERUSER", "want email:password")
		} else {
			c.CreateSuperuser = &Superuser{Email: email, Password: password}
		}
	}
	c.SMTP = SMTPConfig{
		Host:     r.raw("SMTP_HOST"),
		Port:     int(r.int("SMTP_PORT", 1, 65535)),
		Username: r.raw("SMTP_USERNAME"),
		Password: r.raw("SMTP_PASSWORD"),
		From:     r.raw("SMTP_FROM"),
		TLS:      r.oneOf("SMTP_TLS", "starttls", "tls", "none"),
	}
	if c.SMTP.From == "" {
		host := "localhost"
		if u, err := url.Parse(c.PublicURL); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		c.SMTP.From = "faultline@" + host
	} else if !strings.Contains(c.SMTP.From, "@") {
		r.fail("SMTP_FROM", "want an email address, got "+strconv.Quote(c.SMTP.From))
	}
	if c.SMTP.Password != "" && c.SMTP.Username == "" {
		r.fail("SMTP_USERNAME", "required when SMTP_PASSWORD is set")
	}
}

// sentryDSN reports whether s has a Sentry DSN's form: an http(s) URL with
// a public key as its user and a project id as its last path segment.
func sentryDSN(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User.Username() == "" {
		return false
	}
	project := u.Path[strings.LastIndex(u.Path, "/")+1:]
	_, err = strconv.ParseUint(project, 10, 64)
	return err == nil
}

// loopback reports whether host is "localhost" or a loopback address.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// HTTPS reports whether PUBLIC_URL is https: browsers reach Faultline over
// TLS, so responses carry HSTS.
func (c Config) HTTPS() bool { return strings.HasPrefix(strings.ToLower(c.PublicURL), "https://") }

// SecureCookies reports whether cookies must be Secure: PUBLIC_URL is https
// or SSL_PROXY says a TLS proxy is in front.
func (c Config) SecureCookies() bool { return c.SSLProxy || c.HTTPS() }

// ListenAddr is the HTTP server's address.
func (c Config) ListenAddr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) fail(name, msg string) { r.errs = append(r.errs, fmt.Errorf("%s: %s", name, msg)) }

func defaultOf(name string) string {
	for _, v := range Variables {
		if v.Name == name {
			return v.Default
		}
	}
	panic("config: undocumented variable " + name)
}

// raw returns the variable's value, or "" when unset; documented defaults in
// parentheses describe behaviour and are not values.
func (r *reader) raw(name string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	if d := defaultOf(name); !strings.HasPrefix(d, "(") && !strings.Contains(d, "PORT") {
		return d
	}
	return ""
}

func (r *reader) str(name string) string { return r.raw(name) }

func (r *reader) int(name string, lo, hi int64) int64 {
	s := r.raw(name)
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil || n < lo || n > hi {
		r.fail(name, fmt.Sprintf("want a whole number from %d to %d, got %q", lo, hi, s))
	}
	return n
}

// fraction reads a number from 0 to 1.
func (r *reader) fraction(name string) float64 {
	s := r.raw(name)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f >= 0 && f <= 1) {
		r.fail(name, fmt.Sprintf("want a fraction from 0 to 1 such as 0.01, got %q", s))
		return 0
	}
	return f
}

func (r *reader) bool(name string) bool {
	switch strings.ToLower(r.raw(name)) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	r.fail(name, "want true or false, got "+strconv.Quote(r.raw(name)))
	return false
}

func (r *reader) duration(name string) time.Duration {
	s := r.raw(name)
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		r.fail(name, "want a duration such as 90s, 2m or 720h, got "+strconv.Quote(s))
	}
	return d
}

func (r *reader) oneOf(name string, allowed ...string) string {
	s := strings.ToLower(r.raw(name))
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	r.fail(name, fmt.Sprintf("want one of %s, got %q", strings.Join(allowed, ", "), s))
	return allowed[0]
}
