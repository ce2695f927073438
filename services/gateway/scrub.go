package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/inboundfilter"
	"github.com/faultline/faultline/streams"
)

// scrubbedTypes are the item types whose payloads are scrubbed: events and
// transactions (request, extra, contexts, breadcrumbs, frame variables) and
// the log and span containers, whose attributes carry the same secrets.
var scrubbedTypes = map[string]bool{"event": true, "transaction": true, "log": true, "span": true}

// scrub removes secrets from the envelope's payloads before it is
// published, under the key's project's settings (libs/scrub). Items it
// changed get a new length; the envelope is written again.
func (g *Gateway) scrub(req *request) error {
	sc := req.key.Scrubber()
	if sc.Off() {
		return nil
	}
	changed := false
	for i := range req.env.Items {
		it := &req.env.Items[i]
		if !scrubbedTypes[it.Type] {
			continue
		}
		out, ok, err := sc.Scrub(it.Payload)
		if err != nil {
			return &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_json", Detail: "item " + strconv.Quote(it.Type) + " is not valid JSON"}
		}
		if !ok {
			continue
		}
		header, err := withLength(it.RawHeader, len(out))
		if err != nil {
			return &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_item_header", Detail: "item header is not a JSON object"}
		}
		it.Payload, it.RawHeader, it.Length = out, header, len(out)
		changed = true
		g.m.scrubbed.WithLabelValues(it.Type).Inc()
	}
	if changed {
		req.body, req.env = rebuild(req.env, nil)
	}
	return nil
}

// withLength is an item header with its length set to n.
func withLength(header []byte, n int) ([]byte, error) {
	var h map[string]json.RawMessage
	if err := json.Unmarshal(header, &h); err != nil || h == nil {
		return nil, err
	}
	h["length"] = json.RawMessage(strconv.Itoa(n))
	return json.Marshal(h)
}

// filter drops the events and transactions the project's inbound filters
// match (and an event's attachments with it), before quotas are charged:
// a filtered event costs no quota, as in Sentry. It reports whether
// nothing worth storing is left.
func (g *Gateway) filter(r *http.Request, req *request) bool {
	f := req.key.Filter()
	if f == nil {
		return false
	}
	ip, ua := g.clientIP(r), r.UserAgent()
	var drop map[int]bool
	eventDropped, eventReason := false, ""
	for i := range req.env.Items {
		it := &req.env.Items[i]
		if it.Type != "event" && it.Type != "transaction" {
			continue
		}
		ev, err := inboundfilter.FromPayload(it.Payload, it.Type, ip, ua)
		if err != nil {
			continue // scrubbing refuses it with a clear answer
		}
		if reason := f.Check(ev); reason != "" {
			if drop == nil {
				drop = map[int]bool{}
			}
			drop[i] = true
			if it.Type == "event" && !eventDropped {
				eventDropped, eventReason = true, reason
			}
			g.m.filtered.WithLabelValues(reason).Inc()
			cat, n := it.Category()
			g.countOutcome(req.projectID, cat, streams.OutcomeFiltered, reason, n)
		}
	}
	if drop == nil {
		return false
	}
	kept := 0
	for i := range req.env.Items {
		it := &req.env.Items[i]
		if it.Type == "attachment" && eventDropped {
			drop[i] = true
			cat, n := it.Category()
			g.countOutcome(req.projectID, cat, streams.OutcomeFiltered, eventReason, n)
		}
		if !drop[i] && it.Type != "client_report" {
			kept++
		}
	}
	req.body, req.env = rebuild(req.env, drop)
	return kept == 0
}
