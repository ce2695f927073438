package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/monitors"
)

// checkWrapped asserts that a wrapped body is a well-formed envelope that
// parses to the envelope the wrapper returned.
func checkWrapped(t testing.TB, body []byte, env *envelope.Envelope, lim envelope.Limits) {
	t.Helper()
	got, err := envelope.Parse(body, lim)
	if err != nil {
		t.Fatalf("wrapped envelope does not parse: %v\n%s", err, body)
	}
	if got.Header.EventID != env.Header.EventID || len(env.Header.EventID) != 32 ||
		envelope.NormalizeEventID(env.Header.EventID) != env.Header.EventID {
		t.Fatalf("event_id: parsed %q, returned %q", got.Header.EventID, env.Header.EventID)
	}
	if len(got.Items) != len(env.Items) {
		t.Fatalf("parsed %d items, returned %d", len(got.Items), len(env.Items))
	}
	for i := range got.Items {
		a, b := got.Items[i], env.Items[i]
		if a.Type != b.Type || a.Length != b.Length || a.ContentType != b.ContentType || !bytes.Equal(a.Payload, b.Payload) {
			t.Fatalf("item %d: parsed %s/%d/%q, returned %s/%d/%q", i, a.Type, a.Length, a.ContentType, b.Type, b.Length, b.ContentType)
		}
	}
}

// sdkEvent is the event payload of a captured sentry-go envelope.
func sdkEvent(t testing.TB) []byte {
	env, err := envelope.Parse(sdkPayloads(t)["go-error"], envelope.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return env.Items[0].Payload
}

func legacy(t testing.TB, enc string, b []byte) string {
	return base64.StdEncoding.EncodeToString(compress(t, enc, b))
}

func TestWrapStore(t *testing.T) {
	event := sdkEvent(t)
	var head struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(event, &head); err != nil {
		t.Fatal(err)
	}
	small := envelope.DefaultLimits
	small.MaxEvent = 64
	tests := []struct {
		name    string
		body    string
		lim     envelope.Limits
		typ     string
		id      string // "" for a generated one
		payload string // "" for the body itself
		status  int
		reason  string
	}{
		{name: "sentry-go event", body: string(event), typ: "event", id: head.EventID},
		{name: "surrounding blanks", body: "\n  {\"message\":\"hi\"}\r\n", typ: "event", payload: `{"message":"hi"}`},
		{name: "no event_id", body: `{"message":"hi"}`, typ: "event"},
		{name: "dashed event_id", body: `{"event_id":"9EC79C33-EC99-42AB-8353-589FCB2E04DC"}`, typ: "event", id: "9ec79c33ec9942ab8353589fcb2e04dc"},
		{name: "null event_id", body: `{"event_id":null,"message":"x"}`, typ: "event"},
		{name: "transaction", body: `{"type":"transaction","event_id":"9ec79c33ec9942ab8353589fcb2e04dc","spans":[]}`, typ: "transaction", id: "9ec79c33ec9942ab8353589fcb2e04dc"},
		{name: "other type is an event", body: `{"type":"error","message":"x"}`, typ: "event"},
		{name: "legacy base64 zlib", body: legacy(t, "deflate", event), typ: "event", id: head.EventID, payload: string(event)},
		{name: "legacy base64 raw deflate", body: legacy(t, "deflate-raw", event), typ: "event", id: head.EventID, payload: string(event)},
		{name: "legacy base64 with line breaks", body: wrapLines(legacy(t, "deflate", event), 76), typ: "event", id: head.EventID, payload: string(event)},
		{name: "bad event_id", body: `{"event_id":"not-a-uuid"}`, status: 400, reason: "invalid_event_id"},
		{name: "numeric event_id", body: `{"event_id":42}`, status: 400, reason: "invalid_json"},
		{name: "broken JSON", body: `{"message":`, status: 400, reason: "invalid_json"},
		{name: "trailing garbage", body: `{"message":"x"} {}`, status: 400, reason: "invalid_json"},
		{name: "JSON array", body: `[{"message":"x"}]`, status: 400, reason: "invalid_json"},
		{name: "empty", body: "", status: 400, reason: "invalid_json"},
		{name: "neither JSON nor base64", body: "hello, world!", status: 400, reason: "invalid_json"},
		{name: "base64 of garbage", body: base64.StdEncoding.EncodeToString([]byte("not compressed at all")), status: 400, reason: "bad_compression"},
		{name: "legacy base64 of non-JSON", body: legacy(t, "deflate", []byte("plain text")), status: 400, reason: "invalid_json"},
		{name: "oversize", body: `{"message":"` + strings.Repeat("x", 64) + `"}`, lim: small, status: 413, reason: "item_too_large"},
		{name: "legacy bomb", body: legacy(t, "deflate", make([]byte, 1<<20)), lim: small, status: 413, reason: "decompressed_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.lim
			if lim.MaxEvent == 0 {
				lim = envelope.DefaultLimits
			}
			body, env, err := wrapStore([]byte(tt.body), lim)
			if tt.status != 0 {
				wantError(t, err, tt.status, tt.reason)
				return
			}
			if err != nil {
				t.Fatalf("wrapStore: %v", err)
			}
			checkWrapped(t, body, env, lim)
			if len(env.Items) != 1 || env.Items[0].Type != tt.typ {
				t.Fatalf("items = %+v, want one %s", env.Items, tt.typ)
			}
			if tt.id != "" && env.Header.EventID != tt.id {
				t.Errorf("event_id = %q, want %q", env.Header.EventID, tt.id)
			}
			want := tt.payload
			if want == "" {
				want = tt.body
			}
			if got := string(env.Items[0].Payload); got != want {
				t.Errorf("payload = %.80q, want %.80q", got, want)
			}
		})
	}
}

func TestWrapStoreFreshIDs(t *testing.T) {
	_, a, err := wrapStore([]byte(`{}`), envelope.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := wrapStore([]byte(`{}`), envelope.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if a.Header.EventID == b.Header.EventID {
		t.Fatalf("two events without event_id got the same id %s", a.Header.EventID)
	}
	if v := a.Header.EventID[12]; v != '4' {
		t.Errorf("generated id %s is not a version-4 UUID", a.Header.EventID)
	}
}

func wrapLines(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}

func TestWrapSecurity(t *testing.T) {
	csp := `{"csp-report":{"document-uri":"https://example.com/page","referrer":"","violated-directive":"script-src-elem","effective-directive":"script-src-elem","original-policy":"default-src 'self'; report-uri /api/1/security/?sentry_key=abc","disposition":"enforce","blocked-uri":"https://evil.example/x.js","status-code":200,"script-sample":""}}`
	expectCT := `{"expect-ct-report":{"date-time":"2024-01-01T00:00:00Z","hostname":"example.com","port":443,"effective-expiration-date":"2024-06-01T00:00:00Z","served-certificate-chain":[],"validated-certificate-chain":[],"scts":[]}}`
	hpkp := `{"date-time":"2024-01-01T00:00:00Z","hostname":"example.com","port":443,"effective-expiration-date":"2024-06-01T00:00:00Z","include-subdomains":false,"noted-hostname":"example.com","served-certificate-chain":["-----BEGIN CERTIFICATE-----"],"validated-certificate-chain":[],"known-pins":["pin-sha256=\"d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM=\""]}`
	r1 := `{"age":10,"type":"csp-violation","url":"https://example.com/","user_agent":"Mozilla/5.0","body":{"documentURL":"https://example.com/","blockedURL":"inline","effectiveDirective":"script-src-elem","disposition":"enforce","statusCode":200}}`
	r2 := `{"age":12,"type":"csp-violation","url":"https://example.com/b","user_agent":"Mozilla/5.0","body":{"documentURL":"https://example.com/b","blockedURL":"eval","effectiveDirective":"script-src","disposition":"report","statusCode":200}}`
	small := envelope.DefaultLimits
	small.MaxEvent = 64
	small.MaxItems = 2
	tests := []struct {
		name, body, ct string
		lim            envelope.Limits
		items          []string // payloads
		wantCT         string
		status         int
		reason         string
	}{
		{name: "csp-report", body: csp, ct: "application/csp-report", items: []string{csp}, wantCT: "application/csp-report"},
		{name: "csp-report with charset", body: csp, ct: "application/csp-report; charset=utf-8", items: []string{csp}, wantCT: "application/csp-report"},
		{name: "expect-ct", body: expectCT, ct: "application/expect-ct-report+json", items: []string{expectCT}, wantCT: "application/expect-ct-report+json"},
		{name: "hpkp", body: hpkp, ct: "application/json", items: []string{hpkp}, wantCT: "application/json"},
		{name: "no content type", body: csp, items: []string{csp}},
		{name: "reports+json batch", body: "[" + r1 + ",\n " + r2 + "]", ct: "application/reports+json", items: []string{r1, r2}, wantCT: "application/reports+json"},
		{name: "batch of one", body: " [ " + r1 + " ] ", ct: "application/reports+json", items: []string{r1}, wantCT: "application/reports+json"},
		{name: "not JSON", body: "document-uri=https://example.com", ct: "application/x-www-form-urlencoded", status: 400, reason: "invalid_json"},
		{name: "JSON null", body: "null", ct: "application/json", status: 400, reason: "invalid_json"},
		{name: "JSON string", body: `"report"`, ct: "application/json", status: 400, reason: "invalid_json"},
		{name: "empty", body: "", status: 400, reason: "invalid_json"},
		{name: "broken batch", body: "[" + r1, ct: "application/reports+json", status: 400, reason: "invalid_json"},
		{name: "batch with a non-object", body: "[" + r1 + ",null]", ct: "application/reports+json", status: 400, reason: "invalid_json"},
		{name: "empty batch", body: "[]", ct: "application/reports+json", status: 400, reason: "invalid_security_report"},
		{name: "batch over the item limit", body: "[{},{},{}]", ct: "application/reports+json", lim: small, status: 400, reason: "invalid_security_report"},
		{name: "oversize", body: csp, ct: "application/csp-report", lim: small, status: 413, reason: "item_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.lim
			if lim.MaxEvent == 0 {
				lim = envelope.DefaultLimits
			}
			body, env, err := wrapSecurity([]byte(tt.body), tt.ct, lim)
			if tt.status != 0 {
				wantError(t, err, tt.status, tt.reason)
				return
			}
			if err != nil {
				t.Fatalf("wrapSecurity: %v", err)
			}
			checkWrapped(t, body, env, lim)
			if len(env.Items) != len(tt.items) {
				t.Fatalf("%d items, want %d", len(env.Items), len(tt.items))
			}
			for i, it := range env.Items {
				if it.Type != "raw_security" || string(it.Payload) != tt.items[i] || it.ContentType != tt.wantCT {
					t.Errorf("item %d = %s %q %.60q, want raw_security %q %.60q", i, it.Type, it.ContentType, it.Payload, tt.wantCT, tt.items[i])
				}
			}
			if kind := env.Kind(); kind != envelope.KindSecurity {
				t.Errorf("kind = %q, want %q", kind, envelope.KindSecurity)
			}
		})
	}
}

func wrapErrorOK(t *testing.T, err error) {
	t.Helper()
	var ee *envelope.Error
	if !errors.As(err, &ee) || (ee.Status != http.StatusBadRequest && ee.Status != http.StatusRequestEntityTooLarge) || ee.Reason == "" {
		t.Fatalf("error %#v is not a 400 or 413 *envelope.Error with a reason", err)
	}
}

// FuzzWrapStore: any body is wrapped into an envelope that parses, or
// refused with a 400 or 413.
func FuzzWrapStore(f *testing.F) {
	f.Add([]byte(`{"message":"hi","event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}`))
	f.Add([]byte(`{"type":"transaction"}`))
	f.Add([]byte(legacy(f, "deflate", []byte(`{"message":"legacy"}`))))
	f.Add([]byte("bnVsbA=="))
	lim := envelope.DefaultLimits
	lim.MaxEvent = 16 << 10
	f.Fuzz(func(t *testing.T, body []byte) {
		out, env, err := wrapStore(body, lim)
		if err != nil {
			wrapErrorOK(t, err)
			return
		}
		checkWrapped(t, out, env, lim)
		if len(env.Items) != 1 || (env.Items[0].Type != "event" && env.Items[0].Type != "transaction") {
			t.Fatalf("items = %+v, want one event or transaction", env.Items)
		}
	})
}

// FuzzWrapSecurity: any report is wrapped into an envelope that parses, or
// refused with a 400 or 413.
func FuzzWrapSecurity(f *testing.F) {
	f.Add([]byte(`{"csp-report":{"document-uri":"https://example.com"}}`), "application/csp-report")
	f.Add([]byte(`[{"type":"csp-violation","body":{}},{"type":"deprecation","body":{}}]`), "application/reports+json")
	f.Add([]byte(`null`), "application/json; charset=utf-8")
	lim := envelope.DefaultLimits
	lim.MaxItems = 50
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		out, env, err := wrapSecurity(body, ct, lim)
		if err != nil {
			wrapErrorOK(t, err)
			return
		}
		checkWrapped(t, out, env, lim)
		for _, it := range env.Items {
			if it.Type != "raw_security" || len(it.Payload) == 0 || it.Payload[0] != '{' {
				t.Fatalf("item %s %q is not a security report object", it.Type, it.Payload)
			}
		}
	})
}

// FuzzWrapCron: any HTTP check-in is wrapped into an envelope with one
// check-in that parses, or refused with a 400 or 413.
func FuzzWrapCron(f *testing.F) {
	f.Add("nightly", "status=ok", []byte(``))
	f.Add("Nightly Job", "status=in_progress&check_in_id=83a7c03ed0a04e1b97e2e3b18d38f244&environment=prod&duration=3", []byte(``))
	f.Add("x", "", []byte(`{"status":"error","monitor_config":{"schedule":{"type":"crontab","value":"0 * * * *"}}}`))
	f.Add("x", "status=ok", []byte(`null`))
	lim := envelope.DefaultLimits
	f.Fuzz(func(t *testing.T, slug, query string, body []byte) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		out, env, err := wrapCron(slug, q, body, lim)
		if err != nil {
			wrapErrorOK(t, err)
			return
		}
		checkWrapped(t, out, env, lim)
		if len(env.Items) != 1 || env.Items[0].Type != "check_in" {
			t.Fatalf("items = %+v, want one check_in", env.Items)
		}
		if _, err := monitors.ParseCheckIn(env.Items[0].Payload); err != nil {
			t.Fatalf("wrapped check-in does not parse: %v", err)
		}
	})
}

// testdata/nel.json is a Reporting API upload as Chrome sends it to a NEL
// endpoint: a network error and, in the same batch, a report of another type.
func TestWrapNEL(t *testing.T) {
	lim := envelope.DefaultLimits
	nelBatch, err := os.ReadFile("testdata/nel.json")
	if err != nil {
		t.Fatal(err)
	}
	body, env, err := wrapNEL(nelBatch, lim)
	if err != nil {
		t.Fatalf("wrapNEL: %v", err)
	}
	checkWrapped(t, body, env, lim)
	if len(env.Items) != 1 || env.Items[0].Type != "raw_security" || !strings.Contains(string(env.Items[0].Payload), "dns.name_not_resolved") ||
		env.Items[0].ContentType != "application/reports+json" {
		t.Fatalf("items = %+v, want the one network-error report", env.Items)
	}
	small := lim
	small.MaxItems = 1
	for _, tt := range []struct {
		name, body, reason string
		lim                envelope.Limits
	}{
		{"not JSON", `[{"type":`, "invalid_json", lim},
		{"an object, not a batch", `{"type":"network-error","body":{"type":"tcp.refused"}}`, "invalid_json", lim},
		{"null", `null`, "invalid_json", lim},
		{"non-object in batch", `["network-error"]`, "invalid_json", lim},
		{"no network error", `[{"type":"deprecation","body":{}}]`, "invalid_nel_report", lim},
		{"empty batch", `[]`, "invalid_nel_report", lim},
		{"no body", `[{"type":"network-error","url":"https://a.example/"}]`, "invalid_nel_report", lim},
		{"over the item limit", `[{"type":"network-error","body":{}},{"type":"network-error","body":{}}]`, "invalid_nel_report", small},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := wrapNEL([]byte(tt.body), tt.lim)
			var ee *envelope.Error
			if !errors.As(err, &ee) || ee.Status != 400 || ee.Reason != tt.reason {
				t.Fatalf("wrapNEL(%s) = %v, want 400 %s", tt.body, err, tt.reason)
			}
		})
	}
}

// FuzzWrapNEL: any upload is wrapped into an envelope of network-error
// reports that parses, or refused with a 400 or 413.
func FuzzWrapNEL(f *testing.F) {
	if b, err := os.ReadFile("testdata/nel.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`[{"type":"network-error","body":{"type":"http.error","status_code":500}}]`))
	f.Add([]byte(`[{"type":"network-error","body":null}]`))
	lim := envelope.DefaultLimits
	lim.MaxItems = 50
	f.Fuzz(func(t *testing.T, body []byte) {
		out, env, err := wrapNEL(body, lim)
		if err != nil {
			wrapErrorOK(t, err)
			return
		}
		checkWrapped(t, out, env, lim)
		for _, it := range env.Items {
			var r struct{ Type string }
			if it.Type != "raw_security" || json.Unmarshal(it.Payload, &r) != nil || r.Type != "network-error" {
				t.Fatalf("item %s %q is not a network-error report", it.Type, it.Payload)
			}
		}
	})
}
