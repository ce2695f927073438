package event

import (
	"encoding/json"
	"strconv"
	"strings"
)

// nelErrors says in words what each Network Error Logging error type of the
// W3C draft means, for the event's message.
var nelErrors = map[string]string{
	"ok":                                    "The request succeeded",
	"dns.unreachable":                       "The DNS server could not be reached",
	"dns.name_not_resolved":                 "The host name could not be resolved",
	"dns.failed":                            "DNS resolution failed",
	"dns.address_changed":                   "The server's IP address changed since the policy was received",
	"tcp.timed_out":                         "The TCP connection timed out",
	"tcp.closed":                            "The TCP connection was closed by the server",
	"tcp.reset":                             "The TCP connection was reset",
	"tcp.refused":                           "The TCP connection was refused",
	"tcp.aborted":                           "The TCP connection was aborted",
	"tcp.address_invalid":                   "The IP address is invalid",
	"tcp.address_unreachable":               "The IP address is unreachable",
	"tcp.failed":                            "The TCP connection failed",
	"tls.version_or_cipher_mismatch":        "No TLS version or cipher suite in common",
	"tls.bad_client_auth_cert":              "The client certificate was refused",
	"tls.cert.name_invalid":                 "The certificate's name does not match the host",
	"tls.cert.date_invalid":                 "The certificate has expired or is not yet valid",
	"tls.cert.authority_invalid":            "The certificate's authority is not trusted",
	"tls.cert.invalid":                      "The certificate is invalid",
	"tls.cert.revoked":                      "The certificate was revoked",
	"tls.cert.pinned_key_not_in_cert_chain": "A pinned key is missing from the certificate chain",
	"tls.protocol.error":                    "The TLS handshake broke the protocol",
	"tls.failed":                            "The TLS connection failed",
	"http.protocol.error":                   "The HTTP response broke the protocol",
	"http.response.invalid":                 "The HTTP response was invalid",
	"http.response.redirect_loop":           "The HTTP response redirected in a loop",
	"http.failed":                           "The HTTP request failed",
	"abandoned":                             "The request was abandoned before it completed",
	"unknown":                               "The request failed for an unknown reason",
}

// nelMessage is a network error's one-line summary: what went wrong, in
// words, then its error type, e.g. "The TCP connection was refused
// (tcp.refused)"; an HTTP error status says its code.
func nelMessage(errType string, status int64) string {
	if errType == "http.error" {
		return "HTTP error " + strconv.FormatInt(status, 10) + " (http.error)"
	}
	if d, ok := nelErrors[errType]; ok {
		return d + " (" + errType + ")"
	}
	return "Network error (" + errType + ")"
}

// normalizeNEL turns one Reporting API report of type network-error into an
// event of type nel: its message names the error, its request is the failed
// one (URL, method, referrer), and its nel context keeps the report's phase,
// elapsed time, error type, sampling fraction and server address.
func normalizeNEL(payload []byte, report, body map[string]json.RawMessage, m Meta) (*Event, error) {
	var r struct {
		URL       flexString `json:"url"`
		UserAgent flexString `json:"user_agent"`
	}
	var b struct {
		Type        flexString `json:"type"`
		Phase       flexString `json:"phase"`
		Method      flexString `json:"method"`
		Protocol    flexString `json:"protocol"`
		Referrer    flexString `json:"referrer"`
		ServerIP    flexString `json:"server_ip"`
		StatusCode  flexInt    `json:"status_code"`
		ElapsedTime flexInt    `json:"elapsed_time"`
		Sampling    *float64   `json:"sampling_fraction"`
	}
	rb, _ := json.Marshal(report)
	bb, _ := json.Marshal(body)
	if lenient(rb, &r) != nil || lenient(bb, &b) != nil {
		return nil, bad("invalid_nel_report", "the network-error report is not valid JSON")
	}
	errType := truncate(strings.TrimSpace(string(b.Type)), maxShort)
	if errType == "" {
		return nil, bad("invalid_nel_report", "the network-error report has no error type")
	}
	e := &Event{Raw: json.RawMessage(payload), ProjectID: m.ProjectID, Received: m.Received.UTC(),
		Level: "error", Platform: "other", Type: "nel", Logger: "nel"}
	e.EventID = eventID("", m, payload)
	e.Timestamp = e.Received
	e.Message = nelMessage(errType, b.StatusCode.V)
	req := &Request{Method: truncate(strings.ToUpper(strings.TrimSpace(string(b.Method))), maxShort)}
	req.URL, req.QueryString = splitQuery(truncate(strings.TrimSpace(string(r.URL)), maxMessage))
	if ref := strings.TrimSpace(string(b.Referrer)); ref != "" {
		req.Headers = append(req.Headers, [2]string{"Referer", truncate(ref, maxMessage)})
	}
	ua := string(r.UserAgent)
	if ua == "" {
		ua = m.UserAgent
	}
	if ua != "" {
		req.Headers = append(req.Headers, [2]string{"User-Agent", truncate(ua, maxMessage)})
	}
	e.Request = req
	nel := map[string]any{"type": "nel", "error_type": errType,
		"phase":    truncate(string(b.Phase), maxShort),
		"protocol": truncate(string(b.Protocol), maxShort),
	}
	if b.ElapsedTime.Valid {
		nel["elapsed_time"] = b.ElapsedTime.V
	}
	if b.Sampling != nil {
		nel["sampling_fraction"] = *b.Sampling
	}
	if ip := strings.TrimSpace(string(b.ServerIP)); ip != "" {
		nel["server_ip"] = truncate(ip, maxShort)
	}
	if b.StatusCode.Valid && b.StatusCode.V != 0 {
		nel["status_code"] = b.StatusCode.V
	}
	raw, _ := json.Marshal(nel)
	e.Contexts = map[string]json.RawMessage{"nel": raw}
	e.Tags = cleanTags([][2]string{{"nel.error_type", errType}, {"nel.phase", string(b.Phase)}})
	return e, nil
}
