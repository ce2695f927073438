package grouping

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/event"
)

// storedJSON is e as grouping stores it.
func storedJSON(t testing.TB, e *event.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := e.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAsSent: a stored event read back for reprocessing has its frames as
// sent, not the symbolicated ones, and no culprit derived from them; a
// culprit its SDK sent stays.
func TestAsSent(t *testing.T) {
	meta := event.Meta{ProjectID: 1, Received: time.Unix(1_700_000_000, 0)}
	for _, sent := range []string{"", "checkout"} {
		payload := `{"platform":"node","exception":{"values":[{"type":"Error","value":"boom","stacktrace":{"frames":[
			{"function":"i","filename":"/srv/app.min.js","lineno":1,"colno":335,"in_app":true}]}}]}}`
		if sent != "" {
			payload = payload[:len(payload)-1] + `,"culprit":"` + sent + `"}`
		}
		e, err := event.Normalize([]byte(payload), meta)
		if err != nil {
			t.Fatal(err)
		}
		ex := &e.Exceptions[0]
		ex.RawStacktrace = ex.Stacktrace
		ex.Stacktrace = &event.Stacktrace{Frames: []event.Frame{{Function: "explode", Filename: "src/app.js", AbsPath: "~/src/app.js", Lineno: 13, Colno: 9}}}
		js := storedJSON(t, e)
		if !bytes.Contains(js, []byte(`"culprit"`)) {
			t.Fatalf("stored without a culprit: %s", js)
		}
		out, err := asSent(js, meta)
		if err != nil {
			t.Fatal(err)
		}
		again, err := event.Normalize(out, meta)
		if err != nil {
			t.Fatal(err)
		}
		f := again.Exceptions[0].Stacktrace.Frames[0]
		if f.Function != "i" || f.Filename != "/srv/app.min.js" || f.Colno != 335 || again.Exceptions[0].RawStacktrace != nil {
			t.Errorf("culprit %q: frames read back as %+v", sent, again.Exceptions[0])
		}
		if want := sent; want != "" && again.Culprit() != want || want == "" && again.CulpritSent != "" {
			t.Errorf("culprit %q: read back as %q (sent %q)", sent, again.Culprit(), again.CulpritSent)
		}
	}
}

// FuzzAsSent: whatever a stored event's JSON holds, asSent does not panic
// and what it returns is JSON.
func FuzzAsSent(f *testing.F) {
	f.Add([]byte(`{"culprit":"x","exception":{"values":[{"stacktrace":{"frames":[{"function":"a"}]},"raw_stacktrace":{"frames":[{"function":"b"}]}}]}}`))
	f.Add([]byte(`{"exception":{"values":[null,1,{"raw_stacktrace":null}]}}`))
	f.Add([]byte(`{"exception":[]}`))
	f.Add([]byte(`[]`))
	meta := event.Meta{ProjectID: 1, Received: time.Unix(1_700_000_000, 0)}
	f.Fuzz(func(t *testing.T, js []byte) {
		out, err := asSent(js, meta)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("asSent(%q) = %q, not JSON", js, out)
		}
	})
}
