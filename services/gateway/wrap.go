package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/monitors"
)

// wrapStore turns a legacy /store/ body, a JSON event (or, from very old
// SDKs, base64 of a zlib-compressed one), into an envelope with one event
// or transaction item.
func wrapStore(body []byte, lim envelope.Limits) ([]byte, *envelope.Envelope, error) {
	payload := bytes.TrimSpace(body)
	if len(payload) > 0 && payload[0] != '{' {
		decoded, err := base64.StdEncoding.DecodeString(string(payload))
		if err != nil {
			return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_json", Detail: "store body is neither a JSON object nor base64"}
		}
		out, err := Decompress("deflate", decoded, int64(lim.MaxEvent))
		if err != nil {
			return nil, nil, err
		}
		payload = out.Bytes()
	}
	if len(payload) > lim.MaxEvent {
		return nil, nil, &envelope.Error{Status: http.StatusRequestEntityTooLarge, Reason: "item_too_large",
			Detail: "event of " + strconv.Itoa(len(payload)) + " bytes exceeds the limit of " + strconv.Itoa(lim.MaxEvent)}
	}
	var head struct {
		EventID string `json:"event_id"`
		Type    string `json:"type"`
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_json", Detail: "store body is not a JSON object: " + err.Error()}
	}
	id := newEventID()
	if head.EventID != "" {
		if id = envelope.NormalizeEventID(head.EventID); id == "" {
			return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_event_id", Detail: "event_id " + strconv.Quote(head.EventID) + " is not a UUID"}
		}
	}
	typ := "event"
	if head.Type == "transaction" {
		typ = "transaction"
	}
	return build(id, nil, typ, [][]byte{payload})
}

// wrapSecurity turns a browser's security report (CSP, Expect-CT, HPKP, or a
// Reporting API batch) into an envelope of raw_security items, one a report.
func wrapSecurity(body []byte, contentType string, lim envelope.Limits) ([]byte, *envelope.Envelope, error) {
	payload := bytes.TrimSpace(body)
	if len(payload) > lim.MaxEvent {
		return nil, nil, &envelope.Error{Status: http.StatusRequestEntityTooLarge, Reason: "item_too_large", Detail: "security report exceeds " + strconv.Itoa(lim.MaxEvent) + " bytes"}
	}
	var reports [][]byte
	if len(payload) > 0 && payload[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(payload, &batch); err != nil {
			return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_json", Detail: "security report batch is not a JSON array: " + err.Error()}
		}
		for _, r := range batch {
			if len(r) == 0 || r[0] != '{' {
				return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_json", Detail: "security report batch holds a non-object"}
			}
			reports = append(reports, r)
		}
	} else {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(payload, &obj); err != nil || obj == nil { // null unmarshals to a nil map
			detail := "security report is not a JSON object"
			if err != nil {
				detail += ": " + err.Error()
			}
			return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_json", Detail: detail}
		}
		reports = append(reports, payload)
	}
	if len(reports) == 0 || len(reports) > lim.MaxItems {
		return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_security_report", Detail: "security report batch must hold 1 to " + strconv.Itoa(lim.MaxItems) + " reports"}
	}
	// The media type without parameters; a malformed one is left out.
	ct, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		ct = ""
	}
	return build(newEventID(), map[string]string{"content_type": ct}, "raw_security", reports)
}

// build writes an envelope with the given event id and items of one type.
func build(eventID string, itemHeader map[string]string, typ string, payloads [][]byte) ([]byte, *envelope.Envelope, error) {
	var b bytes.Buffer
	header, _ := json.Marshal(map[string]string{"event_id": eventID})
	b.Write(header)
	b.WriteByte('\n')
	env := &envelope.Envelope{Header: envelope.Header{EventID: eventID}, RawHeader: header}
	for _, p := range payloads {
		h := map[string]any{"type": typ, "length": len(p)}
		for k, v := range itemHeader {
			if v != "" {
				h[k] = v
			}
		}
		ih, _ := json.Marshal(h)
		b.Write(ih)
		b.WriteByte('\n')
		b.Write(p)
		b.WriteByte('\n')
		env.Items = append(env.Items, envelope.Item{Type: typ, Length: len(p), ContentType: itemHeader["content_type"],
			RawHeader: ih, Payload: p})
	}
	return b.Bytes(), env, nil
}

// newEventID returns a random version-4 UUID as 32 hex digits.
func newEventID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return hex.EncodeToString(u[:])
}

// wrapCron turns an HTTP check-in (Crons' /cron/<slug>/<key>/ endpoint:
// status, check_in_id, environment and duration in the query, or a JSON
// body that may also carry a monitor_config to create the monitor) into an
// envelope with one check_in item, checked as any check-in is.
func wrapCron(slug string, q url.Values, body []byte, lim envelope.Limits) ([]byte, *envelope.Envelope, error) {
	payload := bytes.TrimSpace(body)
	if len(payload) > lim.MaxCheckIn {
		return nil, nil, &envelope.Error{Status: http.StatusRequestEntityTooLarge, Reason: "item_too_large", Detail: "check-in exceeds " + strconv.Itoa(lim.MaxCheckIn) + " bytes"}
	}
	ci := map[string]any{}
	if len(payload) > 0 {
		if err := json.Unmarshal(payload, &ci); err != nil || ci == nil {
			return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_json", Detail: "check-in body is not a JSON object"}
		}
	}
	ci["monitor_slug"] = slug
	for _, f := range []string{"status", "check_in_id", "environment"} {
		if v := q.Get(f); v != "" {
			ci[f] = v
		}
	}
	if v := q.Get("duration"); v != "" {
		d, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_check_in", Detail: "duration: not a number"}
		}
		ci["duration"] = d
	}
	out, _ := json.Marshal(ci)
	if _, err := monitors.ParseCheckIn(out); err != nil {
		return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_check_in", Detail: err.Error()}
	}
	return build(newEventID(), nil, "check_in", [][]byte{out})
}

// wrapNEL turns a Network Error Logging upload, a Reporting API batch
// (application/reports+json: a JSON array of reports), into an envelope of
// raw_security items, one a network-error report. Reports of other types in
// the batch are left out, as a NEL endpoint only collects network errors;
// a batch with none is refused.
func wrapNEL(body []byte, lim envelope.Limits) ([]byte, *envelope.Envelope, error) {
	payload := bytes.TrimSpace(body)
	if len(payload) > lim.MaxEvent {
		return nil, nil, &envelope.Error{Status: http.StatusRequestEntityTooLarge, Reason: "item_too_large", Detail: "NEL report batch exceeds " + strconv.Itoa(lim.MaxEvent) + " bytes"}
	}
	var batch []json.RawMessage
	if err := json.Unmarshal(payload, &batch); err != nil || batch == nil {
		detail := "NEL reports are not a JSON array"
		if err != nil {
			detail += ": " + err.Error()
		}
		return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_json", Detail: detail}
	}
	var reports [][]byte
	for _, r := range batch {
		var head struct {
			Type string          `json:"type"`
			Body json.RawMessage `json:"body"`
		}
		if len(r) == 0 || r[0] != '{' || json.Unmarshal(r, &head) != nil {
			return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_json", Detail: "NEL report batch holds a non-object"}
		}
		if head.Type != "network-error" {
			continue
		}
		if len(head.Body) == 0 || head.Body[0] != '{' {
			return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_nel_report", Detail: "network-error report has no body object"}
		}
		reports = append(reports, r)
	}
	if len(reports) == 0 || len(reports) > lim.MaxItems {
		return nil, nil, &envelope.Error{Status: http.StatusBadRequest, Reason: "invalid_nel_report", Detail: "NEL batch must hold 1 to " + strconv.Itoa(lim.MaxItems) + " network-error reports"}
	}
	return build(newEventID(), map[string]string{"content_type": "application/reports+json"}, "raw_security", reports)
}
