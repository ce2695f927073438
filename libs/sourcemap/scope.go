package sourcemap

import (
	"regexp"
	"strings"
)

// A scope is the body of a function in an original source: bytes
// [start, end) of its text, and the name the function is called by in a
// stack trace ("explode", "Parser.parse").
type scope struct {
	start, end int
	name       string
}

// EnclosingFunction is the name of the innermost named function whose body
// holds the token's original position, read from the source's text in
// sourcesContent: "run" for a function declaration or a function assigned
// to a name, "Parser.parse" for a class method. "" when the map has no
// content for the source or the position is in no named function.
//
// It is a lexical heuristic (strings, comments and template literals are
// skipped; regular expression literals are not recognised), good for the
// code bundlers emit source maps for.
func (t Token) EnclosingFunction() string {
	m := t.m
	if m == nil || t.src >= len(m.contents) || m.contents[t.src] == nil {
		return ""
	}
	m.scopesOnce[t.src].Do(func() { m.scopes[t.src] = scopes(*m.contents[t.src]) })
	off := lineOffset(*m.contents[t.src], t.Line) + t.Column - 1
	best := -1
	for i, s := range m.scopes[t.src] {
		if s.name != "" && s.start <= off && off < s.end && (best < 0 || s.start > m.scopes[t.src][best].start) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return m.scopes[t.src][best].name
}

// lineOffset is the byte offset of the 1-based line in text.
func lineOffset(text string, line int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(text[off:], '\n')
		if i < 0 {
			return len(text)
		}
		off += i + 1
	}
	return off
}

var (
	funcDeclRE   = regexp.MustCompile(`function\s*\*?\s*([\w$]+)\s*\([^()]*\)\s*$`)
	funcAssignRE = regexp.MustCompile(`([\w$]+)\s*[:=]\s*(?:async\s+)?function\b\s*\*?\s*[\w$]*\s*\([^()]*\)\s*$`)
	arrowRE      = regexp.MustCompile(`([\w$]+)\s*[:=]\s*(?:async\s+)?(?:\([^()]*\)|[\w$]+)\s*=>\s*$`)
	anonFuncRE   = regexp.MustCompile(`(?:function\s*\*?\s*\([^()]*\)|=>)\s*$`)
	methodRE     = regexp.MustCompile(`(?:^|[\s;{},])(?:(?:static|async|get|set)\s+|\*\s*)*(#?[\w$]+)\s*\([^()]*\)\s*$`)
	classRE      = regexp.MustCompile(`class\s+([\w$]+)(?:\s+extends\s+[^{]+)?\s*$`)
)

var notMethods = map[string]bool{"if": true, "for": true, "while": true, "switch": true, "catch": true,
	"with": true, "function": true, "return": true, "typeof": true, "await": true, "yield": true}

// brace kinds of the scanner's stack.
const (
	braceBlock = iota
	braceFunc
	braceClass
	braceTemplate // ${ in a template literal
)

type brace struct {
	kind  int
	start int
	name  string
}

// scopes lists the functions of a JavaScript (or TypeScript) source.
func scopes(text string) []scope {
	var out []scope
	var stack []brace
	const maxStack = 1 << 10
	i := 0
	inTemplate := false
	for i < len(text) {
		c := text[i]
		if inTemplate {
			switch {
			case c == '\\':
				i += 2
			case c == '`':
				inTemplate = false
				i++
			case c == '$' && i+1 < len(text) && text[i+1] == '{':
				if len(stack) < maxStack {
					stack = append(stack, brace{kind: braceTemplate, start: i})
				}
				inTemplate = false
				i += 2
			default:
				i++
			}
			continue
		}
		switch {
		case c == '/' && i+1 < len(text) && text[i+1] == '/':
			j := strings.IndexByte(text[i:], '\n')
			if j < 0 {
				i = len(text)
			} else {
				i += j
			}
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			j := strings.Index(text[i+2:], "*/")
			if j < 0 {
				i = len(text)
			} else {
				i += j + 4
			}
		case c == '\'' || c == '"':
			i++
			for i < len(text) && text[i] != c && text[i] != '\n' {
				if text[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case c == '`':
			inTemplate = true
			i++
		case c == '{':
			if len(stack) < maxStack {
				stack = append(stack, classify(text, i, stack))
			}
			i++
		case c == '}':
			if n := len(stack); n > 0 {
				b := stack[n-1]
				stack = stack[:n-1]
				switch b.kind {
				case braceFunc:
					out = append(out, scope{start: b.start, end: i + 1, name: b.name})
				case braceTemplate:
					inTemplate = true
				}
			}
			i++
		default:
			i++
		}
	}
	for _, b := range stack {
		if b.kind == braceFunc {
			out = append(out, scope{start: b.start, end: len(text), name: b.name})
		}
	}
	return out
}

// classify says what the '{' at text[i] opens, from the code before it.
func classify(text string, i int, stack []brace) brace {
	head := text[max(0, i-256):i]
	if m := classRE.FindStringSubmatch(head); m != nil {
		return brace{kind: braceClass, start: i, name: m[1]}
	}
	if m := funcDeclRE.FindStringSubmatch(head); m != nil {
		return brace{kind: braceFunc, start: i, name: m[1]}
	}
	if m := funcAssignRE.FindStringSubmatch(head); m != nil {
		return brace{kind: braceFunc, start: i, name: m[1]}
	}
	if m := arrowRE.FindStringSubmatch(head); m != nil {
		return brace{kind: braceFunc, start: i, name: m[1]}
	}
	if anonFuncRE.MatchString(head) {
		return brace{kind: braceFunc, start: i}
	}
	if m := methodRE.FindStringSubmatch(head); m != nil && !notMethods[m[1]] {
		name := m[1]
		if n := len(stack); n > 0 && stack[n-1].kind == braceClass {
			name = stack[n-1].name + "." + name
		} else if n == 0 || stack[n-1].kind != braceBlock {
			return brace{kind: braceBlock, start: i} // a call followed by a block: "f(x) {" is no method outside a class or object
		}
		return brace{kind: braceFunc, start: i, name: name}
	}
	return brace{kind: braceBlock, start: i}
}
