package event

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var meta = Meta{ProjectID: 7, Received: time.Date(2024, 5, 1, 12, 0, 30, 0, time.UTC), ClientIP: "203.0.113.9",
	EventID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}

func mustNormalize(t *testing.T, payload string) *Event {
	t.Helper()
	e, err := Normalize([]byte(payload), meta)
	if err != nil {
		t.Fatalf("Normalize(%s): %v", payload, err)
	}
	return e
}

func TestNormalizeShapes(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		check   func(t *testing.T, e *Event)
	}{
		{"exception as {values}", `{"exception":{"values":[{"type":"TypeError","value":"x is undefined"}]}}`, func(t *testing.T, e *Event) {
			if len(e.Exceptions) != 1 || e.Title() != "TypeError: x is undefined" || e.Type != "error" {
				t.Errorf("got %+v, title %q, type %q", e.Exceptions, e.Title(), e.Type)
			}
		}},
		{"exception as a bare array (sentry-go)", `{"exception":[{"type":"*errors.errorString","value":"boom"}]}`, func(t *testing.T, e *Event) {
			if e.Title() != "*errors.errorString: boom" {
				t.Errorf("title %q", e.Title())
			}
		}},
		{"exception as a single object", `{"exception":{"type":"E","value":"v"}}`, func(t *testing.T, e *Event) {
			if len(e.Exceptions) != 1 || e.Exceptions[0].Type != "E" {
				t.Errorf("got %+v", e.Exceptions)
			}
		}},
		{"legacy interface name", `{"sentry.interfaces.Exception":{"values":[{"type":"E"}]},"sentry.interfaces.Message":{"message":"m"}}`, func(t *testing.T, e *Event) {
			if len(e.Exceptions) != 1 || e.Message != "m" {
				t.Errorf("got %+v %q", e.Exceptions, e.Message)
			}
		}},
		{"type split from value", `{"exception":[{"value":"ValueError: bad input"}]}`, func(t *testing.T, e *Event) {
			if ex := e.Exceptions[0]; ex.Type != "ValueError" || ex.Value != "bad input" {
				t.Errorf("got %+v", ex)
			}
		}},
		{"chained exceptions keep order and mechanism ids", `{"exception":{"values":[
			{"type":"Cause","mechanism":{"type":"chained","exception_id":1,"parent_id":0}},
			{"type":"Outer","value":"o","mechanism":{"type":"generic","exception_id":"0","handled":"false"}}]}}`, func(t *testing.T, e *Event) {
			if len(e.Exceptions) != 2 || e.MainException().Type != "Outer" || e.Title() != "Outer: o" {
				t.Fatalf("got %+v", e.Exceptions)
			}
			m := e.Exceptions[0].Mechanism
			if m.ExceptionID == nil || *m.ExceptionID != 1 || m.ParentID == nil || *m.ParentID != 0 {
				t.Errorf("mechanism %+v", m)
			}
			if h := e.Exceptions[1].Mechanism.Handled; h == nil || *h {
				t.Errorf("handled = %v, want false", h)
			}
		}},
		{"exception group names the event after a member", `{"exception":[
			{"type":"ValueError","value":"v"},
			{"type":"ExceptionGroup","value":"1 sub-exception","mechanism":{"is_exception_group":true,"exception_id":0}}]}`, func(t *testing.T, e *Event) {
			if e.Title() != "ValueError: v" {
				t.Errorf("title %q", e.Title())
			}
		}},
		{"message string", `{"message":"hello\nworld"}`, func(t *testing.T, e *Event) {
			if e.Message != "hello\nworld" || e.Title() != "hello" || e.Type != "default" {
				t.Errorf("message %q title %q type %q", e.Message, e.Title(), e.Type)
			}
		}},
		{"message object", `{"message":{"message":"user %s","params":["bob"]}}`, func(t *testing.T, e *Event) {
			if e.Message != "user bob" || e.LogEntry == nil || e.LogEntry.Message != "user %s" {
				t.Errorf("message %q logentry %+v", e.Message, e.LogEntry)
			}
		}},
		{"logentry with formatted", `{"logentry":{"formatted":"user bob","message":"user %s","params":["bob"]}}`, func(t *testing.T, e *Event) {
			if e.Message != "user bob" || e.LogEntry.Params[0] != "bob" {
				t.Errorf("message %q logentry %+v", e.Message, e.LogEntry)
			}
		}},
		{"timestamp as float", `{"timestamp":1714564800.25}`, func(t *testing.T, e *Event) {
			if want := time.Date(2024, 5, 1, 12, 0, 0, 250e6, time.UTC); !e.Timestamp.Equal(want) {
				t.Errorf("timestamp %v, want %v", e.Timestamp, want)
			}
		}},
		{"timestamp as RFC 3339 with zone", `{"timestamp":"2024-05-01T14:00:00+02:00"}`, func(t *testing.T, e *Event) {
			if want := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC); !e.Timestamp.Equal(want) {
				t.Errorf("timestamp %v", e.Timestamp)
			}
		}},
		{"timestamp without zone is UTC", `{"timestamp":"2024-05-01T12:00:00.5"}`, func(t *testing.T, e *Event) {
			if want := time.Date(2024, 5, 1, 12, 0, 0, 500e6, time.UTC); !e.Timestamp.Equal(want) {
				t.Errorf("timestamp %v", e.Timestamp)
			}
		}},
		{"missing timestamp is the receipt time", `{}`, func(t *testing.T, e *Event) {
			if !e.Timestamp.Equal(meta.Received) {
				t.Errorf("timestamp %v", e.Timestamp)
			}
		}},
		{"future timestamp is the receipt time", `{"timestamp":"2030-01-01T00:00:00Z"}`, func(t *testing.T, e *Event) {
			if !e.Timestamp.Equal(meta.Received) {
				t.Errorf("timestamp %v", e.Timestamp)
			}
		}},
		{"breadcrumbs as an array", `{"breadcrumbs":[{"message":"a","timestamp":1714564800},{"message":"b","level":"warn"}]}`, func(t *testing.T, e *Event) {
			if len(e.Breadcrumbs) != 2 || e.Breadcrumbs[1].Level != "warning" || e.Breadcrumbs[0].Timestamp.IsZero() {
				t.Errorf("breadcrumbs %+v", e.Breadcrumbs)
			}
		}},
		{"breadcrumbs as {values}, newest 100 kept", `{"breadcrumbs":{"values":[` + strings.Repeat(`{"message":"x"},`, 120) + `{"message":"last"}]}}`, func(t *testing.T, e *Event) {
			if len(e.Breadcrumbs) != 100 || e.Breadcrumbs[99].Message != "last" {
				t.Errorf("%d breadcrumbs, last %+v", len(e.Breadcrumbs), e.Breadcrumbs[len(e.Breadcrumbs)-1])
			}
		}},
		{"tags as an object, in order, values stringified", `{"tags":{"b":"1","a":2,"ok":true,"bad\nkey":"x","multi":"a\nb","empty":""}}`, func(t *testing.T, e *Event) {
			want := [][2]string{{"b", "1"}, {"a", "2"}, {"ok", "true"}, {"bad\nkey", "x"}}
			if !reflect.DeepEqual(e.Tags, want) {
				t.Errorf("tags %q", e.Tags)
			}
		}},
		{"tags as pairs", `{"tags":[["server","web-1"],["region","eu"],["broken"]]}`, func(t *testing.T, e *Event) {
			if !reflect.DeepEqual(e.Tags, [][2]string{{"server", "web-1"}, {"region", "eu"}}) {
				t.Errorf("tags %q", e.Tags)
			}
		}},
		{"defaults", `{}`, func(t *testing.T, e *Event) {
			if e.Level != "error" || e.Platform != "other" || e.EventID != "aaaaaaaabbbbccccddddeeeeeeeeeeee" || e.Title() != "<unlabeled event>" {
				t.Errorf("level %q platform %q id %q title %q", e.Level, e.Platform, e.EventID, e.Title())
			}
		}},
		{"level and platform normalized", `{"level":"WARN","platform":"Python"}`, func(t *testing.T, e *Event) {
			if e.Level != "warning" || e.Platform != "python" {
				t.Errorf("level %q platform %q", e.Level, e.Platform)
			}
		}},
		{"event id with dashes", `{"event_id":"9EC79C33-EC99-42AB-8353-589FCB2E04DC"}`, func(t *testing.T, e *Event) {
			if e.EventID != "9ec79c33ec9942ab8353589fcb2e04dc" {
				t.Errorf("id %q", e.EventID)
			}
		}},
		{"user ip {{auto}}", `{"user":{"id":42,"ip_address":"{{auto}}"}}`, func(t *testing.T, e *Event) {
			if e.User.ID != "42" || e.User.IPAddress != "203.0.113.9" || e.User.Key() != "id:42" {
				t.Errorf("user %+v", e.User)
			}
		}},
		{"request query split from the URL; headers as pairs", `{"request":{"url":"https://x.example/a?b=1","method":"post","headers":[["User-Agent","ua"]]}}`, func(t *testing.T, e *Event) {
			r := e.Request
			if r.URL != "https://x.example/a" || r.QueryString != "b=1" || r.Method != "POST" || r.Header("user-agent") != "ua" {
				t.Errorf("request %+v", r)
			}
		}},
		{"trace id from contexts", `{"contexts":{"trace":{"trace_id":"4C79F60C11214EB38604F4AE0781BFB2"}}}`, func(t *testing.T, e *Event) {
			if e.TraceID != "4c79f60c11214eb38604f4ae0781bfb2" {
				t.Errorf("trace id %q", e.TraceID)
			}
		}},
		{"threads stack traces", `{"threads":{"values":[{"id":1,"crashed":true,"stacktrace":{"frames":[{"function":"run","module":"a.B","in_app":true}]}}]}}`, func(t *testing.T, e *Event) {
			if st := e.MainStacktrace(); st == nil || st.Frames[0].Function != "run" || e.Culprit() != "a.B in run" {
				t.Errorf("stack %+v culprit %q", st, e.Culprit())
			}
		}},
		{"wrong field types are dropped one by one", `{"level":["x"],"release":{"a":1},"tags":"nope","exception":[{"type":"E","stacktrace":{"frames":[{"lineno":"12","in_app":"true","function":7},"junk"]}}],"user":[1]}`, func(t *testing.T, e *Event) {
			f := e.Exceptions[0].Stacktrace.Frames
			if e.Level != "error" || e.Release != "" || e.Tags != nil || e.User != nil || len(f) != 1 || f[0].Lineno != 12 || !f[0].IsInApp() || f[0].Function != "7" {
				t.Errorf("event %+v frames %+v", e, f)
			}
		}},
		{"long strings are cut", `{"message":"` + strings.Repeat("é", 9000) + `","transaction":"` + strings.Repeat("t", 300) + `"}`, func(t *testing.T, e *Event) {
			if n := len([]rune(e.Message)); n != maxMessage || !strings.HasSuffix(e.Message, "...") {
				t.Errorf("message has %d runes", n)
			}
			if len(e.Transaction) != maxShort {
				t.Errorf("transaction has %d bytes", len(e.Transaction))
			}
		}},
		{"long stack traces keep both ends", `{"exception":[{"type":"E","stacktrace":{"frames":[` + frameList(400) + `]}}]}`, func(t *testing.T, e *Event) {
			f := e.Exceptions[0].Stacktrace.Frames
			if len(f) != maxFrames || f[0].Function != "f0" || f[len(f)-1].Function != "f399" {
				t.Errorf("%d frames, first %q last %q", len(f), f[0].Function, f[len(f)-1].Function)
			}
		}},
		{"culprit from the top in-app frame, javascript style", `{"platform":"javascript","exception":[{"type":"E","stacktrace":{"frames":[
			{"function":"a","filename":"/app.js","in_app":true},{"function":"lib","filename":"/node_modules/x.js","in_app":false}]}}],"transaction":"/page"}`, func(t *testing.T, e *Event) {
			if e.Culprit() != "a(/app.js)" {
				t.Errorf("culprit %q", e.Culprit())
			}
		}},
		{"culprit falls back to the transaction", `{"message":"m","transaction":"GET /users/{id}"}`, func(t *testing.T, e *Event) {
			if e.Culprit() != "GET /users/{id}" {
				t.Errorf("culprit %q", e.Culprit())
			}
		}},
		{"transaction event", `{"type":"transaction","transaction":"GET /","start_timestamp":1714564799,"timestamp":1714564800}`, func(t *testing.T, e *Event) {
			if e.Type != "transaction" || e.Title() != "GET /" || e.StartTime.IsZero() {
				t.Errorf("type %q title %q", e.Type, e.Title())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustNormalize(t, tt.payload))
		})
	}
}

func frameList(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `{"function":"f` + itoa(i) + `"}`
	}
	return strings.Join(parts, ",")
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestNormalizeSecurity(t *testing.T) {
	tests := []struct {
		name, payload, typ, title, culprit string
	}{
		{"csp-report", `{"csp-report":{"document-uri":"https://a.example/p","violated-directive":"script-src 'self'","blocked-uri":"https://evil.example/x.js"}}`,
			"csp", "Blocked 'script' from 'evil.example'", "script-src"},
		{"csp inline", `{"csp-report":{"document-uri":"https://a.example/p","effective-directive":"style-src-elem","blocked-uri":"inline"}}`,
			"csp", "Blocked unsafe inline 'style'", "style-src-elem"},
		{"csp same origin", `{"csp-report":{"document-uri":"https://a.example/p","effective-directive":"img-src","blocked-uri":"https://a.example/i.png"}}`,
			"csp", "Blocked 'image' from 'self'", "img-src"},
		{"reporting api", `[{"type":"csp-violation","url":"https://a.example/","body":{"blockedURL":"data","effectiveDirective":"font-src"}}]`,
			"csp", "Blocked 'font' from 'data'", "font-src"},
		{"expect-ct", `{"expect-ct-report":{"date-time":"2024-05-01T12:00:00Z","hostname":"www.example.com","port":443}}`,
			"expectct", "Expect-CT failed for 'www.example.com'", "www.example.com"},
		{"hpkp", `{"date-time":"2024-05-01T12:00:00Z","hostname":"www.example.com","port":443,"known-pins":["pin-sha256=\"x\""]}`,
			"hpkp", "Public key pinning validation failed for 'www.example.com'", "www.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustNormalize(t, tt.payload)
			if e.Type != tt.typ || e.Title() != tt.title || e.Culprit() != tt.culprit {
				t.Errorf("type %q title %q culprit %q, want %q %q %q", e.Type, e.Title(), e.Culprit(), tt.typ, tt.title, tt.culprit)
			}
		})
	}
}

func TestNormalizeRejects(t *testing.T) {
	for _, p := range []string{``, `   `, `nul`, `"a string"`, `42`, `{"a":`, `[]`, `[{"type":"deprecation","body":{}}]`, `{"csp-report":{}}`} {
		_, err := Normalize([]byte(p), meta)
		var ee *Error
		if !errors.As(err, &ee) {
			t.Errorf("Normalize(%q) = %v, want *Error", p, err)
		}
	}
}

// The event ID without one in the payload or header is derived from the
// payload, so a redelivered payload keeps its ID.
func TestEventIDStable(t *testing.T) {
	m := meta
	m.EventID = ""
	a, _ := Normalize([]byte(`{"message":"x"}`), m)
	b, _ := Normalize([]byte(`{"message":"x"}`), m)
	c, _ := Normalize([]byte(`{"message":"y"}`), m)
	if a.EventID != b.EventID || a.EventID == c.EventID || len(a.EventID) != 32 {
		t.Errorf("ids %q %q %q", a.EventID, b.EventID, c.EventID)
	}
}

// Normalizing the stored form again gives the same event: the projection
// can be rebuilt from stored events.
func TestStoredFormRoundTrips(t *testing.T) {
	files, _ := filepath.Glob("../grouping/testdata/events/*.json")
	if len(files) == 0 {
		t.Fatal("no events")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, b)
		})
	}
}

func checkRoundTrip(t *testing.T, payload []byte) {
	t.Helper()
	e, err := Normalize(payload, meta)
	if err != nil {
		return
	}
	stored, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if !json.Valid(stored) {
		t.Fatalf("stored form is not JSON: %s", stored)
	}
	e2, err := Normalize(stored, meta)
	if err != nil {
		t.Fatalf("re-normalize %s: %v", stored, err)
	}
	again, _ := json.Marshal(e2)
	if string(again) != string(stored) {
		t.Fatalf("stored form changed on re-normalization:\n%s\n%s", stored, again)
	}
	if e2.Title() != e.Title() || e2.Culprit() != e.Culprit() {
		t.Fatalf("title/culprit changed: %q/%q vs %q/%q", e.Title(), e.Culprit(), e2.Title(), e2.Culprit())
	}
}

func FuzzNormalize(f *testing.F) {
	files, _ := filepath.Glob("../grouping/testdata/events/*.json")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"exception":{"values":[{"type":1,"value":{"a":[1]},"stacktrace":{"frames":[null,1,{"lineno":1e400}]}}]}}`))
	f.Add([]byte(`{"timestamp":"nan","breadcrumbs":{"values":null},"tags":[[1,2],{"key":"k","value":"v"}]}`))
	f.Add([]byte(`{"csp-report":{"blocked-uri":"::","effective-directive":"x"}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		e, err := Normalize(payload, meta)
		if err != nil {
			var ee *Error
			if !errors.As(err, &ee) {
				t.Fatalf("error %v is not *Error", err)
			}
			return
		}
		_ = e.Title()
		_ = e.Culprit()
		checkRoundTrip(t, payload)
	})
}

// A Network Error Logging report becomes a nel event: its message names the
// error, its request is the failed one, its nel context keeps the report's
// details, and its stored form normalizes to the same event.
func TestNormalizeNEL(t *testing.T) {
	report := `{"age":0,"type":"network-error","url":"https://www.example.com/shop?item=3","user_agent":"Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0",` +
		`"body":{"elapsed_time":48,"method":"get","phase":"connection","protocol":"http/1.1","referrer":"https://www.example.com/",` +
		`"sampling_fraction":0.5,"server_ip":"203.0.113.7","status_code":0,"type":"tcp.refused"}}`
	e := mustNormalize(t, report)
	if e.Type != "nel" || e.Logger != "nel" || e.Title() != "The TCP connection was refused (tcp.refused)" {
		t.Errorf("type %q logger %q title %q", e.Type, e.Logger, e.Title())
	}
	if r := e.Request; r == nil || r.URL != "https://www.example.com/shop" || r.QueryString != "item=3" || r.Method != "GET" ||
		r.Header("Referer") != "https://www.example.com/" || !strings.Contains(r.Header("User-Agent"), "Chrome/126") {
		t.Errorf("request = %+v", e.Request)
	}
	var nel map[string]any
	if err := json.Unmarshal(e.Contexts["nel"], &nel); err != nil {
		t.Fatal(err)
	}
	if nel["error_type"] != "tcp.refused" || nel["phase"] != "connection" || nel["elapsed_time"] != float64(48) ||
		nel["sampling_fraction"] != 0.5 || nel["server_ip"] != "203.0.113.7" {
		t.Errorf("nel context = %v", nel)
	}
	if e.Tag("nel.error_type") != "tcp.refused" {
		t.Errorf("tags = %v", e.Tags)
	}
	checkRoundTrip(t, []byte(report))

	httpErr := mustNormalize(t, `[{"type":"network-error","url":"https://a.example/","body":{"type":"http.error","status_code":503,"phase":"application","method":"POST"}}]`)
	if httpErr.Title() != "HTTP error 503 (http.error)" {
		t.Errorf("title %q", httpErr.Title())
	}
	for _, p := range []string{`[{"type":"network-error","body":{}}]`, `[{"type":"network-error","body":"x"}]`} {
		if _, err := NormalizeSecurity([]byte(p), meta); err == nil {
			t.Errorf("NormalizeSecurity(%s) accepted a report without an error type", p)
		}
	}
}
