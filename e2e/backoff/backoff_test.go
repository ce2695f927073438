package backoff

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/faultline/faultline/e2e/harness"
)

const (
	quota = 3  // MAX_EVENTS_PER_PROJECT_PER_MINUTE
	sent  = 10 // errors the application captures
)

// startLimited starts a server whose per-project quota is 3 events a minute,
// and waits, if need be, so the test does not straddle the end of a quota
// window: a new window would admit more and blur what the SDK did.
func startLimited(t *testing.T) (*harness.Server, harness.Project) {
	s := harness.StartT(t, harness.Options{Env: map[string]string{
		"MAX_EVENTS_PER_PROJECT_PER_MINUTE": fmt.Sprint(quota),
	}})
	p := s.CreateProjectT(t, "backoff")
	if now := time.Now(); now.Second() >= 40 {
		wait := now.Truncate(time.Minute).Add(time.Minute + 200*time.Millisecond).Sub(now)
		t.Logf("waiting %v for a fresh quota window", wait.Round(time.Millisecond))
		time.Sleep(wait)
	}
	return s, p
}

// check asserts the server admitted exactly the quota and refused the SDK
// only a little: after its first 429 the SDK itself drops what it captures.
// An SDK that did not understand the answer (or a server that sent no
// X-Sentry-Rate-Limits or Retry-After) would be refused sent-quota times.
func check(t *testing.T, s *harness.Server, p harness.Project) (refused int) {
	t.Helper()
	ms := messages(t, s, p)
	errorsStored := 0
	for _, m := range ms {
		if m.Kind == "error" {
			errorsStored++
		}
	}
	if errorsStored != quota {
		t.Errorf("INGEST holds %d error envelopes, want the quota, %d", errorsStored, quota)
	}
	n, err := s.Metric("faultline_gateway_envelopes_rejected_total", `reason="rate_limited"`)
	if err != nil {
		t.Fatal(err)
	}
	limited := len(s.LogLines(`"msg":"rate limited"`, fmt.Sprintf(`"project_id":%d`, p.ID)))
	if int(n) != limited {
		t.Errorf("metric counts %v rate-limited envelopes, the log %d", n, limited)
	}
	if n < 1 || n > 2 {
		t.Errorf("server refused %v envelopes with 429, want 1 or 2: the SDK should stop sending after the first 429 (it captured %d, quota %d)", n, sent, quota)
	}
	return int(n)
}

func TestSentryGoBacksOff(t *testing.T) {
	t.Parallel()
	s, p := startLimited(t)
	client, err := sentry.NewClient(sentry.ClientOptions{Dsn: p.DSN, Release: "e2e@1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	hub := sentry.NewHub(client, sentry.NewScope())
	for i := range sent {
		hub.CaptureException(fmt.Errorf("backoff %d: %w", i, errors.New("boom")))
		if !client.Flush(20 * time.Second) {
			t.Fatal("flush timed out")
		}
	}
	// A log (another data category, not limited) carries the client report
	// of what the SDK dropped.
	sentry.NewLogger(sentry.SetHubOnContext(context.Background(), hub)).Info().Emit("after the storm")
	if !client.Flush(20 * time.Second) {
		t.Fatal("flush timed out")
	}
	refused := check(t, s, p)
	// A 429 without X-Sentry-Rate-Limits would have stopped every category,
	// the log and its client report too.
	if !storedKind(t, s, p, "log") {
		t.Error("the log sent after the errors was not stored: the SDK did not limit the error category alone")
	}
	dropped := discarded(t, s, p, "ratelimit_backoff", "error")
	if want := sent - quota - refused; dropped != want {
		t.Errorf("sentry-go reports %d errors dropped for rate-limit backoff, want %d", dropped, want)
	}
}

func TestSentryNodeBacksOff(t *testing.T) {
	t.Parallel()
	nodeDir := filepath.Join("..", "node")
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "@sentry", "node")); err != nil {
		t.Fatalf("@sentry/node is not installed in e2e/node: run scripts/deps.sh (npm ci): %v", err)
	}
	s, p := startLimited(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "run.mjs", "backoff")
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(), "FAULTLINE_DSN="+p.DSN, fmt.Sprintf("BACKOFF_EVENTS=%d", sent))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node run.mjs backoff: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var res struct {
		EventIDs []string `json:"event_ids"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || len(res.EventIDs) != sent {
		t.Fatalf("node printed %q (%v), want %d event ids", stdout.String(), err, sent)
	}
	refused := check(t, s, p)
	if !storedKind(t, s, p, "client_report") {
		t.Error("no client report stored: the SDK did not limit the error category alone")
	}
	dropped := discarded(t, s, p, "ratelimit_backoff", "error")
	if want := sent - quota - refused; dropped != want {
		t.Errorf("@sentry/node reports %d errors dropped for rate-limit backoff, want %d", dropped, want)
	}
}

// storedKind reports whether INGEST holds an envelope of the project of the
// given kind.
func storedKind(t *testing.T, s *harness.Server, p harness.Project, kind string) bool {
	t.Helper()
	for _, m := range messages(t, s, p) {
		if m.Kind == kind {
			return true
		}
	}
	return false
}

func messages(t *testing.T, s *harness.Server, p harness.Project) []harness.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms, err := s.Messages(ctx, p.ID, quota)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// discarded sums the quantities of the project's client reports for reason
// and category.
func discarded(t *testing.T, s *harness.Server, p harness.Project, reason, category string) int {
	t.Helper()
	total := 0
	for _, m := range messages(t, s, p) {
		for _, it := range m.Envelope.ItemsOf("client_report") {
			r, err := it.JSON()
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range harness.Dig[[]any](t, r, "discarded_events") {
				d := d.(map[string]any)
				if d["reason"] == reason && d["category"] == category {
					q, _ := d["quantity"].(json.Number).Int64()
					total += int(q)
				}
			}
		}
	}
	return total
}
