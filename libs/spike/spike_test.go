package spike_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/spike"
)

func TestCompute(t *testing.T) {
	cfg := spike.Config{Enabled: true, Window: 5, Multiplier: 10, Floor: 20, Minute: time.Minute}
	const now = 1000
	steady := func(first, from, to, n int64) spike.Record {
		r := spike.Record{First: first}
		for m := from; m <= to; m++ {
			r.Counts = append(r.Counts, spike.Count{Minute: m, Admitted: n})
		}
		return r
	}
	tests := []struct {
		name    string
		records []spike.Record
		want    spike.Status
	}{
		{"never counted", nil, spike.Status{}},
		{"younger than the window", []spike.Record{steady(996, 996, 999, 100)},
			spike.Status{Since: 996, Baseline: 80}},
		{"the window seen: capped at the floor", []spike.Record{steady(995, 995, 999, 1)},
			spike.Status{Since: 995, HasBaseline: true, Baseline: 1, Cap: 20}},
		{"capped at 10 × the baseline", []spike.Record{steady(995, 995, 999, 7)},
			spike.Status{Since: 995, HasBaseline: true, Baseline: 7, Cap: 70}},
		{"a baseline rounded up", []spike.Record{steady(990, 998, 999, 11)},
			spike.Status{Since: 990, HasBaseline: true, Baseline: 4.4, Cap: 44}},
		{"gateways summed", []spike.Record{steady(995, 995, 999, 3), steady(990, 997, 1000, 2)},
			spike.Status{Since: 990, HasBaseline: true, Baseline: 4.2, Cap: 42, Current: 2}},
		{"older minutes and the current one are not the baseline", []spike.Record{
			{First: 900, Counts: []spike.Count{{Minute: 990, Admitted: 1000, Dropped: 5}, {Minute: 999, Admitted: 10, Dropped: 2}, {Minute: 1000, Admitted: 50, Dropped: 3}}}},
			spike.Status{Since: 900, HasBaseline: true, Baseline: 2, Cap: 20, Current: 50, Dropped: 5}},
		{"a history of one early minute has a baseline", []spike.Record{{First: 900, Counts: []spike.Count{{Minute: 1000, Admitted: 1}}}},
			spike.Status{Since: 900, HasBaseline: true, Cap: 20, Current: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cfg.Compute(tt.records, now); got != tt.want {
				t.Errorf("Compute:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestRecordKeyRoundTrip(t *testing.T) {
	project, instance, err := spike.ParseKey(spike.RecordKey(42, "a1b2"))
	if err != nil || project != 42 || instance != "a1b2" {
		t.Fatalf("ParseKey(RecordKey(42, a1b2)) = %d, %q, %v", project, instance, err)
	}
	for _, bad := range []string{"p42.a", "spike.p0.a", "spike.p42", "spike.p42.", "spike.px.a", "spike.p42.a.b", "spike.p042.a", "spike.p+42.a", "global.error.60.1"} {
		if _, _, err := spike.ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

func TestParseRecordRefuses(t *testing.T) {
	for _, bad := range []string{``, `[]`, `{"counts":[{"m":1,"n":-1}]}`, `{"counts":[{"m":1,"n":1,"d":-5}]}`, `{"first":"x"}`} {
		if _, err := spike.ParseRecord([]byte(bad)); err == nil {
			t.Errorf("ParseRecord(%s) accepted", bad)
		}
	}
}

// FuzzParseRecord: records come from other gateways through the bucket;
// whatever a record holds, reading it and computing from it never panics,
// and what it accepts writes back to the same record.
func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"first":995,"counts":[{"m":995,"n":3},{"m":1000,"n":40,"d":2}]}`))
	f.Add([]byte(`{"first":-1,"counts":[{"m":9223372036854775807,"n":9223372036854775807}]}`))
	f.Add([]byte(`{"counts":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := spike.ParseRecord(b)
		if err != nil {
			return
		}
		spike.Defaults.Compute([]spike.Record{r, r}, 1000)
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := spike.ParseRecord(again)
		if err != nil {
			t.Fatalf("a parsed record does not parse again: %v", err)
		}
		if len(r2.Counts) != len(r.Counts) || r2.First != r.First {
			t.Errorf("round trip changed the record: %+v, then %+v", r, r2)
		}
	})
}

// FuzzParseKey: a key parses only into a project and instance that make
// the same key.
func FuzzParseKey(f *testing.F) {
	f.Add("spike.p42.a1b2")
	f.Add("spike.p-1.x")
	f.Add("spike.p007.x")
	f.Add("spike.p+7.x")
	f.Fuzz(func(t *testing.T, key string) {
		project, instance, err := spike.ParseKey(key)
		if err != nil {
			return
		}
		if project <= 0 || instance == "" {
			t.Fatalf("ParseKey(%q) = %d, %q", key, project, instance)
		}
		if back := spike.RecordKey(project, instance); back != key {
			t.Errorf("ParseKey(%q) then RecordKey = %q", key, back)
		}
	})
}
