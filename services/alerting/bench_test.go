package alerting

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/faultline/faultline/libs/alertrules"
	libevent "github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/streams"
)

// benchRuleSpecs are 50 issue-alert rules of one project, of every kind of
// condition and filter, as a busy project might have; each notifies the
// webhooks plugin.
func benchRuleSpecs() []string {
	conds := []string{
		`{"id":"` + alertrules.CondFirstSeen + `"}`,
		`{"id":"` + alertrules.CondRegression + `"}`,
		`{"id":"` + alertrules.CondEventFrequency + `","value":100,"interval":"1h"}`,
		`{"id":"` + alertrules.CondEventFrequency + `","value":50,"interval":"1h","comparisonType":"percent","comparisonInterval":"1d"}`,
		`{"id":"` + alertrules.CondUniqueUsers + `","value":10,"interval":"15m"}`,
		`{"id":"` + alertrules.CondFrequencyPercent + `","value":20,"interval":"5m"}`,
	}
	filters := []string{
		`{"id":"` + alertrules.FilterLevel + `","match":"gte","level":"40"}`,
		`{"id":"` + alertrules.FilterTagged + `","key":"server_name","match":"sw","value":"web"}`,
		`{"id":"` + alertrules.FilterAttribute + `","attribute":"exception.type","match":"eq","value":"RuntimeError"}`,
		`{"id":"` + alertrules.FilterAttribute + `","attribute":"message","match":"co","value":"timeout"}`,
		`{"id":"` + alertrules.FilterAge + `","comparison_type":"newer","value":1,"time":"day"}`,
		`{"id":"` + alertrules.FilterOccurrences + `","value":5}`,
	}
	var out []string
	for i := range 50 {
		out = append(out, fmt.Sprintf(`{"name":"rule %d","actionMatch":%q,"filterMatch":%q,"frequency":%d,"conditions":[%s,%s],"filters":[%s,%s],"actions":[%s]}`,
			i, []string{"all", "any"}[i%2], []string{"all", "any"}[i/2%2], []int{5, 30, 60}[i%3],
			conds[i%len(conds)], conds[(i+2)%len(conds)], filters[i%len(filters)], filters[(i+1)%len(filters)], webhooksAction))
	}
	return out
}

// benchGrouped is n grouped events of project 1 over issues issues (Zipf:
// a few issues take most events) and 500 users, as grouping publishes
// them: the normalized event, zstd-compressed, telling the issue changes
// it caused, each issue's first event preceded by its issues.1.created
// message.
func (h *harness) benchGrouped(n, issues int) []*nats.Msg {
	r := rand.New(rand.NewPCG(3, 4))
	zipf := rand.NewZipf(r, 1.1, 2, uint64(issues-1))
	var frames []string
	for i := range 20 {
		frames = append(frames, fmt.Sprintf(`{"function":"handler%d","module":"app/http","filename":"http/server%d.go","lineno":%d,"in_app":true,"context_line":"return h.next.ServeHTTP(w, r)","pre_context":["a","b"],"post_context":["c"]}`, i, i, 100+i))
	}
	stack := strings.Join(frames, ",")
	now := time.Now().UTC()
	seen := map[int64]bool{}
	var out []*nats.Msg
	for i := range n {
		issue := 1000 + int64(zipf.Uint64())
		id := fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
		payload := fmt.Sprintf(`{"event_id":%q,"level":"error","platform":"go","release":"app@1.4.%d","environment":"production",
			"server_name":"web-%d","message":"request failed","tags":{"region":"eu","customer":"acme"},"user":{"id":"u-%d"},
			"exception":{"values":[{"type":"RuntimeError","value":"database timeout after %ds","stacktrace":{"frames":[%s]}}]},
			"contexts":{"os":{"name":"Linux"},"runtime":{"name":"go","version":"go1.26"}}}`,
			id, r.IntN(3), r.IntN(8), r.IntN(500), issue, stack)
		received := now.Add(time.Duration(i) * time.Microsecond)
		e, err := libevent.Normalize([]byte(payload), libevent.Meta{ProjectID: 1, Received: received})
		if err != nil {
			h.t.Fatal(err)
		}
		js, err := e.MarshalJSON()
		if err != nil {
			h.t.Fatal(err)
		}
		var changes []string
		if !seen[issue] {
			seen[issue] = true
			changes = []string{streams.ChangeCreated}
			b, _ := json.Marshal(streams.IssueMessage{ProjectID: 1, IssueID: issue, Change: streams.ChangeCreated, Status: streams.StatusUnresolved,
				Title: "RuntimeError: database timeout", Level: "error", EventID: id, At: received})
			out = append(out, &nats.Msg{Subject: streams.IssueSubject(1, streams.ChangeCreated), Data: b,
				Header: nats.Header{"Nats-Msg-Id": {newID()}}})
		}
		hdr := streams.GroupedHeader(newID(), 1, id, issue, []string{fmt.Sprintf("%032x", issue)}, received)
		streams.SetChanges(hdr, changes)
		out = append(out, &nats.Msg{Subject: streams.GroupedSubject(1), Data: h.zenc.EncodeAll(js, nil), Header: hdr})
	}
	return out
}

// replica runs one replica until the returned stop is called.
func (h *harness) replica() (*Service, func()) {
	h.t.Helper()
	s, err := New(h.db.Pool, h.nc, h.opt, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(h.ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			h.t.Errorf("replica: %v", err)
		}
	})
	return s, func() { cancel(); wg.Wait() }
}

func observed(hg prometheus.Histogram) float64 {
	var m dto.Metric
	hg.Write(&m)
	return m.GetHistogram().GetSampleSum()
}

func counted(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}

// vmRSS is this process's resident set in MB.
func vmRSS() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkAlertingBacklog measures how many grouped events per second one
// alerting replica evaluates: b.N grouped events of one project with 50
// rules (and each new issue's created message) are queued on EVENTS, then
// a replica is started and timed until it has counted, evaluated, queued
// and acknowledged them all, its deliveries going to a real local HTTP
// receiver. The goal is 10,000 events/s. rss_MB is the test process's
// peak resident set while the replica drains (it also holds the embedded
// JetStream server and the queued messages); rss_growth_MB what it grew
// by from just before the replica started.
func BenchmarkAlertingBacklog(b *testing.B) {
	h := newHarness(b)
	h.opt.Linger = 20 * time.Millisecond
	hook := newReceiver(b, 0)
	_, stop := h.replica() // creates the consumers and applies the commands
	h.webhooks(hook.URL + "/hook")
	for _, spec := range benchRuleSpecs() {
		if ans := h.command(streams.AlertCommand{Kind: streams.AlertRuleCreate, Rule: json.RawMessage(spec)}); ans.RuleID == 0 {
			b.Fatalf("rule refused: %+v", ans)
		}
	}
	stop()

	msgs := h.benchGrouped(b.N, 200)
	for i, m := range msgs {
		if _, err := h.nc.JS.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 || i == len(msgs)-1 {
			select {
			case <-h.nc.JS.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("publish did not complete")
			}
		}
	}

	rss0 := vmRSS()
	peak := rss0
	b.ResetTimer()
	start := time.Now()
	s, stop := h.replica()
	for observed(s.m.batchSize) < float64(len(msgs)) {
		time.Sleep(5 * time.Millisecond)
		peak = max(peak, vmRSS())
	}
	took := time.Since(start)
	b.StopTimer()
	stop()
	if n := h.count(`SELECT count(*) FROM alerting.seen_events`); n != b.N {
		b.Fatalf("%d events counted, want %d", n, b.N)
	}
	if n := h.count(`SELECT coalesce(sum(n), 0) FROM alerting.counts WHERE issue_id > 0`); n != b.N {
		b.Fatalf("counts add up to %d, want %d", n, b.N)
	}
	notified := h.count(`SELECT count(*) FROM alerting.notifications`)
	if notified == 0 {
		b.Fatal("no rule fired: the benchmark evaluates nothing")
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "events/s")
	b.ReportMetric(float64(notified), "notifications")
	b.ReportMetric(counted(s.m.retries), "retries")
	b.ReportMetric(peak, "rss_MB")
	b.ReportMetric(peak-rss0, "rss_growth_MB")
	b.ReportMetric(0, "ns/op")
}
