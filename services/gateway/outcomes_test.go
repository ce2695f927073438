package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/inboundfilter"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/streams"
)

// readOutcomes sums every outcome on OUTCOMES as "category outcome reason=n"
// lines, sorted, and says how many messages there were.
func (c *cluster) readOutcomes(t *testing.T) (string, int) {
	t.Helper()
	ctx := testContext(t)
	cons, err := c.nc.JS.OrderedConsumer(ctx, streams.Outcomes, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]uint64{}
	n := 0
	for {
		msgs, err := cons.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range msgs.Messages() {
			got++
			b, err := streams.DecodeOutcomes(m.Data())
			if err != nil {
				t.Fatal(err)
			}
			if m.Headers().Get(jetstream.MsgIDHeader) == "" {
				t.Error("an outcome batch without Nats-Msg-Id: a retried publish would count twice")
			}
			for _, o := range b.Outcomes {
				if o.Hour.Minute() != 0 || time.Since(o.Hour) > 2*time.Hour {
					t.Errorf("outcome hour %v, want this hour", o.Hour)
				}
				sums[fmt.Sprintf("p%d %s %s %s", o.ProjectID, o.Category, o.Outcome, o.Reason)] += o.Quantity
			}
		}
		n += got
		if got == 0 {
			break
		}
	}
	var lines []string
	for k, v := range sums {
		lines = append(lines, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), n
}

// TestDroppedItemsAreCountedOnOutcomes: what the gateway drops never reaches
// INGEST, but its count reaches OUTCOMES per project, category, outcome and
// reason: items an inbound filter matched (an event's attachment with it),
// items over a quota, and requests of a known key refused as invalid. A
// request with an unknown key is not counted against the project it names.
func TestDroppedItemsAreCountedOnOutcomes(t *testing.T) {
	c := newCluster(t)
	c.putKey(projectkeys.Key{PublicKey: "filtered", ProjectID: 1, Filters: &inboundfilter.Settings{Releases: []string{"*-dev"}}})
	opt := hourlyProjectLimit(t, 2)
	opt.OutcomeInterval = time.Hour // flushed by the test
	g := c.startGateway(opt)

	dev := `{"message":"boom","release":"web@2.0-dev"}`
	res := g.send(t, 1, "filtered", buildEnvelope(`{"event_id":"`+eventID(1)+`"}`, item{"event", dev}, item{"attachment", "screenshot"}))
	if res.status != 200 {
		t.Fatalf("filtered envelope: %d %s", res.status, res.body)
	}
	// The filtered event cost no quota: two pass, the third is limited.
	for i := 2; i <= 4; i++ {
		res := g.send(t, 1, "filtered", buildEnvelope(`{"event_id":"`+eventID(i)+`"}`, item{"event", `{"message":"ok"}`}))
		if want := map[bool]int{true: 429, false: 200}[i == 4]; res.status != want {
			t.Fatalf("event %d: %d %s, want %d", i, res.status, res.body, want)
		}
	}
	if res := g.send(t, 1, "filtered", []byte("this is not an envelope")); res.status != http.StatusBadRequest {
		t.Fatalf("garbage: %d %s, want 400", res.status, res.body)
	}
	if res := g.send(t, 1, "unknown", buildEnvelope(`{}`, item{"event", `{}`})); res.status != http.StatusUnauthorized {
		t.Fatalf("unknown key: %d %s", res.status, res.body)
	}
	if err := g.FlushOutcomes(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, batches := c.readOutcomes(t)
	lines := strings.Split(got, "\n")
	want := []string{"p1 attachment filtered release-version=1", "p1 error filtered release-version=1", "p1 error rate_limited project_quota=1"}
	if len(lines) != 4 || strings.Join(lines[:2], "\n") != strings.Join(want[:2], "\n") || !strings.HasPrefix(lines[2], "p1 error invalid ") || lines[3] != want[2] {
		t.Errorf("outcomes:\n%s\nwant:\n%s\nand one p1 error invalid <reason>=1", got, strings.Join(want, "\n"))
	}
	if batches != 1 {
		t.Errorf("%d batches, want 1", batches)
	}
	// Nothing new: nothing published.
	if err := g.FlushOutcomes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, n := c.readOutcomes(t); n != 1 {
		t.Errorf("an empty flush published: %d batches", n)
	}
}
