package alertrules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/streams"
)

// benchRules are 50 rules of a project, of every kind of condition and
// filter, as a busy project might have.
func benchRules(b *testing.B) []*Rule {
	conds := []string{
		`{"id":"` + CondFirstSeen + `"}`,
		`{"id":"` + CondRegression + `"}`,
		`{"id":"` + CondEventFrequency + `","value":100,"interval":"1h"}`,
		`{"id":"` + CondEventFrequency + `","value":50,"interval":"1h","comparisonType":"percent","comparisonInterval":"1d"}`,
		`{"id":"` + CondUniqueUsers + `","value":10,"interval":"15m"}`,
		`{"id":"` + CondFrequencyPercent + `","value":20,"interval":"5m"}`,
	}
	filters := []string{
		`{"id":"` + FilterLevel + `","match":"gte","level":"40"}`,
		`{"id":"` + FilterTagged + `","key":"server_name","match":"sw","value":"web"}`,
		`{"id":"` + FilterAttribute + `","attribute":"exception.type","match":"eq","value":"RuntimeError"}`,
		`{"id":"` + FilterAttribute + `","attribute":"message","match":"co","value":"timeout"}`,
		`{"id":"` + FilterAge + `","comparison_type":"newer","value":1,"time":"day"}`,
		`{"id":"` + FilterOccurrences + `","value":5}`,
	}
	var rules []*Rule
	for i := range 50 {
		c := conds[i%len(conds)] + "," + conds[(i+2)%len(conds)]
		f := filters[i%len(filters)] + "," + filters[(i+1)%len(filters)]
		rules = append(rules, rule(b, []string{"all", "any"}[i%2], []string{"all", "any"}[i/2%2], c, f))
	}
	return rules
}

// benchEvent is a normalized error event with a 20-frame stack trace, as
// grouping publishes it.
func benchEvent(b *testing.B) []byte {
	var frames []string
	for i := range 20 {
		frames = append(frames, fmt.Sprintf(`{"function":"handler%d","module":"app/http","filename":"http/server%d.go","lineno":%d,"in_app":true,"context_line":"return h.next.ServeHTTP(w, r)","pre_context":["a","b"],"post_context":["c"]}`, i, i, 100+i))
	}
	payload := `{"event_id":"0123456789abcdef0123456789abcdef","level":"error","platform":"go","release":"app@1.4.2","environment":"production",
		"server_name":"web-3","message":"request failed","tags":{"region":"eu","customer":"acme"},"user":{"id":"u-17","email":"a@example.com"},
		"exception":{"values":[{"type":"RuntimeError","value":"database timeout after 30s","stacktrace":{"frames":[` + strings.Join(frames, ",") + `]}}]},
		"contexts":{"os":{"name":"Linux"},"runtime":{"name":"go","version":"go1.26"}}}`
	e, err := event.Normalize([]byte(payload), event.Meta{ProjectID: 1, Received: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	js, err := e.MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	return js
}

type benchCounts struct{}

func (benchCounts) Count(w Window) int64 { return int64(w.Length/time.Minute) + 3 }

// BenchmarkEvaluateGrouped measures one grouped event's way through a
// replica's evaluation: decompressing and decoding the EVENTS message, the
// event's fields, and 50 rules of its project. The goal is 10,000 events/s
// on one core (ns/op under 100,000).
func BenchmarkEvaluateGrouped(b *testing.B) {
	rules := benchRules(b)
	js := benchEvent(b)
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	body := enc.EncodeAll(js, nil)
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	h := streams.GroupedHeader("x", 1, "0123456789abcdef0123456789abcdef", 7, []string{"abc"}, time.Now())
	now := time.Now()
	b.SetBytes(int64(len(js)))
	b.ReportAllocs()
	fired := 0
	for b.Loop() {
		g, err := streams.DecodeGrouped(h, body, dec)
		if err != nil {
			b.Fatal(err)
		}
		ev, err := DecodeEvent(g.Event)
		if err != nil {
			b.Fatal(err)
		}
		in := &Input{Trigger: TriggerEvent, Event: ev, Issue: Issue{ID: g.IssueID, FirstSeen: now.Add(-time.Hour), TimesSeen: 9}, Now: now, Counts: benchCounts{}}
		for _, r := range rules {
			if r.Matches(in) {
				fired++
			}
		}
	}
	if fired == 0 {
		b.Fatal("no rule fired: the benchmark evaluates nothing")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
