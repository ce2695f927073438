package grouping

import (
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/libs/event"
)

// benchMessages are fixed (paramSeeds grows with the kinds, at its end):
// error messages as applications raise them, with and without parameters.
var benchMessages = append(paramSeeds[:20:20],
	"TypeError: undefined is not an object (evaluating 'e.data.items')",
	"ResizeObserver loop completed with undelivered notifications.",
	"NetworkError when attempting to fetch resource.",
	"Failed to fetch dynamically imported module: https://app.example.com/assets/Settings-B2xYz9_q.js",
	"Non-Error promise rejection captured with value: Object Not Found Matching Id:3, MethodName:update, ParamCount:4",
)

// BenchmarkParameterizeMessages runs every message once per op (25).
func BenchmarkParameterizeMessages(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range benchMessages {
			Parameterize(m)
		}
	}
}

// BenchmarkComputeJavaScript normalizes and groups the browsers' events
// and the JavaScript and Node events of testdata, once each per op, with
// the frame-parts cache warm as in a running pipeline.
func BenchmarkComputeJavaScript(b *testing.B) {
	names, _ := filepath.Glob("testdata/browsers/*.json")
	names = append(names, "testdata/events/js_browser.json", "testdata/events/node_error.json",
		"testdata/events/js_browser_minified_nofunc.json")
	var payloads [][]byte
	for _, n := range names {
		payloads = append(payloads, readEvent(b, filepath.Join("..", "..", n)))
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range payloads {
			e, err := event.Normalize(p, testMeta)
			if err != nil {
				b.Fatal(err)
			}
			if r := Compute(e, nil); len(r.Hashes) == 0 {
				b.Fatal("no hashes")
			}
		}
	}
}
