package event

import (
	"encoding/json"
	"io"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	expjson "github.com/go-json-experiment/json/v1"
)

// epoch is a time as Sentry stores it: seconds since the epoch, to the
// microsecond.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	us := time.Time(t).UnixMicro()
	return json.Marshal(float64(us) / 1e6)
}

func epochPtr(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

type valuesOf[T any] struct {
	Values []T `json:"values"`
}

func valuesPtr[T any](l []T) *valuesOf[T] {
	if len(l) == 0 {
		return nil
	}
	return &valuesOf[T]{l}
}

// MarshalJSON writes the breadcrumb with its timestamp in Sentry's form.
func (b Breadcrumb) MarshalJSON() ([]byte, error) {
	type plain Breadcrumb
	return json.Marshal(struct {
		Timestamp *epoch `json:"timestamp,omitempty"`
		plain
	}{epochPtr(b.Timestamp), plain(b)})
}

// storedBreadcrumb is a Breadcrumb as MarshalJSON writes it, without a
// marshaler of its own: one encoder pass writes the whole event.
type storedBreadcrumb struct {
	Timestamp *float64                   `json:"timestamp,omitempty"`
	Type      string                     `json:"type,omitempty"`
	Category  string                     `json:"category,omitempty"`
	Level     string                     `json:"level,omitempty"`
	Message   string                     `json:"message,omitempty"`
	Data      map[string]json.RawMessage `json:"data,omitempty"`
}

// epochSeconds is t as Sentry stores it (seconds to the microsecond, as
// epoch writes it); nil for the zero time.
func epochSeconds(t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	f := float64(t.UnixMicro()) / 1e6
	return &f
}

func storedBreadcrumbs(bs []Breadcrumb) []storedBreadcrumb {
	if len(bs) == 0 {
		return nil
	}
	out := make([]storedBreadcrumb, len(bs))
	for i, b := range bs {
		out[i] = storedBreadcrumb{Timestamp: epochSeconds(b.Timestamp), Type: b.Type, Category: b.Category,
			Level: b.Level, Message: b.Message, Data: b.Data}
	}
	return out
}

// MarshalJSON writes the normalized event as stored: Sentry's event shape,
// plus the derived title and culprit. Normalize reads it back unchanged.
// The output is encoding/json's, byte for byte (TestMarshalMatchesEncodingJSON),
// written by the faster engine of encoding/json/v2.
func (e *Event) MarshalJSON() ([]byte, error) {
	return expjson.Marshal(e.stored())
}

// WriteJSON writes what MarshalJSON returns to w, without a copy of its own
// (into a reused buffer, say).
func (e *Event) WriteJSON(w io.Writer) error {
	return jsonv2.MarshalWrite(w, e.stored(), expjson.DefaultOptionsV1())
}

// stored is the value MarshalJSON encodes.
func (e *Event) stored() any {
	out := struct {
		EventID        string                      `json:"event_id"`
		ProjectID      int64                       `json:"project,omitempty"`
		Timestamp      *float64                    `json:"timestamp,omitempty"`
		StartTimestamp *float64                    `json:"start_timestamp,omitempty"`
		Received       *float64                    `json:"received,omitempty"`
		Type           string                      `json:"type"`
		Level          string                      `json:"level"`
		Platform       string                      `json:"platform"`
		Title          string                      `json:"title"`
		Culprit        string                      `json:"culprit,omitempty"`
		Logger         string                      `json:"logger,omitempty"`
		ServerName     string                      `json:"server_name,omitempty"`
		Release        string                      `json:"release,omitempty"`
		Dist           string                      `json:"dist,omitempty"`
		Environment    string                      `json:"environment,omitempty"`
		Transaction    string                      `json:"transaction,omitempty"`
		Message        string                      `json:"message,omitempty"`
		LogEntry       *LogEntry                   `json:"logentry,omitempty"`
		Exception      *valuesOf[Exception]        `json:"exception,omitempty"`
		Threads        *valuesOf[Thread]           `json:"threads,omitempty"`
		Stacktrace     *Stacktrace                 `json:"stacktrace,omitempty"`
		Breadcrumbs    *valuesOf[storedBreadcrumb] `json:"breadcrumbs,omitempty"`
		Tags           [][2]string                 `json:"tags,omitempty"`
		User           *User                       `json:"user,omitempty"`
		Request        *Request                    `json:"request,omitempty"`
		Contexts       map[string]json.RawMessage  `json:"contexts,omitempty"`
		Extra          map[string]json.RawMessage  `json:"extra,omitempty"`
		Modules        map[string]string           `json:"modules,omitempty"`
		SDK            *SDK                        `json:"sdk,omitempty"`
		Fingerprint    []string                    `json:"fingerprint,omitempty"`
		CSP            *SecurityReport             `json:"csp,omitempty"`
		HPKP           *SecurityReport             `json:"hpkp,omitempty"`
		ExpectCT       *SecurityReport             `json:"expectct,omitempty"`
		ExpectStaple   *SecurityReport             `json:"expectstaple,omitempty"`
		DebugMeta      *DebugMeta                  `json:"debug_meta,omitempty"`
	}{
		EventID: e.EventID, ProjectID: e.ProjectID,
		Timestamp: epochSeconds(e.Timestamp), StartTimestamp: epochSeconds(e.StartTime), Received: epochSeconds(e.Received),
		Type: e.Type, Level: e.Level, Platform: e.Platform, Title: e.Title(), Culprit: e.Culprit(),
		Logger: e.Logger, ServerName: e.ServerName, Release: e.Release, Dist: e.Dist,
		Environment: e.Environment, Transaction: e.Transaction, Message: e.Message, LogEntry: e.LogEntry,
		Exception: valuesPtr(e.Exceptions), Threads: valuesPtr(e.Threads), Stacktrace: e.Stacktrace,
		Breadcrumbs: valuesPtr(storedBreadcrumbs(e.Breadcrumbs)), Tags: e.Tags, User: e.User, Request: e.Request,
		Contexts: e.Contexts, Extra: e.Extra, Modules: e.Modules, SDK: e.SDK, Fingerprint: e.Fingerprint,
		DebugMeta: e.DebugMeta,
	}
	if s := e.Security; s != nil {
		switch s.Kind {
		case "csp":
			out.CSP = s
		case "hpkp":
			out.HPKP = s
		case "expectct":
			out.ExpectCT = s
		case "expectstaple":
			out.ExpectStaple = s
		}
	}
	return out
}

// MarshalJSONTo writes the frame as the struct encoder would (field order,
// omitempty; TestMarshalMatchesEncodingJSON holds it to encoding/json), token
// by token: frames are most of a stored event, and the reflective encoder
// spent as long on their empty fields as on their values.
func (f *Frame) MarshalJSONTo(enc *jsontext.Encoder) error {
	w := tokenWriter{enc: enc}
	w.token(jsontext.BeginObject)
	w.str("function", f.Function)
	w.str("raw_function", f.RawFunction)
	w.str("symbol", f.Symbol)
	w.str("module", f.Module)
	w.str("package", f.Package)
	w.str("filename", f.Filename)
	w.str("abs_path", f.AbsPath)
	w.int("lineno", f.Lineno)
	w.int("colno", f.Colno)
	w.str("context_line", f.ContextLine)
	w.strs("pre_context", f.PreContext)
	w.strs("post_context", f.PostContext)
	if f.InApp != nil {
		w.token(jsontext.String("in_app"))
		w.token(jsontext.Bool(*f.InApp))
	}
	w.str("platform", f.Platform)
	w.str("instruction_addr", f.InstructionAddr)
	if len(f.Vars) > 0 && w.err == nil {
		w.token(jsontext.String("vars"))
		if w.err == nil {
			w.err = jsonv2.MarshalEncode(enc, f.Vars)
		}
	}
	w.token(jsontext.EndObject)
	return w.err
}

// tokenWriter writes tokens until the first error, which it keeps.
type tokenWriter struct {
	enc *jsontext.Encoder
	err error
}

func (w *tokenWriter) token(t jsontext.Token) {
	if w.err == nil {
		w.err = w.enc.WriteToken(t)
	}
}

// str writes a member whose value is a string, unless it is empty.
func (w *tokenWriter) str(name, v string) {
	if v != "" {
		w.token(jsontext.String(name))
		w.token(jsontext.String(v))
	}
}

// int writes a member whose value is an integer, unless it is 0.
func (w *tokenWriter) int(name string, v int64) {
	if v != 0 {
		w.token(jsontext.String(name))
		w.token(jsontext.Int(v))
	}
}

// strs writes a member whose value is a list of strings, unless it is empty.
func (w *tokenWriter) strs(name string, l []string) {
	if len(l) == 0 {
		return
	}
	w.token(jsontext.String(name))
	w.token(jsontext.BeginArray)
	for _, s := range l {
		w.token(jsontext.String(s))
	}
	w.token(jsontext.EndArray)
}
