package sourcemap

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/sourcemap/sourcemaptest"
)

const testDebugID = "C941E2E2-6B7D-4A34-9BC4-7F2B6E3E0A11"

var (
	testBundle    = sourcemaptest.Bundle
	testManifest  = sourcemaptest.Manifest
	esbuildBundle = sourcemaptest.EsbuildBundle
)

func TestOpenBundle(t *testing.T) {
	data := esbuildBundle(t)
	b, err := OpenBundle(bytes.NewReader(data), int64(len(data)), DefaultBundleLimits)
	if err != nil {
		t.Fatal(err)
	}
	if b.Org != "acme" || b.Release != "1.0" || len(b.Files) != 2 {
		t.Fatalf("got %+v", b)
	}
	js, sm := b.Files[0], b.Files[1]
	if js.Type != TypeMinifiedSource || js.URL != "~/app.min.js" || js.SourceMap != "app.min.js.map" ||
		js.DebugID != "c941e2e2-6b7d-4a34-9bc4-7f2b6e3e0a11" || sm.Type != TypeSourceMap || sm.DebugID != js.DebugID {
		t.Errorf("files: %+v", b.Files)
	}
	raw, err := b.ReadFile(sm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(raw); err != nil {
		t.Errorf("the bundled map does not parse: %v", err)
	}
}

func TestOpenBundleErrors(t *testing.T) {
	sm, _ := os.ReadFile("testdata/app.min.js.map")
	for name, data := range map[string][]byte{
		"not zip":     []byte("PK\x03\x04 nope"),
		"no manifest": testBundle(t, "", map[string][]byte{"a.js": []byte("x")}),
		"bad json":    testBundle(t, "{", nil),
		"missing":     testBundle(t, testManifest, map[string][]byte{"_/_/app.min.js": []byte("x")}),
	} {
		if _, err := OpenBundle(bytes.NewReader(data), int64(len(data)), DefaultBundleLimits); !errors.Is(err, ErrBundle) {
			t.Errorf("%s: got %v, want ErrBundle", name, err)
		}
	}
	// A file over the limit is refused when read, whatever the zip's
	// directory claims.
	data := testBundle(t, testManifest, map[string][]byte{"_/_/app.min.js": []byte("x"), "_/_/app.min.js.map": sm})
	lim := DefaultBundleLimits
	lim.MaxFileBytes = 100
	b, err := OpenBundle(bytes.NewReader(data), int64(len(data)), lim)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadFile(b.Files[1]); !errors.Is(err, ErrBundle) || !strings.Contains(err.Error(), "at most 100") {
		t.Errorf("oversized file: %v", err)
	}
	lim.MaxFiles = 1
	if _, err := OpenBundle(bytes.NewReader(data), int64(len(data)), lim); !errors.Is(err, ErrBundle) {
		t.Errorf("too many files: %v", err)
	}
}

func TestNormalizeDebugID(t *testing.T) {
	for in, want := range map[string]string{
		testDebugID:                              "c941e2e2-6b7d-4a34-9bc4-7f2b6e3e0a11",
		"c941e2e26b7d4a349bc47f2b6e3e0a11":       "c941e2e2-6b7d-4a34-9bc4-7f2b6e3e0a11",
		"c941e2e2-6b7d-4a34-9bc4-7f2b6e3e0a11-1": "c941e2e2-6b7d-4a34-9bc4-7f2b6e3e0a11",
		"nope":                                   "", "": "", "c941e2e2": "", "g941e2e26b7d4a349bc47f2b6e3e0a11": "",
	} {
		if got := NormalizeDebugID(in); got != want {
			t.Errorf("NormalizeDebugID(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzOpenBundle(f *testing.F) {
	f.Add(esbuildBundle(f))
	f.Add(testBundle(f, `{"files":{"a":{"url":"~/a","type":"source_map","headers":{"debug-id":"x"}}}}`, map[string][]byte{"a": []byte("{}")}))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := BundleLimits{MaxFiles: 100, MaxFileBytes: 1 << 20, MaxManifestSize: 1 << 20}
		b, err := OpenBundle(bytes.NewReader(data), int64(len(data)), lim)
		if err != nil {
			if !errors.Is(err, ErrBundle) {
				t.Fatalf("error %v is not ErrBundle", err)
			}
			return
		}
		for _, f := range b.Files {
			if raw, err := b.ReadFile(f); err == nil && int64(len(raw)) > lim.MaxFileBytes {
				t.Fatalf("read %d bytes over the limit", len(raw))
			}
		}
	})
}
