// Package sourcemaps tests source-map uploads end to end: a bundle built by
// esbuild, `sentry-cli sourcemaps inject` and `sourcemaps upload` against
// faultline serve, then @sentry/node throwing from the bundle; the event's
// frames, read through the REST API, show the original code.
package sourcemaps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

var (
	nodeDir = filepath.Join("..", "node")
	srcDir  = filepath.Join("..", "..", "libs", "sourcemap", "testdata", "src")
)

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

// build bundles testdata's sources with esbuild into dir/dist and injects
// debug ids with sentry-cli.
func build(t *testing.T, bin string) string {
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "src"), os.DirFS(srcDir)); err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, filepath.Join(bin, "esbuild"), "src/app.js", "--bundle", "--minify", "--sourcemap",
		"--outfile=dist/app.min.js", "--format=iife", "--platform=node", "--log-level=warning")
	if out := run(t, dir, nil, filepath.Join(bin, "sentry-cli"), "sourcemaps", "inject", "dist"); !strings.Contains(out, "debug id") {
		t.Fatalf("inject: %s", out)
	}
	return dir
}

type frame struct {
	Function    string `json:"function"`
	Filename    string `json:"filename"`
	Lineno      int    `json:"lineno"`
	ContextLine string `json:"context_line"`
	InApp       bool   `json:"in_app"`
}

func TestSentryCLIUploadAndNodeSymbolication(t *testing.T) {
	bin, err := filepath.Abs(filepath.Join(nodeDir, "node_modules", ".bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bin, "sentry-cli")); err != nil {
		t.Fatalf("@sentry/cli is not installed in e2e/node: run scripts/deps.sh (npm ci): %v", err)
	}
	p := srv.CreateProjectT(t, "js")
	ctx := context.Background()
	email := fmt.Sprintf("maps-%d@example.test", p.ID)
	if out, err := srv.Run(ctx, "user", "create", "--email", email, "--password", "correct horse battery", "--org", "e2e", "--role", "owner"); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	out, err := srv.Run(ctx, "token", "create", "--user", email)
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	token := strings.TrimSpace(lines[len(lines)-1])
	cliEnv := []string{"SENTRY_URL=" + srv.URL, "SENTRY_AUTH_TOKEN=" + token, "SENTRY_ORG=e2e", fmt.Sprintf("SENTRY_PROJECT=%d", p.ID)}

	for _, wait := range []bool{true, false} {
		t.Run(fmt.Sprintf("wait=%v", wait), func(t *testing.T) {
			dir := build(t, bin)
			release := fmt.Sprintf("maps-%d-%v", p.ID, wait)
			args := []string{"sourcemaps", "upload", "--release", release, "dist"}
			if wait {
				args = append(args, "--wait")
			}
			if out := run(t, dir, cliEnv, filepath.Join(bin, "sentry-cli"), args...); !strings.Contains(out, "~/app.min.js.map") {
				t.Fatalf("upload: %s", out)
			}
			if !wait {
				time.Sleep(5 * time.Second) // the role assembles in the background
			}
			var sent struct{ ID string }
			res := run(t, nodeDir, []string{"FAULTLINE_DSN=" + p.DSN, "RELEASE=" + release,
				"BUNDLE=" + filepath.Join(dir, "dist", "app.min.js")}, "node", "sourcemaps.mjs")
			if err := json.Unmarshal([]byte(res[strings.LastIndex(strings.TrimSpace(res), "\n")+1:]), &sent); err != nil || sent.ID == "" {
				t.Fatalf("node printed %q", res)
			}
			frames := eventFrames(t, token, p.ID, sent.ID)
			if len(frames) < 3 {
				t.Fatalf("frames: %+v", frames)
			}
			want := []frame{
				{"main", "src/app.js", 7, "  const value = parser.parse();", true},
				{"Parser.parse", "src/parser.js", 10, `      this.fail("not a number: " + this.text);`, true},
				{"Parser.fail", "src/parser.js", 16, "    const error = new TypeError(message);", true},
			}
			got := frames[len(frames)-3:]
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("frame %d: got %+v, want %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// eventFrames polls the REST API for the event and returns its exception's
// frames.
func eventFrames(t *testing.T, token string, project int64, id string) []frame {
	t.Helper()
	url := fmt.Sprintf("%s/api/0/projects/e2e/%d/events/%s/", srv.URL, project, id)
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Entries []struct {
				Type string `json:"type"`
				Data struct {
					Values []struct {
						Stacktrace struct {
							Frames []frame `json:"frames"`
						} `json:"stacktrace"`
					} `json:"values"`
				} `json:"data"`
			} `json:"entries"`
		}
		err = json.NewDecoder(res.Body).Decode(&ev)
		res.Body.Close()
		last = res.Status
		if res.StatusCode != 200 || err != nil {
			continue
		}
		for _, e := range ev.Entries {
			if e.Type == "exception" && len(e.Data.Values) > 0 {
				return e.Data.Values[len(e.Data.Values)-1].Stacktrace.Frames
			}
		}
		t.Fatalf("event %s has no exception entry", id)
	}
	t.Fatalf("event %s never readable: %s", id, last)
	return nil
}
