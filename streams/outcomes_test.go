package streams_test

import (
	"testing"

	"github.com/faultline/faultline/streams"
)

func TestDecodeOutcomes(t *testing.T) {
	b, err := streams.DecodeOutcomes([]byte(`{"outcomes":[{"project_id":3,"hour":"2026-12-05T12:00:00Z","category":"error","outcome":"filtered","reason":"localhost","quantity":2}]}`))
	if err != nil || len(b.Outcomes) != 1 || b.Outcomes[0].Quantity != 2 || b.Outcomes[0].Reason != "localhost" {
		t.Fatalf("%+v, %v", b, err)
	}
	for _, bad := range []string{`{`, `{"outcomes":[{"project_id":0,"hour":"2026-12-05T12:00:00Z","category":"error","outcome":"filtered"}]}`,
		`{"outcomes":[{"project_id":1,"category":"error","outcome":"filtered"}]}`, `{"outcomes":[{"project_id":1,"hour":"2026-12-05T12:00:00Z","outcome":"filtered"}]}`} {
		if _, err := streams.DecodeOutcomes([]byte(bad)); err == nil {
			t.Errorf("%s: decoded", bad)
		}
	}
}

func FuzzDecodeOutcomes(f *testing.F) {
	f.Add([]byte(`{"outcomes":[{"project_id":3,"hour":"2026-12-05T12:00:00Z","category":"error","outcome":"filtered","quantity":2}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := streams.DecodeOutcomes(body)
		if err != nil {
			return
		}
		for _, o := range b.Outcomes {
			if o.ProjectID <= 0 || o.Category == "" || o.Outcome == "" || o.Hour.IsZero() {
				t.Fatalf("accepted %+v", o)
			}
		}
	})
}
