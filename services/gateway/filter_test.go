package gateway_test

import (
	"testing"

	"github.com/faultline/faultline/libs/inboundfilter"
	"github.com/faultline/faultline/libs/projectkeys"
)

// TestInboundFiltersDropBeforeIngest: a project's filters drop the events
// and transactions they match, and an event's attachments with it, before
// anything reaches INGEST; the SDK is answered 200, so it does not retry.
// Another project without filters gets the same envelopes stored.
func TestInboundFiltersDropBeforeIngest(t *testing.T) {
	c := newCluster(t)
	c.putKey(projectkeys.Key{PublicKey: "filtered", ProjectID: 1, Filters: &inboundfilter.Settings{
		Localhost: true, FilteredTransaction: true, WebCrawlers: true, Releases: []string{"*-dev"}}})
	c.putKey(projectkeys.Key{PublicKey: "open", ProjectID: 2})
	g := c.startGateway(defaultOptions(t))

	local := `{"message":"boom","user":{"ip_address":"{{auto}}"}}` // sent from 127.0.0.1, as this test is
	health := `{"type":"transaction","transaction":"GET /healthz","start_timestamp":1700000000,"timestamp":1700000001}`
	dev := `{"message":"boom","release":"web@2.0-dev"}`
	bot := `{"message":"boom","request":{"headers":{"User-Agent":"Mozilla/5.0 (compatible; bingbot/2.0)"}}}`
	kept := `{"message":"boom","release":"web@2.0","request":{"url":"https://shop.example.test/cart"}}`
	for i, body := range [][]byte{
		buildEnvelope(`{"event_id":"`+eventID(11)+`"}`, item{"event", local}, item{"attachment", "screenshot bytes"}),
		buildEnvelope(`{"event_id":"`+eventID(12)+`"}`, item{"transaction", health}),
		buildEnvelope(`{"event_id":"`+eventID(13)+`"}`, item{"event", dev}),
		buildEnvelope(`{"event_id":"`+eventID(14)+`"}`, item{"event", bot}),
	} {
		before := c.count()
		if res := g.send(t, 1, "filtered", body); res.status != 200 {
			t.Errorf("envelope %d: status %d %s, want 200", i, res.status, res.body)
		}
		if c.count() != before {
			t.Errorf("envelope %d was filtered, yet reached INGEST", i)
		}
		g.send(t, 2, "open", body).id(t)
		if c.count() != before+1 {
			t.Errorf("envelope %d of the project without filters did not reach INGEST", i)
		}
	}
	before := c.count()
	g.send(t, 1, "filtered", buildEnvelope(`{"event_id":"`+eventID(15)+`"}`, item{"event", kept})).id(t)
	if c.count() != before+1 {
		t.Error("an event no filter matches did not reach INGEST")
	}
}
