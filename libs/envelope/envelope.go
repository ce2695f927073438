// Package envelope parses and validates Sentry envelopes, the framing every
// current Sentry SDK sends: a JSON header line, then items, each a JSON header
// line and a payload whose size is given by the header's length or, without
// one, by the next newline.
//
// The parser reads untrusted input: it never panics, bounds every size by
// Limits, and says in an *Error which 4xx status and reason a client gets.
// Payloads are not decoded, only framed and checked; the raw bytes stay as
// received so the stream holds what the SDK sent.
package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// Error is a rejection of bad input: Status is the HTTP status to answer
// (400 or 413), Reason a short machine-friendly label for metrics and
// Detail a sentence for the client.
type Error struct {
	Status int
	Reason string
	Detail string
}

func (e *Error) Error() string { return e.Detail }

func bad(reason, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

func tooLarge(reason, format string, args ...any) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Header is the envelope header's fields Faultline reads. Other fields are
// kept in Envelope.RawHeader.
type Header struct {
	EventID string          `json:"event_id,omitempty"`
	DSN     string          `json:"dsn,omitempty"`
	SentAt  string          `json:"sent_at,omitempty"`
	SDK     json.RawMessage `json:"sdk,omitempty"`
	Trace   json.RawMessage `json:"trace,omitempty"`
}

// Item is one framed item.
type Item struct {
	Type           string
	Length         int    // the header's length, or -1 when it had none
	ContentType    string // content_type
	Filename       string // filename (attachments)
	AttachmentType string // attachment_type
	// ItemCount is how many entries a container item (log, span,
	// otel_log, otel_span, trace_metric) holds, counted in its payload's
	// top-level "items" array: the header's item_count is checked for form
	// but not believed, since quotas charge this number. 0 for other items.
	ItemCount int
	RawHeader []byte
	Payload   []byte
}

// Envelope is a parsed envelope. Its byte slices point into the parsed input.
type Envelope struct {
	Header    Header
	RawHeader []byte
	Items     []Item
}

// Limits bound what Parse accepts; the defaults follow Sentry's documented
// ingestion limits.
type Limits struct {
	MaxItems       int // items per envelope
	MaxEvent       int // event, transaction, raw_security, feedback, user_report payload
	MaxAttachment  int // one attachment
	MaxAttachments int // all attachments of an envelope together
	MaxSessions    int // session and sessions items per envelope
	MaxCheckIn     int // one check_in
	MaxContainer   int // one log, span or trace_metric container item
	MaxReplay      int // one replay item
	MaxProfile     int // one profile or profile_chunk
	MaxOther       int // any other item, unknown types included
	MaxHeader      int // one header line

	// PayloadsChecked skips the check that JSON items hold valid JSON, for
	// envelopes checked when they were accepted and for readers that
	// check the payloads they decode themselves (event.Normalize does).
	PayloadsChecked bool
}

// DefaultLimits are Sentry's documented ingestion limits.
var DefaultLimits = Limits{
	MaxItems:       1000,
	MaxEvent:       1 << 20,
	MaxAttachment:  100 << 20,
	MaxAttachments: 100 << 20,
	MaxSessions:    100,
	MaxCheckIn:     100 << 10,
	MaxContainer:   10 << 20,
	MaxReplay:      10 << 20,
	MaxProfile:     50 << 20,
	MaxOther:       10 << 20,
	MaxHeader:      64 << 10,
}

var eventIDRE = regexp.MustCompile(`^[0-9a-fA-F]{32}$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// NormalizeEventID returns id as 32 lower-case hex digits, or "" when it is
// not a UUID.
func NormalizeEventID(id string) string {
	if !eventIDRE.MatchString(id) {
		return ""
	}
	return strings.ToLower(strings.ReplaceAll(id, "-", ""))
}

// Parse frames b as an envelope and checks it against lim.
func Parse(b []byte, lim Limits) (*Envelope, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, bad("empty_envelope", "empty envelope")
	}
	line, rest, _ := nextLine(b)
	if len(line) > lim.MaxHeader {
		return nil, bad("invalid_envelope", "envelope header is longer than %d bytes", lim.MaxHeader)
	}
	env := &Envelope{RawHeader: line}
	// A JSON null would decode into the struct without complaint.
	if t := bytes.TrimSpace(line); len(t) == 0 || t[0] != '{' {
		return nil, bad("invalid_envelope", "envelope header is not a JSON object")
	}
	if err := decodeHeader(line, &env.Header); err != nil {
		return nil, bad("invalid_envelope", "envelope header is not a JSON object: %v", err)
	}
	if env.Header.EventID != "" {
		id := NormalizeEventID(env.Header.EventID)
		if id == "" {
			return nil, bad("invalid_event_id", "envelope header event_id %q is not a UUID", env.Header.EventID)
		}
		env.Header.EventID = id
	}
	var events, security, sessions, attachments int
	for len(rest) > 0 {
		// Blank lines between items are tolerated, as Sentry does.
		if rest[0] == '\n' {
			rest = rest[1:]
			continue
		}
		if len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n' {
			rest = rest[2:]
			continue
		}
		if len(env.Items) >= lim.MaxItems {
			return nil, tooLarge("too_many_items", "envelope has more than %d items", lim.MaxItems)
		}
		var it Item
		var err error
		it, rest, err = parseItem(rest, lim)
		if err != nil {
			return nil, err
		}
		switch {
		case it.Type == "event" || it.Type == "transaction":
			events++
		case it.Type == "raw_security":
			security++
		}
		// One event or transaction; security reports come alone, as many as
		// a browser batched (the gateway's /security/ endpoint writes them so).
		if events > 1 || events > 0 && security > 0 {
			return nil, bad("duplicate_item", "envelope has more than one event, transaction or security report")
		}
		switch {
		case it.Type == "session" || it.Type == "sessions":
			sessions++
			if sessions > lim.MaxSessions {
				return nil, tooLarge("too_many_sessions", "envelope has more than %d session items", lim.MaxSessions)
			}
		case it.Type == "attachment":
			attachments += len(it.Payload)
			if attachments > lim.MaxAttachments {
				return nil, tooLarge("attachments_too_large", "attachments together exceed %d bytes", lim.MaxAttachments)
			}
		}
		env.Items = append(env.Items, it)
	}
	return env, nil
}

func parseItem(b []byte, lim Limits) (Item, []byte, error) {
	line, rest, _ := nextLine(b)
	if len(line) > lim.MaxHeader {
		return Item{}, nil, bad("invalid_item_header", "item header is longer than %d bytes", lim.MaxHeader)
	}
	h, err := decodeItemHeader(line)
	if err != nil {
		return Item{}, nil, bad("invalid_item_header", "item header is not a JSON object: %v", err)
	}
	if !h.hasType || h.typ == "" {
		return Item{}, nil, bad("invalid_item_header", "item header has no type")
	}
	it := Item{Type: h.typ, Length: -1, ContentType: h.contentType, Filename: h.filename,
		AttachmentType: h.attachmentTyp, RawHeader: line}
	max := lim.maxFor(it.Type)
	if n, ok, err := optionalCount(h.length); err != nil {
		return Item{}, nil, bad("invalid_item_header", "item %q: length %v", it.Type, err)
	} else if ok {
		it.Length = n
	}
	if _, _, err := optionalCount(h.itemCount); err != nil {
		return Item{}, nil, bad("invalid_item_header", "item %q: item_count %v", it.Type, err)
	}
	if it.Length >= 0 {
		if it.Length > max {
			return Item{}, nil, tooLarge("item_too_large", "item %q of %d bytes exceeds the limit of %d", it.Type, it.Length, max)
		}
		if it.Length > len(rest) {
			return Item{}, nil, bad("truncated_item", "item %q declares %d bytes but only %d follow", it.Type, it.Length, len(rest))
		}
		it.Payload = rest[:it.Length]
		rest = rest[it.Length:]
		// The payload ends with a newline, or the envelope ends.
		switch {
		case len(rest) == 0:
		case rest[0] == '\n':
			rest = rest[1:]
		case len(rest) > 1 && rest[0] == '\r' && rest[1] == '\n':
			rest = rest[2:]
		default:
			return Item{}, nil, bad("invalid_item_length", "item %q is not followed by a newline after its %d bytes", it.Type, it.Length)
		}
	} else {
		it.Payload, rest, _ = nextLine(rest)
		if len(it.Payload) > max {
			return Item{}, nil, tooLarge("item_too_large", "item %q of %d bytes exceeds the limit of %d", it.Type, len(it.Payload), max)
		}
	}
	if jsonTypes[it.Type] {
		if len(bytes.TrimSpace(it.Payload)) == 0 {
			return Item{}, nil, bad("empty_item", "item %q has an empty payload", it.Type)
		}
		if !lim.PayloadsChecked && !ValidJSON(it.Payload) {
			return Item{}, nil, bad("invalid_json", "item %q is not valid JSON", it.Type)
		}
		if containerTypes[it.Type] {
			it.ItemCount = countItems(it.Payload)
		}
	}
	return it, rest, nil
}

// ValidJSON is json.Valid (RFC 8259 grammar; invalid UTF-8 and repeated
// names accepted) on the scanner of encoding/json/v2, about five times
// faster on event payloads. FuzzValidJSON holds the two to the same answers.
func ValidJSON(b []byte) bool {
	return jsontext.Value(b).IsValid(jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))
}

// jsonTypes are item types whose payload must be JSON.
var jsonTypes = map[string]bool{
	"event": true, "transaction": true, "session": true, "sessions": true, "client_report": true,
	"check_in": true, "feedback": true, "user_report": true, "log": true, "span": true,
	"replay_event": true, "raw_security": true, "otel_log": true, "otel_span": true, "trace_metric": true,
}

// containerTypes hold many entries in one item, each charged to a quota.
var containerTypes = map[string]bool{"log": true, "span": true, "otel_log": true, "otel_span": true, "trace_metric": true}

// countItems is the number of entries in the top-level "items" array of a
// container payload, 1 when it has none (a bare span or log record).
func countItems(payload []byte) int {
	d := jsontext.NewDecoder(bytes.NewReader(payload), jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return 1
	}
	n := -1
	for d.PeekKind() != '}' && d.PeekKind() != 0 {
		name, err := d.ReadToken()
		if err != nil {
			return max(n, 1)
		}
		if name.String() != "items" || d.PeekKind() != '[' {
			if d.SkipValue() != nil {
				return max(n, 1)
			}
			continue
		}
		d.ReadToken()
		count := 0
		for d.PeekKind() != ']' && d.PeekKind() != 0 {
			if d.SkipValue() != nil {
				break
			}
			count++
		}
		d.ReadToken()
		n = count // a repeated "items" counts as its last, as a JSON decoder reads it
	}
	return max(n, 1)
}

func optionalCount(raw []byte) (int, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < 0 || n > 1<<40 {
		return 0, false, fmt.Errorf("%s is not a non-negative integer", raw)
	}
	return int(n), true, nil
}

func (l Limits) maxFor(typ string) int {
	switch typ {
	case "event", "transaction", "raw_security", "feedback", "user_report", "client_report", "session", "sessions", "replay_event":
		return l.MaxEvent
	case "attachment":
		return l.MaxAttachment
	case "check_in":
		return l.MaxCheckIn
	case "log", "span", "otel_log", "otel_span", "trace_metric":
		return l.MaxContainer
	case "replay_recording", "replay_video":
		return l.MaxReplay
	case "profile", "profile_chunk":
		return l.MaxProfile
	}
	return l.MaxOther
}

// nextLine splits b at its first newline. ok is false when b had none.
func nextLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.TrimSuffix(b, []byte{'\r'}), nil, false
	}
	return bytes.TrimSuffix(b[:i], []byte{'\r'}), b[i+1:], true
}
