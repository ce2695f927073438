package event

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/faultline/faultline/libs/envelope"
)

// scanTop checks that p is valid JSON (as json.Valid does) and,
// if it is an object, whether its top-level keys make it a browser's report
// rather than an SDK event.
func scanTop(p []byte) (valid, security bool) {
	if !envelope.ValidJSON(p) {
		return false, false
	}
	p = p[skipSpace(p, 0):]
	if p[0] != '{' {
		return true, false
	}
	var typ, body bool
	w := walk(p)
	for k, _, ok := w.member(); ok; k, _, ok = w.member() {
		name := string(k[1 : len(k)-1])
		if strings.IndexByte(name, '\\') >= 0 {
			name = scalarText(k)
		}
		switch name {
		case "csp-report", "expect-ct-report", "expect-staple-report", "known-pins":
			security = true
		case "type":
			typ = true
		case "body":
			body = true
		}
	}
	return true, security || typ && body // one Reporting API report
}

type rawSecurity struct {
	DocumentURI        flexString `json:"document-uri"`
	Referrer           flexString `json:"referrer"`
	BlockedURI         flexString `json:"blocked-uri"`
	EffectiveDirective flexString `json:"effective-directive"`
	ViolatedDirective  flexString `json:"violated-directive"`
	OriginalPolicy     flexString `json:"original-policy"`
	SourceFile         flexString `json:"source-file"`
	LineNumber         flexInt    `json:"line-number"`
	ColumnNumber       flexInt    `json:"column-number"`
	ScriptSample       flexString `json:"script-sample"`
	Disposition        flexString `json:"disposition"`
	StatusCode         flexInt    `json:"status-code"`
	Hostname           flexString `json:"hostname"`
	Port               flexInt    `json:"port"`

	// The Reporting API's camel-case body.
	DocumentURL         flexString `json:"documentURL"`
	BlockedURL          flexString `json:"blockedURL"`
	EffectiveDirective2 flexString `json:"effectiveDirective"`
	OriginalPolicy2     flexString `json:"originalPolicy"`
	SourceFile2         flexString `json:"sourceFile"`
	Sample              flexString `json:"sample"`
	StatusCode2         flexInt    `json:"statusCode"`
	LineNumber2         flexInt    `json:"lineNumber"`
	ColumnNumber2       flexInt    `json:"columnNumber"`
}

// NormalizeSecurity turns a raw_security item (a csp-report, expect-ct,
// expect-staple or hpkp report, or Reporting API reports, of which the first
// is used) into an event of type csp, expectct, expectstaple or hpkp, or, for
// a Network Error Logging report, nel.
func NormalizeSecurity(payload []byte, m Meta) (*Event, error) {
	p := bytes.TrimSpace(payload)
	if !json.Valid(p) || len(p) == 0 {
		return nil, bad("invalid_json", "the security report is not valid JSON")
	}
	if p[0] == '[' {
		var list []json.RawMessage
		json.Unmarshal(p, &list)
		if len(list) == 0 {
			return nil, bad("invalid_security_report", "the report list is empty")
		}
		p = bytes.TrimSpace(list[0])
	}
	top := object(p)
	if top == nil {
		return nil, bad("invalid_security_report", "the security report is not a JSON object")
	}
	var sec *SecurityReport
	userAgent := m.UserAgent
	switch {
	case top["csp-report"] != nil:
		sec = readCSP(object(top["csp-report"]))
	case top["expect-ct-report"] != nil:
		sec = readHostReport("expectct", object(top["expect-ct-report"]))
	case top["expect-staple-report"] != nil:
		sec = readHostReport("expectstaple", object(top["expect-staple-report"]))
	case top["known-pins"] != nil:
		sec = readHostReport("hpkp", top)
	case top["body"] != nil:
		var r struct {
			Type      flexString `json:"type"`
			URL       flexString `json:"url"`
			UserAgent flexString `json:"user_agent"`
		}
		lenient(p, &r)
		if r.Type == "network-error" {
			if body := object(top["body"]); body != nil {
				return normalizeNEL(payload, top, body, m)
			}
			return nil, bad("invalid_nel_report", "the network-error report has no body object")
		}
		if r.Type != "csp-violation" {
			return nil, bad("unsupported_security_report", "reports of type %q are not supported", string(r.Type))
		}
		sec = readCSP(object(top["body"]))
		if sec != nil && sec.DocumentURI == "" {
			sec.DocumentURI = string(r.URL)
		}
		if r.UserAgent != "" {
			userAgent = string(r.UserAgent)
		}
	}
	if sec == nil {
		return nil, bad("invalid_security_report", "the security report has no recognizable report")
	}
	e := &Event{Raw: json.RawMessage(payload), ProjectID: m.ProjectID, Received: m.Received.UTC(),
		Level: "error", Platform: "other", Type: sec.Kind, Logger: sec.Kind, Security: sec}
	e.EventID = eventID("", m, payload)
	e.Timestamp = e.Received
	e.Message = e.securityMessage()
	if sec.Kind == "csp" {
		e.Tags = [][2]string{{"effective-directive", sec.EffectiveDirective}, {"blocked-uri", truncate(sec.BlockedURI, maxTagValue)}}
		if u, q := splitQuery(truncate(sec.DocumentURI, maxMessage)); u != "" || q != "" {
			e.Request = &Request{URL: u, QueryString: q}
		}
	} else {
		e.Tags = [][2]string{{"hostname", truncate(sec.Hostname, maxTagValue)}}
	}
	if userAgent != "" {
		if e.Request == nil {
			e.Request = &Request{}
		}
		e.Request.Headers = [][2]string{{"User-Agent", truncate(userAgent, maxMessage)}}
	}
	e.Tags = cleanTags(e.Tags)
	return e, nil
}

func readCSP(m map[string]json.RawMessage) *SecurityReport {
	if m == nil {
		return nil
	}
	dashed := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		dashed[strings.ReplaceAll(k, "_", "-")] = v // the stored form uses underscores
	}
	b, _ := json.Marshal(dashed)
	var r rawSecurity
	if lenient(b, &r) != nil {
		return nil
	}
	pick := func(a, b flexString) string {
		if s := strings.TrimSpace(string(a)); s != "" {
			return truncate(s, maxMessage)
		}
		return truncate(strings.TrimSpace(string(b)), maxMessage)
	}
	pickInt := func(a, b flexInt) int64 {
		if a.Valid {
			return a.V
		}
		return b.V
	}
	s := &SecurityReport{
		Kind:               "csp",
		DocumentURI:        pick(r.DocumentURI, r.DocumentURL),
		Referrer:           truncate(string(r.Referrer), maxMessage),
		BlockedURI:         pick(r.BlockedURI, r.BlockedURL),
		EffectiveDirective: pick(r.EffectiveDirective, r.EffectiveDirective2),
		ViolatedDirective:  truncate(string(r.ViolatedDirective), maxMessage),
		OriginalPolicy:     pick(r.OriginalPolicy, r.OriginalPolicy2),
		SourceFile:         pick(r.SourceFile, r.SourceFile2),
		LineNumber:         pickInt(r.LineNumber, r.LineNumber2),
		ColumnNumber:       pickInt(r.ColumnNumber, r.ColumnNumber2),
		ScriptSample:       pick(r.ScriptSample, r.Sample),
		Disposition:        truncate(string(r.Disposition), 32),
		StatusCode:         pickInt(r.StatusCode, r.StatusCode2),
	}
	if s.EffectiveDirective == "" {
		// Older browsers send only the violated directive, with its value.
		s.EffectiveDirective, _, _ = strings.Cut(strings.TrimSpace(s.ViolatedDirective), " ")
	}
	s.EffectiveDirective = strings.ToLower(s.EffectiveDirective)
	if s.ViolatedDirective == "" {
		s.ViolatedDirective = s.EffectiveDirective
	}
	if s.EffectiveDirective == "" && s.BlockedURI == "" {
		return nil
	}
	return s
}

func readHostReport(kind string, m map[string]json.RawMessage) *SecurityReport {
	if m == nil {
		return nil
	}
	var r struct {
		Hostname flexString `json:"hostname"`
		Port     flexInt    `json:"port"`
	}
	b, _ := json.Marshal(m)
	if lenient(b, &r) != nil || r.Hostname == "" {
		return nil
	}
	return &SecurityReport{Kind: kind, Hostname: truncate(strings.ToLower(string(r.Hostname)), maxShort), Port: r.Port.V}
}

// directiveNoun says what a CSP directive blocks, for the message.
var directiveNoun = map[string]string{
	"child-src":       "child",
	"connect-src":     "connection",
	"font-src":        "font",
	"form-action":     "form action",
	"frame-src":       "frame",
	"frame-ancestors": "frame ancestor",
	"img-src":         "image",
	"manifest-src":    "manifest",
	"media-src":       "media",
	"object-src":      "object",
	"script-src":      "script",
	"script-src-elem": "script",
	"script-src-attr": "script",
	"style-src":       "style",
	"style-src-elem":  "style",
	"style-src-attr":  "style",
	"worker-src":      "worker",
	"default-src":     "resource",
	"base-uri":        "base URI",
}

// securityMessage is the report's one-line summary, e.g. "Blocked 'script'
// from 'evil.example'" or "Expect-CT failed for 'example.com'".
func (e *Event) securityMessage() string {
	s := e.Security
	switch s.Kind {
	case "hpkp":
		return "Public key pinning validation failed for '" + s.Hostname + "'"
	case "expectct":
		return "Expect-CT failed for '" + s.Hostname + "'"
	case "expectstaple":
		return "Expect-Staple failed for '" + s.Hostname + "'"
	}
	noun := directiveNoun[s.EffectiveDirective]
	if noun == "" {
		noun = s.EffectiveDirective
	}
	switch uri := BlockedOrigin(s); uri {
	case "'unsafe-inline'":
		return "Blocked unsafe inline '" + noun + "'"
	case "'unsafe-eval'":
		return "Blocked unsafe eval() '" + noun + "'"
	default:
		if !strings.HasPrefix(uri, "'") {
			uri = "'" + uri + "'"
		}
		return "Blocked '" + noun + "' from " + uri
	}
}

// BlockedOrigin is what a CSP report blocked, reduced to what groups it:
// the host of a URL, 'self' for the document's own origin, 'unsafe-inline'
// or 'unsafe-eval', or the scheme alone ("data:", "blob:").
func BlockedOrigin(s *SecurityReport) string {
	b := strings.TrimSpace(s.BlockedURI)
	switch strings.ToLower(b) {
	case "", "inline", "'inline'", "self", "'self'":
		if b == "" || strings.Contains(strings.ToLower(b), "inline") {
			return "'unsafe-inline'"
		}
		return "'self'"
	case "eval", "'eval'":
		return "'unsafe-eval'"
	}
	u, err := url.Parse(b)
	if err != nil || u.Scheme == "" {
		return strings.ToLower(b)
	}
	if u.Host == "" {
		return strings.ToLower(u.Scheme) + ":"
	}
	if d, err := url.Parse(s.DocumentURI); err == nil && d.Host != "" && strings.EqualFold(d.Host, u.Host) && strings.EqualFold(d.Scheme, u.Scheme) {
		return "'self'"
	}
	return strings.ToLower(u.Host)
}
