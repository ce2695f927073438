// Package sourcemaps tests source-map uploads end to end: a bundle built by
// esbuild, `sentry-cli sourcemaps inject` and `sourcemaps upload` (sentry-cli
// 2.x and 3.x) against faultline serve, then @sentry/node, and
// @sentry/browser in headless chromium, throwing from the bundle; the events'
// frames, read through the REST API, show the original code, and the same
// error from both runtimes is one issue.
package sourcemaps

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/e2e/harness"
)

var srv *harness.Server

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &srv)) }

var srcDir = filepath.Join("..", "..", "libs", "sourcemap", "testdata", "src")

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// build bundles testdata's sources with esbuild for platform ("node" or
// "browser") into dir/dist and injects debug ids with cli.
func build(t *testing.T, cli harness.SentryCLI, platform string) string {
	t.Helper()
	dir := buildPlain(t, platform)
	if out := run(t, dir, nil, cli.Path, "sourcemaps", "inject", "dist"); !strings.Contains(strings.ToLower(out), "debug id") {
		t.Fatalf("sentry-cli %s inject: %s", cli.Name, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "dist", "app.min.js")); err != nil || !bytes.Contains(b, []byte("//# debugId=")) {
		t.Fatalf("sentry-cli %s inject left dist/app.min.js without a debugId comment (%v)", cli.Name, err)
	}
	return dir
}

// buildPlain bundles testdata's sources with esbuild for platform into
// dir/dist, without debug ids: their maps are found by release and URL.
func buildPlain(t *testing.T, platform string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "src"), os.DirFS(srcDir)); err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, harness.NodeBin(t, "esbuild"), "src/app.js", "--bundle", "--minify", "--sourcemap",
		"--outfile=dist/app.min.js", "--format=iife", "--platform="+platform, "--log-level=warning")
	return dir
}

// owner makes a user who owns organisation e2e and returns an API token of
// theirs, with the environment sentry-cli needs to act for them on p.
func owner(t *testing.T, p harness.Project, name string) (token string, cliEnv []string) {
	t.Helper()
	token = srv.OwnerToken(t, p, name)
	return token, []string{"SENTRY_URL=" + srv.URL, "SENTRY_AUTH_TOKEN=" + token, "SENTRY_ORG=e2e",
		fmt.Sprintf("SENTRY_PROJECT=%d", p.ID), "SENTRY_LOG_LEVEL=warn"}
}

// sendFromNode runs the node bundle in dir with @sentry/node under release
// and returns the event id it printed.
func sendFromNode(t *testing.T, p harness.Project, release, dir string) string {
	t.Helper()
	var sent struct{ ID string }
	res := run(t, harness.NodeDir(), []string{"FAULTLINE_DSN=" + p.DSN, "RELEASE=" + release,
		"BUNDLE=" + filepath.Join(dir, "dist", "app.min.js")}, "node", "sourcemaps.mjs")
	if err := json.Unmarshal([]byte(res[strings.LastIndex(strings.TrimSpace(res), "\n")+1:]), &sent); err != nil || sent.ID == "" {
		t.Fatalf("node printed %q", res)
	}
	return sent.ID
}

// upload runs sentry-cli sourcemaps upload of dir/dist under release, and
// gives the role time to assemble the bundle when it does not wait.
func upload(t *testing.T, cli harness.SentryCLI, cliEnv []string, dir, release string, wait bool) {
	t.Helper()
	args := []string{"sourcemaps", "upload", "--release", release, "dist"}
	if wait {
		args = append(args, "--wait")
	}
	if out := run(t, dir, cliEnv, cli.Path, args...); !strings.Contains(out, "~/app.min.js.map") {
		t.Fatalf("sentry-cli %s upload: %s", cli.Name, out)
	}
	if !wait {
		time.Sleep(5 * time.Second) // the role assembles in the background
	}
}

type frame struct {
	Function    string `json:"function"`
	Filename    string `json:"filename"`
	Lineno      int    `json:"lineno"`
	ContextLine string `json:"context_line"`
	InApp       bool   `json:"in_app"`
}

type rawFrame struct {
	Function string `json:"function"`
	AbsPath  string `json:"abs_path"`
	Filename string `json:"filename"`
	Lineno   int    `json:"lineno"`
	Colno    int    `json:"colno"`
}

// original is how the error thrown by parseApp("y") reads in the sources:
// its three innermost frames, oldest first.
var original = []frame{
	{"main", "src/app.js", 7, "  const value = parser.parse();", true},
	{"Parser.parse", "src/parser.js", 10, `      this.fail("not a number: " + this.text);`, true},
	{"Parser.fail", "src/parser.js", 16, "    const error = new TypeError(message);", true},
}

// checkOriginal fails t unless frames end with the original ones.
func checkOriginal(t *testing.T, frames []frame) {
	t.Helper()
	if len(frames) < len(original) {
		t.Fatalf("frames: %+v", frames)
	}
	got := frames[len(frames)-len(original):]
	for i := range original {
		if got[i] != original[i] {
			t.Errorf("frame %d: got %+v, want %+v", i, got[i], original[i])
		}
	}
}

func TestSentryCLIUploadAndNodeSymbolication(t *testing.T) {
	p := srv.CreateProjectT(t, "js")
	token, cliEnv := owner(t, p, "maps")
	for _, cli := range harness.SentryCLIs(t) {
		t.Run(cli.Name, func(t *testing.T) {
			if out := run(t, t.TempDir(), nil, cli.Path, "--version"); strings.TrimSpace(out) != cli.Version {
				t.Fatalf("%s --version: %q, want %q", cli.Path, strings.TrimSpace(out), cli.Version)
			}
			for _, wait := range []bool{true, false} {
				t.Run(fmt.Sprintf("wait=%v", wait), func(t *testing.T) {
					release := fmt.Sprintf("maps-%d-%s-%v", p.ID, cli.Name, wait)
					run(t, t.TempDir(), cliEnv, cli.Path, "releases", "new", release)
					dir := build(t, cli, "node")
					upload(t, cli, cliEnv, dir, release, wait)
					ev := storedEvent(t, token, p.ID, sendFromNode(t, p, release, dir))
					checkOriginal(t, ev.Frames)

					run(t, t.TempDir(), cliEnv, cli.Path, "releases", "finalize", release)
					run(t, t.TempDir(), cliEnv, cli.Path, "deploys", "new", "-r", release, "-e", "staging")
					var rel struct {
						Version      string
						DateReleased *time.Time
						DeployCount  int
						Projects     []struct{ ID json.Number }
					}
					if code := api(t, token, "/api/0/organizations/e2e/releases/"+release+"/", &rel); code != 200 ||
						rel.Version != release || rel.DateReleased == nil || rel.DeployCount != 1 ||
						len(rel.Projects) != 1 || rel.Projects[0].ID.String() != fmt.Sprint(p.ID) {
						t.Errorf("release %s as stored: %d %+v, want it finalized, with one deploy, of project %d", release, code, rel, p.ID)
					}
					var deploys []struct{ Environment string }
					if code := api(t, token, "/api/0/organizations/e2e/releases/"+release+"/deploys/", &deploys); code != 200 ||
						len(deploys) != 1 || deploys[0].Environment != "staging" {
						t.Errorf("deploys of %s: %d %+v, want one to staging", release, code, deploys)
					}
				})
			}
		})
	}
}

// event is what the tests read of a stored event.
type event struct {
	GroupID   string
	Platform  string
	Frames    []frame    // of the last exception, as symbolicated
	RawFrames []rawFrame // the same, as the SDK sent them
}

// api GETs path with token and decodes a 200's body into v.
func api(t *testing.T, token, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == 200 && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
	return res.StatusCode
}

// storedEvent polls the REST API for the event and returns its group and
// its exception's frames.
func storedEvent(t *testing.T, token string, project int64, id string) event {
	t.Helper()
	path := fmt.Sprintf("/api/0/projects/e2e/%d/events/%s/", project, id)
	last := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var ev struct {
			GroupID  string `json:"groupID"`
			Platform string `json:"platform"`
			Entries  []struct {
				Type string `json:"type"`
				Data struct {
					Values []struct {
						Stacktrace struct {
							Frames []frame `json:"frames"`
						} `json:"stacktrace"`
						RawStacktrace *struct {
							Frames []rawFrame `json:"frames"`
						} `json:"raw_stacktrace"`
					} `json:"values"`
				} `json:"data"`
			} `json:"entries"`
		}
		if last = api(t, token, path, &ev); last != 200 {
			continue
		}
		for _, e := range ev.Entries {
			if e.Type == "exception" && len(e.Data.Values) > 0 {
				ex := e.Data.Values[len(e.Data.Values)-1]
				out := event{GroupID: ev.GroupID, Platform: ev.Platform, Frames: ex.Stacktrace.Frames}
				if ex.RawStacktrace != nil {
					out.RawFrames = ex.RawStacktrace.Frames
				}
				return out
			}
		}
		t.Fatalf("event %s has no exception entry", id)
	}
	t.Fatalf("event %s never readable: last answer %d", id, last)
	return event{}
}

// TestReleaseFilesAndNodeSymbolication runs sentry-cli 2.x's older
// per-release uploads of a build without debug ids: `releases files VERSION
// upload-sourcemaps` (chunked, under the release) and `releases files
// VERSION upload FILE NAME` (one file per request to
// releases/{version}/files/). Either way the release lists the files and
// @sentry/node's event, found by release and file name, shows the original
// code.
func TestReleaseFilesAndNodeSymbolication(t *testing.T) {
	p := srv.CreateProjectT(t, "files")
	token, cliEnv := owner(t, p, "files")
	cli := harness.SentryCLIs(t)[1]
	if cli.Name != "2.x" {
		t.Fatalf("sentry-cli %s, want 2.x", cli.Name)
	}
	for _, c := range []struct {
		name   string
		upload func(dir, release string)
	}{
		{"upload-sourcemaps", func(dir, release string) {
			out := run(t, dir, cliEnv, cli.Path, "releases", "files", release, "upload-sourcemaps", "dist", "--url-prefix", "~/dist", "--wait")
			if !strings.Contains(out, "~/dist/app.min.js.map") {
				t.Fatalf("upload-sourcemaps: %s", out)
			}
		}},
		{"upload", func(dir, release string) {
			for _, name := range []string{"app.min.js", "app.min.js.map"} {
				out := run(t, dir, cliEnv, cli.Path, "releases", "files", release, "upload", filepath.Join("dist", name), "~/dist/"+name)
				if !strings.Contains(out, sha1File(t, filepath.Join(dir, "dist", name))) {
					t.Fatalf("releases files upload %s: %s", name, out)
				}
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			release := fmt.Sprintf("files-%d-%s", p.ID, c.name)
			run(t, t.TempDir(), cliEnv, cli.Path, "releases", "new", release)
			dir := buildPlain(t, "node")
			c.upload(dir, release)
			var files []struct{ Name string }
			path := fmt.Sprintf("/api/0/projects/e2e/%d/releases/%s/files/", p.ID, release)
			for deadline := time.Now().Add(30 * time.Second); len(files) < 2 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if code := api(t, token, path, &files); code != 200 {
					t.Fatalf("GET %s: %d", path, code)
				}
			}
			names := map[string]bool{}
			for _, f := range files {
				names[f.Name] = true
			}
			if len(files) != 2 || !names["~/dist/app.min.js"] || !names["~/dist/app.min.js.map"] {
				t.Fatalf("release files: %+v, want ~/dist/app.min.js and its map", files)
			}
			if out := run(t, dir, cliEnv, cli.Path, "releases", "files", release, "list"); !strings.Contains(out, "~/dist/app.min.js.map") {
				t.Errorf("releases files list: %s", out)
			}
			ev := storedEvent(t, token, p.ID, sendFromNode(t, p, release, dir))
			checkOriginal(t, ev.Frames)
		})
	}
}

func sha1File(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// TestReleaseFilesDelete: sentry-cli 2.x's `releases files VERSION delete
// NAME` deletes one release file (DELETE on the project's route with the id
// the listing gave), `… delete --all` the rest (DELETE files/source-maps/),
// and `releases delete VERSION` takes the release's files with it: a
// release of the same version made again has none.
func TestReleaseFilesDelete(t *testing.T) {
	p := srv.CreateProjectT(t, "delete")
	token, cliEnv := owner(t, p, "delete")
	cli := harness.SentryCLIs(t)[1]
	if cli.Name != "2.x" {
		t.Fatalf("sentry-cli %s, want 2.x", cli.Name)
	}
	release := fmt.Sprintf("delete-%d", p.ID)
	run(t, t.TempDir(), cliEnv, cli.Path, "releases", "new", release)
	dir := buildPlain(t, "node")
	for _, name := range []string{"app.min.js", "app.min.js.map"} {
		run(t, dir, cliEnv, cli.Path, "releases", "files", release, "upload", filepath.Join("dist", name), "~/dist/"+name)
	}
	path := fmt.Sprintf("/api/0/projects/e2e/%d/releases/%s/files/", p.ID, release)
	listed := func() map[string]bool {
		var files []struct{ Name string }
		if code := api(t, token, path, &files); code != 200 {
			t.Fatalf("GET %s: %d", path, code)
		}
		names := map[string]bool{}
		for _, f := range files {
			names[f.Name] = true
		}
		return names
	}
	for deadline := time.Now().Add(30 * time.Second); len(listed()) < 2 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
	}
	if names := listed(); len(names) != 2 {
		t.Fatalf("release files: %v, want the two uploaded", names)
	}

	out := run(t, dir, cliEnv, cli.Path, "releases", "files", release, "delete", "~/dist/app.min.js.map")
	if !strings.Contains(out, "~/dist/app.min.js.map") {
		t.Errorf("releases files delete does not name the file it deleted: %s", out)
	}
	if names := listed(); len(names) != 1 || !names["~/dist/app.min.js"] {
		t.Fatalf("after releases files delete: %v, want ~/dist/app.min.js alone", names)
	}
	run(t, dir, cliEnv, cli.Path, "releases", "files", release, "delete", "--all")
	if names := listed(); len(names) != 0 {
		t.Fatalf("after releases files delete --all: %v, want nothing", names)
	}
	run(t, dir, cliEnv, cli.Path, "releases", "files", release, "upload", filepath.Join("dist", "app.min.js"), "~/dist/app.min.js")
	for deadline := time.Now().Add(30 * time.Second); len(listed()) < 1 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
	}
	if names := listed(); len(names) != 1 {
		t.Fatalf("uploaded again: %v", names)
	}

	// An artifact bundle deleted and at once uploaded again, the same bytes
	// within the stream's duplicate window, is assembled and listed again.
	run(t, dir, cliEnv, cli.Path, "releases", "files", release, "delete", "--all")
	upload(t, cli, cliEnv, dir, release, true)
	if names := listed(); !names["~/app.min.js.map"] {
		t.Fatalf("bundle uploaded: %v", names)
	}
	run(t, dir, cliEnv, cli.Path, "releases", "files", release, "delete", "--all")
	if names := listed(); len(names) != 0 {
		t.Fatalf("bundle deleted: %v, want nothing", names)
	}
	upload(t, cli, cliEnv, dir, release, true)
	if names := listed(); !names["~/app.min.js.map"] || !names["~/app.min.js"] {
		t.Fatalf("bundle uploaded again at once after its delete: %v", names)
	}

	run(t, dir, cliEnv, cli.Path, "releases", "delete", release)
	if code := api(t, token, path, nil); code != 404 {
		t.Fatalf("the deleted release's files answer %d, want 404", code)
	}
	run(t, dir, cliEnv, cli.Path, "releases", "new", release)
	for deadline := time.Now().Add(10 * time.Second); len(listed()) > 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
	}
	if names := listed(); len(names) != 0 {
		t.Errorf("a release made again after the delete lists %v, want nothing", names)
	}
}
