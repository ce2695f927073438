package grouping

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/faultline/faultline/libs/event"
)

// Rules are a project's grouping rules in Sentry's syntax: stack-trace rules
// change which frames count (in-app or not, in the group or not), and
// fingerprint rules give matching events a fingerprint. A nil *Rules is no
// rules.
type Rules struct {
	Stack       []StackRule
	Fingerprint []FingerprintRule
}

// StackRule is one line of stack-trace rules, e.g.
// "stack.module:foo.* -app" or "[ function:a ] | function:b ^-group".
type StackRule struct {
	Line     int
	Text     string
	Matchers []Matcher
	Caller   []Matcher // [ ... ] | : the frame's caller must match these
	Callee   []Matcher // | [ ... ] : the frame's callee must match these
	Actions  []Action
}

// FingerprintRule is one line of fingerprint rules, e.g.
// `error.type:Timeout -> timeouts` or `message:"*timeout*" -> slow, {{ default }}`.
type FingerprintRule struct {
	Line        int
	Text        string
	Matchers    []Matcher
	Fingerprint []string
	Attributes  map[string]string // title="..."
}

// Matcher is one key:pattern condition.
type Matcher struct {
	Key     string // canonical: family, path, module, function, package, app, category, type, value, message, ...
	Pattern string
	Negate  bool
	re      *regexp.Regexp
	fast    globFast // a literal pattern's cheap match, when it has one
	fams    []string // family: the families named
}

// Action is one stack-trace rule action: +app, -group, ^-group,
// category=foo, max-frames=3.
type Action struct {
	Name  string // app, group, category, max-frames, min-frames
	Flag  bool   // + or - for app and group
	Value string // for name=value actions
	Range byte   // 0 for the matching frame, '^' for frames above it (towards the crash), 'v' for those below
}

// matcherKeys maps every accepted key to its canonical name; frame says
// whether it matches against a frame (and so is valid in stack-trace rules).
var matcherKeys = map[string]struct {
	canon string
	frame bool
}{
	"family": {"family", true}, "path": {"path", true}, "stack.abs_path": {"path", true},
	"module": {"module", true}, "stack.module": {"module", true},
	"function": {"function", true}, "stack.function": {"function", true},
	"package": {"package", true}, "stack.package": {"package", true},
	"app": {"app", true}, "stack.app": {"app", true}, "category": {"category", true},
	"type": {"type", false}, "error.type": {"type", false},
	"value": {"value", false}, "error.value": {"value", false},
	"mechanism": {"mechanism", false}, "error.mechanism": {"mechanism", false},
	"message": {"message", false}, "logger": {"logger", false}, "level": {"level", false},
	"sdk": {"sdk", false}, "release": {"release", false}, "environment": {"environment", false},
	"transaction": {"transaction", false},
}

// ParseRules parses stack-trace rules and fingerprint rules, one rule a line;
// blank lines and lines starting with # are skipped. An error names the
// rules and the line.
func ParseRules(stackRules, fingerprintRules string) (*Rules, error) {
	r := &Rules{}
	for i, line := range strings.Split(stackRules, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sr, err := parseStackRule(line)
		if err != nil {
			return nil, fmt.Errorf("stack-trace rules line %d: %w", i+1, err)
		}
		sr.Line = i + 1
		r.Stack = append(r.Stack, sr)
	}
	for i, line := range strings.Split(fingerprintRules, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fr, err := parseFingerprintRule(line)
		if err != nil {
			return nil, fmt.Errorf("fingerprint rules line %d: %w", i+1, err)
		}
		fr.Line = i + 1
		r.Fingerprint = append(r.Fingerprint, fr)
	}
	return r, nil
}

type token struct {
	text   string
	quoted bool // a quoted value: no special meaning
}

// tokenize splits a rule into words, keeping quoted strings (with \" and \\
// escapes) together; "[", "]", "|", "," and "->" are tokens of their own; a
// word starting with # starts a comment.
func tokenize(s string) ([]token, error) {
	var out []token
	var cur strings.Builder
	quotedPart := false
	flush := func() {
		if cur.Len() > 0 || quotedPart {
			out = append(out, token{text: cur.String(), quoted: quotedPart})
		}
		cur.Reset()
		quotedPart = false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '#' && cur.Len() == 0 && !quotedPart {
			break // a comment to the end of the line
		}
		switch {
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				cur.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated quote")
			}
			if cur.Len() == 0 {
				quotedPart = true // the whole token is a quoted string
			}
			i = j
		case c == ' ' || c == '\t' || c == '\r':
			flush()
		case c == '[' || c == ']' || c == '|' || c == ',':
			flush()
			out = append(out, token{text: string(c)})
		case c == '-' && i+1 < len(s) && s[i+1] == '>':
			flush()
			out = append(out, token{text: "->"})
			i++
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out, nil
}

func parseMatcher(t token, frameOnly bool) (Matcher, bool, error) {
	if t.quoted && !strings.Contains(t.text, ":") {
		return Matcher{}, false, nil
	}
	key, pattern, ok := strings.Cut(t.text, ":")
	if !ok {
		return Matcher{}, false, nil
	}
	m := Matcher{Pattern: pattern}
	if strings.HasPrefix(key, "!") {
		m.Negate, key = true, key[1:]
	}
	if tag, isTag := strings.CutPrefix(key, "tags."); isTag {
		if frameOnly {
			return m, true, fmt.Errorf("matcher %q does not apply to frames", key)
		}
		if tag == "" {
			return m, true, fmt.Errorf("matcher %q names no tag", key)
		}
		m.Key = key
	} else {
		k, known := matcherKeys[key]
		if !known {
			return m, true, fmt.Errorf("unknown matcher %q", key)
		}
		if frameOnly && !k.frame {
			return m, true, fmt.Errorf("matcher %q does not apply to frames", key)
		}
		m.Key = k.canon
	}
	if pattern == "" {
		return m, true, fmt.Errorf("matcher %q has no value", key)
	}
	switch m.Key {
	case "path", "package":
		g := strings.ReplaceAll(pattern, `\`, "/")
		m.re, m.fast = compileGlob(g, true, true), newGlobFast(g, true)
	case "module", "function", "type", "category", "mechanism":
		m.re, m.fast = compileGlob(pattern, false, false), newGlobFast(pattern, false)
	case "family":
		for _, f := range strings.Split(pattern, ",") {
			m.fams = append(m.fams, strings.TrimSpace(f))
		}
	case "app":
	default:
		m.re, m.fast = compileGlob(pattern, false, true), newGlobFast(pattern, true)
	}
	return m, true, nil
}

func parseStackRule(line string) (StackRule, error) {
	sr := StackRule{Text: line}
	toks, err := tokenize(line)
	if err != nil {
		return sr, err
	}
	i := 0
	// [ caller ] |
	if i < len(toks) && toks[i].text == "[" && !toks[i].quoted {
		ms, n, err := bracketed(toks[i:])
		if err != nil {
			return sr, err
		}
		sr.Caller, i = ms, i+n
		if i >= len(toks) || toks[i].text != "|" {
			return sr, fmt.Errorf(`expected "|" after the caller matcher`)
		}
		i++
	}
	for ; i < len(toks); i++ {
		t := toks[i]
		if !t.quoted && t.text == "|" {
			ms, n, err := bracketed(toks[i+1:])
			if err != nil {
				return sr, err
			}
			sr.Callee, i = ms, i+n
			continue
		}
		m, isMatcher, err := parseMatcher(t, true)
		if err != nil {
			return sr, err
		}
		if isMatcher {
			if len(sr.Actions) > 0 {
				return sr, fmt.Errorf("matcher %q after the actions", t.text)
			}
			sr.Matchers = append(sr.Matchers, m)
			continue
		}
		a, err := parseAction(t.text)
		if err != nil {
			return sr, err
		}
		sr.Actions = append(sr.Actions, a)
	}
	if len(sr.Matchers) == 0 {
		return sr, fmt.Errorf("no matcher")
	}
	if len(sr.Actions) == 0 {
		return sr, fmt.Errorf("no action")
	}
	return sr, nil
}

// bracketed parses "[ matchers ]" at the start of toks, returning the
// matchers and how many tokens it took.
func bracketed(toks []token) ([]Matcher, int, error) {
	if len(toks) == 0 || toks[0].text != "[" {
		return nil, 0, fmt.Errorf(`expected "[" with a frame matcher`)
	}
	var ms []Matcher
	for i := 1; i < len(toks); i++ {
		if toks[i].text == "]" && !toks[i].quoted {
			if len(ms) == 0 {
				return nil, 0, fmt.Errorf("empty [ ]")
			}
			return ms, i + 1, nil
		}
		m, ok, err := parseMatcher(toks[i], true)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			return nil, 0, fmt.Errorf("%q is not a matcher", toks[i].text)
		}
		ms = append(ms, m)
	}
	return nil, 0, fmt.Errorf(`missing "]"`)
}

func parseAction(s string) (Action, error) {
	if name, val, ok := strings.Cut(s, "="); ok {
		switch name {
		case "category":
			if val == "" {
				return Action{}, fmt.Errorf("category= needs a value")
			}
		case "max-frames", "min-frames":
			if n, err := strconv.Atoi(val); err != nil || n < 0 || n > 1000 {
				return Action{}, fmt.Errorf("%s wants a number from 0 to 1000, not %q", name, val)
			}
		default:
			return Action{}, fmt.Errorf("unknown action %q", s)
		}
		return Action{Name: name, Value: val}, nil
	}
	a := Action{}
	if len(s) > 0 && (s[0] == '^' || s[0] == 'v') {
		a.Range, s = s[0], s[1:]
	}
	if len(s) < 2 || (s[0] != '+' && s[0] != '-') {
		return a, fmt.Errorf("unknown action %q (want +app, -app, +group, -group, optionally after ^ or v)", s)
	}
	a.Flag, a.Name = s[0] == '+', s[1:]
	if a.Name != "app" && a.Name != "group" {
		return a, fmt.Errorf("unknown flag %q (want app or group)", a.Name)
	}
	return a, nil
}

func parseFingerprintRule(line string) (FingerprintRule, error) {
	fr := FingerprintRule{Text: line}
	toks, err := tokenize(line)
	if err != nil {
		return fr, err
	}
	i := 0
	for ; i < len(toks) && !(toks[i].text == "->" && !toks[i].quoted); i++ {
		m, ok, err := parseMatcher(toks[i], false)
		if err != nil {
			return fr, err
		}
		if !ok {
			return fr, fmt.Errorf("%q is not a matcher (want key:value)", toks[i].text)
		}
		fr.Matchers = append(fr.Matchers, m)
	}
	if len(fr.Matchers) == 0 {
		return fr, fmt.Errorf("no matcher")
	}
	if i == len(toks) {
		return fr, fmt.Errorf(`missing "->" and a fingerprint`)
	}
	// -> value, value, ... name="attribute"
	expectValue := true
	for i++; i < len(toks); i++ {
		t := toks[i]
		if !t.quoted && t.text == "," {
			if expectValue {
				return fr, fmt.Errorf("empty fingerprint value")
			}
			expectValue = true
			continue
		}
		if !t.quoted {
			if name, val, ok := strings.Cut(t.text, "="); ok && name != "" && !strings.Contains(name, "{") {
				if fr.Attributes == nil {
					fr.Attributes = map[string]string{}
				}
				fr.Attributes[name] = val
				expectValue = false
				continue
			}
		}
		if fr.Attributes != nil {
			return fr, fmt.Errorf("fingerprint value %q after an attribute (attributes such as title=\"...\" come last)", t.text)
		}
		if !expectValue {
			// Values run together, as in "{{ default }}": one value with its spaces.
			fr.Fingerprint[len(fr.Fingerprint)-1] += " " + t.text
			continue
		}
		fr.Fingerprint = append(fr.Fingerprint, t.text)
		expectValue = false
	}
	if len(fr.Fingerprint) == 0 {
		return fr, fmt.Errorf("no fingerprint after ->")
	}
	return fr, nil
}

// compileGlob turns a Sentry glob into an anchored regular expression: * is
// any run of characters (in paths, not crossing "/"; ** crosses it), ? one
// character, [abc] and [!abc] classes.
func compileGlob(g string, path, fold bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	if fold {
		b.WriteString("(?i)")
	}
	b.WriteString("(?s)")
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch {
		case c == '*' && i+1 < len(g) && g[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*' && path:
			b.WriteString("[^/]*")
		case c == '*':
			b.WriteString(".*")
		case c == '?' && path:
			b.WriteString("[^/]")
		case c == '?':
			b.WriteString(".")
		case c == '[':
			end := strings.IndexByte(g[i+1:], ']')
			if end <= 0 {
				b.WriteString(`\[`)
				continue
			}
			class := g[i+1 : i+1+end]
			b.WriteByte('[')
			if class[0] == '!' {
				b.WriteByte('^')
				class = class[1:]
			}
			for _, r := range class {
				if r == '\\' || r == ']' || r == '[' || r == '^' {
					b.WriteByte('\\')
				}
				b.WriteRune(r)
			}
			b.WriteByte(']')
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil { // an odd class: match the pattern literally
		re = regexp.MustCompile("^" + regexp.QuoteMeta(g) + "$")
	}
	return re
}

// family is the platform family a frame belongs to, as rules name them.
func family(platform string) string {
	switch platform {
	case "javascript", "node":
		return "javascript"
	case "objc", "cocoa", "swift", "native", "c":
		return "native"
	}
	return "other"
}

// frameView is what frame matchers see of a frame.
type frameView struct {
	f        *event.Frame
	platform string
	inApp    bool
	category string
}

func (m *Matcher) matchFrame(v frameView) bool {
	return m.matchFrameRaw(v) != m.Negate
}

func (m *Matcher) matchFrameRaw(v frameView) bool {
	switch m.Key {
	case "family":
		fam := family(v.platform)
		for _, want := range m.fams {
			if want == "all" || want == fam {
				return true
			}
		}
		return false
	case "app":
		switch strings.ToLower(m.Pattern) {
		case "yes", "true", "1":
			return v.inApp
		case "no", "false", "0":
			return !v.inApp
		}
		return false
	case "path":
		for _, p := range []string{v.f.AbsPath, v.f.Filename} {
			if p != "" && m.match(strings.ReplaceAll(p, `\`, "/")) {
				return true
			}
		}
		return false
	case "module":
		return v.f.Module != "" && m.match(v.f.Module)
	case "function":
		return v.f.Function != "" && m.match(v.f.Function)
	case "package":
		p := strings.ReplaceAll(v.f.Package, `\`, "/")
		if p == "" {
			return false
		}
		return m.match(p) || m.match(p[strings.LastIndexByte(p, '/')+1:])
	case "category":
		return v.category != "" && m.match(v.category)
	}
	return false
}

func isFrameKey(key string) bool {
	k, ok := matcherKeys[key]
	return ok && k.frame
}

// matchEvent matches an event-level key against the event.
func (m *Matcher) matchEvent(e *event.Event) bool {
	return m.matchEventRaw(e) != m.Negate
}

func (m *Matcher) matchEventRaw(e *event.Event) bool {
	any := func(vals ...string) bool {
		for _, v := range vals {
			if v != "" && m.match(v) {
				return true
			}
		}
		return false
	}
	if tag, ok := strings.CutPrefix(m.Key, "tags."); ok {
		return any(e.Tag(tag))
	}
	switch m.Key {
	case "type":
		for _, ex := range e.Exceptions {
			if any(ex.Type) {
				return true
			}
		}
		return false
	case "value":
		for _, ex := range e.Exceptions {
			if any(ex.Value) {
				return true
			}
		}
		return false
	case "mechanism":
		for _, ex := range e.Exceptions {
			if ex.Mechanism != nil && any(ex.Mechanism.Type) {
				return true
			}
		}
		return false
	case "message":
		vals := []string{e.Message}
		if e.LogEntry != nil {
			vals = append(vals, e.LogEntry.Message)
		}
		for _, ex := range e.Exceptions {
			vals = append(vals, ex.Value)
		}
		return any(vals...)
	case "logger":
		return any(e.Logger)
	case "level":
		return any(e.Level)
	case "sdk":
		return e.SDK != nil && any(e.SDK.Name)
	case "release":
		return any(e.Release)
	case "environment":
		return any(e.Environment)
	case "transaction":
		return any(e.Transaction)
	}
	return false
}

// match is m.re.MatchString(s), without the regexp when the pattern is a
// literal, a prefix ("x**"), a suffix ("**x") or a substring ("**x**") and
// s is ASCII (so that case folding is byte for byte).
func (m *Matcher) match(s string) bool {
	if m.fast.kind != 0 && isASCII(s) {
		return m.fast.match(s)
	}
	return m.re.MatchString(s)
}

// globFast is a glob without wildcards other than a leading or trailing
// "**": the literal, where it must be, and whether case folds.
type globFast struct {
	lit  string
	kind byte // 0: none; '=': all of it; '^': a prefix; '$': a suffix; '*': anywhere
	fold bool
}

func newGlobFast(g string, fold bool) globFast {
	lit, lead := strings.CutPrefix(g, "**")
	lit, trail := strings.CutSuffix(lit, "**")
	if lit == "" || strings.ContainsAny(lit, "*?[") || !isASCII(lit) {
		return globFast{}
	}
	f := globFast{lit: lit, fold: fold}
	switch {
	case lead && trail:
		f.kind = '*'
	case lead:
		f.kind = '$'
	case trail:
		f.kind = '^'
	default:
		f.kind = '='
	}
	return f
}

func (f globFast) match(s string) bool {
	eq := func(a string) bool {
		if f.fold {
			return strings.EqualFold(a, f.lit)
		}
		return a == f.lit
	}
	n := len(f.lit)
	switch f.kind {
	case '=':
		return eq(s)
	case '^':
		return len(s) >= n && eq(s[:n])
	case '$':
		return len(s) >= n && eq(s[len(s)-n:])
	}
	if !f.fold {
		return strings.Contains(s, f.lit)
	}
	for i := 0; i+n <= len(s); i++ {
		if eq(s[i : i+n]) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
