package event

import (
	"bytes"
	"encoding/json"
	"strings"
)

// The walkers below read JSON that is already known to be valid: Normalize
// checks the whole payload once (scanTop) before anything else reads it,
// and every slice they hand on is one value of it. They find the ends of
// values by the bytes alone, with none of a tokenizer's checks and state,
// and the decoders built on them fill the raw structs exactly as lenient
// (encoding/json's rules) would: FuzzFastMatchesLenient holds them to it.

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd is where the string that opens at b[i] ends: after its quote.
func stringEnd(b []byte, i int) int {
	i++
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		escapes := 0
		for k := i - 1; b[k] == '\\'; k-- {
			escapes++
		}
		i++
		if escapes%2 == 0 {
			return i
		}
	}
}

// valueEnd is where the value that starts at b[i] ends.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = stringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// walker steps through the members of an object or the elements of an
// array: b is the whole value, without surrounding space.
type walker struct {
	b []byte
	i int
}

func walk(b []byte) walker { return walker{b: b, i: 1} }

// member is the next member's key (a JSON string, quotes included) and
// value; ok is false at the end of the object.
func (w *walker) member() (key, val []byte, ok bool) {
	i := w.start()
	if i < 0 {
		return nil, nil, false
	}
	end := stringEnd(w.b, i)
	key = w.b[i:end]
	i = skipSpace(w.b, skipSpace(w.b, end)+1) // past the colon
	end = valueEnd(w.b, i)
	w.i = end
	return key, w.b[i:end:end], true
}

// element is the next element of an array; ok is false at its end.
func (w *walker) element() (val []byte, ok bool) {
	i := w.start()
	if i < 0 {
		return nil, false
	}
	end := valueEnd(w.b, i)
	w.i = end
	return w.b[i:end:end], true
}

func (w *walker) start() int {
	i := skipSpace(w.b, w.i)
	if i < len(w.b) && w.b[i] == ',' {
		i = skipSpace(w.b, i+1)
	}
	if i >= len(w.b) || w.b[i] == '}' || w.b[i] == ']' {
		return -1
	}
	return i
}

// field is the name among names (a struct's JSON names, in lower case) that
// key matches as encoding/json matches struct fields: case-insensitively,
// under Unicode's simple folding. "" if it matches none.
func field(key []byte, names []string) string {
	inner := key[1 : len(key)-1]
	for _, c := range inner {
		if c >= 0x80 || c == '\\' {
			s := scalarText(key)
			for _, n := range names {
				if strings.EqualFold(s, n) {
					return n
				}
			}
			return ""
		}
	}
	for _, n := range names {
		if len(n) == len(inner) && asciiFold(inner, n) {
			return n
		}
	}
	return ""
}

// asciiFold compares ASCII text with a lower-case name, ignoring case.
func asciiFold(b []byte, name string) bool {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// mergeRaw decodes an object of raw values into *m as encoding/json does:
// into the map already there, if any; null clears it; any other value is
// a type error that leaves it as it was.
func mergeRaw(m *map[string]json.RawMessage, val []byte) {
	switch val[0] {
	case 'n':
		*m = nil
	case '{':
		if *m == nil {
			*m = map[string]json.RawMessage{}
		}
		w := walk(val)
		for k, v, ok := w.member(); ok; k, v, ok = w.member() {
			(*m)[scalarText(k)] = json.RawMessage(v)
		}
	}
}

// listOf decodes an array into a fresh slice of n elements, as encoding/json
// does (an empty array is an empty slice, null nil); any other value leaves
// the slice as it was. It reports whether it read an array.
func listOf[T any](s *[]T, val []byte, decode func(*T, []byte)) {
	switch val[0] {
	case 'n':
		*s = nil
	case '[':
		out := (*s)[:0]
		if out == nil {
			out = []T{}
		}
		w := walk(val)
		for v, ok := w.element(); ok; v, ok = w.element() {
			var t T
			decode(&t, v)
			out = append(out, t)
		}
		*s = out
	}
}

var frameFields = []string{"function", "raw_function", "symbol", "module", "package", "filename", "abs_path",
	"lineno", "colno", "context_line", "pre_context", "post_context", "in_app", "platform", "instruction_addr", "vars"}

// decode fills rf from the object b, as lenient does.
func (rf *rawFrame) decode(b []byte) {
	w := walk(b)
	for k, v, ok := w.member(); ok; k, v, ok = w.member() {
		switch field(k, frameFields) {
		case "function":
			rf.Function.UnmarshalJSON(v)
		case "raw_function":
			rf.RawFunction.UnmarshalJSON(v)
		case "symbol":
			rf.Symbol.UnmarshalJSON(v)
		case "module":
			rf.Module.UnmarshalJSON(v)
		case "package":
			rf.Package.UnmarshalJSON(v)
		case "filename":
			rf.Filename.UnmarshalJSON(v)
		case "abs_path":
			rf.AbsPath.UnmarshalJSON(v)
		case "lineno":
			rf.Lineno.UnmarshalJSON(v)
		case "colno":
			rf.Colno.UnmarshalJSON(v)
		case "context_line":
			rf.ContextLine.UnmarshalJSON(v)
		case "pre_context":
			rf.PreContext.UnmarshalJSON(v)
		case "post_context":
			rf.PostContext.UnmarshalJSON(v)
		case "in_app":
			rf.InApp.UnmarshalJSON(v)
		case "platform":
			rf.Platform.UnmarshalJSON(v)
		case "instruction_addr":
			rf.InstructionAddr.UnmarshalJSON(v)
		case "vars":
			mergeRaw(&rf.Vars, v)
		}
	}
}

// decodeObject decodes an element that is an object, and drops others.
func decodeObject[T any, P interface {
	*T
	decode([]byte)
}](e *objectElem[T], b []byte) {
	if b[0] == '{' {
		e.ok = true
		P(&e.v).decode(b)
	}
}

var stacktraceFields = []string{"frames"}

func (r *rawStacktrace) decode(b []byte) {
	w := walk(b)
	for k, v, ok := w.member(); ok; k, v, ok = w.member() {
		if field(k, stacktraceFields) != "" {
			listOf(&r.Frames, v, decodeObject[rawFrame])
		}
	}
}

// set reads one occurrence of a stack trace member: each starts afresh.
func (s *stacktraceField) set(b []byte) {
	*s = stacktraceField{}
	if b[0] == '{' {
		var r rawStacktrace
		r.decode(b)
		s.st = r.build()
	}
}

var mechanismFields = []string{"type", "description", "handled", "synthetic", "is_exception_group",
	"exception_id", "parent_id", "source", "data"}

func (m *rawMechanism) decode(b []byte) {
	w := walk(b)
	for k, v, ok := w.member(); ok; k, v, ok = w.member() {
		switch field(k, mechanismFields) {
		case "type":
			m.Type.UnmarshalJSON(v)
		case "description":
			m.Description.UnmarshalJSON(v)
		case "handled":
			m.Handled.UnmarshalJSON(v)
		case "synthetic":
			m.Synthetic.UnmarshalJSON(v)
		case "is_exception_group":
			m.IsExceptionGroup.UnmarshalJSON(v)
		case "exception_id":
			m.ExceptionID.UnmarshalJSON(v)
		case "parent_id":
			m.ParentID.UnmarshalJSON(v)
		case "source":
			m.Source.UnmarshalJSON(v)
		case "data":
			mergeRaw(&m.Data, v)
		}
	}
}

var exceptionFields = []string{"type", "value", "module", "thread_id", "mechanism", "stacktrace"}

func (r *rawException) decode(b []byte) {
	w := walk(b)
	for k, v, ok := w.member(); ok; k, v, ok = w.member() {
		switch field(k, exceptionFields) {
		case "type":
			r.Type.UnmarshalJSON(v)
		case "value":
			r.Value = json.RawMessage(v)
		case "module":
			r.Module.UnmarshalJSON(v)
		case "thread_id":
			r.ThreadID.UnmarshalJSON(v)
		case "mechanism":
			// encoding/json allocates the pointer before it finds
			// a value of the wrong type.
			switch {
			case v[0] == 'n':
				r.Mechanism = nil
			case r.Mechanism == nil:
				r.Mechanism = new(rawMechanism)
				fallthrough
			default:
				if v[0] == '{' {
					r.Mechanism.decode(v)
				}
			}
		case "stacktrace":
			r.Stacktrace.set(v)
		}
	}
}

var threadFields = []string{"id", "name", "crashed", "current", "main", "stacktrace"}

func (r *rawThread) decode(b []byte) {
	w := walk(b)
	for k, v, ok := w.member(); ok; k, v, ok = w.member() {
		switch field(k, threadFields) {
		case "id":
			r.ID.UnmarshalJSON(v)
		case "name":
			r.Name.UnmarshalJSON(v)
		case "crashed":
			r.Crashed.UnmarshalJSON(v)
		case "current":
			r.Current.UnmarshalJSON(v)
		case "main":
			r.Main.UnmarshalJSON(v)
		case "stacktrace":
			r.Stacktrace.set(v)
		}
	}
}

var breadcrumbFields = []string{"timestamp", "type", "category", "level", "message", "data"}

func (r *rawBreadcrumb) decode(b []byte) {
	w := walk(b)
	for k, v, ok := w.member(); ok; k, v, ok = w.member() {
		switch field(k, breadcrumbFields) {
		case "timestamp":
			r.Timestamp.UnmarshalJSON(v)
		case "type":
			r.Type.UnmarshalJSON(v)
		case "category":
			r.Category.UnmarshalJSON(v)
		case "level":
			r.Level.UnmarshalJSON(v)
		case "message":
			r.Message.UnmarshalJSON(v)
		case "data":
			mergeRaw(&r.Data, v)
		}
	}
}

var eventFields = []string{"event_id", "timestamp", "start_timestamp", "type", "level", "platform", "logger",
	"server_name", "release", "dist", "environment", "transaction", "culprit", "message", "logentry",
	"sentry.interfaces.message", "exception", "sentry.interfaces.exception", "threads", "stacktrace",
	"sentry.interfaces.stacktrace", "breadcrumbs", "tags", "user", "sentry.interfaces.user", "request",
	"sentry.interfaces.http", "contexts", "extra", "modules", "sdk", "fingerprint", "csp", "hpkp",
	"expectct", "expectstaple"}

func (r *rawEvent) decode(b []byte) {
	w := walk(b)
	for k, v, ok := w.member(); ok; k, v, ok = w.member() {
		raw := json.RawMessage(v)
		switch field(k, eventFields) {
		case "event_id":
			r.EventID.UnmarshalJSON(v)
		case "timestamp":
			r.Timestamp.UnmarshalJSON(v)
		case "start_timestamp":
			r.StartTimestamp.UnmarshalJSON(v)
		case "type":
			r.Type.UnmarshalJSON(v)
		case "level":
			r.Level.UnmarshalJSON(v)
		case "platform":
			r.Platform.UnmarshalJSON(v)
		case "logger":
			r.Logger.UnmarshalJSON(v)
		case "server_name":
			r.ServerName.UnmarshalJSON(v)
		case "release":
			r.Release.UnmarshalJSON(v)
		case "dist":
			r.Dist.UnmarshalJSON(v)
		case "environment":
			r.Environment.UnmarshalJSON(v)
		case "transaction":
			r.Transaction.UnmarshalJSON(v)
		case "culprit":
			r.Culprit.UnmarshalJSON(v)
		case "message":
			r.Message = raw
		case "logentry":
			r.LogEntry = raw
		case "sentry.interfaces.message":
			r.LegacyMessage = raw
		case "exception":
			r.Exception = raw
		case "sentry.interfaces.exception":
			r.LegacyExc = raw
		case "threads":
			r.Threads = raw
		case "stacktrace":
			r.Stacktrace = raw
		case "sentry.interfaces.stacktrace":
			r.LegacyStack = raw
		case "breadcrumbs":
			r.Breadcrumbs = raw
		case "tags":
			r.Tags = raw
		case "user":
			r.User = raw
		case "sentry.interfaces.user":
			r.LegacyUser = raw
		case "request":
			r.Request = raw
		case "sentry.interfaces.http":
			r.LegacyRequest = raw
		case "contexts":
			r.Contexts = raw
		case "extra":
			r.Extra = raw
		case "modules":
			switch v[0] {
			case 'n':
				r.Modules = nil
			case '{':
				if r.Modules == nil {
					r.Modules = map[string]flexString{}
				}
				mw := walk(v)
				for mk, mv, ok := mw.member(); ok; mk, mv, ok = mw.member() {
					var s flexString
					s.UnmarshalJSON(mv)
					r.Modules[scalarText(mk)] = s
				}
			}
		case "sdk":
			r.SDK = raw
		case "fingerprint":
			r.Fingerprint.UnmarshalJSON(v)
		case "csp":
			r.CSP = raw
		case "hpkp":
			r.HPKP = raw
		case "expectct":
			r.ExpectCT = raw
		case "expectstaple":
			r.ExpectStaple = raw
		}
	}
}
