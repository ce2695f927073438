package event

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func TestDebugMeta(t *testing.T) {
	payload := `{"exception":{"values":[{"type":"Error","value":"x","stacktrace":{"frames":[{"abs_path":"http://x/app.min.js","lineno":1,"colno":5}]}}]},
	"debug_meta":{"images":[{"type":"sourcemap","code_file":"http://x/app.min.js","debug_id":"C941E2E2-6B7D-4A34-9BC4-7F2B6E3E0A11"},
	{"type":"sourcemap","code_file":"no id"},{"type":"macho","debug_id":42}]}}`
	e, err := Normalize([]byte(payload), Meta{ProjectID: 1, Received: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	want := &DebugMeta{Images: []DebugImage{
		{Type: "sourcemap", DebugID: "C941E2E2-6B7D-4A34-9BC4-7F2B6E3E0A11", CodeFile: "http://x/app.min.js"},
		{Type: "macho", DebugID: "42"},
	}}
	if !reflect.DeepEqual(e.DebugMeta, want) {
		t.Fatalf("got %+v, want %+v", e.DebugMeta, want)
	}
	// Stored and read again (a replay of a stored event), debug_meta and a
	// raw stack trace survive.
	e.Exceptions[0].RawStacktrace = &Stacktrace{Frames: []Frame{{AbsPath: "http://x/app.min.js", Lineno: 1}}}
	var buf bytes.Buffer
	if err := e.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"raw_stacktrace":{"frames":[{"abs_path":"http://x/app.min.js","lineno":1}]}`)) {
		t.Errorf("stored event has no raw_stacktrace: %s", buf.Bytes())
	}
	again, err := Normalize(buf.Bytes(), Meta{ProjectID: 1, Received: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.DebugMeta, want) {
		t.Errorf("after a round trip: %+v", again.DebugMeta)
	}
	for _, bad := range []string{`{"debug_meta":"x"}`, `{"debug_meta":{"images":{}}}`, `{"debug_meta":null}`} {
		if e, _ := Normalize([]byte(bad), Meta{}); e.DebugMeta != nil {
			t.Errorf("%s: %+v", bad, e.DebugMeta)
		}
	}
}
