package sentrynode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/e2e/harness"
)

var srv *harness.Server

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &srv)) }

// nodeDir is e2e/node, where package.json pins @sentry/node.
var nodeDir = filepath.Join("..", "node")

// runNode runs `node run.mjs scenario` with the project's DSN and decodes
// the JSON line it prints.
func runNode(t *testing.T, dsn, scenario string, env ...string) map[string]any {
	t.Helper()
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "@sentry", "node")); err != nil {
		t.Fatalf("@sentry/node is not installed in e2e/node: run scripts/deps.sh (npm ci): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "run.mjs", scenario)
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(), append([]string{"FAULTLINE_DSN=" + dsn}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node run.mjs %s: %v\nstdout:\n%s\nstderr:\n%s", scenario, err, stdout.String(), stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("node run.mjs %s stderr:\n%s", scenario, stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("node run.mjs %s printed %q: %v", scenario, stdout.String(), err)
	}
	return out
}

// stored collects what the INGEST stream holds for one project.
type stored []harness.Message

// withItem returns the messages of the given kind holding an item of type
// typ.
func (s stored) withItem(kind, typ string) []harness.Message {
	var out []harness.Message
	for _, m := range s {
		if m.Kind == kind && len(m.Envelope.ItemsOf(typ)) > 0 {
			out = append(out, m)
		}
	}
	return out
}

func (s stored) byEventID(id string) (harness.Message, bool) {
	for _, m := range s {
		if m.Envelope.EventID() == id {
			return m, true
		}
	}
	return harness.Message{}, false
}

func (s stored) String() string {
	var b strings.Builder
	for _, m := range s {
		b.WriteString(m.Subject + " " + strings.Join(m.Envelope.Types(), ",") + "\n")
	}
	return b.String()
}

func TestSentryNode(t *testing.T) {
	cases := []struct {
		scenario string
		min      int // envelopes at least stored
		check    func(t *testing.T, res map[string]any, s stored)
	}{
		{"errors", 2, func(t *testing.T, res map[string]any, s stored) {
			m, ok := s.byEventID(str(res["exception"]))
			if !ok {
				t.Fatalf("no envelope with the exception's event_id %v:\n%s", res["exception"], s)
			}
			checkKind(t, m, "error", "event")
			var values []string
			for _, v := range harness.Dig[[]any](t, itemJSON(t, m, "event"), "exception", "values") {
				values = append(values, str(v.(map[string]any)["value"]))
			}
			for _, want := range []string{"checkout failed", "card number is not a string"} {
				if !slices.Contains(values, want) {
					t.Errorf("exception values %q lack %q (linked errors)", values, want)
				}
			}
			m, ok = s.byEventID(str(res["message"]))
			if !ok {
				t.Fatalf("no envelope with the message's event_id %v:\n%s", res["message"], s)
			}
			checkKind(t, m, "error", "event")
			ev := itemJSON(t, m, "event")
			if ev["message"] != "disk almost full on /var" || ev["level"] != "warning" || harness.Dig[string](t, ev, "tags", "feature") != "e2e" {
				t.Errorf("message event %v", ev)
			}
		}},
		{"attachment", 1, func(t *testing.T, res map[string]any, s stored) {
			m, ok := s.byEventID(str(res["event_id"]))
			if !ok {
				t.Fatalf("no envelope with event_id %v:\n%s", res["event_id"], s)
			}
			if got := m.Envelope.Types(); !slices.Equal(got, []string{"event", "attachment", "attachment"}) {
				t.Errorf("item types %q, want event and two attachments", got)
			}
			checkKind(t, m, "error", "event")
			want := map[string]string{"request.json": `{"order":42}`, "dump.bin": "\x00\x01\x02\n\xff"}
			for _, a := range m.Envelope.ItemsOf("attachment") {
				name := str(a.Header["filename"])
				if string(a.Payload) != want[name] {
					t.Errorf("attachment %q holds %q, want %q", name, a.Payload, want[name])
				}
				delete(want, name)
			}
			if len(want) > 0 {
				t.Errorf("attachments missing: %v", want)
			}
		}},
		{"transaction", 1, func(t *testing.T, res map[string]any, s stored) {
			m, ok := s.byEventID(str(res["event_id"]))
			if !ok || str(res["event_id"]) == "" {
				t.Fatalf("no envelope with the transaction's event_id %q:\n%s", res["event_id"], s)
			}
			checkKind(t, m, "transaction", "transaction")
			tx := itemJSON(t, m, "transaction")
			if tx["transaction"] != "POST /checkout" || harness.Dig[string](t, tx, "contexts", "trace", "trace_id") != str(res["trace_id"]) {
				t.Errorf("transaction %v, trace %v; want POST /checkout in trace %v", tx["transaction"], harness.Dig[map[string]any](t, tx, "contexts", "trace"), res["trace_id"])
			}
			var ops []string
			for _, sp := range harness.Dig[[]any](t, tx, "spans") {
				ops = append(ops, str(sp.(map[string]any)["op"]))
			}
			slices.Sort(ops)
			if !slices.Equal(ops, []string{"db.query", "http.client"}) {
				t.Errorf("span ops %q, want db.query and http.client", ops)
			}
		}},
		{"spans", 1, func(t *testing.T, res map[string]any, s stored) {
			ms := s.withItem("span", "span")
			if len(ms) == 0 {
				t.Fatalf("no span envelope:\n%s", s)
			}
			var names []string
			for _, m := range ms {
				for _, it := range m.Envelope.ItemsOf("span") {
					p, err := it.JSON()
					if err != nil {
						t.Fatal(err)
					}
					for _, sp := range harness.Dig[[]any](t, p, "items") {
						sp := sp.(map[string]any)
						if sp["trace_id"] != res["trace_id"] {
							t.Errorf("span %v in trace %v, want %v", sp["name"], sp["trace_id"], res["trace_id"])
						}
						names = append(names, str(sp["name"]))
					}
				}
			}
			slices.Sort(names)
			want := []string{"POST /checkout", "POST https://payments.example/charge", "SELECT * FROM orders WHERE id = $1"}
			if !slices.Equal(names, want) {
				t.Errorf("span names %q, want %q", names, want)
			}
		}},
		{"sessions", 4, func(t *testing.T, res map[string]any, s stored) {
			if _, ok := s.byEventID(str(res["error_id"])); !ok {
				t.Errorf("no envelope with the error's event_id %v:\n%s", res["error_id"], s)
			}
			// The process session is sent when the error marks it errored, and
			// again when it ends.
			var states []string
			sids := map[any]bool{}
			for _, m := range s.withItem("session", "session") {
				p := itemJSON(t, m, "session")
				if harness.Dig[string](t, p, "attrs", "release") != "e2e-node@1.0.0" {
					t.Errorf("session attrs %v, want release e2e-node@1.0.0", p["attrs"])
				}
				sids[p["sid"]] = true
				states = append(states, fmt.Sprintf("%v/%v", p["status"], p["errors"]))
			}
			slices.Sort(states)
			if want := []string{"exited/1", "ok/1"}; !slices.Equal(states, want) || len(sids) != 1 {
				t.Errorf("process session updates (status/errors) %q with %d sids, want %q of one session:\n%s", states, len(sids), want, s)
			}
			agg := s.withItem("session", "sessions")
			if len(agg) == 0 {
				t.Fatalf("no sessions item (request sessions of the HTTP server):\n%s", s)
			}
			exited := 0.0
			for _, m := range agg {
				p := itemJSON(t, m, "sessions")
				if harness.Dig[string](t, p, "attrs", "release") != "e2e-node@1.0.0" {
					t.Errorf("sessions attrs %v, want release e2e-node@1.0.0", p["attrs"])
				}
				for _, a := range harness.Dig[[]any](t, p, "aggregates") {
					n, _ := a.(map[string]any)["exited"].(json.Number).Float64()
					exited += n
				}
			}
			if exited != 3 {
				t.Errorf("request sessions exited %v, want 3 (one per request)", exited)
			}
		}},
		{"logs", 1, func(t *testing.T, res map[string]any, s stored) {
			ms := s.withItem("log", "log")
			if len(ms) != 1 {
				t.Fatalf("%d log envelopes, want 1:\n%s", len(ms), s)
			}
			var bodies []string
			for _, l := range harness.Dig[[]any](t, itemJSON(t, ms[0], "log"), "items") {
				bodies = append(bodies, str(l.(map[string]any)["body"]))
			}
			slices.Sort(bodies)
			if want := []string{"order placed", "stock low for sku-7"}; !slices.Equal(bodies, want) {
				t.Errorf("log bodies %q, want %q", bodies, want)
			}
		}},
		{"client_report", 1, func(t *testing.T, res map[string]any, s stored) {
			ms := s.withItem("client_report", "client_report")
			if len(ms) == 0 {
				t.Fatalf("no client report envelope:\n%s", s)
			}
			found := false
			for _, m := range ms {
				for _, d := range harness.Dig[[]any](t, itemJSON(t, m, "client_report"), "discarded_events") {
					d := d.(map[string]any)
					if d["reason"] == "before_send" && d["category"] == "error" && d["quantity"] == json.Number("1") {
						found = true
					}
				}
			}
			if !found {
				t.Errorf("no discarded error (before_send, quantity 1) in the client reports:\n%s", s)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.scenario, func(t *testing.T) {
			t.Parallel()
			p := srv.CreateProjectT(t, "node-"+strings.ReplaceAll(c.scenario, "_", "-"))
			res := runNode(t, p.DSN, c.scenario)
			// node has exited: everything it sent was answered, so stored.
			s := stored(srv.MessagesT(t, p.ID, c.min))
			for _, m := range s {
				for _, problem := range harness.CheckHeaders(m, p) {
					t.Errorf("%s: %s", m.Subject, problem)
				}
				if ua := m.Header.Get("Faultline-User-Agent"); !strings.HasPrefix(ua, "sentry.javascript.node/") {
					t.Errorf("%s: user agent %q, want sentry.javascript.node/…", m.Subject, ua)
				}
			}
			c.check(t, res, s)
		})
	}
}

// checkKind checks m was stored under kind and its first item is of type
// first.
func checkKind(t *testing.T, m harness.Message, kind, first string) {
	t.Helper()
	if m.Kind != kind {
		t.Errorf("%s: want kind %s", m.Subject, kind)
	}
	if ts := m.Envelope.Types(); len(ts) == 0 || ts[0] != first {
		t.Errorf("%s: item types %q, want %s first", m.Subject, ts, first)
	}
}

func str(v any) string { s, _ := v.(string); return s }

func itemJSON(t *testing.T, m harness.Message, typ string) map[string]any {
	t.Helper()
	its := m.Envelope.ItemsOf(typ)
	if len(its) == 0 {
		t.Fatalf("%s: no %s item in %q", m.Subject, typ, m.Envelope.Types())
	}
	p, err := its[0].JSON()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
