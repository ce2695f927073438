package scrubbing

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/e2e/harness"
)

const (
	orderSecret = "order-s3cr3t-4711" // in the project's own sensitive field
	password    = "hunter2-is-my-password"
)

// TestProjectScrubbingSettingsReachGateway: with the defaults off and
// order_secret a sensitive field of the project, an event's order_secret is
// stored as [Filtered] and its password (a default field) as sent; with
// scrubbing off, order_secret is stored as sent. Under Sentry's defaults,
// which apply when the settings do not arrive, both would be the other way
// round. The events are read back from Postgres through the REST API.
func TestProjectScrubbingSettingsReachGateway(t *testing.T) {
	s := harness.StartT(t, harness.Options{})
	p := s.CreateProjectT(t, "scrub")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	email := fmt.Sprintf("scrub-%d@example.test", p.ID)
	if out, err := s.Run(ctx, "user", "create", "--email", email, "--password", "correct horse battery", "--org", "e2e", "--role", "owner"); err != nil {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	out, err := s.Run(ctx, "token", "create", "--user", email, "--scopes", "read,write,admin")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	api := &apiClient{base: s.URL, token: strings.TrimSpace(lines[len(lines)-1])}
	projectPath := fmt.Sprintf("/api/0/projects/e2e/%d/", p.ID)

	var got map[string]any
	if status := api.do(t, "PUT", projectPath, map[string]any{"dataScrubberDefaults": false, "sensitiveFields": []string{"order_secret"}}, &got); status != 200 {
		t.Fatalf("PUT settings: %d %v", status, got)
	}
	if f, _ := got["sensitiveFields"].([]any); len(f) != 1 || f[0] != "order_secret" {
		t.Fatalf("PUT answered sensitiveFields %v", got["sensitiveFields"])
	}
	// The settings reach the gateway through the key bucket, shortly.
	extra := waitFor(t, api, s, p, "order_secret filtered, password kept", func(extra map[string]any) bool {
		return extra["order_secret"] == "[Filtered]" && extra["password"] == password
	})
	t.Logf("stored with order_secret a sensitive field: %v", extra)

	if status := api.do(t, "PUT", projectPath, map[string]any{"dataScrubber": false}, &got); status != 200 || got["dataScrubber"] != false {
		t.Fatalf("PUT dataScrubber false: %d %v", status, got)
	}
	extra = waitFor(t, api, s, p, "order_secret kept", func(extra map[string]any) bool {
		return extra["order_secret"] == orderSecret && extra["password"] == password
	})
	t.Logf("stored with scrubbing off: %v", extra)
}

// waitFor sends events carrying order_secret and password until one is
// stored as cond wants (at most 30 s), and returns its extra data.
func waitFor(t *testing.T, api *apiClient, s *harness.Server, p harness.Project, what string, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	var extra map[string]any
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		id := sendEvent(t, s, p)
		extra = storedExtra(t, api, p, id)
		if cond(extra) {
			return extra
		}
	}
	t.Fatalf("no event stored with %s within 30 s; the last: %v", what, extra)
	return nil
}

func sendEvent(t *testing.T, s *harness.Server, p harness.Project) string {
	t.Helper()
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	event, _ := json.Marshal(map[string]any{"event_id": id, "platform": "go", "level": "error",
		"message": "checkout failed", "extra": map[string]any{"order_secret": orderSecret, "password": password}})
	body := fmt.Sprintf("{\"event_id\":%q}\n{\"type\":\"event\",\"length\":%d}\n%s\n", id, len(event), event)
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/%d/envelope/", s.URL, p.ID), strings.NewReader(body))
	req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_client=scrub-e2e/1.0, sentry_key="+p.PublicKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("send event: %s", res.Status)
	}
	return id
}

// storedExtra polls the REST API for the stored event and returns its extra
// data (Sentry's "context").
func storedExtra(t *testing.T, api *apiClient, p harness.Project, id string) map[string]any {
	t.Helper()
	path := fmt.Sprintf("/api/0/projects/e2e/%d/events/%s/", p.ID, id)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var ev map[string]any
		if status := api.do(t, "GET", path, nil, &ev); status == 200 {
			extra, _ := ev["context"].(map[string]any)
			return extra
		}
	}
	t.Fatalf("event %s not stored within 30 s", id)
	return nil
}

type apiClient struct{ base, token string }

func (c *apiClient) do(t *testing.T, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		json.Unmarshal(b, out)
	}
	return res.StatusCode
}
