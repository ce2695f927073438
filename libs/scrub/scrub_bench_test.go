package scrub

import (
	"fmt"
	"strings"
	"testing"
)

// benchEvent is a 5.5 KiB sentry-go error event without secrets, the
// gateway benchmark's.
func benchEvent() []byte {
	var frames []string
	for i := range 20 {
		frames = append(frames, fmt.Sprintf(`{"function":"process%dOrder","module":"github.com/acme/shop/internal/order%d","abs_path":"/home/build/src/github.com/acme/shop/internal/order%d/handler.go","lineno":%d,"in_app":%v,"pre_context":["\tif err != nil {"],"context_line":"\torder, err := store.Load(ctx, orderID)"}`,
			i, i%4, i%4, 100+i*7, i >= 10))
	}
	return []byte(`{"timestamp":"2025-04-01T12:00:00.123456Z","platform":"go","level":"error","server_name":"web-7","release":"shop@1.4.0",` +
		`"exception":{"values":[{"type":"*net.OpError","value":"dial tcp 10.0.0.7:5432: connect: connection refused","stacktrace":{"frames":[` +
		strings.Join(frames, ",") + `]}}]},"contexts":{"trace":{"trace_id":"4c79f60c11214eb38604f4ae0781bfb2","span_id":"fa90fdead5f74052"}},` +
		`"tags":{"route":"/api/orders"},"user":{"id":"4711","ip_address":"{{auto}}"}}`)
}

// BenchmarkScrubClean is the common case: nothing to scrub, one scan.
func BenchmarkScrubClean(b *testing.B) {
	s, p := New(Defaults), benchEvent()
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if _, changed, err := s.Scrub(p); changed || err != nil {
			b.Fatal(changed, err)
		}
	}
}

// BenchmarkScrubSecrets is the same event with a request carrying an
// Authorization header and a cookie: read whole and rewritten.
func BenchmarkScrubSecrets(b *testing.B) {
	s, p := New(Defaults), benchEvent()
	p = append(p[:len(p)-1], `,"request":{"headers":[["Authorization","Bearer abc"],["Cookie","sessionid=x"]]}}`...)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		if _, changed, err := s.Scrub(p); !changed || err != nil {
			b.Fatal(changed, err)
		}
	}
}
