package grouping

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/faultline/faultline/libs/event"
)

// frameState is a frame after stack-trace rules.
type frameState struct {
	inApp     bool
	groupOff  bool
	groupHint string
	category  string
}

// stackState is a stack trace after stack-trace rules.
type stackState struct {
	frames    []frameState
	parts     []*frameParts // each frame's, once looked up: shared by the variants
	maxFrames int           // 0: all
	minFrames int
	varsRule  string
}

type grouper struct {
	e      *event.Event
	rules  *Rules
	stacks map[*event.Stacktrace]*stackState
}

func newGrouper(e *event.Event, r *Rules) *grouper {
	g := &grouper{e: e, rules: r, stacks: map[*event.Stacktrace]*stackState{}}
	for _, st := range g.allStacktraces() {
		g.stacks[st] = g.applyStackRules(st)
	}
	return g
}

func (g *grouper) allStacktraces() []*event.Stacktrace {
	var out []*event.Stacktrace
	for i := range g.e.Exceptions {
		if st := g.e.Exceptions[i].Stacktrace; st != nil {
			out = append(out, st)
		}
	}
	for i := range g.e.Threads {
		if st := g.e.Threads[i].Stacktrace; st != nil {
			out = append(out, st)
		}
	}
	if g.e.Stacktrace != nil {
		out = append(out, g.e.Stacktrace)
	}
	return out
}

func (g *grouper) platformOf(f *event.Frame) string {
	if f.Platform != "" {
		return f.Platform
	}
	return g.e.Platform
}

func (g *grouper) view(st *event.Stacktrace, s *stackState, i int) frameView {
	f := &st.Frames[i]
	return frameView{f: f, platform: g.platformOf(f), inApp: s.frames[i].inApp, category: s.frames[i].category}
}

func allMatch(ms []Matcher, v frameView) bool {
	for i := range ms {
		if !ms[i].matchFrame(v) {
			return false
		}
	}
	return true
}

// applyStackRules runs the stack-trace rules over st in order; a later rule
// overrides an earlier one.
func (g *grouper) applyStackRules(st *event.Stacktrace) *stackState {
	s := &stackState{frames: make([]frameState, len(st.Frames)), parts: make([]*frameParts, len(st.Frames))}
	for i := range st.Frames {
		s.frames[i].inApp = st.Frames[i].IsInApp()
	}
	var builtin []StackRule
	for i := range st.Frames {
		if family(g.platformOf(&st.Frames[i])) == "javascript" {
			builtin = defaultRules()
			break
		}
	}
	var project []StackRule
	if g.rules != nil {
		project = g.rules.Stack
	}
	if len(builtin)+len(project) == 0 {
		return s
	}
	n := len(st.Frames)
	var anyBuiltin uint64
	for i := 0; i < n && len(builtin) > 0; i++ {
		anyBuiltin |= g.partsOf(st, s, i).builtin
	}
	for ri := range len(builtin) + len(project) {
		if ri < len(builtin) && anyBuiltin&(1<<ri) == 0 {
			continue // the rule matches no frame
		}
		rule := ruleAt(builtin, project, ri)
		for i := 0; i < n; i++ {
			if ri < len(builtin) {
				if s.parts[i].builtin&(1<<ri) == 0 {
					continue
				}
			} else if !allMatch(rule.Matchers, g.view(st, s, i)) {
				continue
			}
			if len(rule.Caller) > 0 && (i == 0 || !allMatch(rule.Caller, g.view(st, s, i-1))) {
				continue
			}
			if len(rule.Callee) > 0 && (i+1 >= n || !allMatch(rule.Callee, g.view(st, s, i+1))) {
				continue
			}
			for _, a := range rule.Actions {
				lo, hi := i, i+1
				switch a.Range {
				case '^': // towards the crash: the frames after this one
					lo, hi = i+1, n
				case 'v':
					lo, hi = 0, i
				}
				switch a.Name {
				case "app":
					for j := lo; j < hi; j++ {
						s.frames[j].inApp = a.Flag
					}
				case "group":
					for j := lo; j < hi; j++ {
						s.frames[j].groupOff = !a.Flag
						s.frames[j].groupHint = "marked out of grouping by stack-trace rule: " + rule.Text
					}
				case "category":
					for j := lo; j < hi; j++ {
						s.frames[j].category = a.Value
					}
				case "max-frames":
					fmt.Sscan(a.Value, &s.maxFrames)
					s.varsRule = rule.Text
				case "min-frames":
					fmt.Sscan(a.Value, &s.minFrames)
					s.varsRule = rule.Text
				}
			}
		}
	}
	return s
}

// ruleAt is the i-th rule of a then b.
func ruleAt(a, b []StackRule, i int) *StackRule {
	if i < len(a) {
		return &a[i]
	}
	return &b[i-len(a)]
}

// matchFingerprint is the first fingerprint rule that matches e, or nil.
func (r *Rules) matchFingerprint(e *event.Event, g *grouper) *FingerprintRule {
	if r == nil {
		return nil
	}
	for i := range r.Fingerprint {
		rule := &r.Fingerprint[i]
		var frameMs []Matcher
		ok := true
		for j := range rule.Matchers {
			m := &rule.Matchers[j]
			if isFrameKey(m.Key) {
				frameMs = append(frameMs, *m)
			} else if !m.matchEvent(e) {
				ok = false
				break
			}
		}
		if ok && len(frameMs) > 0 {
			ok = g.anyFrame(func(v frameView) bool { return allMatch(frameMs, v) })
		}
		if ok {
			return rule
		}
	}
	return nil
}

func (g *grouper) anyFrame(pred func(frameView) bool) bool {
	for _, st := range g.allStacktraces() {
		s := g.stacks[st]
		for i := range st.Frames {
			if pred(g.view(st, s, i)) {
				return true
			}
		}
	}
	return false
}

const (
	kindApp    = "app"
	kindSystem = "system"
)

// defaultVariants are the variants of Sentry's default grouping, before any
// fingerprint: app and system for stack traces, default for messages and
// security reports, fallback when nothing is left.
func (g *grouper) defaultVariants() []Variant {
	e := g.e
	if e.Security != nil {
		return []Variant{{Name: "default", Contributes: true, Component: newComponent("default", g.securityComponent())}}
	}
	var build func(kind string) *Component
	switch {
	case len(g.groupingExceptions()) > 0:
		build = g.exceptionsComponent
	case e.MainThread() != nil:
		t := e.MainThread()
		build = func(kind string) *Component {
			return newComponent("threads", g.stacktraceComponent(t.Stacktrace, kind)).settle("ignored because the thread has no contributing frames")
		}
	case e.Stacktrace != nil:
		build = func(kind string) *Component { return g.stacktraceComponent(e.Stacktrace, kind) }
	}
	if build != nil {
		system := build(kindSystem)
		if system.Contributes {
			app := build(kindApp)
			v := []Variant{
				{Name: kindApp, Contributes: app.Contributes, Component: newComponent(kindApp, app)},
				{Name: kindSystem, Contributes: true, Component: newComponent(kindSystem, system)},
			}
			// The app variant counts only when in-app frames decided it, or
			// when there are no frames at all to tell app from system.
			if countFrames(system, false) > 0 && countFrames(app, true) == 0 {
				v[0].Contributes, v[0].Hint = false, "ignored because the stack trace has no contributing in-app frames"
				v[0].Component.Contributes = false
			}
			return v
		}
	}
	if msg := g.messageComponent(); msg != nil {
		return []Variant{{Name: "default", Contributes: true, Component: newComponent("default", msg)}}
	}
	fb := newComponent("fallback")
	fb.Hint = "the event has nothing to group by"
	return []Variant{{Name: "fallback", Contributes: true, Component: fb, Hint: fb.Hint}}
}

// countFrames counts the frame components under c (only contributing ones
// if contributing is set).
func countFrames(c *Component, contributing bool) int {
	if contributing && !c.Contributes {
		return 0
	}
	if c.ID == "frame" {
		return 1
	}
	n := 0
	for _, v := range c.Values {
		if sub, ok := v.(*Component); ok {
			n += countFrames(sub, contributing)
		}
	}
	return n
}

// groupingExceptions are the exceptions that group an error: the chain
// without exception groups when it has other exceptions.
func (g *grouper) groupingExceptions() []*event.Exception {
	var all, leaves []*event.Exception
	for i := range g.e.Exceptions {
		ex := &g.e.Exceptions[i]
		all = append(all, ex)
		if ex.Mechanism == nil || !ex.Mechanism.IsExceptionGroup {
			leaves = append(leaves, ex)
		}
	}
	if len(leaves) > 0 {
		return leaves
	}
	return all
}

func (g *grouper) exceptionsComponent(kind string) *Component {
	exs := g.groupingExceptions()
	if len(exs) == 1 {
		return g.exceptionComponent(exs[0], kind)
	}
	c := newComponent("chained-exception")
	for _, ex := range exs {
		c.Values = append(c.Values, g.exceptionComponent(ex, kind))
	}
	return c.settle("ignored because no exception of the chain contributes")
}

func (g *grouper) exceptionComponent(ex *event.Exception, kind string) *Component {
	c := newComponent("exception")
	var stc *Component
	if ex.Stacktrace != nil {
		stc = g.stacktraceComponent(ex.Stacktrace, kind)
		c.Values = append(c.Values, stc)
	}
	typ := newComponent("type")
	if ex.Type == "" {
		typ.ignore("no type")
	} else {
		typ.Values = []any{ex.Type}
		if ex.Mechanism != nil && ex.Mechanism.Synthetic {
			typ.ignore("ignored because the exception is synthetic")
		}
	}
	val := newComponent("value")
	if v := strings.TrimSpace(ex.Value); v == "" {
		val.ignore("no value")
	} else if stc != nil && stc.Contributes {
		val.Values = []any{v} // not parameterized: it does not count
		val.ignore("ignored because the stack trace takes precedence")
	} else {
		norm := Parameterize(v)
		val.Values = []any{norm}
		val.Hint = parameterHint(v, norm)
	}
	c.Values = append(c.Values, typ, val)
	return c.settle("ignored because no part of the exception contributes")
}

var junkFunctions = map[string]bool{
	"": true, "?": true, "<anonymous>": true, "anonymous": true, "<unknown>": true, "unknown": true,
	"Anonymous function": true, "<anonymous function>": true, "[native code]": true,
}

var hexAddrRE = regexp.MustCompile(`0x[0-9a-fA-F]+`)

// trimFunction is the part of a function name that stays the same from one
// build and one call to the next (JavaScript names: normalizeJSFunction).
func trimFunction(fn string) string {
	fn = strings.TrimSpace(fn)
	if !strings.Contains(fn, "0x") {
		return fn // what the regexp needs to match: most names have no address
	}
	return hexAddrRE.ReplaceAllString(fn, "<hex>")
}

var (
	javaLambdaRE   = regexp.MustCompile(`\$\$Lambda\$\d+(?:/(?:0x)?[0-9a-fA-F]+)?`)
	javaEnhancedRE = regexp.MustCompile(`\$\$(EnhancerBy[A-Za-z]*|FastClassBy[A-Za-z]*|HibernateProxy)\$\$[0-9a-fA-F]+`)
)

func normalizeModule(m string) string {
	if !strings.Contains(m, "$$") {
		return m // both patterns start with $$
	}
	m = javaLambdaRE.ReplaceAllString(m, "$$$$Lambda$$")
	return javaEnhancedRE.ReplaceAllString(m, "$$$$$1$$$$<auto>")
}

// frameParts are what a frame's component holds whatever the variant and
// whatever the event: built once and shared by the app and system
// variants, which differ only in whether the frame itself contributes, and
// by later events with the same frame (partsCache). Nothing changes them
// once built.
type frameParts struct {
	values     []any
	lowQuality string // why a JavaScript frame never groups (native or eval'd code), or ""
	key        string // the values that contribute, when the frame does
	builtin    uint64 // bit i: the i-th built-in rule matches the frame
}

// frameKey is what a frame's parts are built from.
type frameKey struct {
	platform                                   string
	module, filename, absPath                  string
	function, rawFunction, symbol, contextLine string
}

// partsCache holds the parts of frames seen lately: the same code sends the
// same frames again and again, and building parts (file-name and function
// normalization, four or five components) is most of what grouping costs.
// When it holds maxCachedParts (some 16 MB), a random quarter goes.
var partsCache = struct {
	sync.Mutex
	m map[frameKey]*frameParts
}{m: map[frameKey]*frameParts{}}

const maxCachedParts = 16384

// partsOf is the parts of the i-th frame of st (s is its state).
func (g *grouper) partsOf(st *event.Stacktrace, s *stackState, i int) *frameParts {
	p := s.parts[i]
	if p == nil {
		p = g.cachedFrameParts(&st.Frames[i])
		s.parts[i] = p
	}
	return p
}

// frameComponent is the component of the i-th frame of st (s is its state).
func (g *grouper) frameComponent(st *event.Stacktrace, s *stackState, i int, kind string) (*Component, *frameParts) {
	p := g.partsOf(st, s, i)
	fs := s.frames[i]
	c := &Component{ID: "frame", Contributes: true, Values: p.values}
	switch {
	case kind == kindApp && !fs.inApp:
		c.ignore("non app frame")
	case fs.groupOff:
		c.ignore(fs.groupHint)
	case p.lowQuality != "":
		c.ignore(p.lowQuality)
	}
	return c.settle("ignored because the frame has nothing to group by"), p
}

func (g *grouper) cachedFrameParts(f *event.Frame) *frameParts {
	k := frameKey{platform: g.platformOf(f), module: f.Module, filename: f.Filename, absPath: f.AbsPath,
		function: f.Function, rawFunction: f.RawFunction, symbol: f.Symbol, contextLine: f.ContextLine}
	partsCache.Lock()
	p := partsCache.m[k]
	partsCache.Unlock()
	if p != nil {
		return p
	}
	p = buildFrameParts(f, k.platform)
	partsCache.Lock()
	if len(partsCache.m) >= maxCachedParts {
		// Map order is random: this drops a random quarter.
		for old := range partsCache.m {
			delete(partsCache.m, old)
			if len(partsCache.m) <= maxCachedParts*3/4 {
				break
			}
		}
	}
	partsCache.m[k] = p
	partsCache.Unlock()
	return p
}

func buildFrameParts(f *event.Frame, platform string) *frameParts {
	fam := family(platform)
	js := fam == "javascript"
	values := make([]any, 0, 4)
	var mod *Component
	if f.Module != "" {
		mod = newComponent("module", normalizeModule(f.Module))
		values = append(values, mod)
	}
	if name := firstNonEmpty(f.Filename, f.AbsPath); name != "" {
		file := newComponent("filename")
		norm, hint, usable := NormalizeFilename(name), "", true
		if js {
			var steps []string
			norm, steps, usable = normalizeJSFilename(name)
			hint = strings.Join(steps, "; ")
		} else if norm != name {
			hint = "stripped the URL origin, query and cache-busting parts"
		}
		usable = usable && norm != ""
		switch {
		case mod != nil:
			file.Values = []any{norm}
			file.ignore("the module takes precedence")
		case !usable:
			file.ignore(firstNonEmpty(hint, "no usable file name"))
		default:
			file.Values = []any{norm}
			file.Hint = hint
		}
		values = append(values, file)
	}
	fn := newComponent("function")
	raw := firstNonEmpty(f.Function, f.RawFunction, f.Symbol)
	var name, anonHint string
	if js {
		var steps []string
		name, steps = normalizeJSFunction(raw)
		switch {
		case name != "" && len(steps) > 0:
			fn.Hint = "normalized from " + strconv.Quote(raw) + ": " + strings.Join(steps, "; ")
		case name == "" && len(steps) > 0:
			anonHint = "ignored anonymous function (" + strings.Join(steps, "; ") + ")"
		}
	} else {
		name = trimFunction(raw)
	}
	if junkFunctions[name] {
		if raw != "" {
			fn.Values = []any{raw}
		}
		fn.ignore(firstNonEmpty(anonHint, "ignored unknown or anonymous function"))
	} else {
		fn.Values = []any{name}
	}
	values = append(values, fn)
	line := strings.TrimSpace(f.ContextLine)
	if js {
		line = normalizeContextLine(line)
	}
	if line != "" {
		cl := newComponent("context-line", line)
		switch {
		case fn.Contributes:
			cl.ignore("the function name is used instead")
		case len(line) > 120:
			cl.Values = []any{line[:120] + "..."}
			cl.ignore("ignored because the line is too long (minified code?)")
		case js:
			cl.Hint = "the frame has no function name: its context line groups"
		}
		values = append(values, cl)
	}
	p := &frameParts{values: values}
	p.key = leafValues(&Component{Contributes: true, Values: values})
	if js {
		p.lowQuality = jsLowQualityFrame(raw, firstNonEmpty(f.AbsPath, f.Filename))
		v := frameView{f: f, platform: platform}
		for i, r := range defaultRules() {
			if allMatch(r.Matchers, v) {
				p.builtin |= 1 << i
			}
		}
	}
	return p
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// leafValues is the concatenated contributing values of c, as a key.
func leafValues(c *Component) string {
	var buf [256]byte
	return string(c.appendValues(buf[:0]))
}

func (g *grouper) stacktraceComponent(st *event.Stacktrace, kind string) *Component {
	s := g.stacks[st]
	if s == nil {
		s = g.applyStackRules(st)
	}
	c := newComponent("stacktrace")
	c.Values = make([]any, 0, len(st.Frames))
	prev := ""
	for i := range st.Frames {
		fc, parts := g.frameComponent(st, s, i, kind)
		if fc.Contributes {
			key := parts.key // a contributing frame's values are its parts'

			if key == prev {
				fc.ignore("ignored due to recursion")
			}
			prev = key
		}
		c.Values = append(c.Values, fc)
	}
	contributing := 0
	for i := len(c.Values) - 1; i >= 0; i-- {
		fc := c.Values[i].(*Component)
		if !fc.Contributes {
			continue
		}
		contributing++
		if s.maxFrames > 0 && contributing > s.maxFrames {
			fc.ignore(fmt.Sprintf("ignored because only the %d frames closest to the crash count (%s)", s.maxFrames, s.varsRule))
			contributing--
		}
	}
	if kind == kindApp {
		c.settle("ignored because it contains no contributing in-app frames")
	} else {
		c.settle("ignored because it contains no contributing frames")
	}
	if c.Contributes && s.minFrames > 0 && contributing < s.minFrames {
		c.ignore(fmt.Sprintf("ignored because it has fewer than %d contributing frames (%s)", s.minFrames, s.varsRule))
	}
	return c
}

func (g *grouper) messageComponent() *Component {
	e := g.e
	msg := ""
	if e.LogEntry != nil && e.LogEntry.Message != "" {
		msg = e.LogEntry.Message // the template: its parameters never split a group
	} else {
		msg = e.Message
	}
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return nil
	}
	norm := Parameterize(msg)
	c := newComponent("message", norm)
	c.Hint = parameterHint(msg, norm)
	return c
}

func (g *grouper) securityComponent() *Component {
	s := g.e.Security
	if s.Kind == "csp" {
		return newComponent("csp",
			newComponent("salt", s.EffectiveDirective),
			newComponent("uri", event.BlockedOrigin(s)))
	}
	return newComponent(s.Kind, newComponent("salt", s.Kind), newComponent("hostname", s.Hostname))
}
