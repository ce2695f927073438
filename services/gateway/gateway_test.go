package gateway_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/streams"
)

const (
	project      = int64(42)
	otherProject = int64(43)
	key          = "0123456789abcdef0123456789abcdef"
	otherKey     = "fedcba9876543210fedcba9876543210" // of otherProject
	disabledKey  = "d15ab1ed000000000000000000000000"
	strictKey    = "5757c7000000000000000000000000aa" // allows one origin only
)

func standardKeys(c *cluster) {
	c.putKey(projectkeys.Key{PublicKey: key, ProjectID: project})
	c.putKey(projectkeys.Key{PublicKey: otherKey, ProjectID: otherProject})
	c.putKey(projectkeys.Key{PublicKey: disabledKey, ProjectID: project, Disabled: true})
	c.putKey(projectkeys.Key{PublicKey: strictKey, ProjectID: project, AllowedOrigins: []string{"https://app.example.com", "*.example.org"}})
}

func TestEnvelopeAcceptedAndStoredWithHeaders(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))

	id := "9ec79c33ec9942ab8353589fcb2e04dc"
	body := buildEnvelope(`{"event_id":"9ec79c33-ec99-42ab-8353-589fcb2e04dc","sent_at":"2025-01-02T03:04:05Z"}`,
		eventItem(id), item{"attachment", "hello attachment"}, item{"mystery_future_type", "opaque"})
	before := time.Now().UTC()
	res := g.post(t, fmt.Sprintf("/api/%d/envelope/", project), body, http.Header{
		"X-Sentry-Auth": {authHeader(key)},
		"User-Agent":    {"sentry.go/0.30.0"},
		"Sentry-Trace":  {"771a43a4192642f0b136d5159a501700-b3a9e5a1f1c34d52-1"},
		"Baggage":       {"sentry-trace_id=771a43a4192642f0b136d5159a501700,sentry-public_key=" + key},
		"Traceparent":   {"00-771a43a4192642f0b136d5159a501700-b3a9e5a1f1c34d52-01"},
	})
	if got := res.id(t); got != id {
		t.Errorf("answered id %q, want %q", got, id)
	}
	if n := c.count(); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
	m := c.last()
	if want := fmt.Sprintf("ingest.%d.error", project); m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	if !bytes.Equal(m.Data, body) {
		t.Errorf("stored body differs from the body sent:\n got %q\nwant %q", m.Data, body)
	}
	for h, want := range map[string]string{
		streams.HeaderProject:     "42",
		streams.HeaderKey:         key,
		streams.HeaderEndpoint:    "envelope",
		streams.HeaderEventID:     id,
		streams.HeaderClientIP:    "127.0.0.1",
		streams.HeaderUserAgent:   "sentry.go/0.30.0",
		streams.HeaderSentryTrace: "771a43a4192642f0b136d5159a501700-b3a9e5a1f1c34d52-1",
		streams.HeaderBaggage:     "sentry-trace_id=771a43a4192642f0b136d5159a501700,sentry-public_key=" + key,
		streams.HeaderTraceparent: "00-771a43a4192642f0b136d5159a501700-b3a9e5a1f1c34d52-01",
	} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if m.Header.Get(jetstream.MsgIDHeader) == "" {
		t.Errorf("no %s header", jetstream.MsgIDHeader)
	}
	if m.Header.Get(streams.HeaderBlob) != "" {
		t.Errorf("small envelope has a %s header", streams.HeaderBlob)
	}
	received, err := time.Parse(time.RFC3339Nano, m.Header.Get(streams.HeaderReceived))
	if err != nil {
		t.Fatalf("header %s: %v", streams.HeaderReceived, err)
	}
	if received.Before(before.Add(-time.Second)) || received.After(time.Now().Add(time.Second)) {
		t.Errorf("received-at %v is not the time of the request (%v)", received, before)
	}
}

func TestEnvelopeKeyFromDSNAndQuery(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))

	withDSN := buildEnvelope(fmt.Sprintf(`{"event_id":"%s","dsn":"http://%s@localhost:8080/%d"}`, eventID(1), key, project), eventItem(eventID(1)))
	if got := g.post(t, "/api/42/envelope/", withDSN, nil).id(t); got != eventID(1) {
		t.Errorf("key from dsn: id %q", got)
	}
	if got := g.post(t, "/api/42/envelope/?sentry_key="+key+"&sentry_version=7", eventEnvelope(eventID(2)), nil).id(t); got != eventID(2) {
		t.Errorf("key from query: id %q", got)
	}
	// The same key named twice is not a conflict.
	if got := g.post(t, "/api/42/envelope/?sentry_key="+key, withDSN, http.Header{"X-Sentry-Auth": {authHeader(key)}}).id(t); got != eventID(1) {
		t.Errorf("key named three times: id %q", got)
	}
	if n := c.count(); n != 2 { // the third repeats the first: one message
		t.Errorf("stream holds %d messages, want 2", n)
	}
}

func TestGzipBody(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))

	body := eventEnvelope(eventID(7))
	res := g.post(t, "/api/42/envelope/", gzipped(t, body), http.Header{
		"X-Sentry-Auth":    {authHeader(key)},
		"Content-Encoding": {"gzip"},
		"Content-Type":     {"application/x-sentry-envelope"},
	})
	if got := res.id(t); got != eventID(7) {
		t.Errorf("id %q, want %q", got, eventID(7))
	}
	if m := c.last(); !bytes.Equal(m.Data, body) {
		t.Errorf("stored %q, want the decompressed envelope %q", m.Data, body)
	}
}

func TestStoreEndpoint(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))

	event := `{"event_id":"` + eventID(3) + `","message":"legacy","platform":"python"}`
	res := g.post(t, "/api/42/store/", []byte(event), http.Header{
		"X-Sentry-Auth": {authHeader(key)},
		"Content-Type":  {"application/json"},
	})
	if got := res.id(t); got != eventID(3) {
		t.Errorf("id %q, want %q", got, eventID(3))
	}
	m := c.last()
	if m.Subject != "ingest.42.error" || m.Header.Get(streams.HeaderEndpoint) != "store" {
		t.Errorf("subject %q endpoint %q, want ingest.42.error and store", m.Subject, m.Header.Get(streams.HeaderEndpoint))
	}
	env, err := envelope.Parse(m.Data, envelope.DefaultLimits)
	if err != nil {
		t.Fatalf("stored message is not an envelope: %v\n%s", err, m.Data)
	}
	if env.Header.EventID != eventID(3) || len(env.Items) != 1 || env.Items[0].Type != "event" || string(env.Items[0].Payload) != event {
		t.Errorf("stored envelope %+v does not wrap the event", env)
	}

	// A transaction sent to /store/ is a transaction.
	tx := `{"event_id":"` + eventID(4) + `","type":"transaction","transaction":"/home","spans":[]}`
	g.post(t, "/api/42/store/?sentry_key="+key, []byte(tx), nil).id(t)
	if m := c.last(); m.Subject != "ingest.42.transaction" {
		t.Errorf("transaction stored on %q", m.Subject)
	}
}

// TestSecurityEndpoint: a CSP report reaches the stream by both the
// key's dsn.security form (…/security/) and its dsn.csp form
// (…/csp-report/).
func TestSecurityEndpoint(t *testing.T) {
	for _, path := range []string{"security", "csp-report"} {
		t.Run(path, func(t *testing.T) { testSecurityEndpoint(t, path) })
	}
}

func testSecurityEndpoint(t *testing.T, path string) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))

	report := `{"csp-report":{"document-uri":"https://app.example.com/","violated-directive":"script-src","blocked-uri":"https://evil.example.net/x.js"}}`
	res := g.post(t, "/api/42/"+path+"/?sentry_key="+key, []byte(report), http.Header{"Content-Type": {"application/csp-report"}})
	if id := res.id(t); envelope.NormalizeEventID(id) != id || id == "" {
		t.Errorf("answered id %q, want a generated event id", id)
	}
	m := c.last()
	if m.Subject != "ingest.42.security" || m.Header.Get(streams.HeaderEndpoint) != "security" {
		t.Errorf("subject %q endpoint %q", m.Subject, m.Header.Get(streams.HeaderEndpoint))
	}
	env, err := envelope.Parse(m.Data, envelope.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Items) != 1 || env.Items[0].Type != "raw_security" || string(env.Items[0].Payload) != report || env.Items[0].ContentType != "application/csp-report" {
		t.Errorf("stored envelope does not hold the report: %s", m.Data)
	}
}

// TestNELEndpoint: a browser's Network Error Logging upload to the key's
// dsn.nel form reaches the stream as security items, one a network error;
// an upload without one is refused with a 400 and nothing is stored.
func TestNELEndpoint(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))
	nelBatch, err := os.ReadFile("testdata/nel.json")
	if err != nil {
		t.Fatal(err)
	}

	res := g.post(t, "/api/42/nel/?sentry_key="+key, nelBatch, http.Header{"Content-Type": {"application/reports+json"}})
	if id := res.id(t); envelope.NormalizeEventID(id) != id || id == "" {
		t.Errorf("answered id %q, want a generated event id", id)
	}
	m := c.last()
	if m.Subject != "ingest.42.security" || m.Header.Get(streams.HeaderEndpoint) != "nel" {
		t.Errorf("subject %q endpoint %q", m.Subject, m.Header.Get(streams.HeaderEndpoint))
	}
	env, err := envelope.Parse(m.Data, envelope.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Items) != 1 || env.Items[0].Type != "raw_security" || !strings.Contains(string(env.Items[0].Payload), `"network-error"`) {
		t.Errorf("stored envelope does not hold the network error: %s", m.Data)
	}
	stored := c.count()
	for _, body := range []string{`{"type":"network-error"}`, `[{"type":"deprecation","body":{}}]`, `[`} {
		if res := g.post(t, "/api/42/nel/?sentry_key="+key, []byte(body), nil); res.status != http.StatusBadRequest {
			t.Errorf("POST %s: status %d, want 400", body, res.status)
		}
	}
	if res := g.post(t, "/api/42/nel/", nelBatch, nil); res.status != http.StatusUnauthorized {
		t.Errorf("without a key: status %d, want 401", res.status)
	}
	if n := c.count(); n != stored {
		t.Errorf("%d messages stored after refused uploads, want %d", n, stored)
	}
}

func TestDuplicateEnvelopeStoredOnce(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))

	body := eventEnvelope(eventID(9))
	for i := range 3 {
		if got := g.send(t, project, key, body).id(t); got != eventID(9) {
			t.Fatalf("send %d: id %q", i, got)
		}
	}
	if n := c.count(); n != 1 {
		t.Errorf("the same envelope sent 3 times is stored %d times, want once", n)
	}
	// The same body for another project is another message.
	c.putKey(projectkeys.Key{PublicKey: otherKey, ProjectID: otherProject})
	g.send(t, otherProject, otherKey, body).id(t)
	if n := c.count(); n != 2 {
		t.Errorf("stream holds %d messages, want 2", n)
	}
}

// TestBadInputRefusedAndNothingPublished sends bad requests; each gets its
// status with a JSON detail, and the stream stays as it was.
func TestBadInputRefusedAndNothingPublished(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	opt := defaultOptions(t)
	opt.Body.Decompressed = 2 << 20 // keeps the bomb small
	g := c.startGateway(opt)

	// A good envelope first, so the stream is not empty and a count that
	// did not change means something.
	g.send(t, project, key, eventEnvelope(eventID(1))).id(t)

	good := eventEnvelope(eventID(2))
	bomb := gzipped(t, append(good, make([]byte, 64<<20)...))
	bigEvent := `{"message":"` + strings.Repeat("x", envelope.DefaultLimits.MaxEvent) + `"}`
	auth := http.Header{"X-Sentry-Auth": {authHeader(key)}}
	with := func(h http.Header, kv ...string) http.Header {
		out := h.Clone()
		if out == nil {
			out = http.Header{}
		}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	tests := []struct {
		name   string
		path   string
		body   []byte
		header http.Header
		status int
	}{
		{"empty body", "/api/42/envelope/", nil, auth, 400},
		{"truncated item", "/api/42/envelope/", []byte(`{}` + "\n" + `{"type":"event","length":100}` + "\n" + `{"message":"short"}`), auth, 400},
		{"truncated header", "/api/42/envelope/", []byte(`{"event_id":"` + eventID(3)), auth, 400},
		{"length too short", "/api/42/envelope/", []byte(`{}` + "\n" + `{"type":"event","length":5}` + "\n" + `{"message":"longer than five"}` + "\n"), auth, 400},
		{"negative length", "/api/42/envelope/", []byte(`{}` + "\n" + `{"type":"event","length":-1}` + "\n{}\n"), auth, 400},
		{"length not a number", "/api/42/envelope/", []byte(`{}` + "\n" + `{"type":"event","length":"2"}` + "\n{}\n"), auth, 400},
		{"header not JSON", "/api/42/envelope/", []byte("not json\n" + `{"type":"event"}` + "\n{}\n"), auth, 400},
		{"item header not JSON", "/api/42/envelope/", []byte("{}\n{type:event}\n{}\n"), auth, 400},
		{"item without type", "/api/42/envelope/", []byte("{}\n{\"length\":2}\n{}\n"), auth, 400},
		{"event not JSON", "/api/42/envelope/", buildEnvelope(`{}`, item{"event", `{"message": "unterminated`}), auth, 400},
		{"bad event_id", "/api/42/envelope/", buildEnvelope(`{"event_id":"not-a-uuid"}`, eventItem(eventID(4))), auth, 400},
		{"two events", "/api/42/envelope/", buildEnvelope(`{}`, eventItem(eventID(5)), eventItem(eventID(6))), auth, 400},
		{"oversize event", "/api/42/envelope/", buildEnvelope(`{}`, item{"event", bigEvent}), auth, 413},
		{"oversize event without length", "/api/42/envelope/", []byte("{}\n{\"type\":\"event\"}\n" + bigEvent + "\n"), auth, 413},
		{"too many sessions", "/api/42/envelope/", buildEnvelope(`{}`, sessions(101)...), auth, 413},
		{"decompression bomb", "/api/42/envelope/", bomb, with(auth, "Content-Encoding", "gzip"), 413},
		{"corrupt gzip", "/api/42/envelope/", good, with(auth, "Content-Encoding", "gzip"), 400},
		{"unknown encoding", "/api/42/envelope/", good, with(auth, "Content-Encoding", "lzma"), 415},
		{"store not JSON", "/api/42/store/", []byte(`{"message":`), auth, 400},
		{"security not JSON", "/api/42/security/", []byte(`{"csp-report":`), auth, 400},
		{"unknown key", "/api/42/envelope/", good, http.Header{"X-Sentry-Auth": {authHeader("00000000000000000000000000000bad")}}, 401},
		{"unknown key in dsn", "/api/42/envelope/", buildEnvelope(`{"dsn":"http://00000000000000000000000000000bad@h/42"}`, eventItem(eventID(2))), nil, 401},
		{"disabled key", "/api/42/envelope/", good, http.Header{"X-Sentry-Auth": {authHeader(disabledKey)}}, 403},
		{"key of another project", "/api/42/envelope/", good, http.Header{"X-Sentry-Auth": {authHeader(otherKey)}}, 403},
		{"key of another project in dsn", "/api/42/envelope/", buildEnvelope(`{"dsn":"http://`+otherKey+`@h/43"}`, eventItem(eventID(2))), nil, 403},
		{"conflicting header and query", "/api/42/envelope/?sentry_key=" + otherKey, good, auth, 401},
		{"conflicting header and dsn", "/api/42/envelope/", buildEnvelope(`{"dsn":"http://`+otherKey+`@h/43"}`, eventItem(eventID(2))), auth, 401},
		{"missing key", "/api/42/envelope/", good, nil, 401},
		{"missing key, store", "/api/42/store/", []byte(`{"message":"x"}`), nil, 401},
		{"project id not a number", "/api/abc/envelope/", good, auth, 404},
		{"project id zero", "/api/0/envelope/", good, auth, 404},
		{"project id negative", "/api/-42/envelope/", good, auth, 404},
		{"origin not allowed", "/api/42/envelope/", good, http.Header{"X-Sentry-Auth": {authHeader(strictKey)}, "Origin": {"https://evil.example.net"}}, 403},
		{"origin lookalike", "/api/42/envelope/", good, http.Header{"X-Sentry-Auth": {authHeader(strictKey)}, "Origin": {"https://notexample.org"}}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := c.count()
			res := g.post(t, tt.path, tt.body, tt.header)
			if res.status != tt.status {
				t.Errorf("status %d (%s), want %d", res.status, res.body, tt.status)
			}
			if d := res.detail(t); res.header.Get("X-Sentry-Error") == "" {
				t.Errorf("no X-Sentry-Error header for %q", d)
			}
			if after := c.count(); after != before {
				t.Errorf("stream went from %d to %d messages: a refused request was published", before, after)
			}
		})
	}
	// The strict key does work from its own origins.
	for _, origin := range []string{"https://app.example.com", "https://www.example.org"} {
		res := g.post(t, "/api/42/envelope/", eventEnvelope(eventID(20)), http.Header{"X-Sentry-Auth": {authHeader(strictKey)}, "Origin": {origin}})
		if res.status != http.StatusOK {
			t.Errorf("origin %s: status %d (%s), want 200", origin, res.status, res.body)
		}
	}
}

func sessions(n int) []item {
	out := make([]item, n)
	for i := range out {
		out[i] = item{"session", fmt.Sprintf(`{"sid":"%032x","status":"ok","attrs":{"release":"1.0"}}`, i)}
	}
	return out
}

func TestCORS(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))

	for _, ep := range []string{"envelope", "store", "security"} {
		t.Run("preflight "+ep, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodOptions, g.url+"/api/42/"+ep+"/", nil)
			req.Header.Set("Origin", "https://app.example.com")
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "content-type, sentry-trace, baggage")
			res := do(t, req)
			if res.status != http.StatusOK {
				t.Fatalf("status %d, want 200", res.status)
			}
			if got := res.header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
				t.Errorf("Allow-Origin %q", got)
			}
			if got := res.header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
				t.Errorf("Allow-Methods %q lacks POST", got)
			}
			allow := strings.ToLower(res.header.Get("Access-Control-Allow-Headers"))
			for _, h := range []string{"x-sentry-auth", "content-type", "content-encoding", "sentry-trace", "baggage"} {
				if !strings.Contains(allow, h) {
					t.Errorf("Allow-Headers %q lacks %s", allow, h)
				}
			}
			expose := res.header.Get("Access-Control-Expose-Headers")
			for _, h := range []string{"X-Sentry-Rate-Limits", "Retry-After"} {
				if !strings.Contains(expose, h) {
					t.Errorf("Expose-Headers %q lacks %s", expose, h)
				}
			}
		})
	}
	t.Run("post with origin", func(t *testing.T) {
		res := g.post(t, "/api/42/envelope/?sentry_key="+key, eventEnvelope(eventID(1)), http.Header{"Origin": {"https://anywhere.example"}})
		res.id(t)
		if got := res.header.Get("Access-Control-Allow-Origin"); got != "https://anywhere.example" {
			t.Errorf("Allow-Origin %q", got)
		}
		if !strings.Contains(res.header.Get("Access-Control-Expose-Headers"), "X-Sentry-Rate-Limits") {
			t.Errorf("Expose-Headers %q", res.header.Get("Access-Control-Expose-Headers"))
		}
	})
	t.Run("refusal carries CORS headers", func(t *testing.T) {
		// A browser can only read the reason when the refusal is CORS-readable.
		res := g.post(t, "/api/42/envelope/?sentry_key="+strictKey, eventEnvelope(eventID(1)), http.Header{"Origin": {"https://evil.example.net"}})
		if res.status != http.StatusForbidden || res.header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("status %d, Allow-Origin %q", res.status, res.header.Get("Access-Control-Allow-Origin"))
		}
	})
}

func TestClientIPFromTrustedProxiesOnly(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	direct := c.startGateway(defaultOptions(t))
	opt := defaultOptions(t)
	opt.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	proxied := c.startGateway(opt)

	tests := []struct {
		name string
		g    *gw
		xff  []string
		want string
	}{
		{"untrusted peer: header ignored", direct, []string{"203.0.113.7"}, "127.0.0.1"},
		{"no header", proxied, nil, "127.0.0.1"},
		{"trusted peer", proxied, []string{"203.0.113.7"}, "203.0.113.7"},
		{"rightmost untrusted hop", proxied, []string{"198.51.100.1, 203.0.113.7, 10.1.2.3"}, "203.0.113.7"},
		{"several headers", proxied, []string{"198.51.100.1", "203.0.113.9"}, "203.0.113.9"},
		{"ipv6", proxied, []string{"2001:db8::1"}, "2001:db8::1"},
		{"garbage hop stops the walk", proxied, []string{"203.0.113.7, garbage"}, "127.0.0.1"},
		{"all trusted", proxied, []string{"10.0.0.1"}, "127.0.0.1"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"X-Sentry-Auth": {authHeader(key)}}
			for _, v := range tt.xff {
				h.Add("X-Forwarded-For", v)
			}
			tt.g.post(t, "/api/42/envelope/", eventEnvelope(eventID(100+i)), h).id(t)
			if got := c.last().Header.Get(streams.HeaderClientIP); got != tt.want {
				t.Errorf("client ip %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStreamUnavailableAnswers503(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	opt := defaultOptions(t)
	opt.PublishTimeout = 3 * time.Second
	g := c.startGateway(opt)
	g.send(t, project, key, eventEnvelope(eventID(1))).id(t)

	check := func(t *testing.T, res *response) {
		t.Helper()
		if res.status != http.StatusServiceUnavailable {
			t.Fatalf("status %d (%s), want 503", res.status, res.body)
		}
		if res.header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
		res.detail(t)
	}
	t.Run("stream deleted", func(t *testing.T) {
		if err := c.nc.JS.DeleteStream(testContext(t), streams.Ingest); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			check(t, g.send(t, project, key, eventEnvelope(eventID(10+i))))
		}
		// The gateway must not have created a stream of its own either.
		if _, err := c.nc.JS.Stream(testContext(t), streams.Ingest); err == nil {
			t.Error("the INGEST stream exists again")
		}
		// Once the stream is back, so is ingestion.
		if err := streams.Apply(testContext(t), c.nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, DuplicateWindow: time.Minute}); err != nil {
			t.Fatal(err)
		}
		g.send(t, project, key, eventEnvelope(eventID(15))).id(t)
	})
	t.Run("server stopped", func(t *testing.T) {
		c.srv.Shutdown()
		for i := range 3 {
			check(t, g.send(t, project, key, eventEnvelope(eventID(20+i))))
		}
	})
}

func TestOverloadAnswers503AtOnce(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	opt := defaultOptions(t)
	opt.MaxInFlight = 1
	g := c.startGateway(opt)

	// One request whose body never ends holds the only slot.
	body := eventEnvelope(eventID(1))
	var pw *io.PipeWriter
	var slow chan *http.Response
	startSlow := func() {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		w := pw
		t.Cleanup(func() { w.CloseWithError(io.ErrUnexpectedEOF) })
		req, _ := http.NewRequest(http.MethodPost, g.url+"/api/42/envelope/", pr)
		req.Header.Set("X-Sentry-Auth", authHeader(key))
		slow = make(chan *http.Response, 1)
		go func(slow chan<- *http.Response) {
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				res = nil
			}
			slow <- res
		}(slow)
		if _, err := pw.Write(body[:10]); err != nil {
			t.Fatal(err)
		}
	}
	startSlow()
	var res *response
	eventually(t, "a second request is shed", func() bool {
		select {
		case r := <-slow:
			// The probe below took the slot first and the slow request
			// was the one shed (a loaded machine): start it again.
			if r != nil {
				r.Body.Close()
			}
			pw.CloseWithError(io.ErrUnexpectedEOF)
			startSlow()
		default:
		}
		res = g.send(t, project, key, eventEnvelope(eventID(2)))
		return res.status == http.StatusServiceUnavailable
	})
	if res.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	res.detail(t)
	before := c.count()

	// The slow request still completes, and the slot is free afterwards.
	pw.Write(body[10:])
	pw.Close()
	if r := <-slow; r == nil || r.StatusCode != http.StatusOK {
		t.Fatalf("slow request answered %v", r)
	} else {
		r.Body.Close()
	}
	if c.count() != before+1 {
		t.Errorf("slow request not stored")
	}
	g.send(t, project, key, eventEnvelope(eventID(3))).id(t)
}

func TestLargeEnvelopeGoesToObjectStore(t *testing.T) {
	c := newCluster(t)
	standardKeys(c)
	g := c.startGateway(defaultOptions(t))

	attachment := bytes.Repeat([]byte("0123456789abcdef"), (5<<20)/16) // 5 MiB: over the 4 MiB threshold
	body := buildEnvelope(`{"event_id":"`+eventID(1)+`"}`, eventItem(eventID(1)), item{"attachment", string(attachment)})
	g.send(t, project, key, gzipped(t, body)) // wrong: no Content-Encoding; must be refused
	if n := c.count(); n != 0 {
		t.Fatalf("stream holds %d messages after a bad request", n)
	}
	res := g.post(t, "/api/42/envelope/", gzipped(t, body), http.Header{"X-Sentry-Auth": {authHeader(key)}, "Content-Encoding": {"gzip"}})
	if got := res.id(t); got != eventID(1) {
		t.Errorf("id %q", got)
	}
	m := c.last()
	name := m.Header.Get(streams.HeaderBlob)
	if name == "" {
		t.Fatalf("no %s header; message of %d bytes", streams.HeaderBlob, len(m.Data))
	}
	if len(m.Data) != 0 {
		t.Errorf("message body of %d bytes, want empty", len(m.Data))
	}
	if m.Subject != "ingest.42.error" || m.Header.Get(streams.HeaderEventID) != eventID(1) {
		t.Errorf("subject %q event id %q", m.Subject, m.Header.Get(streams.HeaderEventID))
	}
	obs, err := c.nc.JS.ObjectStore(testContext(t), streams.BlobsBucket)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := obs.GetBytes(testContext(t), name)
	if err != nil {
		t.Fatalf("blob %s: %v", name, err)
	}
	if !bytes.Equal(stored, body) {
		t.Errorf("blob holds %d bytes, want the %d-byte envelope", len(stored), len(body))
	}
}

func TestKeyChangesReachGateway(t *testing.T) {
	c := newCluster(t)
	g := c.startGateway(defaultOptions(t))
	n := 0
	status := func() int {
		n++
		return g.send(t, project, key, eventEnvelope(eventID(n))).status
	}
	if s := status(); s != http.StatusUnauthorized {
		t.Fatalf("before the key exists: %d, want 401", s)
	}
	c.putKey(projectkeys.Key{PublicKey: key, ProjectID: project})
	eventually(t, "new key accepted", func() bool { return status() == http.StatusOK })
	c.putKey(projectkeys.Key{PublicKey: key, ProjectID: project, Disabled: true})
	eventually(t, "disabled key refused", func() bool { return status() == http.StatusForbidden })
	c.putKey(projectkeys.Key{PublicKey: key, ProjectID: project})
	eventually(t, "enabled key accepted", func() bool { return status() == http.StatusOK })
	c.putKey(projectkeys.Key{PublicKey: key, ProjectID: otherProject})
	eventually(t, "moved key refused", func() bool { return status() == http.StatusForbidden })
	if err := projectkeys.Delete(testContext(t), c.keys, key); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted key refused", func() bool { return status() == http.StatusUnauthorized })

	// A gateway started now sees the bucket as it is.
	c.putKey(projectkeys.Key{PublicKey: otherKey, ProjectID: project})
	late := c.startGateway(defaultOptions(t))
	if res := late.send(t, project, otherKey, eventEnvelope(eventID(999))); res.status != http.StatusOK {
		t.Errorf("late gateway: %d, want 200 at once after Ready", res.status)
	}
	if res := late.send(t, project, key, eventEnvelope(eventID(998))); res.status != http.StatusUnauthorized {
		t.Errorf("late gateway, deleted key: %d, want 401", res.status)
	}
}
