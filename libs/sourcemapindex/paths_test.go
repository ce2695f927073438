package sourcemapindex

import (
	"reflect"
	"testing"
)

func TestCandidates(t *testing.T) {
	for in, want := range map[string][]string{
		"https://example.com/static/js/app.min.js?v=3#x": {"https://example.com/static/js/app.min.js",
			"~/static/js/app.min.js", "~/js/app.min.js", "~/app.min.js"},
		"/srv/app/dist/app.min.js": {"/srv/app/dist/app.min.js", "~/srv/app/dist/app.min.js", "~/app/dist/app.min.js",
			"~/dist/app.min.js", "~/app.min.js"},
		"app:///main.js": {"app:///main.js", "~/main.js"},
		"~/a/b.js":       {"~/a/b.js", "~/b.js"},
		"":               {""},
	} {
		if got := Candidates(in); !reflect.DeepEqual(got, want) {
			t.Errorf("Candidates(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveURL(t *testing.T) {
	for _, c := range [][3]string{
		{"~/dist/app.min.js", "app.min.js.map", "~/dist/app.min.js.map"},
		{"~/dist/app.min.js.map", "../src/app.js", "~/src/app.js"},
		{"~/app.min.js.map", "/abs/x.js", "~/abs/x.js"},
		{"https://cdn.example.com/js/app.js", "app.js.map", "https://cdn.example.com/js/app.js.map"},
		{"https://cdn.example.com/js/app.js.map", "webpack:///./src/a.js", "webpack:///./src/a.js"},
		{"~/app.js", "~/maps/app.js.map", "~/maps/app.js.map"},
	} {
		if got := resolveURL(c[0], c[1]); got != c[2] {
			t.Errorf("resolveURL(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

func TestDisplayPath(t *testing.T) {
	for in, want := range map[string]string{
		"webpack:///./src/app.js": "src/app.js", "webpack://my-app/src/x.ts": "src/x.ts",
		"../src/app.js": "src/app.js", "src/a.js": "src/a.js", "/abs/a.js": "abs/a.js",
	} {
		if got := displayPath(in); got != want {
			t.Errorf("displayPath(%q) = %q, want %q", in, got, want)
		}
	}
}
