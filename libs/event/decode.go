package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	expjson "github.com/go-json-experiment/json/v1"

	"github.com/faultline/faultline/libs/envelope"
)

// Payloads are decoded with github.com/go-json-experiment/json/v1: the
// semantics of encoding/json (case-insensitive field names, the last of
// duplicate names, invalid UTF-8 replaced by U+FFFD, type errors skipped
// field by field) on the engine of encoding/json/v2, which decodes an event
// in about half the time. FuzzDecodeMatchesEncodingJSON holds the two to the
// same results.

// The flex types decode what SDKs send in the shape they send it. Their
// UnmarshalJSON never fails: a value of the wrong shape leaves the field
// empty, as Sentry drops an invalid field rather than the whole event.

// flexString takes a string, or a number or boolean written out as text.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	*s = flexString(scalarText(b))
	return nil
}

// scalarText is the text of a JSON scalar; "" for null, objects and arrays.
func scalarText(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	switch b[0] {
	case '"':
		if s, ok := plainString(b); ok {
			return s
		}
		return unquote(b)
	case 't', 'f':
		return string(b)
	case 'n', '{', '[':
		return ""
	}
	return string(b) // a number, as written
}

// plainString is the text of a JSON string that needs no unescaping: no
// backslash, valid UTF-8. b is one valid JSON value.
func plainString(b []byte) (string, bool) {
	if len(b) < 2 || b[len(b)-1] != '"' {
		return "", false
	}
	// Valid JSON has no raw quote or control character inside a string:
	// only escapes and invalid UTF-8 need unquote.
	in := b[1 : len(b)-1]
	if bytes.IndexByte(in, '\\') >= 0 || !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// unquote is the text of the valid JSON string b as encoding/json reads
// it: escapes resolved, a lone or broken surrogate escape and every byte of
// invalid UTF-8 replaced by U+FFFD.
func unquote(b []byte) string {
	in := b[1 : len(b)-1]
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		c := in[i]
		switch {
		case c == '\\':
			i++
			switch e := in[i]; e {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u': // in[i+1:i+5] are four hex digits
				r := hex4(in[i+1:])
				i += 4
				if utf16.IsSurrogate(r) {
					// A pair only with a second escape that completes it
					// (in valid JSON, \u has four hex digits after it).
					r2 := rune(-1)
					if i+2 < len(in) && in[i+1] == '\\' && in[i+2] == 'u' {
						r2 = hex4(in[i+3:])
					}
					if r = utf16.DecodeRune(r, r2); r != utf8.RuneError {
						i += 6
					}
				}
				out = utf8.AppendRune(out, r)
			default: // '"', '\\', '/'
				out = append(out, e)
			}
			i++
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(in[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, in[i:i+size]...)
			}
			i += size
		}
	}
	return string(out)
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// anyText is the text of any JSON value: a scalar's text, or compact JSON
// for objects and arrays.
func anyText(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	if b[0] == '{' || b[0] == '[' {
		// Decoded and encoded again: one canonical text for one value.
		var v any
		if expjson.Unmarshal(b, &v) != nil {
			return ""
		}
		out, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(out)
	}
	return scalarText(b)
}

// flexInt takes an integer as a number or a numeric string.
type flexInt struct {
	V     int64
	Valid bool
}

func (n *flexInt) UnmarshalJSON(b []byte) error {
	*n = flexInt{}
	s := scalarText(b)
	if s == "" {
		return nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = flexInt{i, true}
		return nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1<<53 {
		*n = flexInt{int64(f), true}
	}
	return nil
}

// flexBool takes true/false, 0/1 and their string forms.
type flexBool struct {
	V     bool
	Valid bool
}

func (v *flexBool) UnmarshalJSON(b []byte) error {
	*v = flexBool{}
	switch strings.ToLower(scalarText(b)) {
	case "true", "1", "yes":
		*v = flexBool{true, true}
	case "false", "0", "no":
		*v = flexBool{false, true}
	}
	return nil
}

func (v flexBool) ptr() *bool {
	if !v.Valid {
		return nil
	}
	b := v.V
	return &b
}

// flexTime takes seconds since the epoch (number or numeric string) or an
// RFC 3339 time, with or without a zone (UTC then).
type flexTime struct{ T time.Time }

func (t *flexTime) UnmarshalJSON(b []byte) error {
	t.T = parseTime(scalarText(b))
	return nil
}

func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
			return time.Time{}
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC()
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if v, err := time.Parse(layout, s); err == nil {
			return v.UTC()
		}
	}
	return time.Time{}
}

// flexStrings takes an array of scalars (as text) or a single scalar.
type flexStrings []string

func (l *flexStrings) UnmarshalJSON(b []byte) error {
	*l = nil
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	if b[0] != '[' {
		if s := scalarText(b); s != "" {
			*l = flexStrings{s}
		}
		return nil
	}
	// b is one valid value (the decoder read it): its elements are cut out
	// in one pass, without copies.
	raw := elements(b)
	if len(raw) > 0 {
		*l = make(flexStrings, 0, len(raw))
	}
	for _, r := range raw {
		*l = append(*l, anyText(r))
	}
	return nil
}

// container finds the list in b: b itself when it is an array, the array
// of a {"values": [...]} container, or (one) an object without "values",
// which stands for a one-item list. Both are nil when b holds no list.
func container(b json.RawMessage) (arr, one []byte) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, nil
	}
	switch b[0] {
	case '[':
		return b, nil
	case '{':
		v, found, ok := member(b, "values")
		switch {
		case !ok:
			return nil, nil
		case !found:
			return nil, b
		case v[0] == '[':
			return v, nil
		}
	}
	return nil, nil
}

// elements are the items of the JSON array b, as slices of b; nil if b is
// not an array. b is valid JSON.
func elements(b []byte) []json.RawMessage {
	if len(b) == 0 || b[0] != '[' {
		return nil
	}
	var out []json.RawMessage
	w := walk(b)
	for v, ok := w.element(); ok; v, ok = w.element() {
		out = append(out, v)
	}
	return out
}

// member is the value of the object b's member called name, matched as
// encoding/json matches struct fields: case-insensitively, the last one
// winning. ok is false if b is not an object. b is valid JSON.
func member(b []byte, name string) (v []byte, found, ok bool) {
	if len(b) == 0 || b[0] != '{' {
		return nil, false, false
	}
	names := []string{name}
	w := walk(b)
	for k, val, more := w.member(); more; k, val, more = w.member() {
		if field(k, names) != "" {
			v, found = val, true
		}
	}
	return v, found, true
}

// pairs reads an object (in document order) or an array of [key, value]
// pairs or {key, value} objects, as tags and headers come. b is valid JSON.
func pairs(b json.RawMessage) [][2]string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	var out [][2]string
	w := walk(b)
	switch b[0] {
	case '{':
		for k, v, ok := w.member(); ok; k, v, ok = w.member() {
			out = append(out, [2]string{scalarText(k), scalarText(v)})
		}
	case '[':
		for item, ok := w.element(); ok; item, ok = w.element() {
			switch item[0] {
			case '[':
				if l := elements(item); len(l) == 2 {
					out = append(out, [2]string{scalarText(l[0]), scalarText(l[1])})
				}
			case '{':
				var kv rawPair
				kv.decodeAt(item, 0)
				out = append(out, [2]string{string(kv.Key), string(kv.Value)})
			}
		}
	}
	return out
}

// rawPair is a {key, value} item of a list of pairs.
type rawPair struct {
	Key   flexString `json:"key"`
	Value flexString `json:"value"`
}

// object decodes b as a JSON object of raw values; nil for anything else.
func object(b json.RawMessage) map[string]json.RawMessage {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	if !envelope.ValidJSON(b) {
		return nil
	}
	var m map[string]json.RawMessage
	mergeRaw(&m, b)
	return m
}

// lenient decodes b into v, keeping whatever fits: a JSON value of the wrong
// type for a field leaves that field empty. It fails only on malformed JSON.
func lenient(b []byte, v any) error {
	return ignoreTypeErrors(expjson.Unmarshal(b, v))
}

// ignoreTypeErrors drops the type errors of a decode that kept going past
// them; syntax errors stay.
func ignoreTypeErrors(err error) error {
	var te *expjson.UnmarshalTypeError
	if err != nil && errors.As(err, &te) {
		return nil
	}
	return err
}
