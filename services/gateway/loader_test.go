package gateway_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/projectkeys"
)

// loaderConfig reads the settings the loader script was given.
func loaderConfig(t *testing.T, script string) map[string]any {
	t.Helper()
	m := regexp.MustCompile(`\}\)\(window, document, (\{.*\})\);\s*$`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("no configuration at the end of the script:\n%s", script)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(m[1]), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestLoaderScript: /js-sdk-loader/<key>.min.js (and .js) serves the
// loader with the key's public DSN and the bundle its settings choose,
// cacheable, to any origin; an unknown or disabled key gets Sentry's no-op
// script; anything else is 404.
func TestLoaderScript(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	const tuned = "abcdefabcdefabcdefabcdefabcdef00"
	c.putKey(projectkeys.Key{PublicKey: tuned, ProjectID: project,
		Loader: &projectkeys.Loader{SDKVersion: "8.x", Performance: true, Replay: true, Debug: true}})
	opt := defaultOptions(t)
	opt.PublicURL = "https://errors.example.com/sentry"
	opt.LoaderCDN = "https://cdn.example.com/js"
	opt.LoaderVersions = map[string]string{"8.x": "8.60.1"} // JS_SDK_LOADER_VERSIONS: over the built-in 8.55.2
	g := c.startGateway(opt)

	get := func(path string) *response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, g.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", "https://shop.example.net")
		return do(t, req)
	}
	for _, tc := range []struct {
		file string
		want map[string]any
	}{
		{key + ".min.js", map[string]any{"dsn": "https://" + key + "@errors.example.com/sentry/42",
			"url": "https://cdn.example.com/js/11.17.0/bundle.min.js", "lazy": true, "performance": false, "replay": false, "debug": false}},
		{key + ".js", map[string]any{"dsn": "https://" + key + "@errors.example.com/sentry/42",
			"url": "https://cdn.example.com/js/11.17.0/bundle.min.js", "lazy": true, "performance": false, "replay": false, "debug": false}},
		{tuned + ".min.js", map[string]any{"dsn": "https://" + tuned + "@errors.example.com/sentry/42",
			"url": "https://cdn.example.com/js/8.60.1/bundle.tracing.replay.debug.min.js", "lazy": false, "performance": true, "replay": true, "debug": true}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			res := get("/js-sdk-loader/" + tc.file)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			for h, want := range map[string]string{"Content-Type": "application/javascript; charset=utf-8",
				"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300, stale-while-revalidate=3600"} {
				if got := res.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			cfg := loaderConfig(t, string(res.body))
			for k, want := range tc.want {
				if cfg[k] != want {
					t.Errorf("config %s = %v, want %v", k, cfg[k], want)
				}
			}
			if len(cfg) != len(tc.want) {
				t.Errorf("config %v has fields beyond %v", cfg, tc.want)
			}
			if !strings.Contains(string(res.body), "onunhandledrejection") || !strings.Contains(string(res.body), "forceLoad") {
				t.Error("the script has no error handlers or no forceLoad")
			}
		})
	}
	for _, file := range []string{disabledKey + ".min.js", "ffffffffffffffffffffffffffffffff.min.js"} {
		res := get("/js-sdk-loader/" + file)
		if res.status != http.StatusOK || !strings.HasPrefix(string(res.body), "/*") || strings.Contains(string(res.body), "dsn") ||
			res.header.Get("Content-Type") != "application/javascript; charset=utf-8" {
			t.Errorf("%s: %d %q, want the no-op script", file, res.status, res.body)
		}
	}
	for _, file := range []string{key + ".css", "not a key!.min.js", key} {
		if res := get("/js-sdk-loader/" + file); res.status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", file, res.status)
		}
	}
}
