package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// summary is what the golden files record of a parse.
type summary struct {
	Header struct {
		EventID  string `json:"event_id,omitempty"`
		DSN      string `json:"dsn,omitempty"`
		SentAt   bool   `json:"sent_at"`
		SDK      string `json:"sdk,omitempty"`
		HasTrace bool   `json:"trace"`
	} `json:"header"`
	Kind  string        `json:"kind"`
	Items []itemSummary `json:"items"`
}

type itemSummary struct {
	Type           string `json:"type"`
	Length         int    `json:"length"`
	PayloadLen     int    `json:"payload_len"`
	ContentType    string `json:"content_type,omitempty"`
	Filename       string `json:"filename,omitempty"`
	AttachmentType string `json:"attachment_type,omitempty"`
	ItemCount      int    `json:"item_count,omitempty"`
	Category       string `json:"category,omitempty"`
	Quantity       int    `json:"quantity,omitempty"`
}

func summarize(t *testing.T, env *Envelope) summary {
	t.Helper()
	var s summary
	s.Header.EventID = env.Header.EventID
	s.Header.DSN = env.Header.DSN
	s.Header.SentAt = env.Header.SentAt != ""
	s.Header.HasTrace = len(env.Header.Trace) > 0
	if len(env.Header.SDK) > 0 {
		var sdk struct{ Name string }
		if err := json.Unmarshal(env.Header.SDK, &sdk); err != nil {
			t.Fatalf("header sdk: %v", err)
		}
		s.Header.SDK = sdk.Name
	}
	s.Kind = env.Kind()
	s.Items = []itemSummary{}
	for i := range env.Items {
		it := &env.Items[i]
		cat, n := it.Category()
		s.Items = append(s.Items, itemSummary{Type: it.Type, Length: it.Length, PayloadLen: len(it.Payload),
			ContentType: it.ContentType, Filename: it.Filename, AttachmentType: it.AttachmentType,
			ItemCount: it.ItemCount, Category: cat, Quantity: n})
	}
	return s
}

// TestSDKPayloads parses every envelope captured from a real SDK (see
// e2e/capture) and compares what it read with testdata/golden.
func TestSDKPayloads(t *testing.T) {
	files, err := filepath.Glob("testdata/sdk/*.envelope")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d captured payloads in testdata/sdk, want the whole capture", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".envelope")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			env, err := Parse(b, DefaultLimits)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkFraming(t, b, env)
			got, err := json.MarshalIndent(summarize(t, env), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata/golden", name+".json")
			if *update {
				if err := os.MkdirAll("testdata/golden", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("parse of %s differs from %s:\ngot:\n%s\nwant:\n%s", f, golden, got, want)
			}
		})
	}
}

// checkFraming asserts what holds of every successful parse: payloads lie
// within the input, a declared length is the payload's length, and writing
// the items back framed with lengths parses to the same items.
func checkFraming(t testing.TB, in []byte, env *Envelope) {
	t.Helper()
	for i, it := range env.Items {
		if len(it.Payload) > 0 && !within(in, it.Payload) {
			t.Fatalf("item %d (%s): payload is not a slice of the input", i, it.Type)
		}
		if !within(in, it.RawHeader) {
			t.Fatalf("item %d (%s): raw header is not a slice of the input", i, it.Type)
		}
		if it.Length >= 0 && len(it.Payload) != it.Length {
			t.Fatalf("item %d (%s): payload of %d bytes, declared length %d", i, it.Type, len(it.Payload), it.Length)
		}
		if it.Length < 0 && bytes.IndexByte(it.Payload, '\n') >= 0 {
			t.Fatalf("item %d (%s): payload without length holds a newline", i, it.Type)
		}
		if it.Type == "" {
			t.Fatalf("item %d has no type", i)
		}
	}
	if id := env.Header.EventID; id != "" && NormalizeEventID(id) != id {
		t.Fatalf("header event_id %q is not normalized", id)
	}
}

// within reports whether sub lies inside b's memory.
func within(b, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return p >= lo && p+uintptr(len(sub)) <= lo+uintptr(len(b))
}

func TestParseValid(t *testing.T) {
	ev := `{"message":"boom"}`
	tests := []struct {
		name  string
		in    string
		id    string   // header event_id after parsing
		types []string // item types in order
		lens  []int    // payload lengths
	}{
		{"with lengths", "{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n{\"type\":\"event\",\"length\":18}\n" + ev + "\n",
			"9ec79c33ec9942ab8353589fcb2e04dc", []string{"event"}, []int{18}},
		{"without length", "{}\n{\"type\":\"event\"}\n" + ev + "\n", "", []string{"event"}, []int{18}},
		{"missing final newline", "{}\n{\"type\":\"event\",\"length\":18}\n" + ev, "", []string{"event"}, []int{18}},
		{"missing final newline without length", "{}\n{\"type\":\"event\"}\n" + ev, "", []string{"event"}, []int{18}},
		{"CRLF", "{}\r\n{\"type\":\"event\"}\r\n" + ev + "\r\n{\"type\":\"attachment\",\"length\":2}\r\nab\r\n", "",
			[]string{"event", "attachment"}, []int{18, 2}},
		{"blank lines between items", "{}\n\n{\"type\":\"event\"}\n" + ev + "\n\n\r\n{\"type\":\"attachment\",\"length\":1}\nx\n\n", "",
			[]string{"event", "attachment"}, []int{18, 1}},
		{"length payload holds newlines", "{}\n{\"type\":\"attachment\",\"length\":5}\na\nb\nc\n", "",
			[]string{"attachment"}, []int{5}},
		{"zero length attachment", "{}\n{\"type\":\"attachment\",\"length\":0}\n\n", "", []string{"attachment"}, []int{0}},
		{"zero length attachment at the end", "{}\n{\"type\":\"attachment\",\"length\":0}", "", []string{"attachment"}, []int{0}},
		{"empty attachment without length at the end", "{}\n{\"type\":\"attachment\"}\n", "", []string{"attachment"}, []int{0}},
		{"unknown item types kept", "{}\n{\"type\":\"future_thing\",\"length\":3}\nabc\n{\"type\":\"other_thing\"}\nxyz\n", "",
			[]string{"future_thing", "other_thing"}, []int{3, 3}},
		{"dashed upper-case event_id normalized", "{\"event_id\":\"9EC79C33-EC99-42AB-8353-589FCB2E04DC\"}\n", "9ec79c33ec9942ab8353589fcb2e04dc", nil, nil},
		{"header only", "{}\n", "", nil, nil},
		{"header only, no newline", "{\"dsn\":\"https://k@h/1\"}", "", nil, nil},
		{"event with attachments and sessions", "{}\n{\"type\":\"event\"}\n" + ev + "\n{\"type\":\"attachment\",\"length\":1}\nx\n{\"type\":\"session\"}\n{\"sid\":\"a\"}\n{\"type\":\"sessions\"}\n{\"aggregates\":[]}\n", "",
			[]string{"event", "attachment", "session", "sessions"}, []int{18, 1, 11, 17}},
		{"several security reports", "{}\n{\"type\":\"raw_security\"}\n{}\n{\"type\":\"raw_security\"}\n{}\n", "",
			[]string{"raw_security", "raw_security"}, []int{2, 2}},
		{"item_count and null length", "{}\n{\"type\":\"log\",\"length\":null,\"item_count\":7}\n{\"items\":[]}\n", "",
			[]string{"log"}, []int{12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			env, err := Parse(in, DefaultLimits)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkFraming(t, in, env)
			if env.Header.EventID != tt.id {
				t.Errorf("event_id = %q, want %q", env.Header.EventID, tt.id)
			}
			if len(env.Items) != len(tt.types) {
				t.Fatalf("got %d items, want %d", len(env.Items), len(tt.types))
			}
			for i, it := range env.Items {
				if it.Type != tt.types[i] || len(it.Payload) != tt.lens[i] {
					t.Errorf("item %d = %s of %d bytes, want %s of %d", i, it.Type, len(it.Payload), tt.types[i], tt.lens[i])
				}
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	small := DefaultLimits
	small.MaxEvent = 20
	small.MaxAttachment = 10
	small.MaxAttachments = 15
	small.MaxSessions = 2
	small.MaxCheckIn = 5
	small.MaxContainer = 6
	small.MaxReplay = 7
	small.MaxProfile = 8
	small.MaxOther = 9
	small.MaxItems = 3
	small.MaxHeader = 40

	ev := `{"message":"boom"}`
	tests := []struct {
		name   string
		in     string
		lim    Limits
		status int
		reason string
	}{
		{"empty", "", DefaultLimits, 400, "empty_envelope"},
		{"only a newline", "\n", DefaultLimits, 400, "empty_envelope"},
		{"only blanks", " \r\n\n", DefaultLimits, 400, "empty_envelope"},
		{"header not JSON", "{not json}\n", DefaultLimits, 400, "invalid_envelope"},
		{"header null", "null\n", DefaultLimits, 400, "invalid_envelope"},
		{"header an array", "[]\n", DefaultLimits, 400, "invalid_envelope"},
		{"header event_id not a string", "{\"event_id\":12}\n", DefaultLimits, 400, "invalid_envelope"},
		{"header event_id not a UUID", "{\"event_id\":\"abc\"}\n", DefaultLimits, 400, "invalid_event_id"},
		{"header event_id 31 digits", "{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04d\"}\n", DefaultLimits, 400, "invalid_event_id"},
		{"header too long", "{\"dsn\":\"" + strings.Repeat("x", 40) + "\"}\n", small, 400, "invalid_envelope"},
		{"item header not JSON", "{}\n{type:event}\n" + ev + "\n", DefaultLimits, 400, "invalid_item_header"},
		{"item header null", "{}\nnull\n" + ev + "\n", DefaultLimits, 400, "invalid_item_header"},
		{"item header without type", "{}\n{\"length\":2}\nab\n", DefaultLimits, 400, "invalid_item_header"},
		{"item header empty type", "{}\n{\"type\":\"\"}\nab\n", DefaultLimits, 400, "invalid_item_header"},
		{"item header type not a string", "{}\n{\"type\":3}\nab\n", DefaultLimits, 400, "invalid_item_header"},
		{"item header too long", "{}\n{\"type\":\"attachment\",\"filename\":\"" + strings.Repeat("x", 40) + "\"}\nab\n", small, 400, "invalid_item_header"},
		{"negative length", "{}\n{\"type\":\"attachment\",\"length\":-1}\nab\n", DefaultLimits, 400, "invalid_item_header"},
		{"fractional length", "{}\n{\"type\":\"attachment\",\"length\":1.5}\nab\n", DefaultLimits, 400, "invalid_item_header"},
		{"string length", "{}\n{\"type\":\"attachment\",\"length\":\"2\"}\nab\n", DefaultLimits, 400, "invalid_item_header"},
		{"huge length", "{}\n{\"type\":\"attachment\",\"length\":99999999999999999999}\nab\n", DefaultLimits, 400, "invalid_item_header"},
		{"bad item_count", "{}\n{\"type\":\"log\",\"item_count\":\"x\"}\n{}\n", DefaultLimits, 400, "invalid_item_header"},
		{"length too long for the input", "{}\n{\"type\":\"attachment\",\"length\":10}\nabc\n", DefaultLimits, 400, "truncated_item"},
		{"length too short", "{}\n{\"type\":\"attachment\",\"length\":2}\nabc\n", DefaultLimits, 400, "invalid_item_length"},
		{"length not followed by newline", "{}\n{\"type\":\"event\",\"length\":18}\n" + ev + "{\"type\":\"attachment\"}\n", DefaultLimits, 400, "invalid_item_length"},
		{"item header at the end without payload", "{}\n{\"type\":\"event\"}", DefaultLimits, 400, "empty_item"},
		{"event payload not JSON", "{}\n{\"type\":\"event\"}\n{\"message\":\n", DefaultLimits, 400, "invalid_json"},
		{"event payload with length not JSON", "{}\n{\"type\":\"event\",\"length\":3}\nabc\n", DefaultLimits, 400, "invalid_json"},
		{"transaction payload not JSON", "{}\n{\"type\":\"transaction\"}\nnope\n", DefaultLimits, 400, "invalid_json"},
		{"session payload not JSON", "{}\n{\"type\":\"session\"}\n{\n", DefaultLimits, 400, "invalid_json"},
		{"log payload not JSON", "{}\n{\"type\":\"log\",\"item_count\":1}\n[\n", DefaultLimits, 400, "invalid_json"},
		{"empty event", "{}\n{\"type\":\"event\",\"length\":0}\n\n", DefaultLimits, 400, "empty_item"},
		{"two events", "{}\n{\"type\":\"event\"}\n" + ev + "\n{\"type\":\"event\"}\n" + ev + "\n", DefaultLimits, 400, "duplicate_item"},
		{"event and transaction", "{}\n{\"type\":\"event\"}\n" + ev + "\n{\"type\":\"transaction\"}\n" + ev + "\n", DefaultLimits, 400, "duplicate_item"},
		{"event and security report", "{}\n{\"type\":\"event\"}\n" + ev + "\n{\"type\":\"raw_security\"}\n{}\n", DefaultLimits, 400, "duplicate_item"},
		{"oversize event by length", "{}\n{\"type\":\"event\",\"length\":21}\n", small, 413, "item_too_large"},
		{"oversize event without length", "{}\n{\"type\":\"event\"}\n{\"message\":\"" + strings.Repeat("x", 20) + "\"}\n", small, 413, "item_too_large"},
		{"oversize transaction", "{}\n{\"type\":\"transaction\",\"length\":21}\n", small, 413, "item_too_large"},
		{"oversize attachment", "{}\n{\"type\":\"attachment\",\"length\":11}\n", small, 413, "item_too_large"},
		{"oversize check_in", "{}\n{\"type\":\"check_in\",\"length\":6}\n", small, 413, "item_too_large"},
		{"oversize log", "{}\n{\"type\":\"log\",\"length\":7}\n", small, 413, "item_too_large"},
		{"oversize span", "{}\n{\"type\":\"span\",\"length\":7}\n", small, 413, "item_too_large"},
		{"oversize trace_metric", "{}\n{\"type\":\"trace_metric\",\"length\":7}\n", small, 413, "item_too_large"},
		{"oversize replay recording", "{}\n{\"type\":\"replay_recording\",\"length\":8}\n", small, 413, "item_too_large"},
		{"oversize profile", "{}\n{\"type\":\"profile\",\"length\":9}\n", small, 413, "item_too_large"},
		{"oversize unknown type", "{}\n{\"type\":\"whatever\",\"length\":10}\n", small, 413, "item_too_large"},
		{"oversize session", "{}\n{\"type\":\"session\",\"length\":21}\n", small, 413, "item_too_large"},
		{"too many sessions", "{}\n{\"type\":\"session\"}\n{}\n{\"type\":\"sessions\"}\n{}\n{\"type\":\"session\"}\n{}\n", small, 413, "too_many_sessions"},
		{"attachments together too large", "{}\n{\"type\":\"attachment\",\"length\":8}\n12345678\n{\"type\":\"attachment\",\"length\":8}\n12345678\n", small, 413, "attachments_too_large"},
		{"too many items", "{}\n{\"type\":\"x\"}\n1\n{\"type\":\"x\"}\n2\n{\"type\":\"x\"}\n3\n{\"type\":\"x\"}\n4\n", small, 413, "too_many_items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Parse([]byte(tt.in), tt.lim)
			var ee *Error
			if !errors.As(err, &ee) {
				t.Fatalf("Parse = %v, %v; want *Error %d %s", env, err, tt.status, tt.reason)
			}
			if ee.Status != tt.status || ee.Reason != tt.reason {
				t.Errorf("Parse error = %d %s (%s), want %d %s", ee.Status, ee.Reason, ee.Detail, tt.status, tt.reason)
			}
			if ee.Detail == "" || ee.Error() != ee.Detail {
				t.Errorf("error detail %q does not explain the rejection", ee.Detail)
			}
			if ee.Status != http.StatusBadRequest && ee.Status != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d is neither 400 nor 413", ee.Status)
			}
		})
	}
}

// TestPayloadsChecked: an envelope read again after it was accepted keeps
// its items as they are, JSON or not; its framing is still checked.
func TestPayloadsChecked(t *testing.T) {
	lim := DefaultLimits
	lim.PayloadsChecked = true
	in := "{}\n{\"type\":\"event\"}\n{\"message\":\n{\"type\":\"session\",\"length\":3}\nabc\n"
	env, err := Parse([]byte(in), lim)
	if err != nil {
		t.Fatalf("Parse with PayloadsChecked = %v", err)
	}
	if len(env.Items) != 2 || string(env.Items[0].Payload) != `{"message":` || string(env.Items[1].Payload) != "abc" {
		t.Fatalf("items = %+v", env.Items)
	}
	if _, err := Parse([]byte(in), DefaultLimits); err == nil {
		t.Fatal("the same envelope passes the payload check")
	}
	if _, err := Parse([]byte("{}\n{\"type\":\"event\"}\n\n"), lim); err == nil {
		t.Fatal("an empty event item passes with PayloadsChecked")
	}
}

func TestNormalizeEventID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"9ec79c33ec9942ab8353589fcb2e04dc", "9ec79c33ec9942ab8353589fcb2e04dc"},
		{"9EC79C33EC9942AB8353589FCB2E04DC", "9ec79c33ec9942ab8353589fcb2e04dc"},
		{"9ec79c33-ec99-42ab-8353-589fcb2e04dc", "9ec79c33ec9942ab8353589fcb2e04dc"},
		{"9EC79C33-EC99-42AB-8353-589FCB2E04DC", "9ec79c33ec9942ab8353589fcb2e04dc"},
		{"", ""},
		{"9ec79c33ec9942ab8353589fcb2e04d", ""},
		{"9ec79c33ec9942ab8353589fcb2e04dcc", ""},
		{"9ec79c33ec9942ab8353589fcb2e04dg", ""},
		{"9ec79c33-ec9942ab-8353-589fcb2e04dc", ""},
		{"9ec79c33-ec99-42ab-8353-589fcb2e04dc\n", ""},
		{"{9ec79c33-ec99-42ab-8353-589fcb2e04dc}", ""},
		{" 9ec79c33ec9942ab8353589fcb2e04dc", ""},
	}
	for _, tt := range tests {
		if got := NormalizeEventID(tt.in); got != tt.want {
			t.Errorf("NormalizeEventID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestKind(t *testing.T) {
	tests := []struct {
		types []string
		want  string
	}{
		{nil, KindOther},
		{[]string{"event"}, KindError},
		{[]string{"attachment", "event"}, KindError},
		{[]string{"session", "event"}, KindError},
		{[]string{"transaction", "attachment"}, KindTransaction},
		{[]string{"raw_security"}, KindSecurity},
		{[]string{"feedback"}, KindFeedback},
		{[]string{"user_report"}, KindFeedback},
		{[]string{"check_in"}, KindCheckIn},
		{[]string{"span"}, KindSpan},
		{[]string{"otel_span"}, KindSpan},
		{[]string{"log"}, KindLog},
		{[]string{"otel_log"}, KindLog},
		{[]string{"trace_metric"}, KindMetric},
		{[]string{"replay_event", "replay_recording"}, KindReplay},
		{[]string{"replay_video"}, KindReplay},
		{[]string{"profile"}, KindProfile},
		{[]string{"profile_chunk"}, KindProfile},
		{[]string{"session"}, KindSession},
		{[]string{"sessions"}, KindSession},
		{[]string{"client_report", "session"}, KindSession},
		{[]string{"attachment"}, KindAttachment},
		{[]string{"client_report"}, KindClientReport},
		{[]string{"something_new"}, KindOther},
		{[]string{"something_new", "log"}, KindLog},
	}
	for _, tt := range tests {
		env := &Envelope{}
		for _, typ := range tt.types {
			env.Items = append(env.Items, Item{Type: typ})
		}
		if got := env.Kind(); got != tt.want {
			t.Errorf("Kind(%v) = %q, want %q", tt.types, got, tt.want)
		}
	}
}

func TestCategory(t *testing.T) {
	tests := []struct {
		typ       string
		itemCount int
		want      string
		n         int
	}{
		{"event", 0, CategoryError, 1},
		{"transaction", 0, CategoryTransaction, 1},
		{"raw_security", 0, CategorySecurity, 1},
		{"attachment", 0, CategoryAttachment, 1},
		{"session", 0, CategorySession, 1},
		{"sessions", 0, CategorySession, 1},
		{"span", 0, CategorySpan, 1},
		{"span", 5, CategorySpan, 5},
		{"otel_span", 2, CategorySpan, 2},
		{"log", 0, CategoryLogItem, 1},
		{"log", 3, CategoryLogItem, 3},
		{"otel_log", 4, CategoryLogItem, 4},
		{"trace_metric", 3, CategoryTraceMetric, 3},
		{"trace_metric", 0, CategoryTraceMetric, 1},
		{"check_in", 0, CategoryMonitor, 1},
		{"feedback", 0, CategoryFeedback, 1},
		{"user_report", 0, CategoryUserReport, 1},
		{"profile", 0, CategoryProfile, 1},
		{"profile_chunk", 0, CategoryProfileChunk, 1},
		{"replay_event", 0, CategoryReplay, 1},
		{"replay_recording", 0, CategoryReplay, 1},
		{"replay_video", 0, CategoryReplay, 1},
		{"client_report", 0, "", 0},
		{"unknown", 9, "", 0},
	}
	for _, tt := range tests {
		it := Item{Type: tt.typ, ItemCount: tt.itemCount}
		if got, n := it.Category(); got != tt.want || n != tt.n {
			t.Errorf("Category(%s, item_count %d) = %q, %d; want %q, %d", tt.typ, tt.itemCount, got, n, tt.want, tt.n)
		}
	}
}
