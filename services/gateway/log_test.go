package gateway_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log destination the server's goroutines and the test
// share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// requestLines are the "ingestion request" records logged so far.
func requestLines(t *testing.T, logs *lockedBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "ingestion request" {
			out = append(out, rec)
		}
	}
	return out
}

// TestRequestLogSampled: with GATEWAY_LOG_SAMPLE=1 every request, accepted
// or refused, is one line with its route pattern, status, duration,
// project and reason, and never its key; with 0 a refusal logs nothing at
// level Info, so a flood of bad requests cannot flood the log.
func TestRequestLogSampled(t *testing.T) {
	const unknown = "a0a0a0a0b1b1b1b1c2c2c2c2d3d3d3d3"
	send := func(g *gw) {
		g.send(t, project, key, eventEnvelope(eventID(1))).id(t)
		if res := g.post(t, "/api/42/envelope/?sentry_key="+unknown, eventEnvelope(eventID(2)), nil); res.status != http.StatusUnauthorized {
			t.Fatalf("unknown key: status %d", res.status)
		}
	}
	c := newCluster(t)
	standardKeys(c)

	var all lockedBuffer
	opt := defaultOptions(t)
	opt.LogSample = 1
	send(c.startGatewayLogging(opt, slog.New(slog.NewJSONHandler(&all, nil))))
	var lines []map[string]any
	eventually(t, "two request lines", func() bool { lines = requestLines(t, &all); return len(lines) == 2 })
	for i, want := range []struct {
		status float64
		reason any
	}{{200, nil}, {401, "unknown_key"}} {
		l := lines[i]
		if l["status"] != want.status || l["reason"] != want.reason || l["route"] != "/api/{project_id}/envelope/" ||
			l["project_id"] != float64(project) || l["method"] != "POST" {
			t.Errorf("line %d: %v, want status %v reason %v", i, l, want.status, want.reason)
		}
		if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
			t.Errorf("line %d: duration_ms %v", i, l["duration_ms"])
		}
	}
	if s := all.String(); strings.Contains(s, key) || strings.Contains(s, unknown) {
		t.Errorf("the log holds a DSN key:\n%s", s)
	}

	var none lockedBuffer
	opt.LogSample = 0
	send(c.startGatewayLogging(opt, slog.New(slog.NewJSONHandler(&none, nil))))
	time.Sleep(100 * time.Millisecond) // lines are written after the answer
	if s := none.String(); s != "" {
		t.Errorf("with GATEWAY_LOG_SAMPLE=0 the gateway logged:\n%s", s)
	}
}
