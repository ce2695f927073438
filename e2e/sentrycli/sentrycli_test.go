// Package sentrycli runs the real sentry-cli's API commands against
// faultline serve (info, send-event, issues, events, repos, releases,
// deploys) and checks their exit codes and what the server stored, read
// back through the REST API.
package sentrycli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/e2e/harness"
)

var srv *harness.Server

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &srv)) }

// cli runs sentry-cli 3.x with env and returns its output and exit code.
func cli(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	bin := harness.SentryCLIs(t)[0].Path // 3.x; e2e/sourcemaps runs 2.x too
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("sentry-cli %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), code
}

// ok runs sentry-cli and fails the test unless it exits 0.
func ok(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, code := cli(t, env, args...)
	if code != 0 {
		t.Fatalf("sentry-cli %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// api calls the REST API with token and decodes the answer into v.
func api(t *testing.T, token, method, path, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if v != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return res.StatusCode
}

// ownerToken creates an owner of the e2e organisation with email and
// returns the email and a token of theirs with the given scopes.
func ownerToken(t *testing.T, email, scopes string) (string, string) {
	t.Helper()
	ctx := context.Background()
	if out, err := srv.Run(ctx, "user", "create", "--email", email, "--password", "correct horse battery", "--org", "e2e", "--role", "owner"); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	out, err := srv.Run(ctx, "token", "create", "--user", email, "--scopes", scopes)
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return email, strings.TrimSpace(lines[len(lines)-1])
}

func TestSentryCLICommands(t *testing.T) {
	p := srv.CreateProjectT(t, "cli")
	email, token := ownerToken(t, fmt.Sprintf("cli-%d@example.test", p.ID), "read,write")
	env := []string{"SENTRY_URL=" + srv.URL, "SENTRY_AUTH_TOKEN=" + token, "SENTRY_ORG=e2e",
		fmt.Sprintf("SENTRY_PROJECT=%d", p.ID), "SENTRY_DSN=" + p.DSN, "SENTRY_LOG_LEVEL=warn"}
	issues := fmt.Sprintf("/api/0/projects/e2e/%d/issues/", p.ID)

	t.Run("info", func(t *testing.T) {
		out := ok(t, env, "info")
		if !strings.Contains(out, email) || !strings.Contains(out, "project:write") || strings.Contains(out, "org:admin") {
			t.Errorf("info does not name the token's user and its scopes (read and write, not admin):\n%s", out)
		}
		if out, code := cli(t, append(env, "SENTRY_AUTH_TOKEN=flt_not-a-token"), "info"); code == 0 {
			t.Errorf("info with a wrong token exits 0:\n%s", out)
		}
	})

	message := fmt.Sprintf("sentry-cli says hello %d", p.ID)
	ok(t, env, "send-event", "-m", message)
	var issueID, eventID string
	for deadline := time.Now().Add(30 * time.Second); issueID == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var list []struct{ ID, Title string }
		api(t, token, "GET", issues+"?query=", "", &list)
		for _, is := range list {
			if is.Title == message {
				issueID = is.ID
			}
		}
	}
	if issueID == "" {
		t.Fatal("the event sent with sentry-cli send-event never became an issue")
	}
	var evs []struct {
		EventID string `json:"eventID"`
	}
	api(t, token, "GET", fmt.Sprintf("/api/0/organizations/e2e/issues/%s/events/", issueID), "", &evs)
	if len(evs) != 1 {
		t.Fatalf("issue %s has %d events", issueID, len(evs))
	}
	eventID = evs[0].EventID

	t.Run("issues and events", func(t *testing.T) {
		if out := ok(t, env, "issues", "list"); !strings.Contains(out, message) {
			t.Errorf("issues list does not show the issue:\n%s", out)
		}
		dashed := eventID[:8] + "-" + eventID[8:12] + "-" + eventID[12:16] + "-" + eventID[16:20] + "-" + eventID[20:]
		if out := ok(t, env, "events", "list"); !strings.Contains(out, dashed) {
			t.Errorf("events list does not show event %s:\n%s", dashed, out)
		}
		status := func() string {
			var is struct{ Status string }
			api(t, token, "GET", "/api/0/organizations/e2e/issues/"+issueID+"/", "", &is)
			return is.Status
		}
		for _, step := range []struct{ cmd, want string }{
			{"resolve", "resolved"}, {"unresolve", "unresolved"}, {"mute", "ignored"}, {"unresolve", "unresolved"},
		} {
			ok(t, env, "issues", step.cmd, "-i", issueID)
			if got := status(); got != step.want {
				t.Errorf("after issues %s: status %q, want %q", step.cmd, got, step.want)
			}
		}
	})

	t.Run("repos, releases and deploys", func(t *testing.T) {
		repo := fmt.Sprintf("acme/cli-%d", p.ID)
		if out := ok(t, env, "repos", "list"); strings.Contains(out, repo) {
			t.Fatalf("repos list shows %s before it was added:\n%s", repo, out)
		}
		if code := api(t, token, "POST", "/api/0/organizations/e2e/repos/",
			fmt.Sprintf(`{"name":%q,"url":"https://git.example.test/%s"}`, repo, repo), nil); code != 201 {
			t.Fatalf("add repository: %d", code)
		}
		if out := ok(t, env, "repos", "list"); !strings.Contains(out, repo) {
			t.Errorf("repos list does not show %s:\n%s", repo, out)
		}
		version := fmt.Sprintf("cli@%d.0", p.ID)
		ok(t, env, "releases", "new", version)
		ok(t, env, "releases", "set-commits", version, "--commit", repo+"@0123456789abcdef0123456789abcdef01234567")
		ok(t, env, "releases", "finalize", version)
		ok(t, env, "deploys", "new", "-r", version, "-e", "production")
		if out := ok(t, env, "deploys", "list", "-r", version); !strings.Contains(out, "production") {
			t.Errorf("deploys list:\n%s", out)
		}
		if out := ok(t, env, "releases", "list"); !strings.Contains(out, version) {
			t.Errorf("releases list does not show %s:\n%s", version, out)
		}
		var rel struct {
			DateReleased *time.Time
			DeployCount  int
		}
		if code := api(t, token, "GET", "/api/0/organizations/e2e/releases/"+version+"/", "", &rel); code != 200 ||
			rel.DateReleased == nil || rel.DeployCount != 1 {
			t.Errorf("release %s as stored: %d %+v, want finalized with one deploy", version, code, rel)
		}
	})
}
