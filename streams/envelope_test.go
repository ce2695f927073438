package streams

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

func TestEnvelopeEncoding(t *testing.T) {
	env := []byte(`{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}` + "\n" + `{"type":"event"}` + "\n" +
		`{"message":"` + strings.Repeat("the same words again ", 200) + `"}` + "\n")
	h := nats.Header{}
	body := EncodeEnvelope(h, env, nil)
	if h.Get(HeaderContentEncoding) != EnvelopeEncoding {
		t.Fatalf("header %q, want %q", h.Get(HeaderContentEncoding), EnvelopeEncoding)
	}
	if len(body) >= len(env)/2 {
		t.Errorf("%d bytes compressed to %d", len(env), len(body))
	}
	got, err := DecodeEnvelope(h, body, MaxInlineEnvelope, nil)
	if err != nil || !bytes.Equal(got, env) {
		t.Fatalf("round trip: %v\n%q", err, got)
	}
	// A large enough dst is decoded into, whatever it held; a short one is not.
	dst := bytes.Repeat([]byte{'x'}, len(env)+10)
	if got, err := DecodeEnvelope(h, body, MaxInlineEnvelope, dst[:3]); err != nil || !bytes.Equal(got, env) || &got[0] != &dst[0] {
		t.Errorf("into dst: %v, same array %v", err, err == nil && &got[0] == &dst[0])
	}
	short := make([]byte, 0, len(env)-1)
	if got, err := DecodeEnvelope(h, body, MaxInlineEnvelope, short); err != nil || !bytes.Equal(got, env) || cap(got) == cap(short) {
		t.Errorf("short dst: %v", err)
	}
	// A message without the header holds the envelope as it is.
	if got, err := DecodeEnvelope(nats.Header{}, env, MaxInlineEnvelope, nil); err != nil || !bytes.Equal(got, env) {
		t.Errorf("plain body: %v", err)
	}
	for name, tc := range map[string]struct {
		h     nats.Header
		body  []byte
		limit int
		want  string
	}{
		"over the limit":   {h, body, len(env) - 1, "more than"},
		"corrupt":          {h, append([]byte{0xff, 0xff, 0xff}, body[3:]...), MaxInlineEnvelope, "envelope:"},
		"truncated":        {h, body[:len(body)/2], MaxInlineEnvelope, "envelope:"},
		"unknown encoding": {nats.Header{HeaderContentEncoding: {"br"}}, body, MaxInlineEnvelope, `unknown content encoding "br"`},
	} {
		if _, err := DecodeEnvelope(tc.h, tc.body, tc.limit, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
}
