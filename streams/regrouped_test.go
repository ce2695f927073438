package streams_test

import (
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/faultline/faultline/streams"
)

func TestRegroupedRoundTrip(t *testing.T) {
	enc, _ := zstd.NewWriter(nil)
	dec, _ := zstd.NewReader(nil)
	received := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	body := streams.EncodeRegrouped(streams.RegroupedMessage{ProjectID: 3, EventID: "0123456789abcdef0123456789abcdef", IssueID: 9,
		Hashes: []string{"a", "b"}, Received: received, Decision: "d1", Event: enc.EncodeAll([]byte(`{"title":"boom"}`), nil)})
	g, err := streams.DecodeRegrouped(body, dec)
	if err != nil {
		t.Fatal(err)
	}
	if g.ProjectID != 3 || g.IssueID != 9 || g.EventID != "0123456789abcdef0123456789abcdef" || !g.Received.Equal(received) ||
		len(g.Hashes) != 2 || string(g.Event) != `{"title":"boom"}` {
		t.Fatalf("decoded %+v", g)
	}
	for _, bad := range []string{`{`, `{"project_id":3,"issue_id":1,"event_id":"x"}`, "{\"project_id\":3,\"issue_id\":0,\"event_id\":\"x\"}\n",
		"{\"project_id\":3,\"issue_id\":1,\"event_id\":\"x\"}\nnot zstd"} {
		if _, err := streams.DecodeRegrouped([]byte(bad), dec); err == nil {
			t.Errorf("%s: decoded", bad)
		}
	}
}

func FuzzDecodeRegrouped(f *testing.F) {
	enc, _ := zstd.NewWriter(nil)
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(1<<20))
	f.Add(streams.EncodeRegrouped(streams.RegroupedMessage{ProjectID: 3, EventID: "e", IssueID: 9, Event: enc.EncodeAll([]byte(`{}`), nil)}))
	f.Add([]byte("{\"project_id\":1,\"issue_id\":1,\"event_id\":\"x\"}\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		g, err := streams.DecodeRegrouped(body, dec)
		if err != nil {
			return
		}
		if g.ProjectID <= 0 || g.IssueID <= 0 || g.EventID == "" {
			t.Fatalf("accepted %+v", g)
		}
	})
}
