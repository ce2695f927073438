package gateway_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/libs/scrub"
	"github.com/faultline/faultline/libs/spike"
	"github.com/faultline/faultline/services/gateway"
	"github.com/faultline/faultline/streams"
)

const benchKey = "0123456789abcdef0123456789abcdef"

// benchItems is the items part of an error envelope shaped like
// sentry-go's: a 5.5 KiB event with a 20-frame stack trace.
func benchItems() []byte {
	var frames []string
	for i := range 20 {
		f := fmt.Sprintf(`{"function":"process%dOrder","module":"github.com/acme/shop/internal/order%d","abs_path":"/home/build/src/github.com/acme/shop/internal/order%d/handler.go","lineno":%d,"in_app":%v`,
			i, i%4, i%4, 100+i*7, i >= 10)
		if i >= 10 {
			f += `,"pre_context":["\tif err != nil {"],"context_line":"\torder, err := store.Load(ctx, orderID)","post_context":["\t\treturn nil, err"]`
		}
		frames = append(frames, f+"}")
	}
	event := `{"timestamp":"2025-04-01T12:00:00.123456Z","platform":"go","level":"error","server_name":"web-7","release":"shop@1.4.0",` +
		`"exception":{"values":[{"type":"*net.OpError","value":"dial tcp 10.0.0.7:5432: connect: connection refused","stacktrace":{"frames":[` +
		strings.Join(frames, ",") + `]},"mechanism":{"type":"generic","handled":true}}]},` +
		`"contexts":{"os":{"name":"linux"},"runtime":{"name":"go","version":"go1.24.2"},"trace":{"trace_id":"4c79f60c11214eb38604f4ae0781bfb2","span_id":"fa90fdead5f74052"}},` +
		`"tags":{"route":"/api/orders","region":"eu-west-1"},"user":{"id":"4711","ip_address":"{{auto}}"}}`
	return []byte(fmt.Sprintf("{\"type\":\"event\",\"length\":%d}\n%s\n", len(event), event))
}

// gzipBody gzips the envelope header line for request i in a stored member
// and appends the pre-compressed items: every request is a distinct
// envelope (JetStream's duplicate window would swallow repeats) without
// compressing on the benchmark's clock.
func gzipBody(dst []byte, i uint64, items []byte) []byte {
	line := fmt.Appendf(nil, `{"event_id":"%032x","sent_at":"2025-04-01T12:00:00.2Z","sdk":{"name":"sentry.go","version":"0.31.1"}}`+"\n", i)
	dst = append(dst, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(line)))
	dst = binary.LittleEndian.AppendUint16(dst, ^uint16(len(line)))
	dst = append(dst, line...)
	dst = binary.LittleEndian.AppendUint32(dst, crc32.ChecksumIEEE(line))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(line)))
	return append(dst, items...)
}

// BenchmarkHandler measures the envelope endpoint in process, from a gzipped
// request to JetStream's acknowledgement, against a real embedded JetStream,
// with the project's data scrubbing at Sentry's defaults and spike protection
// on, as a process starts (the project is too young to be capped: every error
// is counted, compared with no cap, and its counts shared each second).
func BenchmarkHandler(b *testing.B) { benchHandler(b, nil, natsx.EmbeddedOptions{}, nil) }

// BenchmarkHandlerScrubOff is BenchmarkHandler for a project that turned data
// scrubbing off: the two side by side are scrubbing's cost.
func BenchmarkHandlerScrubOff(b *testing.B) {
	benchHandler(b, &scrub.Settings{}, natsx.EmbeddedOptions{}, nil)
}

// BenchmarkHandlerSyncAlways is BenchmarkHandler against a server started
// with NATS_SYNC_INTERVAL=always: every acknowledged envelope is on disk.
func BenchmarkHandlerSyncAlways(b *testing.B) {
	benchHandler(b, nil, natsx.EmbeddedOptions{SyncAlways: true}, nil)
}

// BenchmarkHandlerTraced is BenchmarkHandler with traces on: every request
// is a sampled server span, batched to an exporter that drops what it is
// given, and the INGEST message carries the span's context.
func BenchmarkHandlerTraced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer tp.Shutdown(context.Background())
	benchHandler(b, nil, natsx.EmbeddedOptions{}, tp.Tracer("bench"))
}

func benchHandler(b *testing.B, settings *scrub.Settings, so natsx.EmbeddedOptions, tracer trace.Tracer) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	so.StoreDir, so.Listen = b.TempDir(), "127.0.0.1:0"
	e, err := natsx.StartEmbedded(so)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Shutdown()
	nc := (&natstest.Server{Embedded: e, URL: e.ClientURL()}).Connect(b)
	if err := streams.Apply(ctx, nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		b.Fatal(err)
	}
	kv, err := nc.JS.KeyValue(ctx, streams.KeysBucket)
	if err != nil {
		b.Fatal(err)
	}
	if err := projectkeys.Put(ctx, kv, projectkeys.Key{PublicKey: benchKey, ProjectID: 1, Scrub: settings}); err != nil {
		b.Fatal(err)
	}
	gw, err := gateway.New(ctx, gateway.Options{Body: gateway.DefaultBodyLimits, Envelope: envelope.DefaultLimits, Tracer: tracer, Spike: spike.Defaults}, nc, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	go gw.Run(ctx)
	<-gw.Ready()
	r := chi.NewRouter()
	gw.Mount(r)

	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(benchItems())
	zw.Close()
	items := z.Bytes()
	var seq atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(16) // many requests wait on acknowledgements at once, as under load
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var body []byte
		for pb.Next() {
			body = gzipBody(body[:0], seq.Add(1)+uint64(time.Now().UnixNano()), items)
			req := httptest.NewRequest(http.MethodPost, "/api/1/envelope/", bytes.NewReader(body))
			req.Header.Set("X-Sentry-Auth", "Sentry sentry_version=7, sentry_client=sentry.go/0.31.1, sentry_key="+benchKey)
			req.Header.Set("Content-Type", "application/x-sentry-envelope")
			req.Header.Set("Content-Encoding", "gzip")
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}
