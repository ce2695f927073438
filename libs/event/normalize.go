package event

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/faultline/faultline/libs/envelope"
)

// Size limits, after Sentry's documented normalization (Relay's field
// limits): longer strings are cut and end in "...", longer lists lose their
// oldest entries (breadcrumbs) or their middle (stack frames).
const (
	maxMessage     = 8192 // message, exception value, logentry
	maxTitle       = 100  // the value part of a title
	maxCulprit     = 200
	maxTagKey      = 200
	maxTagValue    = 200
	maxShort       = 200 // transaction, release, logger, server name, user fields, exception type
	maxEnvironment = 64
	maxPath        = 256 // function, module, filename, abs_path
	maxContextLine = 1024
	maxContext     = 10 // pre/post context lines per frame
	maxBreadcrumbs = 100
	maxFrames      = 250
	maxFramesHead  = 50 // of maxFrames, the oldest kept when trimming
	maxExceptions  = 50
	maxThreads     = 200
	maxTags        = 200
	maxFingerprint = 50
	maxDatabag     = 16 << 10 // one extra/context/vars value, as raw JSON
	maxDatabags    = 256 << 10

	maxFuture = time.Minute         // timestamps further ahead of receipt are replaced by it
	maxPast   = 30 * 24 * time.Hour // and so are older ones
)

// rawEvent is a payload as SDKs send it; polymorphic fields stay raw and are
// read by the helpers below.
type rawEvent struct {
	EventID        flexString            `json:"event_id"`
	Timestamp      flexTime              `json:"timestamp"`
	StartTimestamp flexTime              `json:"start_timestamp"`
	Type           flexString            `json:"type"`
	Level          flexString            `json:"level"`
	Platform       flexString            `json:"platform"`
	Logger         flexString            `json:"logger"`
	ServerName     flexString            `json:"server_name"`
	Release        flexString            `json:"release"`
	Dist           flexString            `json:"dist"`
	Environment    flexString            `json:"environment"`
	Transaction    flexString            `json:"transaction"`
	Culprit        flexString            `json:"culprit"`
	Message        json.RawMessage       `json:"message"`
	LogEntry       json.RawMessage       `json:"logentry"`
	LegacyMessage  json.RawMessage       `json:"sentry.interfaces.Message"`
	Exception      json.RawMessage       `json:"exception"`
	LegacyExc      json.RawMessage       `json:"sentry.interfaces.Exception"`
	Threads        json.RawMessage       `json:"threads"`
	Stacktrace     json.RawMessage       `json:"stacktrace"`
	LegacyStack    json.RawMessage       `json:"sentry.interfaces.Stacktrace"`
	Breadcrumbs    json.RawMessage       `json:"breadcrumbs"`
	Tags           json.RawMessage       `json:"tags"`
	User           json.RawMessage       `json:"user"`
	LegacyUser     json.RawMessage       `json:"sentry.interfaces.User"`
	Request        json.RawMessage       `json:"request"`
	LegacyRequest  json.RawMessage       `json:"sentry.interfaces.Http"`
	Contexts       json.RawMessage       `json:"contexts"`
	Extra          json.RawMessage       `json:"extra"`
	Modules        map[string]flexString `json:"modules"`
	SDK            json.RawMessage       `json:"sdk"`
	Fingerprint    flexStrings           `json:"fingerprint"`
	CSP            json.RawMessage       `json:"csp"`
	HPKP           json.RawMessage       `json:"hpkp"`
	ExpectCT       json.RawMessage       `json:"expectct"`
	ExpectStaple   json.RawMessage       `json:"expectstaple"`
	DebugMeta      json.RawMessage       `json:"debug_meta"`
}

// Normalize turns an "event", "transaction" or "raw_security" item payload
// into a normalized event. Security reports are recognized by their shape
// and handed to NormalizeSecurity. The only errors are *Error.
func Normalize(payload []byte, m Meta) (*Event, error) {
	p := bytes.TrimSpace(payload)
	if len(p) == 0 {
		return nil, bad("empty_payload", "the event payload is empty")
	}
	valid, security := scanTop(p)
	if !valid {
		return nil, bad("invalid_json", "the event payload is not valid JSON")
	}
	if p[0] == '[' || security {
		return NormalizeSecurity(p, m)
	}
	if p[0] != '{' {
		return nil, bad("invalid_json", "the event payload is not a JSON object")
	}
	var r rawEvent
	r.decodeAt(p, 0)
	e := &Event{Raw: json.RawMessage(payload), ProjectID: m.ProjectID, Received: m.Received.UTC()}
	e.EventID = eventID(string(r.EventID), m, payload)
	e.Timestamp = clampTime(r.Timestamp.T, e.Received)
	e.StartTime = r.StartTimestamp.T
	e.Platform = platform(string(r.Platform))
	e.Level = level(string(r.Level))
	e.Logger = truncate(string(r.Logger), maxShort)
	e.ServerName = truncate(string(r.ServerName), maxShort)
	e.Release = truncate(strings.TrimSpace(string(r.Release)), maxShort)
	e.Dist = truncate(string(r.Dist), maxEnvironment)
	e.Environment = truncate(strings.TrimSpace(string(r.Environment)), maxEnvironment)
	e.Transaction = truncate(string(r.Transaction), maxShort)
	e.CulpritSent = truncate(string(r.Culprit), maxCulprit)

	readMessage(e, r.Message, r.LogEntry, r.LegacyMessage)
	e.Exceptions = readExceptions(firstSet(r.Exception, r.LegacyExc))
	e.Threads = readThreads(r.Threads)
	if st := readStacktrace(firstSet(r.Stacktrace, r.LegacyStack)); st != nil && len(st.Frames) > 0 {
		e.Stacktrace = st
	}
	e.Breadcrumbs = readBreadcrumbs(r.Breadcrumbs)
	e.Tags = readTags(r.Tags)
	e.User = readUser(firstSet(r.User, r.LegacyUser), m)
	e.Request = readRequest(firstSet(r.Request, r.LegacyRequest))
	e.Contexts = databags(object(r.Contexts))
	e.Extra = databags(object(r.Extra))
	e.SDK = readSDK(r.SDK)
	e.TraceID = traceID(e.Contexts)
	e.DebugMeta = readDebugMeta(r.DebugMeta)
	for _, f := range r.Fingerprint {
		if len(e.Fingerprint) == maxFingerprint {
			break
		}
		e.Fingerprint = append(e.Fingerprint, truncate(f, maxShort))
	}
	if len(r.Modules) > 0 {
		e.Modules = make(map[string]string, len(r.Modules))
		for k, v := range r.Modules {
			e.Modules[truncate(k, maxShort)] = truncate(string(v), maxShort)
		}
	}
	// Security reports as stored by MarshalJSON.
	switch {
	case len(r.CSP) > 0:
		e.Security = readCSP(object(r.CSP))
	case len(r.HPKP) > 0:
		e.Security = readHostReport("hpkp", object(r.HPKP))
	case len(r.ExpectCT) > 0:
		e.Security = readHostReport("expectct", object(r.ExpectCT))
	case len(r.ExpectStaple) > 0:
		e.Security = readHostReport("expectstaple", object(r.ExpectStaple))
	}

	switch t := string(r.Type); {
	case t == "transaction":
		e.Type = "transaction"
	case e.Security != nil:
		e.Type = e.Security.Kind
	case t == "nel" && e.Contexts["nel"] != nil:
		e.Type = "nel" // a network error report, stored
	case len(e.Exceptions) > 0:
		e.Type = "error"
	default:
		e.Type = "default"
	}
	return e, nil
}

func firstSet(bs ...json.RawMessage) json.RawMessage {
	for _, b := range bs {
		if b = bytes.TrimSpace(b); len(b) > 0 && string(b) != "null" {
			return b
		}
	}
	return nil
}

// eventID is the payload's event_id, else the envelope header's, else one
// derived from the payload so that a redelivered payload keeps its id.
func eventID(sent string, m Meta, payload []byte) string {
	if id := envelope.NormalizeEventID(sent); id != "" {
		return id
	}
	if id := envelope.NormalizeEventID(m.EventID); id != "" {
		return id
	}
	sum := md5.Sum(payload)
	return hex.EncodeToString(sum[:])
}

// clampTime applies Sentry's rule: a missing timestamp, or one more than a
// minute ahead of receipt or older than 30 days, becomes the receipt time.
func clampTime(t, received time.Time) time.Time {
	if received.IsZero() {
		return t
	}
	if t.IsZero() || t.After(received.Add(maxFuture)) || t.Before(received.Add(-maxPast)) {
		return received
	}
	return t
}

var platforms = map[string]bool{
	"as3": true, "c": true, "cfml": true, "cocoa": true, "csharp": true, "dart": true, "elixir": true,
	"go": true, "groovy": true, "haskell": true, "java": true, "javascript": true, "native": true,
	"node": true, "objc": true, "other": true, "perl": true, "php": true, "python": true, "ruby": true,
	"rust": true, "swift": true, "unity": true,
}

func platform(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if platforms[p] {
		return p
	}
	return "other"
}

func level(l string) string {
	switch strings.ToLower(strings.TrimSpace(l)) {
	case "fatal", "critical":
		return "fatal"
	case "warning", "warn":
		return "warning"
	case "info", "log":
		return "info"
	case "debug", "trace":
		return "debug"
	}
	return "error"
}

func readMessage(e *Event, msg, logentry, legacy json.RawMessage) {
	var le LogEntry
	for _, b := range []json.RawMessage{logentry, legacy, msg} {
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		if b[0] == '{' {
			var r struct {
				Formatted flexString  `json:"formatted"`
				Message   flexString  `json:"message"`
				Params    flexStrings `json:"params"`
			}
			if lenient(b, &r) != nil {
				continue
			}
			if le.Formatted == "" {
				le.Formatted = string(r.Formatted)
			}
			if le.Message == "" {
				le.Message = string(r.Message)
				le.Params = r.Params
			}
		} else if s := scalarText(b); s != "" && le.Formatted == "" {
			le.Formatted = s
		}
	}
	if le.Formatted == "" && le.Message != "" {
		le.Formatted = formatParams(le.Message, le.Params)
	}
	if le.Formatted == "" && le.Message == "" {
		return
	}
	le.Formatted = truncate(le.Formatted, maxMessage)
	le.Message = truncate(le.Message, maxMessage)
	if len(le.Params) > 50 {
		le.Params = le.Params[:50]
	}
	for i := range le.Params {
		le.Params[i] = truncate(le.Params[i], maxShort)
	}
	e.Message = le.Formatted
	if le.Message != "" && le.Message != le.Formatted {
		e.LogEntry = &le
	}
}

var placeholderRE = regexp.MustCompile(`%[sdifr]|\{\}`)

// formatParams fills printf-style (%s) or brace ({}) placeholders in order.
func formatParams(tmpl string, params []string) string {
	if len(params) == 0 {
		return tmpl
	}
	i := 0
	return placeholderRE.ReplaceAllStringFunc(tmpl, func(ph string) string {
		if i >= len(params) {
			return ph
		}
		i++
		return params[i-1]
	})
}

type rawMechanism struct {
	Type             flexString                 `json:"type"`
	Description      flexString                 `json:"description"`
	Handled          flexBool                   `json:"handled"`
	Synthetic        flexBool                   `json:"synthetic"`
	IsExceptionGroup flexBool                   `json:"is_exception_group"`
	ExceptionID      flexInt                    `json:"exception_id"`
	ParentID         flexInt                    `json:"parent_id"`
	Source           flexString                 `json:"source"`
	Data             map[string]json.RawMessage `json:"data"`
}

var typeValueRE = regexp.MustCompile(`^([A-Za-z_$][\w.$]*(?:Error|Exception|Exit|Interrupt|Warning|Fault)): (.*)$`)

// rawException is an exception as sent.
type rawException struct {
	Type       flexString      `json:"type"`
	Value      json.RawMessage `json:"value"`
	Module     flexString      `json:"module"`
	ThreadID   flexString      `json:"thread_id"`
	Mechanism  *rawMechanism   `json:"mechanism"`
	Stacktrace stacktraceField `json:"stacktrace"`
}

func readExceptions(b json.RawMessage) []Exception {
	var out []Exception
	items := listIn[rawException](b)
	for i := range items {
		r := &items[i].v // zero for an item that is not an object
		ex := Exception{
			Type:     truncate(strings.TrimSpace(string(r.Type)), maxShort),
			Value:    truncate(anyText(r.Value), maxMessage),
			Module:   truncate(string(r.Module), maxPath),
			ThreadID: truncate(string(r.ThreadID), maxShort),
		}
		if ex.Type == "" {
			// "ValueError: bad input" sent as the value alone.
			if m := typeValueRE.FindStringSubmatch(ex.Value); m != nil {
				ex.Type, ex.Value = m[1], m[2]
			}
		}
		if m := r.Mechanism; m != nil {
			ex.Mechanism = &Mechanism{
				Type:             truncate(string(m.Type), maxShort),
				Description:      truncate(string(m.Description), maxMessage),
				Handled:          m.Handled.ptr(),
				Synthetic:        m.Synthetic.V,
				IsExceptionGroup: m.IsExceptionGroup.V,
				Source:           truncate(string(m.Source), maxShort),
				Data:             databags(m.Data),
			}
			if m.ExceptionID.Valid {
				ex.Mechanism.ExceptionID = &m.ExceptionID.V
			}
			if m.ParentID.Valid {
				ex.Mechanism.ParentID = &m.ParentID.V
			}
		}
		if st := r.Stacktrace.st; st != nil && len(st.Frames) > 0 {
			ex.Stacktrace = st
		}
		if ex.Type == "" && ex.Value == "" && ex.Stacktrace == nil {
			continue
		}
		out = append(out, ex)
	}
	if len(out) > maxExceptions {
		// Keep the outermost ones: they name the event.
		out = out[len(out)-maxExceptions:]
	}
	return out
}

// rawThread is a thread as sent.
type rawThread struct {
	ID         flexString      `json:"id"`
	Name       flexString      `json:"name"`
	Crashed    flexBool        `json:"crashed"`
	Current    flexBool        `json:"current"`
	Main       flexBool        `json:"main"`
	Stacktrace stacktraceField `json:"stacktrace"`
}

func readThreads(b json.RawMessage) []Thread {
	var out []Thread
	items := listIn[rawThread](b)
	for i := range items {
		r := &items[i].v // zero for an item that is not an object
		t := Thread{ID: truncate(string(r.ID), maxShort), Name: truncate(string(r.Name), maxShort),
			Crashed: r.Crashed.V, Current: r.Current.V, Main: r.Main.V}
		if st := r.Stacktrace.st; st != nil && len(st.Frames) > 0 {
			t.Stacktrace = st
		}
		out = append(out, t)
		if len(out) == maxThreads {
			break
		}
	}
	return out
}

type rawFrame struct {
	Function        flexString                 `json:"function"`
	RawFunction     flexString                 `json:"raw_function"`
	Symbol          flexString                 `json:"symbol"`
	Module          flexString                 `json:"module"`
	Package         flexString                 `json:"package"`
	Filename        flexString                 `json:"filename"`
	AbsPath         flexString                 `json:"abs_path"`
	Lineno          flexInt                    `json:"lineno"`
	Colno           flexInt                    `json:"colno"`
	ContextLine     flexString                 `json:"context_line"`
	PreContext      flexStrings                `json:"pre_context"`
	PostContext     flexStrings                `json:"post_context"`
	InApp           flexBool                   `json:"in_app"`
	Platform        flexString                 `json:"platform"`
	InstructionAddr flexString                 `json:"instruction_addr"`
	Vars            map[string]json.RawMessage `json:"vars"`
}

// rawStacktrace is a stack trace as sent; its frames are decoded where
// they stand (one pass over the payload, no copies).
type rawStacktrace struct {
	Frames []objectElem[rawFrame] `json:"frames"`
}

// objectElem is one element of a list decoded in place: an object, or
// something else that is dropped (ok false), as when each element was cut
// out of its list and decoded on its own.
type objectElem[T any] struct {
	ok bool
	v  T
}

// stacktraceField decodes a stack trace in place in its parent object,
// as readStacktrace reads one from its bytes. Every decode starts afresh,
// so the last of duplicate names wins, as it does for raw bytes.
type stacktraceField struct {
	st *Stacktrace
}

func readStacktrace(b json.RawMessage) *Stacktrace {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	st, _ := decodeStacktrace(b, 0)
	return st
}

func (r *rawStacktrace) build() *Stacktrace {
	frames := r.Frames
	if len(frames) > maxFrames {
		// Keep both ends: where it started and, mostly, where it failed.
		frames = append(frames[:maxFramesHead:maxFramesHead], frames[len(frames)-(maxFrames-maxFramesHead):]...)
	}
	st := &Stacktrace{Frames: make([]Frame, 0, len(frames))}
	for i := range frames {
		if frames[i].ok {
			st.Frames = append(st.Frames, frames[i].v.frame())
		}
	}
	return st
}

func (rf *rawFrame) frame() Frame {
	f := Frame{
		Function:        truncate(string(rf.Function), maxPath),
		RawFunction:     truncate(string(rf.RawFunction), maxPath),
		Symbol:          truncate(string(rf.Symbol), maxPath),
		Module:          truncate(string(rf.Module), maxPath),
		Package:         truncate(string(rf.Package), maxPath),
		Filename:        truncate(string(rf.Filename), maxPath),
		AbsPath:         truncate(string(rf.AbsPath), maxPath),
		ContextLine:     truncate(string(rf.ContextLine), maxContextLine),
		PreContext:      contextLines(rf.PreContext, true),
		PostContext:     contextLines(rf.PostContext, false),
		InApp:           rf.InApp.ptr(),
		Platform:        platformOrEmpty(string(rf.Platform)),
		InstructionAddr: truncate(string(rf.InstructionAddr), 64),
		Vars:            databags(rf.Vars),
	}
	if rf.Lineno.Valid && rf.Lineno.V > 0 {
		f.Lineno = rf.Lineno.V
	}
	if rf.Colno.Valid && rf.Colno.V > 0 {
		f.Colno = rf.Colno.V
	}
	if f.Filename == "" && f.AbsPath != "" {
		f.Filename = filenameOf(f.AbsPath)
	}
	return f
}

func platformOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	return platform(p)
}

// filenameOf is the file name Sentry derives from an absolute path: a URL's
// path, or the path as it is.
func filenameOf(abs string) string {
	if !hasHTTPScheme(abs) {
		return abs // what url.Parse would leave to the branch below
	}
	if u, err := url.Parse(abs); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Path != "" {
		return u.Path
	}
	return abs
}

// hasHTTPScheme reports whether url.Parse could read s's scheme as http or
// https: its first colon ends "http" or "https", in any case.
func hasHTTPScheme(s string) bool {
	i := strings.IndexByte(s, ':')
	return (i == 4 || i == 5) && strings.EqualFold(s[:i], "https"[:i])
}

func contextLines(l []string, keepLast bool) []string {
	if len(l) > maxContext {
		if keepLast {
			l = l[len(l)-maxContext:]
		} else {
			l = l[:maxContext]
		}
	}
	for i := range l {
		l[i] = truncate(l[i], maxContextLine)
	}
	return l
}

// rawBreadcrumb is a breadcrumb as sent.
type rawBreadcrumb struct {
	Timestamp flexTime                   `json:"timestamp"`
	Type      flexString                 `json:"type"`
	Category  flexString                 `json:"category"`
	Level     flexString                 `json:"level"`
	Message   flexString                 `json:"message"`
	Data      map[string]json.RawMessage `json:"data"`
}

// readBreadcrumbs reads breadcrumbs sent as a list, as {"values": [...]}
// or as one object, keeping the newest maxBreadcrumbs.
func readBreadcrumbs(b json.RawMessage) []Breadcrumb {
	list := listIn[rawBreadcrumb](b)
	if len(list) > maxBreadcrumbs {
		list = list[len(list)-maxBreadcrumbs:] // the newest
	}
	var out []Breadcrumb
	for i := range list {
		if !list[i].ok {
			continue
		}
		r := &list[i].v
		bc := Breadcrumb{Timestamp: r.Timestamp.T, Type: truncate(string(r.Type), maxShort),
			Category: truncate(string(r.Category), maxShort), Message: truncate(string(r.Message), maxMessage),
			Data: databags(r.Data)}
		if r.Level != "" {
			bc.Level = level(string(r.Level))
		}
		out = append(out, bc)
	}
	return out
}

func readTags(b json.RawMessage) [][2]string { return cleanTags(pairs(b)) }

// cleanTags trims tags and drops empty, overlong, multi-line and repeated ones.
func cleanTags(in [][2]string) [][2]string {
	var out [][2]string
	seen := map[string]bool{}
	for _, kv := range in {
		k, v := strings.TrimSpace(kv[0]), strings.TrimSpace(kv[1])
		if k == "" || v == "" || utf8.RuneCountInString(k) > maxTagKey || strings.ContainsAny(v, "\n\r") || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, [2]string{k, truncate(v, maxTagValue)})
		if len(out) == maxTags {
			break
		}
	}
	return out
}

// rawUser is a user as sent.
type rawUser struct {
	ID        flexString                 `json:"id"`
	Email     flexString                 `json:"email"`
	Username  flexString                 `json:"username"`
	IPAddress flexString                 `json:"ip_address"`
	Name      flexString                 `json:"name"`
	Segment   flexString                 `json:"segment"`
	Data      map[string]json.RawMessage `json:"data"`
}

func readUser(b json.RawMessage, m Meta) *User {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var r rawUser
	r.decodeAt(b, 0)
	u := &User{ID: truncate(string(r.ID), maxShort), Email: truncate(string(r.Email), maxShort),
		Username: truncate(string(r.Username), maxShort), IPAddress: truncate(string(r.IPAddress), 64),
		Name: truncate(string(r.Name), maxShort), Segment: truncate(string(r.Segment), maxShort), Data: databags(r.Data)}
	if u.IPAddress == "{{auto}}" {
		u.IPAddress = m.ClientIP
	}
	if u.Key() == "" && u.Name == "" && u.Segment == "" && u.Data == nil {
		return nil
	}
	return u
}

// rawRequest is a request as sent.
type rawRequest struct {
	URL         flexString      `json:"url"`
	Method      flexString      `json:"method"`
	QueryString json.RawMessage `json:"query_string"`
	Fragment    flexString      `json:"fragment"`
	Cookies     json.RawMessage `json:"cookies"`
	Headers     json.RawMessage `json:"headers"`
	Env         json.RawMessage `json:"env"`
	Data        json.RawMessage `json:"data"`
}

func readRequest(b json.RawMessage) *Request {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var r rawRequest
	r.decodeAt(b, 0)
	req := &Request{URL: truncate(string(r.URL), maxMessage), Method: strings.ToUpper(truncate(string(r.Method), 32)),
		Fragment: truncate(string(r.Fragment), maxMessage), Env: databag(r.Env), Data: databag(r.Data)}
	if q := bytes.TrimSpace(r.QueryString); len(q) > 0 && q[0] == '"' {
		req.QueryString = strings.TrimPrefix(scalarText(q), "?")
	} else if len(q) > 0 {
		v := url.Values{}
		for _, kv := range pairs(q) {
			v.Add(kv[0], kv[1])
		}
		req.QueryString = v.Encode()
	}
	var q string
	req.URL, q = splitQuery(req.URL)
	if req.QueryString == "" {
		req.QueryString = q
	}
	req.QueryString = truncate(req.QueryString, maxMessage)
	if c := bytes.TrimSpace(r.Cookies); len(c) > 0 && c[0] == '"' {
		req.Cookies = truncate(scalarText(c), maxMessage)
	} else if len(c) > 0 {
		var parts []string
		for _, kv := range pairs(c) {
			parts = append(parts, kv[0]+"="+kv[1])
		}
		req.Cookies = truncate(strings.Join(parts, "; "), maxMessage)
	}
	for _, kv := range pairs(r.Headers) {
		if kv[0] != "" {
			req.Headers = append(req.Headers, [2]string{truncate(kv[0], maxShort), truncate(kv[1], maxMessage)})
		}
	}
	if req.URL == "" && req.Method == "" && req.QueryString == "" && req.Fragment == "" && req.Cookies == "" &&
		req.Headers == nil && req.Env == nil && req.Data == nil {
		return nil
	}
	return req
}

// splitQuery splits a URL at its query string.
func splitQuery(u string) (string, string) {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i], u[i+1:]
	}
	return u, ""
}

// rawSDK is an SDK's description of itself.
type rawSDK struct {
	Name         flexString  `json:"name"`
	Version      flexString  `json:"version"`
	Integrations flexStrings `json:"integrations"`
}

func readSDK(b json.RawMessage) *SDK {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var r rawSDK
	if r.decodeAt(b, 0); r.Name == "" && r.Version == "" {
		return nil
	}
	s := &SDK{Name: truncate(string(r.Name), maxShort), Version: truncate(string(r.Version), maxShort)}
	for _, i := range r.Integrations {
		if len(s.Integrations) == 100 {
			break
		}
		s.Integrations = append(s.Integrations, truncate(i, maxShort))
	}
	return s
}

var traceIDRE = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// rawTrace is the part of the trace context that names the trace.
type rawTrace struct {
	TraceID flexString `json:"trace_id"`
}

func traceID(contexts map[string]json.RawMessage) string {
	var t rawTrace
	if b := contexts["trace"]; len(b) > 0 && b[0] == '{' {
		t.decodeAt(b, 0)
	}
	id := strings.ReplaceAll(string(t.TraceID), "-", "")
	if !traceIDRE.MatchString(id) {
		return ""
	}
	return strings.ToLower(id)
}

// databags bounds free-form data: values larger than maxDatabag as JSON are
// dropped, and keys beyond maxDatabags in total (in key order).
func databags(m map[string]json.RawMessage) map[string]json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	if databagsClean(m) {
		return m
	}
	return databagsCopy(m)
}

// databagsCopy is databags for a map that needs cleaning.
func databagsCopy(m map[string]json.RawMessage) map[string]json.RawMessage {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]json.RawMessage, len(m))
	total := 0
	for _, k := range keys {
		v := databag(m[k])
		if v == nil || total+len(v) > maxDatabags {
			continue
		}
		total += len(v)
		out[truncate(k, maxShort)] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// databagsClean reports whether databags would return m as it is: every
// key short enough, every value kept unchanged, all of them within the
// total (then which keys come first does not matter).
func databagsClean(m map[string]json.RawMessage) bool {
	total := 0
	for k, v := range m {
		// isCompact also refuses the white space databag would trim.
		if len(k) > maxShort || len(v) == 0 || len(v) > maxDatabag || string(v) == "null" || !isCompact(v) {
			return false
		}
		total += len(v)
	}
	return total <= maxDatabags
}

func databag(v json.RawMessage) json.RawMessage {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || len(v) > maxDatabag || string(v) == "null" {
		return nil
	}
	if isCompact(v) {
		return v
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return nil
	}
	return buf.Bytes()
}

// isCompact reports whether the JSON value v has no white space outside its
// strings: json.Compact would return it unchanged.
func isCompact(v []byte) bool {
	inString, escaped := false, false
	for _, c := range v {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}

// truncate cuts s to at most n runes, ending in "..." when cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-3]) + "..."
}

const maxDebugImages = 256

// readDebugMeta keeps the images of debug_meta that name a debug id.
func readDebugMeta(b json.RawMessage) *DebugMeta {
	var raw struct {
		Images []struct {
			Type     flexString `json:"type"`
			DebugID  flexString `json:"debug_id"`
			CodeFile flexString `json:"code_file"`
		} `json:"images"`
	}
	if b = firstSet(b); b == nil || lenient(b, &raw) != nil {
		return nil
	}
	var dm DebugMeta
	for _, im := range raw.Images {
		if im.DebugID == "" || len(dm.Images) == maxDebugImages {
			continue
		}
		dm.Images = append(dm.Images, DebugImage{Type: truncate(string(im.Type), maxShort),
			DebugID: truncate(string(im.DebugID), 64), CodeFile: truncate(string(im.CodeFile), maxPath)})
	}
	if len(dm.Images) == 0 {
		return nil
	}
	return &dm
}
