package grouping

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
)

// The browsers' fixtures are one TypeError thrown by the same bundle
// (src/widgets.js: an async click handler, a class method that calls
// forEach, an arrow function, and a module function that reads a missing
// property), as each engine's documented stack format reports it and as
// the JavaScript SDK parses that into frames: V8 (Chrome, Edge: "at
// Object.Qe (url)", "at async Kt", "Array.forEach (<anonymous>)"),
// SpiderMonkey (Firefox: "Qe@url", "render/<@url", "async*Kt@url", no
// forEach frame) and JavaScriptCore (Safari: "Qe@url", "@url",
// "forEach@[native code]"). The Chrome and Firefox users run an extension
// that wraps event listeners. "minified" events are as the browser saw
// them; "sourcemapped" ones as symbolication leaves them (webpack:// paths,
// context lines, names from the map or the enclosing scope).
var browserNames = []string{"chrome", "edge", "firefox", "safari"}

// readBrowser reads testdata/browsers/name.
func readBrowser(t testing.TB, name string) []byte {
	return readEvent(t, filepath.Join("..", "browsers", name))
}

func TestBrowsersGroupTogether(t *testing.T) {
	primary := map[string]string{}
	for _, kind := range []string{"minified", "sourcemapped"} {
		t.Run(kind, func(t *testing.T) {
			var first Result
			for i, b := range browserNames {
				r := Compute(normalize(t, readBrowser(t, b+"_"+kind+".json")), nil)
				if len(r.Hashes) == 0 || r.Variants[0].Name != kindApp || !r.Variants[0].Contributes {
					t.Fatalf("%s: want an app hash, got %v", b, r.Hashes)
				}
				if i == 0 {
					first = r
					continue
				}
				if !slices.Equal(r.Hashes, first.Hashes) {
					t.Errorf("%s groups apart from %s: hashes %v, want %v\n%s", b, browserNames[0], r.Hashes, first.Hashes, r.Explain())
				}
			}
			primary[kind] = first.Hashes[0]
		})
	}
	// Source maps change what a frame says (names, files, context lines):
	// like Sentry, the two kinds group apart from each other.
	if primary["minified"] == primary["sourcemapped"] {
		t.Errorf("minified and source-mapped events share hash %s", primary["minified"])
	}
}

// The fixtures do disagree: each normalization is needed. Undoing what one
// browser says differently splits it from the others.
func TestBrowsersDisagreeWithoutNormalization(t *testing.T) {
	base := Compute(normalize(t, readBrowser(t, "safari_minified.json")), nil).Hashes[0]
	for _, tt := range []struct {
		name   string
		frame  int // in chrome_minified.json
		change func(f map[string]any)
	}{
		{"a different function splits", 6, func(f map[string]any) { f["function"] = "Object.Qf" }},
		{"a different file splits", 6, func(f map[string]any) { f["filename"] = "https://app.example.com/static/js/admin.3f2a1b9c.js" }},
		{"a native frame that were not native would split", 4, func(f map[string]any) { f["filename"] = "https://app.example.com/static/js/main.js" }},
		{"an extension frame that were the app's would split", 0, func(f map[string]any) { f["filename"] = "https://app.example.com/static/js/content.js" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(readBrowser(t, "chrome_minified.json"), &m); err != nil {
				t.Fatal(err)
			}
			tt.change(frames(m, 0)[tt.frame].(map[string]any))
			b, _ := json.Marshal(m)
			if got := Compute(normalize(t, b), nil).Hashes[0]; got == base {
				t.Errorf("still groups with Safari (%s)", got)
			}
		})
	}
}

func TestNormalizeJSFunction(t *testing.T) {
	tests := []struct{ in, want string }{
		{"renderItem", "renderItem"},
		{"Object.renderItem", "renderItem"},       // V8, a module's export
		{"HTMLButtonElement.onClick", "onClick"},  // V8, the receiver's type
		{"WidgetList.prototype.render", "render"}, // SpiderMonkey
		{"async onSaveClick", "onSaveClick"},      // V8 async frame
		{"async*onSaveClick", "onSaveClick"},      // SpiderMonkey async frame
		{"async* Kt", "Kt"},                       //
		{"new WidgetList", "WidgetList"},          // V8 constructor
		{"Object.foo [as bar]", "foo"},            // V8 alias
		{"Promise.all (index 0)", "all"},          // V8
		{"outer/inner", "inner"},                  // SpiderMonkey nested name
		{"foo@", "foo"},                           //
		{"render/<", ""},                          // SpiderMonkey anonymous
		{"outer/inner<", ""},                      //
		{"Object.<anonymous>", ""},                // V8
		{"HTMLButtonElement.<anonymous>", ""},     //
		{"Object.<computed> [as x]", ""},          //
		{"<anonymous>", ""},                       //
		{"?", ""},                                 // the SDK's unknown function
		{"", ""},                                  //
		{"global code", ""},                       // JavaScriptCore top level
		{"module code", ""},                       //
		{"Anonymous function", ""},                // old Edge
		{"  async   new  Foo.bar  ", "bar"},       //
		{"a.b.c", "c"},                            //
		{"trailing.", "trailing."},                // nothing after the dot: kept
	}
	for _, tt := range tests {
		if got, _ := normalizeJSFunction(tt.in); got != tt.want {
			t.Errorf("normalizeJSFunction(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeJSFilename(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://app.example.com/static/js/main.3f2a1b9c.js?v=42#x", "static/js/main.js", true},
		{"https://cdn.example.org/static/js/main.77c0ffee1.js", "static/js/main.js", true},
		{"webpack:///./src/widgets.js", "src/widgets.js", true},
		{"webpack://my-app/./src/widgets.js", "src/widgets.js", true},
		{"webpack-internal:///./src/widgets.js", "src/widgets.js", true},
		{"app:///src/widgets.js", "src/widgets.js", true},
		{"~/src/widgets.js", "src/widgets.js", true},
		{"./src/widgets.js", "src/widgets.js", true},
		{"/src/widgets.js", "src/widgets.js", true},
		{"chrome-extension://gighmmpiobklfepjocnamgkkbiglidom/content.js", "content.js", true},
		{"moz-extension://8b3c5f0e-2d1a-4c7e-9f21-6a0b1c2d3e4f/content.js", "content.js", true},
		{"safari-web-extension://AB12CD34-0000-4C3E-9A1F-2B3C4D5E6F70/content.js", "content.js", true},
		{"blob:https://app.example.com/1b4e28ba-2fa1-11d2-883f-0016d3cca427", "", false},
		{"<anonymous>", "<anonymous>", true},
		{"", "", false},
	}
	for _, tt := range tests {
		got, steps, ok := normalizeJSFilename(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizeJSFilename(%q) = %q, %v (%v), want %q, %v", tt.in, got, ok, steps, tt.want, tt.ok)
		}
	}
}

func TestJSLowQualityFrames(t *testing.T) {
	for _, tt := range []struct {
		fn, file string
		low      bool
	}{
		{"forEach", "[native code]", true},
		{"Array.forEach", "<anonymous>", true},
		{"Promise.all", "index 0", true},
		{"x", "eval code", true},
		{"eval", "https://app.example.com/a.js", true},
		{"render", "https://app.example.com/a.js", false},
		{"render", "index.js", false},
		{"render", "index ", false},
	} {
		if got := jsLowQualityFrame(tt.fn, tt.file) != ""; got != tt.low {
			t.Errorf("jsLowQualityFrame(%q, %q) = %v, want %v", tt.fn, tt.file, got, tt.low)
		}
	}
}

// The built-in JavaScript rules are Sentry's defaults: each one changes
// something for the frame it names, and nothing for other platforms.
func TestDefaultJavaScriptRules(t *testing.T) {
	hashes := func(platform string, fs ...string) []string {
		var frames []any
		for _, f := range fs {
			frames = append(frames, json.RawMessage(f))
		}
		frames = append(frames, json.RawMessage(`{"function":"save","filename":"/app/src/save.js","in_app":true}`))
		b, _ := json.Marshal(map[string]any{"platform": platform, "exception": []any{map[string]any{
			"type": "Error", "stacktrace": map[string]any{"frames": frames}}}})
		return Compute(normalize(t, b), nil).Hashes
	}
	alone := hashes("javascript")
	for _, tt := range []struct {
		frame string
		group bool // -group: no hash changes; else -app: the app hash stays, a system hash is added
	}{
		{`{"function":"Xt","filename":"/app/node_modules/lib/x.js","in_app":true}`, false},
		{`{"function":"Xt","filename":"https://unpkg.com/lib@1/x.js","in_app":true}`, false},
		{`{"function":"Xt","filename":"/app/src/vendor/x.js","in_app":true}`, false},
		{`{"function":"_callSuper","filename":"/app/src/x.js","in_app":true}`, true},
		{`{"function":"process.processTicksAndRejections","filename":"node:internal/process/task_queues","in_app":true}`, true},
		{`{"function":"h","module":"core-js/modules/es.array.map","filename":"/app/x.js","in_app":true}`, true},
		{`{"function":"wrap","filename":"chrome-extension://abc/content.js","in_app":true}`, true},
		{`{"function":"wrap","filename":"safari-web-extension://ABC/content.js","in_app":true}`, true},
		{`{"function":"nr","filename":"https://js-agent.newrelic.com/nr-1.2.js","in_app":true}`, true},
	} {
		got := hashes("javascript", tt.frame)
		if tt.group && !slices.Equal(got, alone) {
			t.Errorf("%s: hashes %v, want %v (the frame out of grouping)", tt.frame, got, alone)
		}
		if !tt.group && (len(got) != 2 || got[0] != alone[0] || got[1] == alone[0]) {
			t.Errorf("%s: hashes %v, want the app hash %s and another system hash", tt.frame, got, alone[0])
		}
		if p := hashes("python", tt.frame); slices.Equal(p, hashes("python")) {
			t.Errorf("%s: a JavaScript rule applied to python", tt.frame)
		}
	}
}
