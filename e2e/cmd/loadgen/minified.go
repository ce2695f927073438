package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Minified JavaScript in the pipeline scenario (-pipeline-minified): a share
// of the error events are thrown from an esbuild bundle whose source map the
// load generator uploads first, through the REST API's chunk upload and
// artifact-bundle assembly as sentry-cli does, so grouping symbolicates
// every frame of those events before it groups them.

// jsBundleDebugID names the uploaded bundle's files; the events' debug_meta
// refers to it.
const jsBundleDebugID = "5b6e7c1d-0f2a-4c3e-9d8b-1a2b3c4d5e6f"

// jsTestdata is the esbuild build the sourcemap tests use.
var jsTestdata = filepath.Join("libs", "sourcemap", "testdata")

// jsBundle is an artifact bundle of the testdata build, as sentry-cli
// would upload it.
func jsBundle() ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	manifest := `{"org":"bench","release":"bench@1","files":{
		"_/_/app.min.js":{"url":"~/dist/app.min.js","type":"minified_source","headers":{"debug-id":"` + jsBundleDebugID + `","Sourcemap":"app.min.js.map"}},
		"_/_/app.min.js.map":{"url":"~/dist/app.min.js.map","type":"source_map","headers":{"debug-id":"` + jsBundleDebugID + `"}}}}`
	files := []struct{ name, src string }{{"manifest.json", ""}, {"_/_/app.min.js", "app.min.js"}, {"_/_/app.min.js.map", "app.min.js.map"}}
	for _, f := range files {
		data := []byte(manifest)
		if f.src != "" {
			var err error
			if data, err = os.ReadFile(filepath.Join(jsTestdata, f.src)); err != nil {
				return nil, fmt.Errorf("%w (run the load generator from the repository's root)", err)
			}
		}
		w, err := zw.Create(f.name)
		if err != nil {
			return nil, err
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// uploadJSBundle uploads the bundle to the bench project and waits until
// the sourcemaps role assembled it.
func uploadJSBundle(ctx context.Context, p *pipelineServer, client *http.Client) error {
	zipped, err := jsBundle()
	if err != nil {
		return err
	}
	sum := sha1.Sum(zipped)
	checksum := hex.EncodeToString(sum[:])
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("file", checksum)
	w.Write(zipped)
	mw.Close()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/api/0/organizations/bench/chunk-upload/", &body)
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("chunk upload: %d %.200s", res.StatusCode, b)
	}
	assemble := fmt.Sprintf(`{"checksum":%q,"chunks":[%q],"projects":["bench"],"version":"bench@1"}`, checksum, checksum)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		code, b, err := p.apiDo(ctx, client, http.MethodPost, "/api/0/organizations/bench/artifactbundle/assemble/", assemble)
		if err != nil {
			return err
		}
		var st struct{ State, Detail string }
		json.Unmarshal(b, &st)
		switch {
		case code != http.StatusOK:
			return fmt.Errorf("assemble: %d %.200s", code, b)
		case st.State == "ok":
			return nil
		case st.State == "error":
			return fmt.Errorf("assemble: %s", st.Detail)
		}
	}
	return fmt.Errorf("the bundle was not assembled within 30s")
}

// minifiedBodies are n error events thrown in the bundle's code as
// @sentry/browser reports them, over a few issues (the exception type and
// message differ; the frames are the bundle's, mapped back by debug id).
func minifiedBodies(n int, seed uint64) []body {
	rng := rand.New(rand.NewPCG(seed, seed^0x51ed2701))
	const file = "https://bench.invalid/dist/app.min.js"
	out := make([]body, n)
	for i := range out {
		typ := pick(rng, []string{"Error", "TypeError", "RangeError", "SyntaxError"})
		ev := map[string]any{
			"platform": "javascript", "level": "error", "release": "bench@1", "environment": "production",
			"sdk":  map[string]any{"name": "sentry.javascript.browser", "version": "11.12.0"},
			"user": map[string]any{"id": fmt.Sprintf("u%d", rng.IntN(500))},
			"request": map[string]any{"url": "https://bench.invalid/", "headers": map[string]any{
				"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"}},
			"exception": map[string]any{"values": []any{map[string]any{
				"type": typ, "value": fmt.Sprintf("boom: not a number: %s", pick(rng, words)),
				"stacktrace": map[string]any{"frames": []any{
					map[string]any{"function": "s", "abs_path": file, "filename": file, "lineno": 1, "colno": 403, "in_app": true},
					map[string]any{"function": "i", "abs_path": file, "filename": file, "lineno": 1, "colno": 335, "in_app": true},
				}},
			}}},
			"debug_meta": map[string]any{"images": []any{map[string]any{"type": "sourcemap", "code_file": file, "debug_id": jsBundleDebugID}}},
		}
		out[i] = errorBody(mustJSON(ev))
	}
	return out
}

// checkSymbolicated reads event id back through the REST API and says
// whether its frames name the original source.
func checkSymbolicated(ctx context.Context, p *pipelineServer, client *http.Client, id string) string {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		status, _, b, err := p.apiGet(ctx, client, "/api/0/projects/bench/bench/events/"+id+"/")
		if err != nil || status != http.StatusOK {
			continue
		}
		if strings.Contains(string(b), "src/app.js") {
			return "yes (a sample's frames name src/app.js)"
		}
		return "NO: a sample's frames do not name src/app.js"
	}
	return "NO: the sample was not found"
}
