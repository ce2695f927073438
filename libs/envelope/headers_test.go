package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

var headerLines = []string{
	`{"type":"event","length":5812}`, `{"type":"session"}`, `{"type":"attachment","length":3,"filename":"a.txt","content_type":"text/plain","attachment_type":"event.attachment"}`,
	`{"type":"log","item_count":3,"content_type":"application/vnd.sentry.items.log+json"}`, ` { "type" : "event" , "length" : 2 } `,
	`{"Type":"event"}`, `{"TYPE":"event","type":"session"}`, `{"type":"ev\u0065nt"}`, `{"type":null}`, `{"type":"é"}`, `{"type":5}`,
	`{"type":"event","length":12,"length":13}`, `{"type":"event"} x`, `{"type":"event",}`, `{}`, `[]`, `null`, `"x"`, ``, `{`,
	`{"type":"event","length":-1}`, `{"type":"event","length":"12"}`, `{"type":"event","length":1.5}`, `{"type":"event","length":null}`,
	`{"type":"event","unknown":{"a":[1,2,{"b":null}]},"x\u0041":1}`, `{"type":"event","platform":"go"}`, `{"typ\u0065":"event"}`,
	`{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sent_at":"2025-04-01T12:00:00Z","dsn":"https://k@o1.example.com/1","sdk":{"name":"sentry.go","version":"0.31.1"}}`,
	`{"event_id":null,"sdk":null,"trace":{"trace_id":"x"}}`, `{"Event_ID":"abc"}`, `{"dsn":"https://k@h/1","dsn":"https://j@h/1"}`, `{"sdk":{"name":"a"},"sdk":[1]}`,
	`{"event_id":"a\"b"}`, `{"sent_at":"2025-04-01T12:00:00Z","trace":{"public_key":"k","sample_rate":"1"}}`,
}

// TestHeaderDecoding compares the fast header decoders with encoding/json.
func TestHeaderDecoding(t *testing.T) {
	for _, line := range headerLines {
		t.Run(line, func(t *testing.T) { compareHeaderDecoding(t, []byte(line)) })
	}
}

// FuzzHeaderDecoding checks the fast header decoders give what
// json.Unmarshal gives, errors included.
func FuzzHeaderDecoding(f *testing.F) {
	for _, line := range headerLines {
		f.Add([]byte(line))
	}
	f.Fuzz(compareHeaderDecoding)
}

func compareHeaderDecoding(t *testing.T, line []byte) {
	gotItem, gotErr := decodeItemHeader(line)
	var h itemHeader
	wantErr := json.Unmarshal(line, &h)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("item header %q: error %v, json.Unmarshal says %v", line, gotErr, wantErr)
	}
	if wantErr == nil {
		want := itemFields{length: h.Length, itemCount: h.ItemCount, contentType: h.ContentType, filename: h.Filename, attachmentTyp: h.AttachmentType}
		if h.Type != nil {
			want.typ, want.hasType = *h.Type, true
		}
		if got := gotItem; got.typ != want.typ || got.hasType != want.hasType || got.contentType != want.contentType ||
			got.filename != want.filename || got.attachmentTyp != want.attachmentTyp ||
			!bytes.Equal(got.length, want.length) || !bytes.Equal(got.itemCount, want.itemCount) ||
			(got.length == nil) != (want.length == nil) || (got.itemCount == nil) != (want.itemCount == nil) {
			t.Fatalf("item header %q: got %+v, json.Unmarshal gives %+v", line, got, want)
		}
	}

	var got, want Header
	gotErr = decodeHeader(line, &got)
	wantErr = json.Unmarshal(line, &want)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("envelope header %q: error %v, json.Unmarshal says %v", line, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("envelope header %q: got %+v, json.Unmarshal gives %+v", line, got, want)
	}
}
