package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/libs/scrub"
	"github.com/faultline/faultline/streams"
)

const secretEvent = `{"message":"paid with 4111 1111 1111 1111","request":{"headers":[["Authorization","Bearer s3cr3t-t0ken"],["Accept","*/*"]],` +
	`"data":{"password":"hunter2"}},"extra":{"api_key":"k-123"},"user":{"ip_address":"{{auto}}"}}`

// stored is the newest INGEST envelope, parsed.
func (c *cluster) stored() (*envelope.Envelope, http.Header) {
	c.t.Helper()
	m := c.last()
	env, err := envelope.Parse(m.Data, envelope.DefaultLimits)
	if err != nil {
		c.t.Fatalf("stored envelope does not parse: %v\n%s", err, m.Data)
	}
	return env, http.Header(m.Header)
}

func TestSecretsScrubbedBeforeIngest(t *testing.T) {
	c := newCluster(t)
	c.putKey(projectkeys.Key{PublicKey: "scrubbed", ProjectID: 1})
	off := scrub.Settings{}
	c.putKey(projectkeys.Key{PublicKey: "asis", ProjectID: 2, Scrub: &off})
	ips := scrub.Settings{DataScrubber: true, DataScrubberDefaults: true, ScrubIPAddresses: true}
	c.putKey(projectkeys.Key{PublicKey: "noips", ProjectID: 3, Scrub: &ips})
	g := c.startGateway(defaultOptions(t))
	secrets := []string{"4111", "s3cr3t-t0ken", "hunter2", "k-123"}

	id := eventID(1)
	g.send(t, 1, "scrubbed", buildEnvelope(`{"event_id":"`+id+`"}`, item{"event", secretEvent})).id(t)
	env, h := c.stored()
	payload := string(env.Items[0].Payload)
	for _, s := range secrets {
		if strings.Contains(payload, s) {
			t.Errorf("%q reached INGEST: %s", s, payload)
		}
	}
	if env.Items[0].Length != len(env.Items[0].Payload) || !strings.Contains(payload, `"_meta"`) || !strings.Contains(payload, `"*/*"`) {
		t.Errorf("scrubbed item wrong (length %d): %s", env.Items[0].Length, payload)
	}
	if h.Get(streams.HeaderClientIP) == "" {
		t.Error("client address dropped although the project keeps IPs")
	}

	// The legacy store endpoint goes through the same scrubber.
	g.post(t, "/api/1/store/", []byte(secretEvent), http.Header{"X-Sentry-Auth": {authHeader("scrubbed")}}).id(t)
	if env, _ := c.stored(); strings.Contains(string(env.Items[0].Payload), "hunter2") {
		t.Errorf("store endpoint kept a password: %s", env.Items[0].Payload)
	}

	// A project that turned scrubbing off gets its event as sent.
	g.send(t, 2, "asis", buildEnvelope(`{"event_id":"`+eventID(2)+`"}`, item{"event", secretEvent})).id(t)
	if env, _ := c.stored(); string(env.Items[0].Payload) != secretEvent {
		t.Errorf("unscrubbed project's event changed: %s", env.Items[0].Payload)
	}

	// scrubIPAddresses: no address in the event nor in the message headers.
	g.send(t, 3, "noips", buildEnvelope(`{"event_id":"`+eventID(3)+`"}`, item{"event", secretEvent})).id(t)
	env, h = c.stored()
	if ip := h.Get(streams.HeaderClientIP); ip != "" {
		t.Errorf("client address %q passed on although the project scrubs IPs", ip)
	}
	if strings.Contains(string(env.Items[0].Payload), "{{auto}}") {
		t.Errorf("user.ip_address kept: %s", env.Items[0].Payload)
	}
}
