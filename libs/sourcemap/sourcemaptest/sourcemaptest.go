// Package sourcemaptest gives tests an artifact bundle as sentry-cli makes
// it, of libs/sourcemap/testdata's esbuild build (app.min.js and its map).
package sourcemaptest

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// DebugID is the debug id the bundle's files carry, as `sentry-cli
// sourcemaps inject` would have set it.
const DebugID = "c941e2e2-6b7d-4a34-9bc4-7f2b6e3e0a11"

// Testdata is the path of libs/sourcemap/testdata.
func Testdata() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

// Manifest is the bundle's manifest.json, for release 1.0 with files at
// ~/app.min.js and ~/app.min.js.map.
const Manifest = `{"org":"acme","project":"web","release":"1.0","files":{
	"_/_/app.min.js":{"url":"~/app.min.js","type":"minified_source","headers":{"debug-id":"` + DebugID + `","Sourcemap":"app.min.js.map"}},
	"_/_/app.min.js.map":{"url":"~/app.min.js.map","type":"source_map","headers":{"debug-id":"` + DebugID + `"}}}}`

// Bundle is a zip of the manifest and the files (name → content).
func Bundle(t testing.TB, manifest string, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if manifest != "" {
		add("manifest.json", []byte(manifest))
	}
	for name, data := range files {
		add(name, data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// EsbuildBundle is the bundle of testdata's esbuild build.
func EsbuildBundle(t testing.TB) []byte {
	t.Helper()
	js, err := os.ReadFile(filepath.Join(Testdata(), "app.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	sm, err := os.ReadFile(filepath.Join(Testdata(), "app.min.js.map"))
	if err != nil {
		t.Fatal(err)
	}
	return Bundle(t, Manifest, map[string][]byte{"_/_/app.min.js": js, "_/_/app.min.js.map": sm})
}
