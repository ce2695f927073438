// Package selfreport sends Faultline's own errors to a Sentry-compatible
// server (SELF_DSN: another Faultline, or any Sentry) through sentry-go.
//
// It hooks into logging rather than into each caller: Handler wraps the
// process's slog handler and turns every record at Error level into an
// event, with the record's message, the log call's stack trace, and the
// logger's and the record's attributes, after Redact: a few as tags, all
// others in the event's "log" context.
// A record with a "panic" attribute is a recovered panic (every recover()
// in Faultline logs one): its event is an exception named by the panic
// value, with the stack trace of the code that panicked.
//
// Events are rate limited (a burst, then one a second), so that an outage
// that makes every request fail, or a DSN pointing at this very process,
// cannot flood the receiver; Flush sends what is queued before exit.
package selfreport

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// PanicKey is the attribute that marks a record as a recovered panic; its
// value is what recover() returned.
const PanicKey = "panic"

// stackKey is the text stack trace recover sites log beside the panic; the
// event carries it as frames instead.
const stackKey = "stack"

// tagKeys are the attributes that become tags (indexed and searchable in
// Sentry): few values each. The others go into the "log" context.
var tagKeys = []string{"role", "consumer", "route", "method", "status", "endpoint"}

// Options configure a Reporter.
type Options struct {
	DSN     string // SELF_DSN
	Release string // "faultline@<version>"
	// Burst and PerSecond bound the events sent: Burst at once, then
	// PerSecond. Zero means 20 and 1.
	Burst     int
	PerSecond float64
}

// Reporter sends error records as events to one DSN.
type Reporter struct {
	client  *sentry.Client
	scope   *sentry.Scope
	limit   *rate.Limiter
	reports *prometheus.CounterVec
}

// New returns a Reporter for o.DSN.
func New(o Options) (*Reporter, error) {
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:     o.DSN,
		Release: o.Release,
		// Faultline's own frames and nothing else; no request data, no
		// user, no breadcrumbs.
		MaxBreadcrumbs: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("SELF_DSN: %w", err)
	}
	if o.Burst <= 0 {
		o.Burst = 20
	}
	if o.PerSecond <= 0 {
		o.PerSecond = 1
	}
	return &Reporter{
		client: client,
		scope:  sentry.NewScope(),
		limit:  rate.NewLimiter(rate.Limit(o.PerSecond), o.Burst),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "faultline_self_reports_total",
			Help: "Faultline's own errors and panics, by outcome: sent to SELF_DSN (captured) or dropped by the rate limit (rate_limited)."},
			[]string{"outcome"}),
	}, nil
}

// SetTag adds a tag to every event from now on (the process's roles).
func (r *Reporter) SetTag(key, value string) { r.scope.SetTag(key, value) }

// Metrics is the counter of reports, to register with the process's
// registry.
func (r *Reporter) Metrics() prometheus.Collector { return r.reports }

// Flush waits up to timeout for the queued events to be sent and reports
// whether they were.
func (r *Reporter) Flush(timeout time.Duration) bool { return r.client.Flush(timeout) }

// Close flushes for up to timeout, then releases the transport.
func (r *Reporter) Close(timeout time.Duration) {
	r.client.Flush(timeout)
	r.client.Close()
}

// Handler returns next, which also sends every record at Error level or
// above to the reporter, whatever next's level.
func (r *Reporter) Handler(next slog.Handler) slog.Handler {
	return &handler{r: r, next: next}
}

type handler struct {
	r     *Reporter
	next  slog.Handler
	attrs []groupedAttr // from WithAttrs, with the groups open then
	group []string      // from WithGroup
}

type groupedAttr struct {
	group []string
	attr  slog.Attr
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelError || h.next.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelError {
		h.r.capture(h, rec)
	}
	if !h.next.Enabled(ctx, rec.Level) {
		return nil
	}
	return h.next.Handle(ctx, rec)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	c.attrs = slices.Clone(h.attrs)
	for _, a := range attrs {
		c.attrs = append(c.attrs, groupedAttr{group: h.group, attr: a})
	}
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.next = h.next.WithGroup(name)
	c.group = append(slices.Clip(h.group), name)
	return &c
}

// capture turns rec into an event and queues it, unless the rate limit
// says no. It runs on the logging goroutine, so the stack trace is that of
// the log call (or, in a deferred recover, that of the panic).
func (r *Reporter) capture(h *handler, rec slog.Record) {
	if !r.limit.Allow() {
		r.reports.WithLabelValues("rate_limited").Inc()
		return
	}
	ev := sentry.NewEvent()
	ev.Level = sentry.LevelError
	ev.Logger = "faultline"
	ev.Message = redactString(rec.Message)
	ev.Timestamp = rec.Time
	ev.Tags = map[string]string{}
	attrs := sentry.Context{}
	var panicked any
	put := func(group []string, a slog.Attr) {
		flatten(group, a, func(key string, a slog.Attr) {
			if key == PanicKey {
				panicked = a.Value.Any()
				return
			}
			if key == stackKey {
				return
			}
			a = Redact(nil, a)
			if slices.Contains(tagKeys, key) {
				ev.Tags[key] = a.Value.String()
				return
			}
			attrs[key] = contextValue(a.Value)
		})
	}
	for _, ga := range h.attrs {
		put(ga.group, ga.attr)
	}
	rec.Attrs(func(a slog.Attr) bool { put(h.group, a); return true })
	if len(attrs) > 0 {
		ev.Contexts = map[string]sentry.Context{"log": attrs}
	}

	st := sentry.NewStacktrace() // trimmed at the panic, when there is one
	if panicked != nil {
		ev.Level = sentry.LevelFatal
		handled := true
		typ := "panic"
		if err, ok := panicked.(error); ok {
			typ = reflect.TypeOf(err).String()
		}
		ev.Exception = []sentry.Exception{{
			Type:       typ,
			Value:      redactString(fmt.Sprint(panicked)),
			Stacktrace: st,
			Mechanism:  &sentry.Mechanism{Type: "panic", Handled: &handled},
		}}
	} else {
		ev.Threads = []sentry.Thread{{Stacktrace: trimLogging(st), Current: true}}
	}
	r.reports.WithLabelValues("captured").Inc()
	r.client.CaptureEvent(ev, nil, r.scope)
}

// loggingModules are the packages between a log call and capture.
var loggingModules = []string{"log/slog", "github.com/faultline/faultline/libs/selfreport"}

// trimLogging drops the innermost frames that belong to slog and this
// package, so that the stack ends at the log call.
func trimLogging(st *sentry.Stacktrace) *sentry.Stacktrace {
	if st == nil {
		return nil
	}
	n := len(st.Frames)
	for n > 0 && slices.Contains(loggingModules, st.Frames[n-1].Module) {
		n--
	}
	st.Frames = st.Frames[:n]
	return st
}

// flatten calls f with each attribute of a, groups resolved into dotted
// keys.
func flatten(group []string, a slog.Attr, f func(key string, a slog.Attr)) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g = append(slices.Clip(group), a.Key)
		}
		for _, m := range a.Value.Group() {
			flatten(g, m, f)
		}
		return
	}
	f(strings.Join(append(slices.Clip(group), a.Key), "."), a)
}

// contextValue is v as a JSON-friendly value.
func contextValue(v slog.Value) any {
	switch v.Kind() {
	case slog.KindString:
		return v.String()
	case slog.KindInt64:
		return v.Int64()
	case slog.KindUint64:
		return v.Uint64()
	case slog.KindFloat64:
		return v.Float64()
	case slog.KindBool:
		return v.Bool()
	}
	return redactString(v.String()) // durations, times, errors, anything else: as logged as text
}

// redacted replaces what Redact hides.
const redacted = "[redacted]"

// secretKeys are attribute keys whose values are secrets whatever they
// hold.
var secretKeys = regexp.MustCompile(`(?i)(password|passwd|secret|token|authorization|cookie|credential|private_?key|api_?key)`)

// secretText finds secrets inside text: the password of a URL
// (postgres://user:pw@host), a bearer token, a Faultline API token.
var secretText = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@/\s]+@`), "${1}:" + redacted + "@"},
	{regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+`), "${1}" + redacted},
	{regexp.MustCompile(`flt_[A-Za-z0-9_-]+`), "flt_" + redacted},
}

func redactString(s string) string {
	for _, r := range secretText {
		s = r.re.ReplaceAllString(s, r.with)
	}
	return s
}

// Redact hides secrets in a log attribute: the whole value when its key
// names a secret (password, token, cookie, ...), and URL passwords and
// tokens inside strings and errors. It is the ReplaceAttr of the process's
// log handler, and the reporter applies it to every attribute it sends, so
// what reaches SELF_DSN is never more than what the log shows.
func Redact(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindGroup {
		return a
	}
	if secretKeys.MatchString(a.Key) {
		return slog.String(a.Key, redacted)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); redactString(s) != s {
			return slog.String(a.Key, redactString(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			if s := err.Error(); redactString(s) != s {
				return slog.String(a.Key, redactString(s))
			}
		}
	}
	return a
}
