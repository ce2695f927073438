package envelope

import (
	"bytes"
	"encoding/json"
)

// Header lines are decoded by a fast path when they are plain, as every SDK
// writes them: an object of ASCII keys without escapes whose string fields
// hold ASCII strings without escapes. Anything else (escapes, non-ASCII, a
// key that only matches a field case-insensitively, null, lines over 4 KiB)
// goes to encoding/json, so the result is always what json.Unmarshal gives
// (FuzzHeaderDecoding checks it).

// itemHeader is an item header line as encoding/json decodes it.
type itemHeader struct {
	Type           *string         `json:"type"`
	Length         json.RawMessage `json:"length"`
	ContentType    string          `json:"content_type"`
	Filename       string          `json:"filename"`
	AttachmentType string          `json:"attachment_type"`
	ItemCount      json.RawMessage `json:"item_count"`
}

var itemHeaderFields = []string{"type", "length", "content_type", "filename", "attachment_type", "item_count"}

// itemFields is a decoded item header. length and itemCount are raw JSON
// values, nil when absent; they may point into the line.
type itemFields struct {
	typ                                  string
	hasType                              bool
	length, itemCount                    []byte
	contentType, filename, attachmentTyp string
}

func decodeItemHeader(line []byte) (itemFields, error) {
	var f itemFields
	if decodePlain(line, func(key, val []byte) bool {
		var ok bool
		switch string(key) {
		case "type":
			var s []byte
			if s, ok = plainString(val); ok {
				f.typ, f.hasType = itemType(s), true
			}
		case "length":
			f.length, ok = val, true
		case "item_count":
			f.itemCount, ok = val, true
		case "content_type":
			f.contentType, ok = plainStringValue(val)
		case "filename":
			f.filename, ok = plainStringValue(val)
		case "attachment_type":
			f.attachmentTyp, ok = plainStringValue(val)
		default:
			ok = !foldsToField(key, itemHeaderFields)
		}
		return ok
	}) {
		return f, nil
	}
	var h itemHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return itemFields{}, err
	}
	f = itemFields{length: h.Length, itemCount: h.ItemCount, contentType: h.ContentType,
		filename: h.Filename, attachmentTyp: h.AttachmentType}
	if h.Type != nil {
		f.typ, f.hasType = *h.Type, true
	}
	return f, nil
}

var headerFields = []string{"event_id", "dsn", "sent_at", "sdk", "trace"}

// decodeHeader decodes the envelope header line into h, as json.Unmarshal.
func decodeHeader(line []byte, h *Header) error {
	var fast Header
	if decodePlain(line, func(key, val []byte) bool {
		ok := true
		switch string(key) {
		case "event_id":
			fast.EventID, ok = plainStringValue(val)
		case "dsn":
			fast.DSN, ok = plainStringValue(val)
		case "sent_at":
			fast.SentAt, ok = plainStringValue(val)
		case "sdk":
			fast.SDK = bytes.Clone(val)
		case "trace":
			fast.Trace = bytes.Clone(val)
		default:
			ok = !foldsToField(key, headerFields)
		}
		return ok
	}) {
		*h = fast
		return nil
	}
	return json.Unmarshal(line, h)
}

// decodePlain walks the members of the JSON object b, calling member with
// each key and raw value, and reports whether b was a plain object and
// member accepted every member. A false answer may come after some calls
// of member, whose work the caller then discards.
func decodePlain(b []byte, member func(key, val []byte) bool) bool {
	if len(b) > 4<<10 { // keeps nesting far below encoding/json's limit
		return false
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		end, ok := jsonString(b, i)
		if !ok {
			return false
		}
		key, ok := plainString(b[i:end])
		if !ok {
			return false
		}
		if i = skipSpace(b, end); i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		if end, ok = valueEnd(b, i); !ok {
			return false
		}
		if !member(key, b[i:end]) {
			return false
		}
		if i = skipSpace(b, end); i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// plainString returns the contents of the JSON string v when it holds
// only ASCII without escapes.
func plainString(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false
	}
	s := v[1 : len(v)-1]
	for _, c := range s {
		if c == '\\' || c >= 0x80 {
			return nil, false
		}
	}
	return s, true
}

func plainStringValue(v []byte) (string, bool) {
	s, ok := plainString(v)
	return string(s), ok
}

// foldsToField reports whether key names one of fields only
// case-insensitively, which encoding/json would also match.
func foldsToField(key []byte, fields []string) bool {
	for _, f := range fields {
		if bytes.EqualFold(key, []byte(f)) {
			return true
		}
	}
	return false
}

// itemType returns the item type named by s, without allocating for the
// types SDKs send.
func itemType(s []byte) string {
	switch string(s) {
	case "event":
		return "event"
	case "transaction":
		return "transaction"
	case "session":
		return "session"
	case "sessions":
		return "sessions"
	case "client_report":
		return "client_report"
	case "attachment":
		return "attachment"
	case "span":
		return "span"
	case "log":
		return "log"
	case "check_in":
		return "check_in"
	case "profile":
		return "profile"
	case "profile_chunk":
		return "profile_chunk"
	case "replay_event":
		return "replay_event"
	case "replay_recording":
		return "replay_recording"
	case "feedback":
		return "feedback"
	case "user_report":
		return "user_report"
	case "raw_security":
		return "raw_security"
	}
	return string(s)
}
