package gateway

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/faultline/faultline/libs/projectkeys"
)

//go:embed loader/loader.js
var loaderScript string

// loaderNoop is served for an unknown or disabled key, as Sentry serves
// its no-op loader: a page that includes it keeps working.
const loaderNoop = "/* Faultline loader: no active DSN key with this public key. */\n"

// loaderVersions resolve a key's browserSdkVersion to the SDK release the
// loader loads: the newest of each major version on the registry when this
// was written. JS_SDK_LOADER_VERSIONS (Options.LoaderVersions) moves them
// on without a new Faultline.
var loaderVersions = map[string]string{
	"latest": "11.17.0",
	"10.x":   "10.78.0",
	"9.x":    "9.47.2",
	"8.x":    "8.55.2",
	"7.x":    "7.120.4",
}

// loaderVersion is the release the loader loads for a key's SDK version:
// the configured one, else the built-in table's; "" for an unknown one.
func (g *Gateway) loaderVersion(v string) string {
	if r := g.opt.LoaderVersions[v]; r != "" {
		return r
	}
	return loaderVersions[v]
}

// loaderConfig is what the script is told about its key.
type loaderConfig struct {
	DSN         string `json:"dsn"`
	URL         string `json:"url"`
	Lazy        bool   `json:"lazy"`
	Performance bool   `json:"performance"`
	Replay      bool   `json:"replay"`
	Debug       bool   `json:"debug"`
}

// serveLoader answers GET /js-sdk-loader/{file}: {public key}.min.js or
// {public key}.js, the key's loader script with its public DSN and SDK
// settings. It needs no authentication: the public key is public, and the
// script holds nothing else of the key's.
func (g *Gateway) serveLoader(w http.ResponseWriter, r *http.Request) {
	file := chi.URLParam(r, "file")
	name, ok := strings.CutSuffix(file, ".min.js")
	if !ok {
		name, ok = strings.CutSuffix(file, ".js")
	}
	h := w.Header()
	if !ok || !projectkeys.ValidPublicKey(name) {
		writeError(w, http.StatusNotFound, "not found: want /js-sdk-loader/<public key>.min.js")
		return
	}
	h.Set("Content-Type", "application/javascript; charset=utf-8")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("X-Content-Type-Options", "nosniff")
	k := g.keys.Lookup(name)
	if k == nil || k.Disabled {
		h.Set("Cache-Control", "public, max-age=60")
		w.Write([]byte(loaderNoop))
		return
	}
	cfg := g.loaderConfig(k)
	b, _ := json.Marshal(cfg) // escapes <, > and & for a script
	h.Set("Cache-Control", "public, max-age=300, stale-while-revalidate=3600")
	w.Write([]byte(strings.Replace(loaderScript, "__CONFIG__", string(b), 1)))
}

func (g *Gateway) loaderConfig(k *projectkeys.Key) loaderConfig {
	l := projectkeys.Loader{}
	if k.Loader != nil {
		l = *k.Loader
	}
	version := g.loaderVersion(l.SDKVersion)
	if version == "" {
		version = g.loaderVersion("latest")
	}
	bundle := "bundle"
	if l.Performance {
		bundle += ".tracing"
	}
	if l.Replay {
		bundle += ".replay"
	}
	if l.Debug {
		bundle += ".debug"
	}
	cdn := g.opt.LoaderCDN
	if cdn == "" {
		cdn = "https://browser.sentry-cdn.com"
	}
	return loaderConfig{
		DSN:         projectkeys.DSN(g.opt.PublicURL, k.PublicKey, k.ProjectID),
		URL:         cdn + "/" + version + "/" + bundle + ".min.js",
		Lazy:        !l.Performance && !l.Replay,
		Performance: l.Performance,
		Replay:      l.Replay,
		Debug:       l.Debug,
	}
}
