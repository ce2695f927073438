package grouping

import (
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/libs/event"
)

// benchMessages are fixed (paramSeeds grows with the kinds): error
// messages as applications raise them, with and without parameters.
var benchMessages = []string{
	"Connection refused to 10.0.12.7:5432 after 3 retries (timeout 2.5s)",
	"User 8675309 not found",
	"invalid order id 1b4e28ba-2fa1-11d2-883f-0016d3cca427",
	"pointer 0x7ffde3a0 is nil; object deadbeef facade 3f2a1b9c",
	"Cannot read properties of undefined (reading 'map')",
	`KeyError: "user_id" missing in {"a": 1}`,
	"Email bob.smith+tag@mail.example.co.uk already registered",
	"GET https://api.example.com/v1/users/42?expand=orders#frag failed: 503",
	"at 2024-01-31T12:34:56.789Z and 2024-01-31 12:34:56+01:00, 2024-02-01",
	"Date: Mon, 2 Jan 2006 15:04:05 MST; or Tue, 31 Dec 1999 23:59:59 +0000",
	"no params here at all",
	"TypeError: undefined is not an object (evaluating 'e.data.items')",
	"connect to db-2.example.com failed",
	"ResizeObserver loop completed with undelivered notifications.",
	"NetworkError when attempting to fetch resource.",
	"Request failed with status code 503",
	"Failed to fetch dynamically imported module: https://app.example.com/assets/Settings-B2xYz9_q.js",
	"Minified React error #418; visit https://reactjs.org/docs/error-decoder.html?invariant=418 for the full message",
	"Non-Error promise rejection captured with value: Object Not Found Matching Id:3, MethodName:update, ParamCount:4",
	"Loading chunk 8232 failed.",
}

// BenchmarkParameterizeMessages runs every message once per op.
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
