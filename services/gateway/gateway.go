// Package gateway is Faultline's ingestion role: the Sentry endpoints SDKs
// send to. It authenticates DSN keys from a KV bucket (no Postgres), enforces
// size and rate limits, and answers 200 only once JetStream has stored the
// envelope in the INGEST stream.
package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/libs/ratelimit"
	"github.com/faultline/faultline/libs/spike"
	"github.com/faultline/faultline/libs/telemetry"
	"github.com/faultline/faultline/streams"
)

// Options configure a gateway.
type Options struct {
	Limits         config.RateLimits
	TrustedProxies []netip.Prefix
	MaxInFlight    int
	Body           BodyLimits
	BodyMemory     int64 // bytes all requests together may hold in bodies beyond 1 MiB each
	Envelope       envelope.Limits
	PublishTimeout time.Duration
	// PublicURL is where SDKs reach Faultline; the loader script's DSN is
	// built from it.
	PublicURL string
	// LoaderCDN is where the loader script loads the browser SDK from
	// (JS_SDK_LOADER_CDN_URL).
	LoaderCDN string
	// LoaderVersions override loaderVersions (JS_SDK_LOADER_VERSIONS).
	LoaderVersions map[string]string
	// LogSample is the fraction of requests logged with one line each
	// (GATEWAY_LOG_SAMPLE); failures (5xx) are logged whatever it says.
	LogSample float64
	// OutcomeInterval is how often the counts of dropped items are
	// published on OUTCOMES (5s when 0).
	OutcomeInterval time.Duration
	// Spike is how spikes of a project's errors are capped; SpikeInterval
	// how often counts are shared and caps computed (1s when 0);
	// SpikeClock the clock minutes are counted by (time.Now when nil).
	Spike         spike.Config
	SpikeInterval time.Duration
	SpikeClock    func() time.Time
	// Tracer, when set, traces each ingestion request with a server span
	// whose context the INGEST message carries on; nil traces nothing.
	Tracer trace.Tracer
}

// OptionsFrom derives gateway options from the process configuration.
func OptionsFrom(c config.Config) Options {
	return Options{
		Limits:         c.Limits,
		TrustedProxies: c.Proxies,
		MaxInFlight:    c.Ingest.MaxInFlight,
		Body:           DefaultBodyLimits,
		BodyMemory:     c.Ingest.BodyMemory,
		Envelope:       envelope.DefaultLimits,
		PublishTimeout: 10 * time.Second,
		LogSample:      c.Ingest.LogSample,
		PublicURL:      c.PublicURL,
		LoaderCDN:      c.Ingest.LoaderCDN,
		LoaderVersions: c.Ingest.LoaderVersions,
		Spike:          spike.FromConfig(c.Spike),
	}
}

// Gateway serves the ingestion endpoints.
type Gateway struct {
	opt      Options
	nats     *natsx.Conn
	keys     *projectkeys.Cache
	limiter  *ratelimit.Limiter
	blobs    jetstream.ObjectStore
	log      *slog.Logger
	m        *metrics
	memory   *memoryBudget
	outcomes *outcomeCounts
	spikes   *spike.Tracker // nil when spike protection is off

	inFlight atomic.Int64
}

// New opens the gateway's buckets. The streams must have been applied.
func New(ctx context.Context, opt Options, nc *natsx.Conn, reg prometheus.Registerer, log *slog.Logger) (*Gateway, error) {
	limitsKV, err := nc.JS.KeyValue(ctx, streams.LimitsBucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", streams.LimitsBucket, err)
	}
	blobs, err := nc.JS.ObjectStore(ctx, streams.BlobsBucket)
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", streams.BlobsBucket, err)
	}
	if opt.PublishTimeout == 0 {
		opt.PublishTimeout = 10 * time.Second
	}
	if opt.MaxInFlight == 0 {
		opt.MaxInFlight = 512
	}
	if opt.BodyMemory == 0 {
		opt.BodyMemory = 256 << 20
	}
	g := &Gateway{
		opt:      opt,
		nats:     nc,
		keys:     projectkeys.NewCache(log),
		limiter:  ratelimit.New(limitsKV, log),
		blobs:    blobs,
		log:      log,
		m:        newMetrics(reg, nc.JS),
		memory:   newMemoryBudget(max(opt.BodyMemory, opt.Body.Decompressed+opt.Body.Compressed)),
		outcomes: newOutcomeCounts(),
	}
	if opt.Spike.Enabled {
		g.spikes = spike.NewTracker(opt.Spike, limitsKV, g.outcomes.instance, opt.SpikeClock, log)
	}
	return g, nil
}

// Spikes is the gateway's spike protection, nil when it is off.
func (g *Gateway) Spikes() *spike.Tracker { return g.spikes }

// Run keeps the key cache current and publishes the counts of dropped
// items until ctx ends.
func (g *Gateway) Run(ctx context.Context) error {
	outcomesDone := make(chan struct{})
	go func() { defer close(outcomesDone); g.runOutcomes(ctx) }()
	defer func() { <-outcomesDone }()
	if g.spikes != nil {
		spikesDone := make(chan struct{})
		go func() { defer close(spikesDone); g.spikes.Run(ctx, g.opt.SpikeInterval) }()
		defer func() { <-spikesDone }()
	}
	for {
		kv, err := g.nats.JS.KeyValue(ctx, streams.KeysBucket)
		if err == nil {
			err = g.keys.Run(ctx, kv)
		}
		if ctx.Err() != nil {
			return nil
		}
		g.log.Warn("key watch stopped; restarting", slog.Any("error", err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// Ready is closed once the gateway knows every key.
func (g *Gateway) Ready() <-chan struct{} { return g.keys.Ready() }

// Mount adds the ingestion routes.
func (g *Gateway) Mount(r chi.Router) {
	for _, ep := range []string{"envelope", "store", "security", "csp-report", "nel", "minidump", "unreal", "unreal/{sentry_key}"} {
		r.Options("/api/{project_id}/"+ep+"/", g.preflight)
	}
	r.Post("/api/{project_id}/envelope/", g.handle(endpointEnvelope, "envelope"))
	r.Post("/api/{project_id}/store/", g.handle(endpointStore, "store"))
	r.Post("/api/{project_id}/security/", g.handle(endpointSecurity, "security"))
	// The key's dsn.csp form: Sentry's older name for the security endpoint.
	r.Post("/api/{project_id}/csp-report/", g.handle(endpointSecurity, "csp-report"))
	// Crons' HTTP check-ins, the key in the path; project 0 is the key's.
	cron := g.handle(endpointCron, "cron/{monitor_slug}/{sentry_key}")
	r.Get("/api/{project_id}/cron/{monitor_slug}/{sentry_key}/", cron)
	r.Post("/api/{project_id}/cron/{monitor_slug}/{sentry_key}/", cron)
	// The key's dsn.nel form: Network Error Logging reports.
	r.Post("/api/{project_id}/nel/", g.handle(endpointNEL, "nel"))
	// The key's dsn.minidump and dsn.unreal forms: native crashes.
	r.Post("/api/{project_id}/minidump/", g.handle(endpointMinidump, "minidump"))
	r.Post("/api/{project_id}/unreal/{sentry_key}/", g.handle(endpointUnreal, "unreal/{sentry_key}"))
	// The key's dsn.cdn form: the JavaScript loader script.
	r.Get("/js-sdk-loader/{file}", g.serveLoader)
}

type endpoint string

const (
	endpointEnvelope endpoint = "envelope"
	endpointStore    endpoint = "store"
	endpointSecurity endpoint = "security"
	endpointCron     endpoint = "cron"
	endpointNEL      endpoint = "nel"
	endpointMinidump endpoint = "minidump"
	endpointUnreal   endpoint = "unreal"
)

const corsAllowHeaders = "X-Sentry-Auth, X-Requested-With, Origin, Accept, Content-Type, Content-Encoding, Authentication, Authorization, sentry-trace, baggage, traceparent"

func (g *Gateway) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = "*"
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Expose-Headers", "X-Sentry-Error, X-Sentry-Rate-Limits, Retry-After")
	h.Set("Access-Control-Max-Age", "3600")
	h.Set("Vary", "Origin")
	w.WriteHeader(http.StatusOK)
}

// request is what one ingestion request has established so far.
type request struct {
	ep        endpoint
	projectID int64
	key       *projectkeys.Key
	env       *envelope.Envelope
	body      []byte
}

func (g *Gateway) handle(ep endpoint, path string) http.HandlerFunc {
	hist := g.m.duration.WithLabelValues(string(ep))
	route := "/api/{project_id}/" + path + "/"
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() { hist.Observe(time.Since(start).Seconds()) }()
		if origin := r.Header.Get("Origin"); origin != "" {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", "X-Sentry-Error, X-Sentry-Rate-Limits, Retry-After")
			w.Header().Set("Vary", "Origin")
		}
		if n := g.inFlight.Add(1); n > int64(g.opt.MaxInFlight) {
			g.inFlight.Add(-1)
			g.m.rejected.WithLabelValues("overloaded").Inc()
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "server overloaded, retry later")
			return
		}
		defer g.inFlight.Add(-1)
		// A sampled request is answered through a writer that remembers
		// its status; the others pay nothing for logging.
		var lw *statusWriter
		if g.sampled() {
			lw = &statusWriter{ResponseWriter: w, status: http.StatusOK}
			w = lw
		}
		var reason string
		if g.opt.Tracer != nil {
			reason = g.serveTraced(w, r, ep, route)
		} else if err := g.serve(w, r, ep, nil); err != nil {
			reason = g.reject(w, r, ep, err)
		}
		if lw != nil {
			g.logRequest(r, route, lw.status, start, reason)
		}
	}
}

// sampled draws whether this request is logged.
func (g *Gateway) sampled() bool {
	switch p := g.opt.LogSample; {
	case p <= 0:
		return false
	case p >= 1:
		return true
	default:
		return rand.Float64() < p
	}
}

// logRequest writes a sampled request's line: never its path's raw text or
// its key, only the route pattern and the project id.
func (g *Gateway) logRequest(r *http.Request, route string, status int, start time.Time, reason string) {
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("method", r.Method), slog.String("route", route), slog.Int("status", status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
	if id, err := strconv.ParseInt(chi.URLParam(r, "project_id"), 10, 64); err == nil {
		attrs = append(attrs, slog.Int64("project_id", id))
	}
	if reason != "" {
		attrs = append(attrs, slog.String("reason", reason))
	}
	g.log.LogAttrs(r.Context(), slog.LevelInfo, "ingestion request", attrs...)
}

// serveTraced serves a request inside a server span, "POST <route>", a root
// of its own trace: the client's trace headers are its application's trace,
// kept as data, not joined. The INGEST message carries the span's context.
func (g *Gateway) serveTraced(w http.ResponseWriter, r *http.Request, ep endpoint, route string) (reason string) {
	_, span := g.opt.Tracer.Start(r.Context(), http.MethodPost+" "+route,
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(semconv.HTTPRequestMethodPost, semconv.HTTPRoute(route), semconv.URLPath(r.URL.Path)))
	defer span.End()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	err := g.serve(sw, r, ep, span)
	if err != nil {
		reason = g.reject(sw, r, ep, err)
		var ee *envelope.Error
		if errors.As(err, &ee) {
			span.SetAttributes(attrRejected.String(ee.Reason))
		}
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(sw.status))
	if sw.status >= http.StatusInternalServerError {
		span.SetStatus(codes.Error, http.StatusText(sw.status))
	}
	return reason
}

// Span attributes of an ingestion request.
var (
	attrProject  = attribute.Key("faultline.project_id")
	attrEventID  = attribute.Key("faultline.event_id")
	attrKind     = attribute.Key("faultline.envelope.kind")
	attrRejected = attribute.Key("faultline.rejected.reason")
)

// statusWriter remembers the status a traced request was answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// serve handles one ingestion request. span is the request's span, nil
// when tracing is off.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, ep endpoint, span trace.Span) error {
	req := request{ep: ep}
	err := g.serveRequest(w, r, &req, span)
	if err != nil {
		g.countInvalid(&req, err)
	}
	return err
}

// serveRequest is serve with what it establishes in req.
func (g *Gateway) serveRequest(w http.ResponseWriter, r *http.Request, req *request, span trace.Span) (err error) {
	ep := req.ep
	req.projectID, err = strconv.ParseInt(chi.URLParam(r, "project_id"), 10, 64)
	if ep == endpointCron && err == nil && req.projectID == 0 {
		if k := g.keys.Lookup(chi.URLParam(r, "sentry_key")); k != nil {
			req.projectID = k.ProjectID
		}
	}
	if err != nil || req.projectID <= 0 {
		return &envelope.Error{Status: http.StatusNotFound, Reason: "invalid_project", Detail: "project id must be a positive integer"}
	}
	keyName, err := keyFromRequest(r)
	if err != nil {
		return err
	}
	if ep == endpointCron || ep == endpointUnreal {
		if keyName, err = oneKey(keyName, chi.URLParam(r, "sentry_key")); err != nil {
			return err
		}
	}
	// With the key known up front, an unknown or foreign key is refused
	// before the body is read.
	if keyName != "" {
		if req.key, err = g.authorize(r, keyName, req.projectID); err != nil {
			return err
		}
	}
	mem := &charge{ctx: r.Context(), budget: g.memory}
	defer mem.release()
	buf, err := readBody(r, g.opt.Body, mem)
	if err != nil {
		return err
	}
	defer func() {
		if buf != nil {
			putBuf(buf)
		}
	}()
	switch ep {
	case endpointEnvelope:
		req.body = buf.Bytes()
		req.env, err = envelope.Parse(req.body, g.opt.Envelope)
	case endpointStore:
		req.body, req.env, err = wrapStore(buf.Bytes(), g.opt.Envelope)
	case endpointSecurity:
		req.body, req.env, err = wrapSecurity(buf.Bytes(), r.Header.Get("Content-Type"), g.opt.Envelope)
	case endpointCron:
		req.body, req.env, err = wrapCron(chi.URLParam(r, "monitor_slug"), r.URL.Query(), buf.Bytes(), g.opt.Envelope)
	case endpointNEL:
		req.body, req.env, err = wrapNEL(buf.Bytes(), g.opt.Envelope)
	case endpointMinidump:
		req.body, req.env, err = wrapMinidump(r.Header.Get("Content-Type"), buf.Bytes(), g.opt.Envelope)
	case endpointUnreal:
		req.body, req.env, err = wrapUnreal(buf.Bytes(), g.opt.Envelope)
	}
	if err != nil {
		return err
	}
	if req.env.Header.DSN != "" {
		name, err := oneKey(keyName, dsnKey(req.env.Header.DSN))
		if err != nil {
			return err
		}
		if keyName == "" {
			keyName = name
			if req.key, err = g.authorize(r, keyName, req.projectID); err != nil {
				return err
			}
		}
	}
	if req.key == nil {
		return &envelope.Error{Status: http.StatusUnauthorized, Reason: "missing_key",
			Detail: "missing DSN key: send X-Sentry-Auth, sentry_key or an envelope dsn"}
	}
	if g.filter(r, req) {
		// Everything was filtered: accepted and dropped, as Sentry answers,
		// so the SDK does not retry it.
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
		return nil
	}
	if !g.enforceLimits(w, r, req) {
		return nil
	}
	if err := g.scrub(req); err != nil {
		return err
	}
	if span != nil {
		span.SetAttributes(attrProject.Int64(req.projectID), attrKind.String(req.env.Kind()), attrEventID.String(req.env.Header.EventID))
	}
	msg := g.message(r, req, span)
	if err := g.publish(r.Context(), msg, len(req.body)); err != nil {
		if errors.Is(err, errNoAck) {
			// The client may still resend msg (it retries when the stream
			// has no responders): its body must not go back to the pool.
			buf = nil
		}
		return err
	}
	// The publish is acknowledged: JetStream holds its own copy.
	g.m.accepted.WithLabelValues(req.env.Kind()).Inc()
	for i := range req.env.Items {
		if cat, n := req.env.Items[i].Category(); cat != "" {
			g.m.items.WithLabelValues(cat).Add(float64(n))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if id := req.env.Header.EventID; id != "" {
		w.Write([]byte(`{"id":"` + id + `"}`))
	} else {
		w.Write([]byte(`{}`))
	}
	return nil
}

// authorize finds the key and checks it may send to projectID from the
// request's origin.
func (g *Gateway) authorize(r *http.Request, name string, projectID int64) (*projectkeys.Key, error) {
	k := g.keys.Lookup(name)
	switch {
	case k == nil:
		return nil, &envelope.Error{Status: http.StatusUnauthorized, Reason: "unknown_key", Detail: "unknown DSN key"}
	case k.ProjectID != projectID:
		return nil, &envelope.Error{Status: http.StatusForbidden, Reason: "wrong_project", Detail: "DSN key does not belong to this project"}
	case k.Disabled:
		return nil, &envelope.Error{Status: http.StatusForbidden, Reason: "disabled_key", Detail: "DSN key is disabled"}
	}
	if origin := r.Header.Get("Origin"); origin != "" && !originAllowed(k.AllowedOrigins, origin) {
		return nil, &envelope.Error{Status: http.StatusForbidden, Reason: "origin_not_allowed", Detail: "origin " + strconv.Quote(origin) + " is not allowed for this project"}
	}
	return k, nil
}

// originAllowed matches origin against a project's allowed origins: "*",
// an exact origin, a host ("example.com"), or a wildcard host ("*.example.com").
func originAllowed(allowed []string, origin string) bool {
	if len(allowed) == 0 {
		return true
	}
	host := origin
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	for _, a := range allowed {
		switch {
		case a == "*" || a == origin || a == host:
			return true
		case strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:]):
			return true
		}
	}
	return false
}

// enforceLimits charges the envelope's items to the quotas. Items over a
// quota are dropped (an event takes its attachments with it); when nothing
// worth storing is left it answers 429 and returns false.
func (g *Gateway) enforceLimits(w http.ResponseWriter, r *http.Request, req *request) bool {
	l := g.opt.Limits
	rules := []ratelimit.Rule{
		{Scope: "global", ScopeKind: "organization", Limit: l.PerMinute, Window: time.Minute},
		{Scope: "global", ScopeKind: "organization", Limit: l.PerHour, Window: time.Hour},
		{Scope: "p" + strconv.FormatInt(req.projectID, 10), ScopeKind: "project", Limit: l.PerProjectPerMinute, Window: time.Minute},
		{Scope: "p" + strconv.FormatInt(req.projectID, 10), ScopeKind: "project", Limit: l.PerProjectPerHour, Window: time.Hour},
		{Scope: "k" + req.key.PublicKey, ScopeKind: "key", Limit: req.key.RateLimitPerMinute, Window: time.Minute},
		{Scope: "k" + req.key.PublicKey, ScopeKind: "key", Limit: req.key.RateLimitPerHour, Window: time.Hour},
	}
	if kl := req.key.RateLimit; kl != nil && kl.Valid() {
		rules = append(rules, ratelimit.Rule{Scope: "k" + req.key.PublicKey, ScopeKind: "key", Limit: kl.Count, Window: time.Duration(kl.Window) * time.Second})
	}
	var denials []limitedCategory
	drop := map[int]bool{}
	eventDropped, eventReason := false, ""

	for i := range req.env.Items {
		it := &req.env.Items[i]
		cat, n := it.Category()
		if cat == "" || cat == envelope.CategoryAttachment {
			continue
		}
		if cat == envelope.CategoryError && g.spikes != nil {
			if ok, retry := g.spikes.Admit(req.projectID, int64(n), req.key.PerMinute(), req.key.SpikeProtectionDisabled); !ok {
				drop[i] = true
				denials = append(denials, limitedCategory{cat, ratelimit.Denial{Rule: spikeRule, RetryAfter: retry}, reasonSpike})
				g.m.spikeDropped.Add(float64(n))
				g.countOutcome(req.projectID, cat, streams.OutcomeRateLimited, reasonSpike, n)
				if it.Type == "event" {
					eventDropped, eventReason = true, reasonSpike
				}
				continue
			}
		}
		if d := g.limiter.Take(r.Context(), rules, cat, int64(n)); d != nil {
			drop[i] = true
			denials = append(denials, limitedCategory{cat, *d, "too_many_events"})
			g.m.rateLimited.WithLabelValues(cat).Add(float64(n))
			g.countOutcome(req.projectID, cat, streams.OutcomeRateLimited, quotaReason(d.Rule.ScopeKind), n)
			if it.Type == "event" || it.Type == "transaction" {
				eventDropped, eventReason = true, quotaReason(d.Rule.ScopeKind)
			}
		}
	}
	if len(denials) == 0 {
		return true
	}
	kept := 0
	for i := range req.env.Items {
		it := &req.env.Items[i]
		if it.Type == "attachment" && eventDropped && !drop[i] {
			drop[i] = true
			cat, n := it.Category()
			g.countOutcome(req.projectID, cat, streams.OutcomeRateLimited, eventReason, n)
		}
		if !drop[i] && it.Type != "client_report" {
			kept++
		}
	}
	h := w.Header()
	h.Set("X-Sentry-Rate-Limits", rateLimitsHeader(denials))
	if kept == 0 {
		retry := slices.MaxFunc(denials, func(a, b limitedCategory) int { return int(a.RetryAfter - b.RetryAfter) })
		h.Set("Retry-After", strconv.Itoa(seconds(retry.RetryAfter)))
		g.m.rejected.WithLabelValues("rate_limited").Inc()
		g.log.Debug("rate limited", slog.Int64("project_id", req.projectID), slog.String("scope", retry.Rule.ScopeKind))
		if retry.code == reasonSpike {
			writeError(w, http.StatusTooManyRequests, "rate limited: the project's spike protection caps its errors")
		} else {
			writeError(w, http.StatusTooManyRequests, "rate limited: "+retry.Rule.ScopeKind+" quota exceeded")
		}
		return false
	}
	req.body, req.env = rebuild(req.env, drop)
	return true
}

type limitedCategory struct {
	category string
	ratelimit.Denial
	code string // the reason code X-Sentry-Rate-Limits names
}

// A spike cap's denial: the project's, under reason spike_protection.
const reasonSpike = "spike_protection"

var spikeRule = ratelimit.Rule{Scope: "spike", ScopeKind: "project"}

// rateLimitsHeader formats X-Sentry-Rate-Limits:
// retry_after:categories:scope:reason_code, one entry per scope and time.
func rateLimitsHeader(ds []limitedCategory) string {
	type group struct {
		retry       int
		scope, code string
		cats        []string
	}
	var groups []*group
	for _, d := range ds {
		s := seconds(d.RetryAfter)
		var g *group
		for _, x := range groups {
			if x.retry == s && x.scope == d.Rule.ScopeKind && x.code == d.code {
				g = x
			}
		}
		if g == nil {
			g = &group{retry: s, scope: d.Rule.ScopeKind, code: d.code}
			groups = append(groups, g)
		}
		if !slices.Contains(g.cats, d.category) {
			g.cats = append(g.cats, d.category)
		}
	}
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = fmt.Sprintf("%d:%s:%s:%s", g.retry, strings.Join(g.cats, ";"), g.scope, g.code)
	}
	return strings.Join(parts, ", ")
}

func seconds(d time.Duration) int { return max(1, int((d+time.Second-1)/time.Second)) }

// rebuild writes the envelope again without the dropped items.
func rebuild(env *envelope.Envelope, drop map[int]bool) ([]byte, *envelope.Envelope) {
	var b bytes.Buffer
	b.Write(env.RawHeader)
	b.WriteByte('\n')
	out := &envelope.Envelope{Header: env.Header, RawHeader: env.RawHeader}
	for i, it := range env.Items {
		if drop[i] {
			continue
		}
		b.Write(it.RawHeader)
		b.WriteByte('\n')
		b.Write(it.Payload)
		b.WriteByte('\n')
		out.Items = append(out.Items, it)
	}
	return b.Bytes(), out
}

// message builds the INGEST message for an accepted request; it carries
// span's context when span is not nil.
func (g *Gateway) message(r *http.Request, req *request, span trace.Span) *nats.Msg {
	kind := req.env.Kind()
	sum := sha256.Sum256(req.body)
	size := 13 // every header below and publish's, so the map never grows
	if span != nil {
		size += 2 // traceparent, tracestate
	}
	h := make(nats.Header, size)
	h.Set(streams.HeaderProject, strconv.FormatInt(req.projectID, 10))
	h.Set(streams.HeaderKey, req.key.PublicKey)
	h.Set(streams.HeaderReceived, time.Now().UTC().Format(time.RFC3339Nano))
	h.Set(streams.HeaderEndpoint, string(req.ep))
	h.Set(jetstream.MsgIDHeader, strconv.FormatInt(req.projectID, 10)+"-"+hex.EncodeToString(sum[:16]))
	if ip := g.clientIP(r); ip != "" && !req.key.Scrubber().ScrubsIPs() {
		h.Set(streams.HeaderClientIP, ip)
	}
	if ua := r.UserAgent(); ua != "" {
		h.Set(streams.HeaderUserAgent, truncate(ua, 512))
	}
	if id := req.env.Header.EventID; id != "" {
		h.Set(streams.HeaderEventID, id)
	}
	for _, th := range []string{streams.HeaderSentryTrace, streams.HeaderBaggage, streams.HeaderTraceparent} {
		if v := r.Header.Get(th); v != "" {
			h.Set(th, truncate(v, 8192))
		}
	}
	if span != nil {
		telemetry.Inject(span.SpanContext(), h)
	}
	return &nats.Msg{Subject: streams.IngestSubject(req.projectID, kind), Header: h, Data: req.body}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// clientIP is the peer's address, or, behind a trusted proxy, the rightmost
// X-Forwarded-For address that is not itself a trusted proxy.
func (g *Gateway) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !g.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !g.trusted(a) {
			return a.Unmap().String()
		}
	}
	return host
}

func (g *Gateway) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range g.opt.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// errUnavailable is answered 503 with Retry-After.
var errUnavailable = errors.New("event store unavailable")

// errNoAck is a publish given up on before JetStream answered.
var errNoAck = errors.New("no acknowledgement")

// publish stores msg in the INGEST stream and waits for JetStream's
// acknowledgement. Bodies too large for a message go to the object store
// first, as they are; the message then carries their name. Others are
// compressed with S2 (streams.EncodeEnvelope).
func (g *Gateway) publish(ctx context.Context, msg *nats.Msg, size int) error {
	start := time.Now()
	defer func() { g.m.publish.Observe(time.Since(start).Seconds()) }()
	// A timer rather than a context with a deadline: it is the hot path,
	// and a child context registers with the request's and allocates more.
	timeout := time.NewTimer(g.opt.PublishTimeout)
	defer timeout.Stop()
	var enc *[]byte
	if int64(size) > g.blobThreshold() {
		bctx, cancel := context.WithTimeout(ctx, g.opt.PublishTimeout)
		defer cancel()
		name := msg.Header.Get(jetstream.MsgIDHeader)
		if _, err := g.blobs.PutBytes(bctx, name, msg.Data); err != nil {
			return fmt.Errorf("%w: store large envelope: %v", errUnavailable, err)
		}
		msg.Header.Set(streams.HeaderBlob, name)
		msg.Data = nil
	} else {
		enc = encodedBufs.Get().(*[]byte)
		msg.Data = streams.EncodeEnvelope(msg.Header, msg.Data, *enc)
	}
	// The encoded body goes back to the pool once the client is done with
	// it: the publish failed at once or was answered; not while the client
	// may still resend it.
	settled := false
	defer func() {
		if enc != nil && settled {
			*enc = msg.Data[:0]
			encodedBufs.Put(enc)
		}
	}()
	// The header jetstream.WithExpectStream would set; without options the
	// client skips building them.
	msg.Header.Set(jetstream.ExpectedStreamHeader, streams.Ingest)
	fut, err := g.nats.JS.PublishMsgAsync(msg)
	if err != nil {
		settled = true
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	select {
	case <-fut.Ok():
		settled = true
		return nil
	case err := <-fut.Err():
		settled = true
		return fmt.Errorf("%w: %v", errUnavailable, err)
	case <-ctx.Done():
		return fmt.Errorf("%w: %w: %v", errUnavailable, errNoAck, ctx.Err())
	case <-timeout.C:
		return fmt.Errorf("%w: %w: %v", errUnavailable, errNoAck, context.DeadlineExceeded)
	}
}

// encodedBufs hold INGEST bodies, S2-encoded, while they are published.
var encodedBufs = sync.Pool{New: func() any { return new([]byte) }}

func (g *Gateway) blobThreshold() int64 {
	return min(4<<20, g.nats.NC.MaxPayload()-64<<10)
}

// reject answers a refused or failed request and returns why, for its
// sampled log line. Failures (5xx) are logged here, every one; refusals
// only at level Debug (the request's sampled line names them), so a flood
// of bad requests cannot flood the log.
func (g *Gateway) reject(w http.ResponseWriter, r *http.Request, ep endpoint, err error) string {
	var ee *envelope.Error
	switch {
	case errors.As(err, &ee):
		g.m.rejected.WithLabelValues(ee.Reason).Inc()
		g.log.Debug("envelope rejected", slog.String("endpoint", string(ep)), slog.String("reason", ee.Reason),
			slog.Int("status", ee.Status), slog.String("detail", ee.Detail), slog.String("remote", r.RemoteAddr))
		writeError(w, ee.Status, ee.Detail)
		return ee.Reason
	case errors.Is(err, errUnavailable):
		g.m.rejected.WithLabelValues("unavailable").Inc()
		g.log.Warn("envelope not stored", slog.String("endpoint", string(ep)), slog.Any("error", err))
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "event store unavailable, retry later")
		return "unavailable"
	default:
		g.m.rejected.WithLabelValues("internal").Inc()
		g.log.Error("ingestion failed", slog.String("endpoint", string(ep)), slog.Any("error", err))
		writeError(w, http.StatusInternalServerError, "internal error")
		return "internal"
	}
}

func writeError(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Sentry-Error", strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, truncate(detail, 256)))
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"detail": detail})
}
