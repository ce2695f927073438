package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
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

// walker reads an object or an array in one pass: key (or next, for an
// array's elements) stops at the next value, which the caller then reads
// with value, skip or a decoder of its own that returns where it ended.
type walker struct {
	b []byte
	i int
}

// walkAt starts on the container that opens at b[i].
func walkAt(b []byte, i int) walker { return walker{b: b, i: i + 1} }

func walk(b []byte) walker { return walkAt(b, 0) }

// next moves to the next member or element; at the end of the container
// it moves past its closing bracket and returns false.
func (w *walker) next() bool {
	i := skipSpace(w.b, w.i)
	if w.b[i] == ',' {
		i = skipSpace(w.b, i+1)
	}
	if c := w.b[i]; c == '}' || c == ']' {
		w.i = i + 1
		return false
	}
	w.i = i
	return true
}

// key reads the next member's key (a JSON string, quotes included) and
// stops at its value.
func (w *walker) key() ([]byte, bool) {
	if !w.next() {
		return nil, false
	}
	end := stringEnd(w.b, w.i)
	key := w.b[w.i:end]
	w.i = skipSpace(w.b, skipSpace(w.b, end)+1) // past the colon
	return key, true
}

// value is the value at w, which moves past it.
func (w *walker) value() []byte {
	start := w.i
	w.i = valueEnd(w.b, start)
	return w.b[start:w.i:w.i]
}

// at is the first byte of the value at w.
func (w *walker) at() byte { return w.b[w.i] }

// member is the next member's key and value; ok is false at the end.
func (w *walker) member() (key, val []byte, ok bool) {
	if key, ok = w.key(); ok {
		val = w.value()
	}
	return key, val, ok
}

// element is the next element of an array; ok is false at its end.
func (w *walker) element() (val []byte, ok bool) {
	if ok = w.next(); ok {
		val = w.value()
	}
	return val, ok
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

// fieldSetter is a raw struct: set reads the value at w into the member
// called name, one of the names the struct was decoded with.
type fieldSetter interface{ set(name string, w *walker) }

// decodeFields reads the object that opens at b[i] into r, as
// encoding/json decodes an object into a struct: members matched to names
// by field, the others skipped, a repeated one read again. It returns
// where the object ends.
func decodeFields(b []byte, i int, names []string, r fieldSetter) int {
	w := walkAt(b, i)
	for k, ok := w.key(); ok; k, ok = w.key() {
		if name := field(k, names); name != "" {
			r.set(name, &w)
		} else {
			w.value()
		}
	}
	return w.i
}

// mergeMap decodes an object into *m as encoding/json decodes one into a
// map: into the map already there, if any, each value read by decode; null
// clears it; any other value is a type error that leaves it as it was.
func mergeMap[V any](m *map[string]V, val []byte, decode func([]byte) V) {
	switch val[0] {
	case 'n':
		*m = nil
	case '{':
		if *m == nil {
			*m = map[string]V{}
		}
		w := walk(val)
		for k, v, ok := w.member(); ok; k, v, ok = w.member() {
			(*m)[scalarText(k)] = decode(v)
		}
	}
}

// mergeRaw is mergeMap for an object of raw values.
func mergeRaw(m *map[string]json.RawMessage, val []byte) {
	mergeMap(m, val, func(v []byte) json.RawMessage { return v })
}

// listAt decodes the value at w into *s as encoding/json decodes an array
// into a slice: a fresh list (an empty array makes an empty slice), nil for
// null, and any other value leaves the slice as it was. decode reads one
// element at b[i] and returns where it ends.
func listAt[T any](s *[]T, w *walker, decode func(*T, []byte, int) int) {
	switch w.at() {
	case 'n':
		*s = nil
	case '[':
		out := (*s)[:0]
		if out == nil {
			out = []T{}
		}
		l := walkAt(w.b, w.i)
		for l.next() {
			var zero T
			out = append(out, zero)
			l.i = decode(&out[len(out)-1], l.b, l.i)
		}
		*s = out
		w.i = l.i
		return
	}
	w.i = valueEnd(w.b, w.i)
}

// objectAt decodes an element that is an object into e, and skips others.
func objectAt[T any, P interface {
	*T
	decodeAt([]byte, int) int
}](e *objectElem[T], b []byte, i int) int {
	if b[i] != '{' {
		return valueEnd(b, i)
	}
	e.ok = true
	return P(&e.v).decodeAt(b, i)
}

// listIn reads the list in Sentry's container b (see container): each
// element that is an object decoded where it stands, others dropped.
func listIn[T any, P interface {
	*T
	decodeAt([]byte, int) int
}](b []byte) []objectElem[T] {
	var l []objectElem[T]
	switch arr, one := container(b); {
	case one != nil:
		l = make([]objectElem[T], 1)
		objectAt[T, P](&l[0], one, 0)
	case arr != nil:
		w := walker{b: arr}
		listAt(&l, &w, objectAt[T, P])
	}
	return l
}

var frameFields = []string{"function", "raw_function", "symbol", "module", "package", "filename", "abs_path",
	"lineno", "colno", "context_line", "pre_context", "post_context", "in_app", "platform", "instruction_addr", "vars"}

// decode fills rf from the object b, as lenient does.
func (rf *rawFrame) decodeAt(b []byte, i int) int { return decodeFields(b, i, frameFields, rf) }

func (rf *rawFrame) set(name string, w *walker) {
	switch name {
	case "function":
		rf.Function.UnmarshalJSON(w.value())
	case "raw_function":
		rf.RawFunction.UnmarshalJSON(w.value())
	case "symbol":
		rf.Symbol.UnmarshalJSON(w.value())
	case "module":
		rf.Module.UnmarshalJSON(w.value())
	case "package":
		rf.Package.UnmarshalJSON(w.value())
	case "filename":
		rf.Filename.UnmarshalJSON(w.value())
	case "abs_path":
		rf.AbsPath.UnmarshalJSON(w.value())
	case "lineno":
		rf.Lineno.UnmarshalJSON(w.value())
	case "colno":
		rf.Colno.UnmarshalJSON(w.value())
	case "context_line":
		rf.ContextLine.UnmarshalJSON(w.value())
	case "pre_context":
		rf.PreContext.UnmarshalJSON(w.value())
	case "post_context":
		rf.PostContext.UnmarshalJSON(w.value())
	case "in_app":
		rf.InApp.UnmarshalJSON(w.value())
	case "platform":
		rf.Platform.UnmarshalJSON(w.value())
	case "instruction_addr":
		rf.InstructionAddr.UnmarshalJSON(w.value())
	case "vars":
		mergeRaw(&rf.Vars, w.value())
	}
}

var stacktraceFields = []string{"frames"}

func (r *rawStacktrace) decodeAt(b []byte, i int) int { return decodeFields(b, i, stacktraceFields, r) }

func (r *rawStacktrace) set(_ string, w *walker) { listAt(&r.Frames, w, objectAt[rawFrame]) }

// setAt reads one occurrence of a stack trace member, at w: each starts
// afresh.
func (s *stacktraceField) setAt(w *walker) {
	*s = stacktraceField{}
	if w.at() != '{' {
		w.value()
		return
	}
	var end int
	s.st, end = decodeStacktrace(w.b, w.i)
	w.i = end
}

// frameScratch holds the raw frames of a stack trace while it is decoded:
// they are copied into the stack trace's frames, so the list is reused.
var frameScratch = sync.Pool{New: func() any { return new([]objectElem[rawFrame]) }}

// decodeStacktrace reads the stack trace object that opens at b[i] and
// returns where it ends.
func decodeStacktrace(b []byte, i int) (*Stacktrace, int) {
	scratch := frameScratch.Get().(*[]objectElem[rawFrame])
	r := rawStacktrace{Frames: (*scratch)[:0]}
	end := r.decodeAt(b, i)
	st := r.build()
	if cap(r.Frames) <= 4*maxFrames {
		clear(r.Frames) // what the frames referred to is theirs
		*scratch = r.Frames[:0]
		frameScratch.Put(scratch)
	}
	return st, end
}

var mechanismFields = []string{"type", "description", "handled", "synthetic", "is_exception_group",
	"exception_id", "parent_id", "source", "data"}

func (m *rawMechanism) decodeAt(b []byte, i int) int { return decodeFields(b, i, mechanismFields, m) }

func (m *rawMechanism) set(name string, w *walker) {
	switch name {
	case "type":
		m.Type.UnmarshalJSON(w.value())
	case "description":
		m.Description.UnmarshalJSON(w.value())
	case "handled":
		m.Handled.UnmarshalJSON(w.value())
	case "synthetic":
		m.Synthetic.UnmarshalJSON(w.value())
	case "is_exception_group":
		m.IsExceptionGroup.UnmarshalJSON(w.value())
	case "exception_id":
		m.ExceptionID.UnmarshalJSON(w.value())
	case "parent_id":
		m.ParentID.UnmarshalJSON(w.value())
	case "source":
		m.Source.UnmarshalJSON(w.value())
	case "data":
		mergeRaw(&m.Data, w.value())
	}
}

var exceptionFields = []string{"type", "value", "module", "thread_id", "mechanism", "stacktrace"}

func (r *rawException) decodeAt(b []byte, i int) int { return decodeFields(b, i, exceptionFields, r) }

func (r *rawException) set(name string, w *walker) {
	switch name {
	case "type":
		r.Type.UnmarshalJSON(w.value())
	case "value":
		r.Value = json.RawMessage(w.value())
	case "module":
		r.Module.UnmarshalJSON(w.value())
	case "thread_id":
		r.ThreadID.UnmarshalJSON(w.value())
	case "mechanism":
		// encoding/json allocates the pointer before it finds
		// a value of the wrong type.
		switch {
		case w.at() == 'n':
			r.Mechanism = nil
		case r.Mechanism == nil:
			r.Mechanism = new(rawMechanism)
		}
		if w.at() == '{' {
			w.i = r.Mechanism.decodeAt(w.b, w.i)
		} else {
			w.value()
		}
	case "stacktrace":
		r.Stacktrace.setAt(w)
	}
}

var threadFields = []string{"id", "name", "crashed", "current", "main", "stacktrace"}

func (r *rawThread) decodeAt(b []byte, i int) int { return decodeFields(b, i, threadFields, r) }

func (r *rawThread) set(name string, w *walker) {
	switch name {
	case "id":
		r.ID.UnmarshalJSON(w.value())
	case "name":
		r.Name.UnmarshalJSON(w.value())
	case "crashed":
		r.Crashed.UnmarshalJSON(w.value())
	case "current":
		r.Current.UnmarshalJSON(w.value())
	case "main":
		r.Main.UnmarshalJSON(w.value())
	case "stacktrace":
		r.Stacktrace.setAt(w)
	}
}

var breadcrumbFields = []string{"timestamp", "type", "category", "level", "message", "data"}

func (r *rawBreadcrumb) decodeAt(b []byte, i int) int { return decodeFields(b, i, breadcrumbFields, r) }

func (r *rawBreadcrumb) set(name string, w *walker) {
	switch name {
	case "timestamp":
		r.Timestamp.UnmarshalJSON(w.value())
	case "type":
		r.Type.UnmarshalJSON(w.value())
	case "category":
		r.Category.UnmarshalJSON(w.value())
	case "level":
		r.Level.UnmarshalJSON(w.value())
	case "message":
		r.Message.UnmarshalJSON(w.value())
	case "data":
		mergeRaw(&r.Data, w.value())
	}
}

var eventFields = []string{"event_id", "timestamp", "start_timestamp", "type", "level", "platform", "logger",
	"server_name", "release", "dist", "environment", "transaction", "culprit", "message", "logentry",
	"sentry.interfaces.message", "exception", "sentry.interfaces.exception", "threads", "stacktrace",
	"sentry.interfaces.stacktrace", "breadcrumbs", "tags", "user", "sentry.interfaces.user", "request",
	"sentry.interfaces.http", "contexts", "extra", "modules", "sdk", "fingerprint", "csp", "hpkp",
	"expectct", "expectstaple", "debug_meta"}

func (r *rawEvent) decodeAt(b []byte, i int) int { return decodeFields(b, i, eventFields, r) }

func (r *rawEvent) set(name string, w *walker) {
	switch name {
	case "event_id":
		r.EventID.UnmarshalJSON(w.value())
	case "timestamp":
		r.Timestamp.UnmarshalJSON(w.value())
	case "start_timestamp":
		r.StartTimestamp.UnmarshalJSON(w.value())
	case "type":
		r.Type.UnmarshalJSON(w.value())
	case "level":
		r.Level.UnmarshalJSON(w.value())
	case "platform":
		r.Platform.UnmarshalJSON(w.value())
	case "logger":
		r.Logger.UnmarshalJSON(w.value())
	case "server_name":
		r.ServerName.UnmarshalJSON(w.value())
	case "release":
		r.Release.UnmarshalJSON(w.value())
	case "dist":
		r.Dist.UnmarshalJSON(w.value())
	case "environment":
		r.Environment.UnmarshalJSON(w.value())
	case "transaction":
		r.Transaction.UnmarshalJSON(w.value())
	case "culprit":
		r.Culprit.UnmarshalJSON(w.value())
	case "message":
		r.Message = json.RawMessage(w.value())
	case "logentry":
		r.LogEntry = json.RawMessage(w.value())
	case "sentry.interfaces.message":
		r.LegacyMessage = json.RawMessage(w.value())
	case "exception":
		r.Exception = json.RawMessage(w.value())
	case "sentry.interfaces.exception":
		r.LegacyExc = json.RawMessage(w.value())
	case "threads":
		r.Threads = json.RawMessage(w.value())
	case "stacktrace":
		r.Stacktrace = json.RawMessage(w.value())
	case "sentry.interfaces.stacktrace":
		r.LegacyStack = json.RawMessage(w.value())
	case "breadcrumbs":
		r.Breadcrumbs = json.RawMessage(w.value())
	case "tags":
		r.Tags = json.RawMessage(w.value())
	case "user":
		r.User = json.RawMessage(w.value())
	case "sentry.interfaces.user":
		r.LegacyUser = json.RawMessage(w.value())
	case "request":
		r.Request = json.RawMessage(w.value())
	case "sentry.interfaces.http":
		r.LegacyRequest = json.RawMessage(w.value())
	case "contexts":
		r.Contexts = json.RawMessage(w.value())
	case "extra":
		r.Extra = json.RawMessage(w.value())
	case "modules":
		mergeMap(&r.Modules, w.value(), func(v []byte) flexString {
			var s flexString
			s.UnmarshalJSON(v)
			return s
		})
	case "sdk":
		r.SDK = json.RawMessage(w.value())
	case "fingerprint":
		r.Fingerprint.UnmarshalJSON(w.value())
	case "csp":
		r.CSP = json.RawMessage(w.value())
	case "hpkp":
		r.HPKP = json.RawMessage(w.value())
	case "expectct":
		r.ExpectCT = json.RawMessage(w.value())
	case "expectstaple":
		r.ExpectStaple = json.RawMessage(w.value())
	case "debug_meta":
		r.DebugMeta = json.RawMessage(w.value())
	}
}

var pairFields = []string{"key", "value"}

func (r *rawPair) decodeAt(b []byte, i int) int { return decodeFields(b, i, pairFields, r) }

func (r *rawPair) set(name string, w *walker) {
	switch name {
	case "key":
		r.Key.UnmarshalJSON(w.value())
	case "value":
		r.Value.UnmarshalJSON(w.value())
	}
}

var userFields = []string{"id", "email", "username", "ip_address", "name", "segment", "data"}

func (r *rawUser) decodeAt(b []byte, i int) int { return decodeFields(b, i, userFields, r) }

func (r *rawUser) set(name string, w *walker) {
	switch name {
	case "id":
		r.ID.UnmarshalJSON(w.value())
	case "email":
		r.Email.UnmarshalJSON(w.value())
	case "username":
		r.Username.UnmarshalJSON(w.value())
	case "ip_address":
		r.IPAddress.UnmarshalJSON(w.value())
	case "name":
		r.Name.UnmarshalJSON(w.value())
	case "segment":
		r.Segment.UnmarshalJSON(w.value())
	case "data":
		mergeRaw(&r.Data, w.value())
	}
}

var requestFields = []string{"url", "method", "query_string", "fragment", "cookies", "headers", "env", "data"}

func (r *rawRequest) decodeAt(b []byte, i int) int { return decodeFields(b, i, requestFields, r) }

func (r *rawRequest) set(name string, w *walker) {
	switch name {
	case "url":
		r.URL.UnmarshalJSON(w.value())
	case "method":
		r.Method.UnmarshalJSON(w.value())
	case "query_string":
		r.QueryString = json.RawMessage(w.value())
	case "fragment":
		r.Fragment.UnmarshalJSON(w.value())
	case "cookies":
		r.Cookies = json.RawMessage(w.value())
	case "headers":
		r.Headers = json.RawMessage(w.value())
	case "env":
		r.Env = json.RawMessage(w.value())
	case "data":
		r.Data = json.RawMessage(w.value())
	}
}

var sdkFields = []string{"name", "version", "integrations"}

func (r *rawSDK) decodeAt(b []byte, i int) int { return decodeFields(b, i, sdkFields, r) }

func (r *rawSDK) set(name string, w *walker) {
	switch name {
	case "name":
		r.Name.UnmarshalJSON(w.value())
	case "version":
		r.Version.UnmarshalJSON(w.value())
	case "integrations":
		r.Integrations.UnmarshalJSON(w.value())
	}
}

var traceFields = []string{"trace_id"}

func (r *rawTrace) decodeAt(b []byte, i int) int { return decodeFields(b, i, traceFields, r) }

func (r *rawTrace) set(_ string, w *walker) { r.TraceID.UnmarshalJSON(w.value()) }

var contextTagFields = []string{"name", "version", "model", "family"}

func (c *contextTag) decodeAt(b []byte, i int) int { return decodeFields(b, i, contextTagFields, c) }

func (c *contextTag) set(name string, w *walker) {
	switch name {
	case "name":
		c.Name.UnmarshalJSON(w.value())
	case "version":
		c.Version.UnmarshalJSON(w.value())
	case "model":
		c.Model.UnmarshalJSON(w.value())
	case "family":
		c.Family.UnmarshalJSON(w.value())
	}
}
