package api_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestKeySettingsRoundTrip: a key's Sentry settings (a rate limit over any
// window from a minute to a day, the loader's SDK version and options) are
// stored and read back as written, a second identical write changes
// nothing, bad values are refused naming the field and change nothing, and
// the key answer carries every DSN form Sentry lists.
func TestKeySettingsRoundTrip(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	member := e.session(f.users["member"])
	path := "/api/0/projects/acme/web/keys/" + f.key.PublicKey + "/"

	write := map[string]any{
		"name":                    "Browser",
		"rateLimit":               map[string]any{"window": 90, "count": 3},
		"browserSdkVersion":       "8.x",
		"dynamicSdkLoaderOptions": map[string]any{"hasReplay": true, "hasPerformance": true},
	}
	first := member.do("PUT", path, write)
	if first.status != 200 {
		t.Fatalf("write: %d %s", first.status, first.body)
	}
	got := member.do("GET", path, nil).obj(t)
	for k, want := range write {
		w, _ := json.Marshal(want)
		g, _ := json.Marshal(got[k])
		if k == "dynamicSdkLoaderOptions" {
			w = []byte(`{"hasDebug":false,"hasPerformance":true,"hasReplay":true}`)
		}
		if string(w) != string(g) {
			t.Errorf("%s: wrote %s, read %s", k, w, g)
		}
	}
	if again := member.do("PUT", path, write).obj(t); !reflect.DeepEqual(again, got) {
		t.Errorf("a second identical write changed the key:\nbefore %v\nafter  %v", got, again)
	}
	// Loader options are merged, as Sentry merges them.
	merged := member.do("PUT", path, map[string]any{"dynamicSdkLoaderOptions": map[string]any{"hasDebug": true}}).obj(t)
	if o := merged["dynamicSdkLoaderOptions"].(map[string]any); o["hasDebug"] != true || o["hasReplay"] != true || o["hasPerformance"] != true {
		t.Errorf("merged loader options %v, want all three on", o)
	}
	got = merged

	for _, bad := range []struct {
		body  map[string]any
		names string
	}{
		{map[string]any{"name": "Bad", "rateLimit": map[string]any{"window": 30, "count": 3}}, "rateLimit.window"},
		{map[string]any{"name": "Bad", "rateLimit": map[string]any{"window": 86401, "count": 3}}, "rateLimit.window"},
		{map[string]any{"name": "Bad", "rateLimit": map[string]any{"window": 90}}, "rateLimit.count"},
		{map[string]any{"name": "Bad", "rateLimit": map[string]any{"window": 90, "count": -1}}, "rateLimit.count"},
		{map[string]any{"name": "Bad", "rateLimit": "90/3"}, "rateLimit"},
		{map[string]any{"name": "Bad", "browserSdkVersion": "6.x"}, "browserSdkVersion"},
		{map[string]any{"name": "Bad", "dynamicSdkLoaderOptions": map[string]any{"hasReplay": "yes"}}, "dynamicSdkLoaderOptions.hasReplay"},
		{map[string]any{"name": "Bad", "dynamicSdkLoaderOptions": map[string]any{"hasFeedback": true}}, "hasFeedback"},
		{map[string]any{"name": "Bad", "fingerprint": "x"}, "fingerprint"},
		{map[string]any{"name": "Bad", "useCase": "profiling"}, "useCase"},
	} {
		res := member.do("PUT", path, bad.body)
		if res.status != 400 || !strings.Contains(string(res.body), bad.names) {
			t.Errorf("PUT %v: %d %s, want 400 naming %s", bad.body, res.status, res.body, bad.names)
		}
	}
	if after := member.do("GET", path, nil).obj(t); !reflect.DeepEqual(after, got) {
		t.Errorf("refused writes changed the key:\nbefore %v\nafter  %v", got, after)
	}

	// Every DSN form, as Sentry builds them from the URL prefix.
	var k struct {
		Public    string            `json:"public"`
		Secret    string            `json:"secret"`
		ProjectID int64             `json:"projectId"`
		DSN       map[string]string `json:"dsn"`
	}
	member.do("GET", path, nil).json(t, &k)
	base := strings.TrimRight(e.srv.URL, "/")
	host := strings.TrimPrefix(base, "http://")
	id := strconv.FormatInt(k.ProjectID, 10)
	want := map[string]string{
		"public":      "http://" + k.Public + "@" + host + "/" + id,
		"secret":      "http://" + k.Public + ":" + k.Secret + "@" + host + "/" + id,
		"csp":         base + "/api/" + id + "/csp-report/?sentry_key=" + k.Public,
		"security":    base + "/api/" + id + "/security/?sentry_key=" + k.Public,
		"minidump":    base + "/api/" + id + "/minidump/?sentry_key=" + k.Public,
		"nel":         base + "/api/" + id + "/nel/?sentry_key=" + k.Public,
		"unreal":      base + "/api/" + id + "/unreal/" + k.Public + "/",
		"crons":       base + "/api/" + id + "/cron/___MONITOR_SLUG___/" + k.Public + "/",
		"cdn":         base + "/js-sdk-loader/" + k.Public + ".min.js",
		"playstation": base + "/api/" + id + "/playstation/?sentry_key=" + k.Public,
		"integration": base + "/api/" + id + "/integration/",
		"otlp_traces": base + "/api/" + id + "/integration/otlp/v1/traces",
		"otlp_logs":   base + "/api/" + id + "/integration/otlp/v1/logs",
	}
	if len(k.Secret) != 32 || k.Secret == k.Public {
		t.Errorf("secret %q, want 32 hex digits apart from the public key", k.Secret)
	}
	if !reflect.DeepEqual(k.DSN, want) {
		t.Errorf("dsn forms:\n got %v\nwant %v", k.DSN, want)
	}

	// null removes the limit.
	if rl := member.do("PUT", path, map[string]any{"rateLimit": nil}).obj(t)["rateLimit"]; rl != nil {
		t.Errorf("rateLimit after null: %v", rl)
	}
	// Another organisation's owner does not see the key.
	if res := e.session(f.users["other"]).do("PUT", path, write); res.status != 404 {
		t.Errorf("another organisation's owner: %d, want 404", res.status)
	}
}
