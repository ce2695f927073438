package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/libs/telemetry/otlptest"
	"github.com/faultline/faultline/services/faultline/cli"
	"github.com/faultline/faultline/streams"
)

// TestTracesFollowAnEnvelope runs 'faultline serve' in this process with
// OTEL_EXPORTER_OTLP_ENDPOINT naming an OTLP receiver in the test, sends
// one error event, and finds its trace through the pipeline in what the
// receiver got: the gateway's server span for the request; grouping's batch
// span, linked to that request's span; and alerting's batch span, linked to
// the grouping batch that published the event and its issue. Each link
// exists only if the NATS message between the two roles carried the span
// context.
func TestTracesFollowAnEnvelope(t *testing.T) {
	rcv := otlptest.StartHTTP(t)
	// The exporter and the SDK read these themselves, from the process's
	// environment; serve decides from its own getenv, which falls back to
	// the process's for them.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.Endpoint)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100") // ms: export soon after each span ends

	server, err := url.Parse(pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	db := *server
	db.Path = "/faultline_test_traces_" + hex.EncodeToString(b)
	t.Cleanup((&pgtest.DB{Name: strings.TrimPrefix(db.Path, "/")}).Drop)

	httpPort, natsPort := freePort(t), freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	vars := map[string]string{
		"METRICS_LISTEN": "off",
		"DATABASE_URL":   db.String(),
		"HOST":           "127.0.0.1",
		"PORT":           strconv.Itoa(httpPort),
		"NATS_LISTEN":    "127.0.0.1:" + strconv.Itoa(natsPort),
		"DATA_DIR":       t.TempDir(),
		"LOG_LEVEL":      "error",
	}
	getenv := func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		if strings.HasPrefix(k, "OTEL_") {
			return os.Getenv(k)
		}
		return ""
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cli.Run(ctx, []string{"serve"}, getenv, io.Discard) }()
	eventually(t, "/readyz answers 200", 60*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v", err)
		default:
		}
		code, _ := get(base + "/readyz")
		return code == http.StatusOK
	})

	pool, err := pg.Open(context.Background(), db.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Migrate(context.Background(), pool, accounts.Migrations); err != nil {
		t.Fatal(err)
	}
	p, err := accounts.NewStore(pool, base).CreateProject(context.Background(), "acme", "traced")
	pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	ingestURL := fmt.Sprintf("%s/api/%d/envelope/?sentry_key=%s", base, p.ID, p.Keys[0].PublicKey)
	warmup := 0
	eventually(t, "the new key is accepted", 30*time.Second, func() bool {
		warmup++
		code, err := send(ingestURL, bytes.NewReader(envelopeOf(-warmup)))
		return err == nil && code == http.StatusOK
	})
	// Alerting's consumer starts at the end of EVENTS: the event must come
	// after it exists.
	nc, err := natsx.Connect(vars["NATS_LISTEN"], nil, t.Name(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.NC.Close()
	eventually(t, "alerting consumes EVENTS", 60*time.Second, func() bool {
		_, err := nc.JS.Consumer(context.Background(), streams.Events, "alerting")
		return err == nil
	})

	const n = 7
	id := fmt.Sprintf("%032x", 0x5e7e000000+n)
	if code, err := send(ingestURL, bytes.NewReader(envelopeOf(n))); err != nil || code != http.StatusOK {
		t.Fatalf("event: %d, %v", code, err)
	}

	var gw, grouping, alerting otlptest.Span
	chain := func() bool {
		gw, grouping, alerting = otlptest.Span{}, otlptest.Span{}, otlptest.Span{}
		spans := rcv.Spans()
		for _, s := range spans {
			if s.Name == "POST /api/{project_id}/envelope/" && s.Attributes["faultline.event_id"] == id {
				gw = s
			}
		}
		for _, s := range spans {
			if s.Name == "grouping process" && gw.SpanID.IsValid() && s.LinksTo(gw.TraceID, gw.SpanID) {
				grouping = s
			}
		}
		for _, s := range spans {
			if s.Name == "alerting process" && grouping.SpanID.IsValid() && s.LinksTo(grouping.TraceID, grouping.SpanID) {
				alerting = s
			}
		}
		return alerting.SpanID.IsValid()
	}
	deadline := time.Now().Add(30 * time.Second)
	for !chain() {
		if time.Now().After(deadline) {
			var names []string
			for _, s := range rcv.Spans() {
				names = append(names, s.String())
			}
			t.Fatalf("no chain gateway → grouping → alerting for event %s after 30s:\n gateway   %v\n grouping  %v\n alerting  %v\nspans received:\n %s",
				id, gw, grouping, alerting, strings.Join(names, "\n "))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range []struct {
		s    otlptest.Span
		kind tracepb.Span_SpanKind
	}{{gw, tracepb.Span_SPAN_KIND_SERVER}, {grouping, tracepb.Span_SPAN_KIND_CONSUMER}, {alerting, tracepb.Span_SPAN_KIND_CONSUMER}} {
		if c.s.Kind != c.kind || c.s.Resource["service.name"] != "faultline" || c.s.Error {
			t.Errorf("%v: kind %v, service.name %q, error %v; want %v, faultline, no error", c.s, c.s.Kind, c.s.Resource["service.name"], c.s.Error, c.kind)
		}
	}
	if got := grouping.Attributes["messaging.destination.name"]; got != streams.Ingest {
		t.Errorf("grouping's batch span: messaging.destination.name %q, want %s", got, streams.Ingest)
	}
	if got := alerting.Attributes["messaging.destination.name"]; got != streams.Events {
		t.Errorf("alerting's batch span: messaging.destination.name %q, want %s", got, streams.Events)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after its context ended, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve still running 30s after its context ended")
	}
}
