// Command capture records the envelopes real Sentry SDKs send, for the
// envelope parser's and the gateway's table tests. It runs a recording HTTP
// server on a loopback port, points sentry-go (in process) and @sentry/node
// (node.cjs, run with node) at it, and writes every request body, after
// decompression, to <out>/<sdk>-<scenario>.envelope with its request line
// and headers in a .headers file beside it. A body the SDK compressed is
// also kept as sent, in <wire>/<sdk>-<scenario>.envelope.<encoding>.
//
// See README.md in this directory for how to recapture.
package main

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/getsentry/sentry-go"
	"github.com/getsentry/sentry-go/attribute"
)

const publicKey = "0123456789abcdef0123456789abcdef"

func main() {
	out := flag.String("out", "libs/envelope/testdata/sdk", "directory for captured envelopes")
	wire := flag.String("wire", "services/gateway/testdata", "directory for compressed bodies as sent")
	node := flag.String("node", "", "path to node.cjs; empty skips @sentry/node (needs NODE_PATH with @sentry/node)")
	only := flag.String("sdk", "go,node", "SDKs to capture, comma separated")
	flag.Parse()
	if err := run(*out, *wire, *node, strings.Split(*only, ",")); err != nil {
		log.Fatal(err)
	}
}

func run(out, wire, node string, sdks []string) error {
	for _, d := range []string{out, wire} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	rec := &recorder{out: out, wire: wire, seen: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rec}
	go srv.Serve(ln)
	defer srv.Close()
	dsn := fmt.Sprintf("http://%s@%s/42", publicKey, ln.Addr())
	base := "http://" + ln.Addr().String()

	if slices.Contains(sdks, "go") {
		if err := captureGo(rec, dsn); err != nil {
			return fmt.Errorf("sentry-go: %w", err)
		}
	}
	if slices.Contains(sdks, "node") && node != "" {
		cmd := exec.Command("node", node, dsn, base)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("@sentry/node: %w", err)
		}
	}
	// Give late requests (a session's end, client reports) a moment.
	time.Sleep(500 * time.Millisecond)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.err
}

// recorder saves each envelope request under the current label.
type recorder struct {
	out, wire string
	mu        sync.Mutex
	label     string
	seen      map[string]int
	err       error
}

func (r *recorder) setLabel(l string) {
	r.mu.Lock()
	r.label = l
	r.mu.Unlock()
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/_label" { // the node script names its next scenario
		r.setLabel(req.URL.Query().Get("name"))
		return
	}
	raw, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	enc := req.Header.Get("Content-Encoding")
	body, err := decode(enc, raw)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.err = errors.Join(r.err, fmt.Errorf("%s: %w", req.URL, err))
		http.Error(w, err.Error(), 400)
		return
	}
	name := r.name(itemTypes(body))
	var hdr bytes.Buffer
	fmt.Fprintf(&hdr, "%s %s\n", req.Method, req.URL.RequestURI())
	keys := make([]string, 0, len(req.Header))
	for k := range req.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range req.Header[k] {
			fmt.Fprintf(&hdr, "%s: %s\n", k, v)
		}
	}
	path := filepath.Join(r.out, name+".envelope")
	err = errors.Join(os.WriteFile(path, body, 0o644),
		os.WriteFile(filepath.Join(r.out, name+".headers"), hdr.Bytes(), 0o644))
	if enc != "" {
		err = errors.Join(err, os.WriteFile(filepath.Join(r.wire, name+".envelope."+enc), raw, 0o644))
	}
	r.err = errors.Join(r.err, err)
	log.Printf("captured %s (%d bytes, %s)", path, len(body), itemTypes(body))
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{}`)
}

// wants is the item type that makes a body the scenario's own; other
// bodies sent meanwhile (a session at start-up, a client report) are named
// after their item types.
var wants = map[string]string{
	"error": "event", "message": "event", "transaction": "transaction", "log": "log",
	"attachment": "attachment", "check_in": "check_in", "metric": "trace_metric",
	"session": "session", "client_report": "client_report",
}

// name picks the file name of a body with the given item types.
func (r *recorder) name(types string) string {
	sdk, what, _ := strings.Cut(r.label, "-")
	want := wants[what]
	if what == "transaction" && sdk == "node" {
		want = "span" // @sentry/node 11 sends spans (v2), not transactions
	}
	name := r.label + "-" + types
	if r.label == "" {
		name = "unlabelled-" + types
	} else if slices.Contains(strings.Split(types, "+"), want) && r.seen[r.label] == 0 {
		name = r.label
	}
	r.seen[name]++
	if n := r.seen[name]; n > 1 { // the same label and types again
		name += fmt.Sprint("-", n)
	}
	return name
}

func decode(enc string, b []byte) ([]byte, error) {
	switch enc {
	case "":
		return b, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case "deflate":
		zr, err := zlib.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	}
	return nil, fmt.Errorf("unexpected Content-Encoding %q", enc)
}

// itemTypes names a body's item types for a file name, roughly: it reads
// every line's "type" field.
func itemTypes(b []byte) string {
	var types []string
	for _, line := range bytes.Split(b, []byte("\n")) {
		if i := bytes.Index(line, []byte(`{"type":"`)); i == 0 {
			t, _, _ := strings.Cut(string(line[len(`{"type":"`):]), `"`)
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
	}
	if len(types) == 0 {
		return "unknown"
	}
	return strings.Join(types, "+")
}

// captureGo drives sentry-go through each scenario with a fresh client.
func captureGo(rec *recorder, dsn string) error {
	scenarios := []struct {
		name string
		opts func(*sentry.ClientOptions)
		run  func(ctx context.Context, hub *sentry.Hub)
	}{
		{"error", nil, func(_ context.Context, hub *sentry.Hub) {
			hub.CaptureException(fmt.Errorf("load config: %w", deepError(3)))
		}},
		{"message", nil, func(_ context.Context, hub *sentry.Hub) {
			hub.WithScope(func(s *sentry.Scope) {
				s.SetTag("capture", "message")
				s.SetUser(sentry.User{ID: "42", Email: "ada@example.com"})
				s.SetLevel(sentry.LevelWarning)
				hub.CaptureMessage("disk almost full")
			})
		}},
		{"transaction", func(o *sentry.ClientOptions) { o.EnableTracing = true; o.TracesSampleRate = 1 },
			func(ctx context.Context, _ *sentry.Hub) {
				tx := sentry.StartTransaction(ctx, "GET /orders/{id}", sentry.WithOpName("http.server"))
				db := tx.StartChild("db.sql", sentry.WithDescription("SELECT * FROM orders WHERE id = $1"))
				time.Sleep(2 * time.Millisecond)
				db.Finish()
				render := tx.StartChild("template.render", sentry.WithDescription("order.html"))
				inner := render.StartChild("cache.get", sentry.WithDescription("fragment:order"))
				inner.Finish()
				render.Finish()
				tx.Status = sentry.SpanStatusOK
				tx.Finish()
			}},
		{"log", nil, func(ctx context.Context, _ *sentry.Hub) {
			logger := sentry.NewLogger(ctx)
			logger.SetAttributes(attribute.String("service", "billing"))
			logger.Info().String("order", "A-17").Int("items", 3).Emit("order placed")
			logger.Warn().Emitf("retrying payment %d of %d", 1, 3)
			logger.Error().Bool("fatal", false).Emit("payment declined")
		}},
		{"attachment", nil, func(_ context.Context, hub *sentry.Hub) {
			hub.WithScope(func(s *sentry.Scope) {
				s.AddAttachment(&sentry.Attachment{Filename: "config.json", ContentType: "application/json",
					Payload: []byte("{\"retries\": 3,\n \"timeout\": \"5s\"}\n")})
				s.AddAttachment(&sentry.Attachment{Filename: "trace.bin",
					Payload: []byte{0, 1, 2, '\n', 0xff, '\r', '\n', 'x'}})
				hub.CaptureException(errors.New("upload failed"))
			})
		}},
		{"check_in", nil, func(_ context.Context, hub *sentry.Hub) {
			hub.CaptureCheckIn(&sentry.CheckIn{MonitorSlug: "nightly-report", Status: sentry.CheckInStatusOK,
				Duration: 3 * time.Second}, &sentry.MonitorConfig{Schedule: sentry.CrontabSchedule("0 3 * * *"),
				CheckInMargin: 5, MaxRuntime: 30, Timezone: "Europe/Paris"})
		}},
		{"metric", nil, func(ctx context.Context, _ *sentry.Hub) {
			m := sentry.NewMeter(ctx)
			m.Count("orders.placed", 2)
			m.Gauge("queue.depth", 17)
			m.Distribution("payment.latency", 0.231)
		}},
		{"client_report", func(o *sentry.ClientOptions) {
			o.BeforeSend = func(e *sentry.Event, _ *sentry.EventHint) *sentry.Event {
				if e.Message == "dropped" {
					return nil
				}
				return e
			}
		}, func(_ context.Context, hub *sentry.Hub) {
			for range 3 {
				hub.CaptureMessage("dropped")
			}
			hub.CaptureMessage("kept after drops")
		}},
	}
	for _, sc := range scenarios {
		rec.setLabel("go-" + sc.name)
		opts := sentry.ClientOptions{Dsn: dsn, Release: "capture@1.0.0", Environment: "test",
			AttachStacktrace: true, ServerName: "capture-host"}
		if sc.opts != nil {
			sc.opts(&opts)
		}
		client, err := sentry.NewClient(opts)
		if err != nil {
			return err
		}
		hub := sentry.NewHub(client, sentry.NewScope())
		ctx := sentry.SetHubOnContext(context.Background(), hub)
		sc.run(ctx, hub)
		if !client.Flush(10 * time.Second) {
			return fmt.Errorf("%s: flush timed out", sc.name)
		}
		client.Close()
	}
	return nil
}

// deepError fails a few calls down, so the stack trace has frames.
func deepError(n int) error {
	if n == 0 {
		return &os.PathError{Op: "open", Path: "/etc/app/config.yaml", Err: os.ErrNotExist}
	}
	return deepError(n - 1)
}
