// Package native tests native crash uploads end to end: a minidump posted
// to faultline serve's minidump endpoint, and an Unreal Engine crash report
// to its unreal endpoint, each become an issue with a native fatal event,
// read through the REST API.
package native

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/e2e/harness"
	"github.com/faultline/faultline/libs/minidump/minidumptest"
	"github.com/faultline/faultline/libs/unreal/unrealtest"
)

var srv *harness.Server

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &srv)) }

func get(t *testing.T, tok, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
	return res.StatusCode
}

// post sends body and returns the event id faultline answered.
func post(t *testing.T, url, contentType string, body []byte) string {
	t.Helper()
	res, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var ok struct{ ID string }
	if res.StatusCode != http.StatusOK || json.Unmarshal(b, &ok) != nil || len(ok.ID) != 32 {
		t.Fatalf("POST %s: %d %s", url, res.StatusCode, b)
	}
	return ok.ID
}

type storedEvent struct {
	GroupID  string `json:"groupID"`
	Platform string `json:"platform"`
	Title    string `json:"title"`
	Release  *struct {
		Version string `json:"version"`
	} `json:"release"`
	Tags []struct{ Key, Value string } `json:"tags"`
}

// event polls the REST API until the event is stored.
func event(t *testing.T, tok string, project int64, id string) storedEvent {
	t.Helper()
	path := fmt.Sprintf("/api/0/projects/e2e/%d/events/%s/", project, id)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var ev storedEvent
		if get(t, tok, path, &ev) == http.StatusOK && ev.GroupID != "" {
			return ev
		}
	}
	t.Fatalf("event %s not stored after 60s", id)
	return storedEvent{}
}

func (e storedEvent) tag(key string) string {
	for _, tg := range e.Tags {
		if tg.Key == key {
			return tg.Value
		}
	}
	return ""
}

// TestMinidumpBecomesIssue: a Crashpad-style upload is an issue titled by
// the dump's exception, on a native event with the upload's release and
// tags.
func TestMinidumpBecomesIssue(t *testing.T) {
	p := srv.CreateProjectT(t, "minidump")
	tok := srv.OwnerToken(t, p, "native")
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("sentry[release]", "crashy@2.0.0")
	mw.WriteField("sentry[tags][shard]", "eu-1")
	w, _ := mw.CreateFormFile("upload_file_minidump", "crash.dmp")
	w.Write(minidumptest.Windows().Write())
	mw.Close()
	id := post(t, fmt.Sprintf("%s/api/%d/minidump/?sentry_key=%s", srv.URL, p.ID, p.PublicKey), mw.FormDataContentType(), b.Bytes())

	ev := event(t, tok, p.ID, id)
	if ev.Platform != "native" || ev.tag("shard") != "eu-1" || ev.Release == nil || ev.Release.Version != "crashy@2.0.0" {
		t.Errorf("event: platform %q, shard %q, release %+v; want native, eu-1, crashy@2.0.0", ev.Platform, ev.tag("shard"), ev.Release)
	}
	var is struct {
		Title string `json:"title"`
		Level string `json:"level"`
	}
	if code := get(t, tok, "/api/0/organizations/e2e/issues/"+ev.GroupID+"/", &is); code != http.StatusOK {
		t.Fatalf("issue %s: %d", ev.GroupID, code)
	}
	if !strings.Contains(is.Title, "EXCEPTION_ACCESS_VIOLATION") || is.Level != "fatal" {
		t.Errorf("issue %q at level %q, want an EXCEPTION_ACCESS_VIOLATION at fatal", is.Title, is.Level)
	}
}

// TestUnrealCrashBecomesIssue: a Crash Report Client upload is an issue,
// its event carrying the crash context's user and engine version.
func TestUnrealCrashBecomesIssue(t *testing.T) {
	p := srv.CreateProjectT(t, "unreal")
	tok := srv.OwnerToken(t, p, "native")
	body := unrealtest.Report("UE4CC-Windows-E2E",
		unrealtest.File{Name: "CrashContext.runtime-xml", Data: unrealtest.Context("Assertion failed: Health > 0", "UE4CC-Windows-E2E",
			"jane", "4f3e2d1c9b8a", "5.3.2-29314046+++UE5+Release-5.3")},
		unrealtest.File{Name: "UE4Minidump.dmp", Data: minidumptest.Windows().Write()},
		unrealtest.File{Name: "Crashy.log", Data: []byte("LogWindows: Error: Assertion failed\n")})
	id := post(t, fmt.Sprintf("%s/api/%d/unreal/%s/", srv.URL, p.ID, p.PublicKey), "application/octet-stream", body)
	ev := event(t, tok, p.ID, id)
	if ev.Platform != "native" || ev.tag("engine_version") != "5.3.2-29314046+++UE5+Release-5.3" {
		t.Errorf("event: platform %q, engine_version %q", ev.Platform, ev.tag("engine_version"))
	}
}
