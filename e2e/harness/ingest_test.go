package harness

import (
	"slices"
	"testing"
)

func TestParseEnvelope(t *testing.T) {
	cases := []struct {
		name     string
		in       string
		eventID  string
		types    []string
		payloads []string
		wantErr  bool
	}{
		{"lengths and newline-terminated items",
			"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n" +
				"{\"type\":\"event\",\"length\":13}\n{\"message\":1}\n" +
				"{\"type\":\"attachment\",\"length\":5,\"filename\":\"b\"}\n\x00\n\x01\x02\xff\n" +
				"{\"type\":\"client_report\"}\n{\"discarded_events\":[]}\n",
			"9ec79c33ec9942ab8353589fcb2e04dc", []string{"event", "attachment", "client_report"},
			[]string{`{"message":1}`, "\x00\n\x01\x02\xff", `{"discarded_events":[]}`}, false},
		{"no trailing newline", "{}\n{\"type\":\"log\"}\n{\"items\":[]}", "", []string{"log"}, []string{`{"items":[]}`}, false},
		{"header only", "{\"event_id\":\"x\"}\n", "x", nil, nil, false},
		{"length beyond the end", "{}\n{\"type\":\"event\",\"length\":99}\n{}\n", "", nil, nil, true},
		{"bad header", "not json\n", "", nil, nil, true},
		{"bad item header", "{}\nnot json\n{}\n", "", nil, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, err := ParseEnvelope([]byte(c.in))
			if c.wantErr {
				if err == nil {
					t.Fatalf("parsed %q into %q, want an error", c.in, env.Types())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if env.EventID() != c.eventID {
				t.Errorf("event_id %q, want %q", env.EventID(), c.eventID)
			}
			if !slices.Equal(env.Types(), c.types) {
				t.Errorf("types %q, want %q", env.Types(), c.types)
			}
			var payloads []string
			for _, it := range env.Items {
				payloads = append(payloads, string(it.Payload))
			}
			if !slices.Equal(payloads, c.payloads) {
				t.Errorf("payloads %q, want %q", payloads, c.payloads)
			}
		})
	}
}
