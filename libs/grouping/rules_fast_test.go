package grouping

import "testing"

// FuzzGlobFastMatchesRegexp holds the matchers' literal fast path to the
// glob's regexp.
func FuzzGlobFastMatchesRegexp(f *testing.F) {
	for _, s := range [][2]string{
		{"**/node_modules/**", "/app/node_modules/x.js"},
		{"**/node_modules/**", "/APP/NODE_MODULES/x.js"},
		{"chrome-extension://**", "Chrome-Extension://abc/content.js"},
		{"process.nextTick", "process.nextTick"},
		{"process.nextTick", "Process.NextTick"},
		{"**https://unpkg.com/**", "https://unpkg.com/a@1/x.js"},
		{"**/*newrelic*/**", "https://js-agent.newrelic.com/nr.js"},
		{"**.js", "a/b.JS"},
		{"x**", "x"},
		{"***", "a/b"},
		{"**", ""},
	} {
		f.Add(s[0], s[1], true, true)
		f.Add(s[0], s[1], false, false)
	}
	f.Fuzz(func(t *testing.T, glob, s string, path, fold bool) {
		fast := newGlobFast(glob, fold)
		if fast.kind == 0 || !isASCII(s) {
			return
		}
		if got, want := fast.match(s), compileGlob(glob, path, fold).MatchString(s); got != want {
			t.Fatalf("glob %q (path %v, fold %v) on %q: fast path %v, regexp %v", glob, path, fold, s, got, want)
		}
	})
}
