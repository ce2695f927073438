// Package event owns Faultline's normalized event: the model every service
// reads, and Normalize, which turns any payload shape a Sentry SDK sends (or a
// browser's security report) into it, with Sentry's defaults and size limits.
//
// Normalization reads untrusted input: it never panics, and the only error it
// returns is *Error, for payloads that are not a JSON object at all. Fields of
// the wrong shape are dropped one by one, as Sentry does, not the whole event.
// The package does no I/O.
package event

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Error is a permanent rejection of a payload: retrying cannot help.
type Error struct {
	Reason string // a short label for metrics: "invalid_json", ...
	Detail string
}

func (e *Error) Error() string { return "bad event payload: " + e.Detail }

func bad(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Meta is what the pipeline knows about an event besides its payload.
type Meta struct {
	ProjectID int64
	Received  time.Time // when the gateway accepted it; the default timestamp
	ClientIP  string    // the SDK's address, for user.ip_address "{{auto}}"
	UserAgent string    // the request's User-Agent (security reports carry none)
	EventID   string    // the envelope header's event_id, used when the payload has none
}

// Event is a normalized event. Slices and pointers are nil when the event had
// none of that interface.
type Event struct {
	EventID     string // 32 lower-case hex digits
	ProjectID   int64
	Timestamp   time.Time
	Received    time.Time
	Type        string // "error", "default", "transaction", "csp", "hpkp", "expectct", "expectstaple", "nel"
	Level       string // fatal, error, warning, info, debug
	Platform    string
	Logger      string
	ServerName  string
	Release     string
	Dist        string
	Environment string
	Transaction string
	TraceID     string // from contexts.trace.trace_id
	Message     string // the formatted message (logentry.formatted, or the message string)
	LogEntry    *LogEntry
	Exceptions  []Exception // chained: the cause first, the outermost (raised last) last
	Threads     []Thread
	Stacktrace  *Stacktrace // a stack trace at the top level, outside exceptions and threads
	Breadcrumbs []Breadcrumb
	Tags        [][2]string
	User        *User
	Request     *Request
	Contexts    map[string]json.RawMessage
	Extra       map[string]json.RawMessage
	Modules     map[string]string
	SDK         *SDK
	Fingerprint []string
	Security    *SecurityReport // csp, hpkp, expect-ct and expect-staple reports
	DebugMeta   *DebugMeta      // debug_meta: the images (source maps by debug id, ...) the event refers to
	CulpritSent string          // the deprecated "culprit" the SDK sent, if any
	StartTime   time.Time       // transactions: start_timestamp

	// Raw is the payload as received, for storage next to the normalized form.
	Raw json.RawMessage
}

// LogEntry is a parameterized log message.
type LogEntry struct {
	Formatted string   `json:"formatted,omitempty"`
	Message   string   `json:"message,omitempty"` // the template, e.g. "user %s not found"
	Params    []string `json:"params,omitempty"`
}

// Exception is one exception of a chain.
type Exception struct {
	Type       string      `json:"type,omitempty"`
	Value      string      `json:"value,omitempty"`
	Module     string      `json:"module,omitempty"`
	ThreadID   string      `json:"thread_id,omitempty"`
	Mechanism  *Mechanism  `json:"mechanism,omitempty"`
	Stacktrace *Stacktrace `json:"stacktrace,omitempty"`
	// RawStacktrace is the stack trace as the SDK sent it when Stacktrace
	// was symbolicated (minified JavaScript mapped to its sources).
	RawStacktrace *Stacktrace `json:"raw_stacktrace,omitempty"`
}

// DebugMeta lists the debug files an event refers to.
type DebugMeta struct {
	Images []DebugImage `json:"images,omitempty"`
}

// DebugImage is one debug file: for JavaScript, type "sourcemap", the
// debug id injected into the bundle and the URL it was loaded from.
type DebugImage struct {
	Type     string `json:"type,omitempty"`
	DebugID  string `json:"debug_id,omitempty"`
	CodeFile string `json:"code_file,omitempty"`
}

// Mechanism says how an exception was captured.
type Mechanism struct {
	Type             string                     `json:"type,omitempty"`
	Description      string                     `json:"description,omitempty"`
	Handled          *bool                      `json:"handled,omitempty"`
	Synthetic        bool                       `json:"synthetic,omitempty"`
	IsExceptionGroup bool                       `json:"is_exception_group,omitempty"`
	ExceptionID      *int64                     `json:"exception_id,omitempty"`
	ParentID         *int64                     `json:"parent_id,omitempty"`
	Source           string                     `json:"source,omitempty"`
	Data             map[string]json.RawMessage `json:"data,omitempty"`
}

// Stacktrace is a list of frames, the oldest call first and the frame that
// raised last, as Sentry orders them.
type Stacktrace struct {
	Frames []Frame `json:"frames"`
}

// Frame is one stack frame.
type Frame struct {
	Function        string                     `json:"function,omitempty"`
	RawFunction     string                     `json:"raw_function,omitempty"`
	Symbol          string                     `json:"symbol,omitempty"`
	Module          string                     `json:"module,omitempty"`
	Package         string                     `json:"package,omitempty"`
	Filename        string                     `json:"filename,omitempty"`
	AbsPath         string                     `json:"abs_path,omitempty"`
	Lineno          int64                      `json:"lineno,omitempty"`
	Colno           int64                      `json:"colno,omitempty"`
	ContextLine     string                     `json:"context_line,omitempty"`
	PreContext      []string                   `json:"pre_context,omitempty"`
	PostContext     []string                   `json:"post_context,omitempty"`
	InApp           *bool                      `json:"in_app,omitempty"`
	Platform        string                     `json:"platform,omitempty"`
	InstructionAddr string                     `json:"instruction_addr,omitempty"`
	Vars            map[string]json.RawMessage `json:"vars,omitempty"`
}

// IsInApp reports whether the frame is the application's own code; a frame
// of unknown origin is not.
func (f *Frame) IsInApp() bool { return f.InApp != nil && *f.InApp }

// Thread is one thread of a threads interface.
type Thread struct {
	ID         string      `json:"id,omitempty"`
	Name       string      `json:"name,omitempty"`
	Crashed    bool        `json:"crashed,omitempty"`
	Current    bool        `json:"current,omitempty"`
	Main       bool        `json:"main,omitempty"`
	Stacktrace *Stacktrace `json:"stacktrace,omitempty"`
}

// Breadcrumb is one trail entry before the event.
type Breadcrumb struct {
	Timestamp time.Time                  `json:"-"`
	Type      string                     `json:"type,omitempty"`
	Category  string                     `json:"category,omitempty"`
	Level     string                     `json:"level,omitempty"`
	Message   string                     `json:"message,omitempty"`
	Data      map[string]json.RawMessage `json:"data,omitempty"`
}

// User is who the event happened to.
type User struct {
	ID        string                     `json:"id,omitempty"`
	Email     string                     `json:"email,omitempty"`
	Username  string                     `json:"username,omitempty"`
	IPAddress string                     `json:"ip_address,omitempty"`
	Name      string                     `json:"name,omitempty"`
	Segment   string                     `json:"segment,omitempty"`
	Data      map[string]json.RawMessage `json:"data,omitempty"`
}

// Key is a stable identity of the user for counting affected users: the
// first of id, username, email and IP address that is set, prefixed with
// which it is ("id:42"); "" when the event has no user.
func (u *User) Key() string {
	if u == nil {
		return ""
	}
	for _, kv := range [][2]string{{"id", u.ID}, {"username", u.Username}, {"email", u.Email}, {"ip", u.IPAddress}} {
		if kv[1] != "" {
			return kv[0] + ":" + kv[1]
		}
	}
	return ""
}

// Request is the HTTP request an event happened in.
type Request struct {
	URL         string          `json:"url,omitempty"`
	Method      string          `json:"method,omitempty"`
	QueryString string          `json:"query_string,omitempty"`
	Fragment    string          `json:"fragment,omitempty"`
	Cookies     string          `json:"cookies,omitempty"`
	Headers     [][2]string     `json:"headers,omitempty"`
	Env         json.RawMessage `json:"env,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
}

// Header is the first value of the named request header (case-insensitive).
func (r *Request) Header(name string) string {
	if r == nil {
		return ""
	}
	for _, h := range r.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// SDK names the client that sent the event.
type SDK struct {
	Name         string   `json:"name,omitempty"`
	Version      string   `json:"version,omitempty"`
	Integrations []string `json:"integrations,omitempty"`
}

// SecurityReport is a browser's security report (Sentry's csp, hpkp,
// expectct and expectstaple interfaces, in one shape).
type SecurityReport struct {
	Kind               string `json:"-"` // csp, hpkp, expectct, expectstaple
	DocumentURI        string `json:"document_uri,omitempty"`
	Referrer           string `json:"referrer,omitempty"`
	BlockedURI         string `json:"blocked_uri,omitempty"`
	EffectiveDirective string `json:"effective_directive,omitempty"`
	ViolatedDirective  string `json:"violated_directive,omitempty"`
	OriginalPolicy     string `json:"original_policy,omitempty"`
	SourceFile         string `json:"source_file,omitempty"`
	LineNumber         int64  `json:"line_number,omitempty"`
	ColumnNumber       int64  `json:"column_number,omitempty"`
	ScriptSample       string `json:"script_sample,omitempty"`
	Disposition        string `json:"disposition,omitempty"`
	StatusCode         int64  `json:"status_code,omitempty"`
	Hostname           string `json:"hostname,omitempty"` // hpkp, expect-ct, expect-staple
	Port               int64  `json:"port,omitempty"`
}

// Tag is the value of the named tag, or "".
func (e *Event) Tag(key string) string {
	for _, t := range e.Tags {
		if t[0] == key {
			return t[1]
		}
	}
	return ""
}

// MainException is the exception an error event is named after: the last
// of the chain that is not an exception group, or the last.
func (e *Event) MainException() *Exception {
	if len(e.Exceptions) == 0 {
		return nil
	}
	for i := len(e.Exceptions) - 1; i >= 0; i-- {
		if m := e.Exceptions[i].Mechanism; m == nil || !m.IsExceptionGroup {
			return &e.Exceptions[i]
		}
	}
	return &e.Exceptions[len(e.Exceptions)-1]
}

// MainStacktrace is the stack trace that best shows where the event
// happened: the main exception's, the crashed (or current, or only) thread's,
// or the top-level one; nil if none has frames.
func (e *Event) MainStacktrace() *Stacktrace {
	if ex := e.MainException(); ex != nil && ex.Stacktrace != nil && len(ex.Stacktrace.Frames) > 0 {
		return ex.Stacktrace
	}
	for i := len(e.Exceptions) - 1; i >= 0; i-- {
		if st := e.Exceptions[i].Stacktrace; st != nil && len(st.Frames) > 0 {
			return st
		}
	}
	if t := e.MainThread(); t != nil {
		return t.Stacktrace
	}
	if e.Stacktrace != nil && len(e.Stacktrace.Frames) > 0 {
		return e.Stacktrace
	}
	return nil
}

// MainThread is the thread whose stack trace stands for the event: the
// crashed one, else the current one, else the only one with a stack trace.
func (e *Event) MainThread() *Thread {
	var only *Thread
	n := 0
	for i := range e.Threads {
		t := &e.Threads[i]
		if t.Stacktrace == nil || len(t.Stacktrace.Frames) == 0 {
			continue
		}
		if t.Crashed {
			return t
		}
		n++
		only = t
	}
	for i := range e.Threads {
		t := &e.Threads[i]
		if t.Current && t.Stacktrace != nil && len(t.Stacktrace.Frames) > 0 {
			return t
		}
	}
	if n == 1 {
		return only
	}
	return nil
}

// LogMessage is the message of a message event: the formatted text, or the
// template when nothing was formatted.
func (e *Event) LogMessage() string {
	if e.Message != "" {
		return e.Message
	}
	if e.LogEntry != nil {
		return e.LogEntry.Message
	}
	return ""
}

// Title is the issue title Sentry shows for the event: "TypeError: x is
// undefined" for errors, the first line of the message otherwise.
func (e *Event) Title() string {
	switch {
	case e.Security != nil:
		return truncate(e.securityMessage(), maxTitle)
	case e.Type == "transaction":
		if e.Transaction != "" {
			return truncate(e.Transaction, maxTitle)
		}
		return "<unlabeled transaction>"
	}
	if ex := e.MainException(); ex != nil {
		val := truncate(firstLine(ex.Value), maxTitle)
		switch {
		case ex.Type != "" && val != "":
			return ex.Type + ": " + val
		case ex.Type != "":
			return ex.Type
		case val != "":
			return val
		}
		return "Error"
	}
	if m := firstLine(e.LogMessage()); m != "" {
		return truncate(m, maxTitle)
	}
	return "<unlabeled event>"
}

// Culprit is where the event happened, as Sentry shows it under the title:
// the top in-app frame ("app.views in index" or "handler(src/app.js)"), the
// transaction, or for security reports the directive.
func (e *Event) Culprit() string {
	if e.CulpritSent != "" {
		return truncate(e.CulpritSent, maxCulprit)
	}
	if s := e.Security; s != nil {
		if s.Kind == "csp" {
			return truncate(s.EffectiveDirective, maxCulprit)
		}
		return truncate(s.Hostname, maxCulprit)
	}
	if st := e.MainStacktrace(); st != nil {
		f := topFrame(st.Frames)
		if c := frameCulprit(f, e.Platform); c != "" {
			return truncate(c, maxCulprit)
		}
	}
	if e.Transaction != "" {
		return truncate(e.Transaction, maxCulprit)
	}
	if e.Request != nil && e.Request.URL != "" {
		return truncate(e.Request.URL, maxCulprit)
	}
	return ""
}

// topFrame is the innermost in-app frame, or the innermost frame.
func topFrame(frames []Frame) *Frame {
	for i := len(frames) - 1; i >= 0; i-- {
		if frames[i].IsInApp() {
			return &frames[i]
		}
	}
	return &frames[len(frames)-1]
}

func frameCulprit(f *Frame, platform string) string {
	if f.Platform != "" {
		platform = f.Platform
	}
	fn := f.Function
	if fn == "" {
		fn = "?"
	}
	switch platform {
	case "objc", "cocoa", "native", "c", "swift":
		return fn
	}
	loc := f.Module
	if loc == "" {
		loc = f.Filename
	}
	if loc == "" {
		loc = f.AbsPath
	}
	if loc == "" {
		return ""
	}
	if platform == "javascript" || platform == "node" {
		return fn + "(" + loc + ")"
	}
	return loc + " in " + fn
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}
