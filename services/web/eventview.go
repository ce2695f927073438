package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/libs/grouping"
)

// eventView is an event prepared for the issue page: stack traces in the
// order people read them, every value still plain text for the template to
// escape.
type eventView struct {
	ID          string
	Timestamp   time.Time
	Received    time.Time
	Level       string
	Platform    string
	Release     string
	Environment string
	Message     string
	Exceptions  []exceptionView // the outermost first, then what caused it
	Stacks      []stackView     // threads' or the event's own stack traces when there is no exception
	Breadcrumbs []crumbView
	Tags        [][2]string
	Request     *requestView
	User        []kv
	Contexts    []section
	SDK         []kv
	Extra       []kv
	Security    []kv
	RawJSON     string
}

type exceptionView struct {
	Type, Value, Module string
	Mechanism           string
	Handled             string // "yes", "no" or ""
	CausedBy            bool   // a cause of the exception shown before it
	Frames              []frameView
	Omitted             int // frames of the trace beyond what is shown
}

type stackView struct {
	Title  string
	Frames []frameView
}

type frameView struct {
	Function, Module, File string
	Line, Col              int64
	InApp, Open            bool
	Context                []contextLine
	Vars                   []kv
	Address                string
}

type contextLine struct {
	N       int64
	Text    string
	Current bool
}

type crumbView struct {
	Time                  time.Time
	Type, Category, Level string
	Message               string
	Data                  []kv
}

type requestView struct {
	Method, URL, Link, Query, Fragment, Cookies, Data string
	Headers                                           []kv
	Env                                               []kv
}

type kv struct {
	K, V string
}

type section struct {
	Name  string
	Pairs []kv
}

// maxFrames bounds the frames shown per stack trace: the most recent ones
// matter most; a trace of a deep recursion would otherwise fill the page.
const maxFrames = 200

// newEventView prepares e; raw is its stored JSON, shown indented.
func newEventView(e *event.Event, raw []byte) *eventView {
	v := &eventView{ID: e.EventID, Timestamp: e.Timestamp, Received: e.Received, Level: e.Level, Platform: e.Platform,
		Release: e.Release, Environment: e.Environment, Message: e.Message, Tags: e.Tags}
	if v.Message == "" && e.LogEntry != nil {
		v.Message = e.LogEntry.Formatted
		if v.Message == "" {
			v.Message = e.LogEntry.Message
		}
	}
	for i := len(e.Exceptions) - 1; i >= 0; i-- {
		ex := e.Exceptions[i]
		xv := exceptionView{Type: ex.Type, Value: ex.Value, Module: ex.Module, CausedBy: i < len(e.Exceptions)-1}
		if m := ex.Mechanism; m != nil {
			xv.Mechanism = m.Type
			if m.Handled != nil {
				xv.Handled = map[bool]string{true: "yes", false: "no"}[*m.Handled]
			}
		}
		if ex.Stacktrace != nil {
			xv.Frames, xv.Omitted = framesOf(ex.Stacktrace.Frames)
		}
		v.Exceptions = append(v.Exceptions, xv)
	}
	if len(v.Exceptions) == 0 {
		if e.Stacktrace != nil && len(e.Stacktrace.Frames) > 0 {
			fr, _ := framesOf(e.Stacktrace.Frames)
			v.Stacks = append(v.Stacks, stackView{Title: "Stack trace", Frames: fr})
		}
		for _, t := range e.Threads {
			if t.Stacktrace == nil || len(t.Stacktrace.Frames) == 0 {
				continue
			}
			title := "Thread " + t.ID
			if t.Name != "" {
				title += " (" + t.Name + ")"
			}
			if t.Crashed {
				title += ", crashed"
			}
			fr, _ := framesOf(t.Stacktrace.Frames)
			v.Stacks = append(v.Stacks, stackView{Title: title, Frames: fr})
		}
	}
	for _, b := range e.Breadcrumbs {
		v.Breadcrumbs = append(v.Breadcrumbs, crumbView{Time: b.Timestamp, Type: b.Type, Category: b.Category,
			Level: b.Level, Message: b.Message, Data: pairsOf(b.Data)})
	}
	if r := e.Request; r != nil {
		rv := &requestView{Method: r.Method, URL: r.URL, Link: SafeURL(r.URL), Query: r.QueryString, Fragment: r.Fragment,
			Cookies: r.Cookies, Data: jsonText(r.Data)}
		for _, h := range r.Headers {
			rv.Headers = append(rv.Headers, kv{h[0], h[1]})
		}
		rv.Env = pairsOf(object(r.Env))
		v.Request = rv
	}
	if u := e.User; u != nil {
		v.User = nonEmpty(kv{"ID", u.ID}, kv{"Email", u.Email}, kv{"Username", u.Username}, kv{"IP address", u.IPAddress},
			kv{"Name", u.Name}, kv{"Segment", u.Segment})
		v.User = append(v.User, pairsOf(u.Data)...)
	}
	names := make([]string, 0, len(e.Contexts))
	for k := range e.Contexts {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v.Contexts = append(v.Contexts, section{Name: k, Pairs: pairsOf(object(e.Contexts[k]))})
	}
	if s := e.SDK; s != nil {
		v.SDK = nonEmpty(kv{"Name", s.Name}, kv{"Version", s.Version}, kv{"Integrations", strings.Join(s.Integrations, ", ")})
	}
	v.Extra = pairsOf(e.Extra)
	if s := e.Security; s != nil {
		v.Security = nonEmpty(kv{"Document", s.DocumentURI}, kv{"Blocked", s.BlockedURI},
			kv{"Effective directive", s.EffectiveDirective}, kv{"Violated directive", s.ViolatedDirective},
			kv{"Source file", s.SourceFile}, kv{"Line", itoa(s.LineNumber)}, kv{"Column", itoa(s.ColumnNumber)},
			kv{"Sample", s.ScriptSample}, kv{"Disposition", s.Disposition}, kv{"Referrer", s.Referrer},
			kv{"Hostname", s.Hostname}, kv{"Policy", s.OriginalPolicy})
	}
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") == nil {
		v.RawJSON = buf.String()
	} else {
		v.RawJSON = string(raw)
	}
	return v
}

// framesOf returns frames most recent call first; in-app frames are open,
// others collapsed (the top frame is open when no frame is in-app).
func framesOf(frames []event.Frame) ([]frameView, int) {
	omitted := 0
	if len(frames) > maxFrames {
		omitted = len(frames) - maxFrames
		frames = frames[len(frames)-maxFrames:]
	}
	out := make([]frameView, 0, len(frames))
	anyInApp := false
	for i := len(frames) - 1; i >= 0; i-- {
		f := &frames[i]
		fv := frameView{Function: f.Function, Module: f.Module, File: f.Filename, Line: f.Lineno, Col: f.Colno,
			InApp: f.IsInApp(), Address: f.InstructionAddr, Vars: pairsOf(f.Vars)}
		if fv.Function == "" {
			fv.Function = f.RawFunction
		}
		if fv.File == "" {
			fv.File = f.AbsPath
		}
		if fv.File == "" {
			fv.File = f.Package
		}
		if f.ContextLine != "" || len(f.PreContext) > 0 || len(f.PostContext) > 0 {
			n := f.Lineno - int64(len(f.PreContext))
			for _, l := range f.PreContext {
				fv.Context = append(fv.Context, contextLine{N: n, Text: l})
				n++
			}
			fv.Context = append(fv.Context, contextLine{N: n, Text: f.ContextLine, Current: true})
			n++
			for _, l := range f.PostContext {
				fv.Context = append(fv.Context, contextLine{N: n, Text: l})
				n++
			}
		}
		fv.Open = fv.InApp
		anyInApp = anyInApp || fv.InApp
		out = append(out, fv)
	}
	if !anyInApp && len(out) > 0 {
		out[0].Open = true
	}
	return out, omitted
}

func itoa(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func nonEmpty(in ...kv) []kv {
	var out []kv
	for _, p := range in {
		if p.V != "" {
			out = append(out, p)
		}
	}
	return out
}

// object reads a JSON object; nil for anything else.
func object(b json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if len(b) == 0 || json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// pairsOf lists a JSON object's members by key, values as text.
func pairsOf(m map[string]json.RawMessage) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, jsonText(v)})
	}
	slices.SortFunc(out, func(a, b kv) int { return strings.Compare(a.K, b.K) })
	return out
}

// jsonText is a JSON value as text: strings unquoted, anything else
// compact JSON (indented when it is an object or array of some size).
func jsonText(b json.RawMessage) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return ""
	}
	if b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) == nil {
			return s
		}
	}
	var buf bytes.Buffer
	if len(b) > 80 && (b[0] == '{' || b[0] == '[') && json.Indent(&buf, b, "", "  ") == nil {
		return buf.String()
	}
	if json.Compact(&buf, b) == nil {
		return buf.String()
	}
	return string(b)
}

// groupingView explains why the event is in its issue: each variant with
// its hash and its tree of components.
type groupingView struct {
	Config   string
	Variants []variantView
}

type variantView struct {
	Name, Hash, Hint string
	Contributes      bool
	Root             *componentView
}

type componentView struct {
	Name        string
	Contributes bool
	Hint        string
	Values      []string // leaf values
	Children    []*componentView
}

func newGroupingView(r grouping.Result) *groupingView {
	g := &groupingView{Config: r.Config}
	for _, v := range r.Variants {
		g.Variants = append(g.Variants, variantView{Name: v.Name, Hash: v.Hash, Hint: v.Hint, Contributes: v.Contributes,
			Root: componentOf(v.Component, 0)})
	}
	return g
}

// componentOf converts a component tree, at most 12 levels and 300 children
// deep (a grouping tree is much smaller; this only bounds the page).
func componentOf(c *grouping.Component, depth int) *componentView {
	if c == nil || depth > 12 {
		return nil
	}
	cv := &componentView{Name: c.Name, Contributes: c.Contributes, Hint: c.Hint}
	if cv.Name == "" {
		cv.Name = c.ID
	}
	for i, val := range c.Values {
		if i >= 300 {
			break
		}
		switch val := val.(type) {
		case string:
			cv.Values = append(cv.Values, val)
		case *grouping.Component:
			if ch := componentOf(val, depth+1); ch != nil {
				cv.Children = append(cv.Children, ch)
			}
		default:
			cv.Values = append(cv.Values, fmt.Sprint(val))
		}
	}
	return cv
}
