package envelope_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/envelope"
)

// benchEvent is an error event shaped like sentry-go's: about 5.5 KiB with a
// 20-frame stack trace, half of it in-app with source context.
func benchEvent() string {
	var frames []string
	for i := range 20 {
		f := fmt.Sprintf(`{"function":"process%dOrder","module":"github.com/acme/shop/internal/order%d","abs_path":"/home/build/src/github.com/acme/shop/internal/order%d/handler.go","lineno":%d,"in_app":%v`,
			i, i%4, i%4, 100+i*7, i >= 10)
		if i >= 10 {
			f += `,"pre_context":["\tif err != nil {"],"context_line":"\torder, err := store.Load(ctx, orderID)","post_context":["\t\treturn nil, err"]`
		}
		frames = append(frames, f+"}")
	}
	return `{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","timestamp":"2025-04-01T12:00:00.123456Z","platform":"go","level":"error",` +
		`"server_name":"web-7","release":"shop@1.4.0","environment":"production","sdk":{"name":"sentry.go","version":"0.31.1"},` +
		`"exception":{"values":[{"type":"*net.OpError","value":"dial tcp 10.0.0.7:5432: connect: connection refused","stacktrace":{"frames":[` +
		strings.Join(frames, ",") + `]},"mechanism":{"type":"generic","handled":true}}]},` +
		`"contexts":{"os":{"name":"linux"},"runtime":{"name":"go","version":"go1.24.2"},"trace":{"trace_id":"4c79f60c11214eb38604f4ae0781bfb2","span_id":"fa90fdead5f74052"}},` +
		`"tags":{"route":"/api/orders","region":"eu-west-1"},"user":{"id":"4711","ip_address":"{{auto}}"},` +
		`"request":{"url":"https://shop.example.com/api/orders","method":"POST","headers":{"User-Agent":"Mozilla/5.0","Accept":"application/json"}}}`
}

func BenchmarkParse(b *testing.B) {
	event := benchEvent()
	session := `{"sid":"7c7b6e1b7b5e4f0e9f0e7c7b6e1b7b5e","init":true,"started":"2025-04-01T12:00:00Z","status":"ok","errors":0,"attrs":{"release":"shop@1.4.0","environment":"production"}}`
	header := `{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sent_at":"2025-04-01T12:00:00.2Z","dsn":"https://0123456789abcdef0123456789abcdef@o1.ingest.example.com/1","sdk":{"name":"sentry.go","version":"0.31.1"}}`
	for _, bc := range []struct{ name, env string }{
		{"error", header + "\n" + fmt.Sprintf(`{"type":"event","length":%d}`, len(event)) + "\n" + event + "\n"},
		{"error_no_length", header + "\n" + `{"type":"event"}` + "\n" + event + "\n"},
		{"session", `{"sent_at":"2025-04-01T12:00:00.2Z"}` + "\n" + `{"type":"session"}` + "\n" + session + "\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw := []byte(bc.env)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := envelope.Parse(raw, envelope.DefaultLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
