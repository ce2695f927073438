package grouping

import (
	"path"
	"regexp"
	"strings"
	"sync"
)

// JavaScript frames as browsers report them disagree on names for the same
// code: V8 (Chrome, Edge) says "Object.foo", "HTMLButtonElement.onClick",
// "async foo", "new Foo", "foo [as bar]" and "Array.forEach (<anonymous>)";
// SpiderMonkey (Firefox) says "foo", "Foo.prototype.bar", "outer/inner",
// "outer/<" and "async*foo"; JavaScriptCore (Safari) says "foo",
// "global code" and "forEach@[native code]". Sentry's documented JavaScript
// grouping keeps the last part of a dotted name, drops anonymous names and
// drops frames of native and eval'd code; so does this file, and it tells
// in each component's hint what it did.

var jsIndexSuffixRE = regexp.MustCompile(` \[as [^\]]*\]$| \(index \d+\)$`)

// jsAnonymousFunctions are names that say "no name".
var jsAnonymousFunctions = map[string]bool{
	"": true, "?": true, "anonymous": true, "Anonymous function": true, "<anonymous function>": true,
	"global code": true, "module code": true, "eval code": true, "[native code]": true,
}

// normalizeJSFunction is the part of a JavaScript function name that every
// browser agrees on, "" for an anonymous function, with what was done.
func normalizeJSFunction(raw string) (name string, steps []string) {
	name = strings.TrimSpace(raw)
	if strings.HasSuffix(name, "]") || strings.HasSuffix(name, ")") {
		if n := jsIndexSuffixRE.ReplaceAllString(name, ""); n != name {
			name, steps = n, append(steps, "dropped the V8 alias or index suffix")
		}
	}
	if n := strings.TrimRight(name, "@"); n != name {
		name, steps = n, append(steps, `dropped the trailing "@"`)
	}
	for changed := true; changed; {
		changed = false
		for _, p := range [...]struct{ prefix, step string }{
			{"async*", "dropped Firefox's async* marker"},
			{"async ", `dropped "async "`},
			{"new ", `dropped "new "`},
		} {
			if n, ok := strings.CutPrefix(name, p.prefix); ok {
				name, steps, changed = strings.TrimSpace(n), append(steps, p.step), true
			}
		}
	}
	if strings.HasSuffix(name, "<") {
		return "", append(steps, `Firefox's "<" suffix`)
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name, steps = name[i+1:], append(steps, "kept the innermost name of Firefox's outer/inner")
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 && i+1 < len(name) {
		name, steps = name[i+1:], append(steps, "kept the last part of the dotted name")
	}
	if jsAnonymousFunctions[name] || (strings.HasPrefix(name, "<") && strings.HasSuffix(name, ">")) {
		return "", steps
	}
	return name, steps
}

// jsLowQualityFrame says why a JavaScript frame never groups, or "": code
// the engine runs itself (V8's "<anonymous>" and "index N" files, JSC's
// "[native code]", which Firefox leaves out of its stacks) and eval'd code.
func jsLowQualityFrame(function, file string) string {
	switch strings.ToLower(strings.TrimSpace(file)) {
	case "[native code]", "native code", "native":
		return "ignored native code frame"
	case "<anonymous>":
		return "ignored frame of anonymous (built-in or generated) code"
	case "eval code", "eval":
		return "ignored frame of eval'd code"
	}
	if strings.HasPrefix(file, "index ") && strings.Trim(file[len("index "):], "0123456789") == "" && len(file) > len("index ") {
		return "ignored native code frame" // V8's "at async Promise.all (index 0)"
	}
	if fn := strings.TrimSpace(function); fn == "eval" || strings.HasSuffix(fn, ".eval") {
		return "ignored frame of eval'd code"
	}
	return ""
}

// browserExtensionSchemes are the schemes of browser-extension files.
var browserExtensionSchemes = map[string]bool{
	"chrome-extension": true, "moz-extension": true, "safari-extension": true,
	"safari-web-extension": true, "ms-browser-extension": true, "edge-extension": true,
}

// normalizeJSFilename is NormalizeFilename for JavaScript, relative (the
// same for "webpack:///./src/a.js", "app:///src/a.js", "~/src/a.js" and
// "./src/a.js"), with what was done; ok is false for a name that never
// groups (a blob: URL, unique to a page load).
func normalizeJSFilename(name string) (norm string, steps []string, ok bool) {
	s := strings.TrimSpace(name)
	if len(s) >= 5 && strings.EqualFold(s[:5], "blob:") {
		return "", []string{"ignored because blob: URLs change with every page load"}, false
	}
	rest := s
	if scheme, after, found := strings.Cut(s, "://"); found && scheme != "" && !strings.ContainsAny(scheme, "/?#") {
		switch sc := strings.ToLower(scheme); {
		case browserExtensionSchemes[sc]:
			steps = append(steps, "dropped the browser-extension origin "+sc+"://<id>")
		case sc == "webpack" || sc == "webpack-internal" || sc == "app":
			steps = append(steps, "dropped the "+sc+":// prefix")
		default:
			steps = append(steps, "dropped the URL origin")
		}
		rest = after
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[i:]
		}
	} else if r, found := strings.CutPrefix(s, "~/"); found {
		s, rest = "/"+r, "/"+r
		steps = append(steps, `dropped the "~" prefix`)
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		if rest[i] == '?' {
			steps = append(steps, "dropped the query string")
		} else {
			steps = append(steps, "dropped the fragment")
		}
		rest = rest[:i]
	}
	norm = strings.TrimLeft(NormalizeFilename(s), "/")
	plain := strings.ReplaceAll(rest, `\`, "/")
	if strings.Contains(plain, "/") {
		plain = path.Clean(plain)
	}
	if strings.TrimLeft(plain, "/") != norm {
		steps = append(steps, "dropped cache-busting hashes and versions")
	}
	return norm, steps, norm != ""
}

// normalizeContextLine collapses runs of white space, as Sentry does.
func normalizeContextLine(line string) string {
	return strings.Join(strings.Fields(line), " ")
}

// defaultJavaScriptRules are stack-trace rules every JavaScript event gets
// before its project's, after Sentry's default enhancements for
// JavaScript: dependencies and CDN libraries are not the application's
// code; transpiler helpers, polyfills, Node's task queues, browser
// extensions and other vendors' telemetry do not group at all.
const defaultJavaScriptRules = `
family:javascript path:**/node_modules/** -app
family:javascript path:**/vendor/** -app
family:javascript module:unpkg/** -app
family:javascript path:**https://unpkg.com/** -app
family:javascript path:**https://cdnjs.cloudflare.com/** -app
family:javascript path:**https://cdn.jsdelivr.net/** -app
family:javascript path:**https://esm.run/** -app
family:javascript function:reportError ^-app -app
family:javascript module:@babel/** -app -group
family:javascript module:core-js/** -app -group
family:javascript module:regenerator-runtime/** -app -group
family:javascript module:tslib/** -app -group
family:javascript function:_callSuper -app -group
family:javascript function:runMicrotasks -app -group
family:javascript function:queueMicrotask -app -group
family:javascript function:processTicksAndRejections -app -group
family:javascript function:process.processTicksAndRejections -app -group
family:javascript function:runNextTicks -app -group
family:javascript function:nextTick -app -group
family:javascript function:process.nextTick -app -group
family:javascript path:chrome-extension://** -app -group
family:javascript path:moz-extension://** -app -group
family:javascript path:safari-extension://** -app -group
family:javascript path:safari-web-extension://** -app -group
family:javascript path:ms-browser-extension://** -app -group
family:javascript module:newrelic -app -group
family:javascript path:**/*newrelic*/** -app -group
family:javascript path:**/*LogRocket*/** -app -group
`

// defaultRules parses defaultJavaScriptRules once; each rule's text says it
// is built in, so that explanations tell it from a project's.
var defaultRules = sync.OnceValue(func() []StackRule {
	r, err := ParseRules(defaultJavaScriptRules, "")
	if err != nil {
		panic("grouping: built-in JavaScript rules: " + err.Error())
	}
	// A frame's parts hold which built-in rules match it: at most 64
	// rules, each matching on what the parts are built from.
	if len(r.Stack) > 64 {
		panic("grouping: more than 64 built-in rules")
	}
	for i := range r.Stack {
		sr := &r.Stack[i]
		sr.Text = "built-in " + sr.Text
		for _, m := range sr.Matchers {
			if len(sr.Caller)+len(sr.Callee) > 0 || !(m.Key == "family" || m.Key == "path" || m.Key == "module" || m.Key == "function") {
				panic("grouping: built-in rule " + sr.Text + " matches more than the frame's parts")
			}
		}
	}
	return r.Stack
})
