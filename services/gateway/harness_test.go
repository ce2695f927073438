package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/services/gateway"
	"github.com/faultline/faultline/streams"
)

// cluster is one embedded JetStream server with the streams applied; any
// number of gateways can run against it.
type cluster struct {
	t      *testing.T
	srv    *natstest.Server
	nc     *natsx.Conn
	keys   jetstream.KeyValue
	stream jetstream.Stream
	reg    prometheus.Registerer // where gateways started next register their metrics; nil: nowhere
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	srv := natstest.Start(t)
	nc := srv.Connect(t)
	ctx := testContext(t)
	if err := streams.Apply(ctx, nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	keys, err := nc.JS.KeyValue(ctx, streams.KeysBucket)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := nc.JS.Stream(ctx, streams.Ingest)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, srv: srv, nc: nc, keys: keys, stream: stream}
}

// defaultOptions are the gateway options of a process started with no
// environment at all.
func defaultOptions(t *testing.T) gateway.Options {
	t.Helper()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return gateway.OptionsFrom(cfg)
}

// putKey writes a key record to the bucket.
func (c *cluster) putKey(k projectkeys.Key) {
	c.t.Helper()
	if err := projectkeys.Put(testContext(c.t), c.keys, k); err != nil {
		c.t.Fatal(err)
	}
}

// gw is one running gateway behind a test HTTP server.
type gw struct {
	*gateway.Gateway
	url string
}

// startGateway runs a gateway on its own connection to c until the test ends
// and returns once it knows every key.
func (c *cluster) startGateway(opt gateway.Options) *gw {
	c.t.Helper()
	return c.startGatewayLogging(opt, slog.New(slog.DiscardHandler))
}

// startGatewayLogging is startGateway with the gateway logging to log.
func (c *cluster) startGatewayLogging(opt gateway.Options, log *slog.Logger) *gw {
	t := c.t
	t.Helper()
	nc := c.srv.Connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gateway.New(ctx, opt, nc, c.reg, log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
	})
	select {
	case <-g.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("gateway not ready after 10s")
	}
	r := chi.NewRouter()
	g.Mount(r)
	hs := httptest.NewServer(r)
	t.Cleanup(hs.Close)
	return &gw{Gateway: g, url: hs.URL}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// count is the number of messages in the INGEST stream.
func (c *cluster) count() uint64 {
	c.t.Helper()
	info, err := c.stream.Info(testContext(c.t))
	if err != nil {
		c.t.Fatal(err)
	}
	return info.State.Msgs
}

// last is the newest message of the INGEST stream.
func (c *cluster) last() *jetstream.RawStreamMsg {
	c.t.Helper()
	ctx := testContext(c.t)
	info, err := c.stream.Info(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	if info.State.Msgs == 0 {
		c.t.Fatal("INGEST stream is empty")
	}
	m, err := c.stream.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		c.t.Fatal(err)
	}
	// Inline envelopes are stored compressed: every one must be, and the
	// tests compare what it holds.
	if m.Header.Get(streams.HeaderBlob) == "" {
		if enc := m.Header.Get(streams.HeaderContentEncoding); enc != streams.EnvelopeEncoding {
			c.t.Fatalf("stored message's %s is %q, want %q", streams.HeaderContentEncoding, enc, streams.EnvelopeEncoding)
		}
		if m.Data, err = streams.DecodeEnvelope(m.Header, m.Data, streams.MaxInlineEnvelope, nil); err != nil {
			c.t.Fatal(err)
		}
	}
	return m
}

// buildEnvelope builds an envelope: a header line, then each item with its
// length.
func buildEnvelope(header string, items ...item) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	b.WriteByte('\n')
	for _, it := range items {
		fmt.Fprintf(&b, `{"type":%q,"length":%d}`+"\n", it.typ, len(it.payload))
		b.WriteString(it.payload)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

type item struct{ typ, payload string }

func eventItem(id string) item {
	return item{"event", `{"event_id":"` + id + `","message":"boom","level":"error","platform":"go"}`}
}

// eventEnvelope is an error event envelope with the given id, named by the
// event and by nothing else (no dsn).
func eventEnvelope(id string) []byte {
	return buildEnvelope(`{"event_id":"`+id+`","sent_at":"2025-01-02T03:04:05Z"}`, eventItem(id))
}

// eventID returns a distinct event id for n.
func eventID(n int) string { return fmt.Sprintf("%032x", 0xfa17000000+n) }

func authHeader(key string) string {
	return "Sentry sentry_version=7, sentry_client=faultline-test/1.0, sentry_key=" + key
}

// post sends body to path of the gateway with the given headers.
func (g *gw) post(t *testing.T, path string, body []byte, header http.Header) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return do(t, req)
}

// send posts an envelope to project's envelope endpoint with key in
// X-Sentry-Auth.
func (g *gw) send(t *testing.T, project int64, key string, body []byte) *response {
	t.Helper()
	return g.post(t, fmt.Sprintf("/api/%d/envelope/", project), body, http.Header{
		"X-Sentry-Auth": {authHeader(key)},
		"Content-Type":  {"application/x-sentry-envelope"},
	})
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, req *http.Request) *response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}
}

// detail is the {"detail"} of an error answer; it fails the test when the
// body is not one.
func (r *response) detail(t *testing.T) string {
	t.Helper()
	var v struct {
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || v.Detail == "" {
		t.Fatalf("body %q is not a JSON {\"detail\"}", r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	return v.Detail
}

// id is the {"id"} of an accepted answer.
func (r *response) id(t *testing.T) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", r.status, r.body)
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return v.ID
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// eventually polls cond until it holds or 10 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awayFromWindowEnd waits, when the current window of the given length ends
// within margin, until the next one starts, so that a test counting a quota
// runs inside one window.
func awayFromWindowEnd(window, margin time.Duration) {
	now := time.Now()
	if end := now.Truncate(window).Add(window); end.Sub(now) < margin {
		time.Sleep(end.Sub(now) + 10*time.Millisecond)
	}
}
