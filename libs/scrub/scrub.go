// Package scrub owns server-side data scrubbing: it removes secrets from
// event payloads before they are stored, as Sentry's Relay does. Values of
// keys that look sensitive (password, secret, token, auth, cookie, …),
// bearer tokens and Luhn-valid credit-card numbers in any string, and, when
// a project asks, IP addresses become "[Filtered]"; the payload's "_meta"
// records what was filtered in Sentry's shape:
//
//	"_meta": {"request": {"headers": {"0": {"1": {"": {"rem": [["@password:filter", "s"]], "len": 12}}}}}}
//
// Settings use the names of Sentry's project API. The scrubber reads
// untrusted input: it never panics, and a payload that is not valid JSON is
// an error. Payloads in which no sensitive pattern can occur are returned
// as they are after one scan of their bytes.
package scrub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Filtered replaces every scrubbed value.
const Filtered = "[Filtered]"

// Settings are a project's data-scrubbing settings, with the names of
// Sentry's project API.
type Settings struct {
	// DataScrubber turns scrubbing of sensitive keys, bearer tokens and
	// card numbers on.
	DataScrubber bool `json:"dataScrubber"`
	// DataScrubberDefaults adds DefaultFields to SensitiveFields.
	DataScrubberDefaults bool `json:"dataScrubberDefaults"`
	// SensitiveFields are more key names (matched as case-insensitive
	// substrings) whose values are scrubbed.
	SensitiveFields []string `json:"sensitiveFields,omitempty"`
	// SafeFields are key names (case-insensitive, exact) whose values are
	// never scrubbed.
	SafeFields []string `json:"safeFields,omitempty"`
	// ScrubIPAddresses removes user.ip_address, request.env.REMOTE_ADDR
	// and sdk.client_ip; the gateway then does not pass the client's
	// address on either.
	ScrubIPAddresses bool `json:"scrubIPAddresses"`
}

// Defaults are Sentry's defaults for a new project: scrubbing on, with the
// default fields, IP addresses kept.
var Defaults = Settings{DataScrubber: true, DataScrubberDefaults: true}

// DefaultFields are the key names scrubbed by default: Sentry's documented
// list, plus session, cookie and the dashed spellings HTTP headers use.
var DefaultFields = []string{
	"password", "secret", "passwd", "api_key", "apikey", "api-key", "access_token", "auth",
	"credentials", "mysql_pwd", "privatekey", "private_key", "private-key", "token", "bearer",
	"session", "cookie", "csrf", "stripetoken", "github_token",
}

// Rule names recorded in _meta, as Relay names its built-in rules.
const (
	RulePassword   = "@password:filter"
	RuleCustom     = "strip-fields"
	RuleCreditCard = "@creditcard:filter"
	RuleBearer     = "@bearer:filter"
	RuleIP         = "@ip:filter"
)

// Scrubber scrubs payloads under one project's settings. It is safe for
// concurrent use.
type Scrubber struct {
	settings Settings
	defaults [][]byte // lower-case needles of the default fields
	custom   [][]byte // lower-case needles of the project's sensitive fields
	safe     map[string]bool
	patterns bool // bearer tokens, card numbers, key=value pairs in strings
	ips      bool

	needles    needleIndex // every key needle, "bearer", and the IP fields when asked
	shortField bool        // a sensitive field under four bytes: every payload is read
}

// New compiles settings.
func New(s Settings) *Scrubber {
	sc := &Scrubber{settings: s, safe: map[string]bool{}, ips: s.ScrubIPAddresses}
	if s.DataScrubber {
		sc.patterns = true
		if s.DataScrubberDefaults {
			for _, f := range DefaultFields {
				sc.defaults = append(sc.defaults, []byte(f))
			}
		}
		for _, f := range s.SensitiveFields {
			if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
				sc.custom = append(sc.custom, []byte(f))
			}
		}
	}
	for _, set := range [][][]byte{sc.defaults, sc.custom} {
		for _, n := range set {
			sc.needles.add(n)
			sc.shortField = sc.shortField || len(n) < 4
		}
	}
	if sc.patterns {
		sc.needles.add([]byte("bearer"))
	}
	if sc.ips {
		for _, n := range ipNeedles {
			sc.needles.add(n)
		}
	}
	for _, f := range s.SafeFields {
		if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
			sc.safe[f] = true
		}
	}
	return sc
}

// Settings are the settings the scrubber was made from.
func (s *Scrubber) Settings() Settings { return s.settings }

// Off reports whether the scrubber never changes anything.
func (s *Scrubber) Off() bool { return !s.patterns && !s.ips }

// ScrubsIPs reports whether the project asked for IP addresses to be removed.
func (s *Scrubber) ScrubsIPs() bool { return s.ips }

var ipNeedles = [][]byte{[]byte("ip_address"), []byte("remote_addr"), []byte("client_ip")}

// lower maps ASCII upper-case letters to lower case, other bytes to
// themselves.
var lower = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			t[i] = byte(i) + ('a' - 'A')
		}
	}
	return t
}()

// needleIndex finds needles in one pass over every other byte: a bit per
// hashed three-byte window says whether a needle may start at the window or
// one byte before it (every needle has four bytes at least), and only
// there are the needles compared. Hits are rare, so the comparison can try
// them all.
type needleIndex struct {
	bits    [1 << 16 / 64]uint64
	byFirst [256][][]byte // needles by their first byte
}

func trigramHash(w uint32) uint32 { return (w * 0x9E3779B1) >> 16 }

func (x *needleIndex) add(n []byte) {
	x.byFirst[n[0]] = append(x.byFirst[n[0]], n)
	for off := 0; off <= 1 && off+3 <= len(n); off++ {
		h := trigramHash(uint32(n[off])<<16 | uint32(n[off+1])<<8 | uint32(n[off+2]))
		x.bits[h/64] |= 1 << (h % 64)
	}
}

// mayMatch reports whether anything in p could need scrubbing: a sensitive
// needle anywhere (keys and values alike, case-insensitively), a \u escape
// (which could spell one), or a Luhn-valid card number. It looks at every
// other byte of p.
func (s *Scrubber) mayMatch(p []byte) bool {
	if s.shortField || bytes.Contains(p, []byte(`\u`)) {
		return true
	}
	// A card number is at least 13 bytes of digits and separators, so
	// it covers at least 6 consecutive even positions.
	run := 0
	long := false
	for i := 2; i < len(p); i += 2 {
		c := p[i]
		if c >= '0' && c <= '9' || c == ' ' || c == '-' {
			run++
			long = long || run >= 6
		} else {
			run = 0
		}
		w := uint32(lower[p[i-2]])<<16 | uint32(lower[p[i-1]])<<8 | uint32(lower[c])
		if h := trigramHash(w); s.needles.bits[h/64]&(1<<(h%64)) != 0 {
			for _, n := range s.needles.byFirst[lower[p[i-2]]] {
				if hasPrefixFold(p[i-2:], n) {
					return true
				}
			}
			if i >= 3 {
				for _, n := range s.needles.byFirst[lower[p[i-3]]] {
					if hasPrefixFold(p[i-3:], n) {
						return true
					}
				}
			}
		}
	}
	return s.patterns && (long || len(p) < 3) && hasCard(p)
}

// hasPrefixFold is bytes.HasPrefix ignoring ASCII case; prefix is lower-case.
func hasPrefixFold(b, prefix []byte) bool {
	if len(b) < len(prefix) {
		return false
	}
	for j, c := range prefix {
		if lower[b[j]] != c {
			return false
		}
	}
	return true
}

// Scrub returns payload, a JSON value, with what the settings ask removed,
// and whether anything was. An unchanged payload is returned as it is.
// Payloads are expected to be valid JSON (the envelope parser checked
// them): one in which nothing can match is returned unread, one that is
// read and found invalid is an error.
func (s *Scrubber) Scrub(payload []byte) ([]byte, bool, error) {
	if s.Off() || !s.mayMatch(payload) {
		return payload, false, nil
	}
	return s.rewrite(payload)
}

// rewrite reads payload whole and applies the settings.
func (s *Scrubber) rewrite(payload []byte) ([]byte, bool, error) {
	w := walker{s: s, in: payload, metaStart: -1}
	w.d = jsontext.NewDecoder(bytes.NewReader(payload), jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))
	if _, err := w.value(ctx{top: true}); err != nil {
		return nil, false, fmt.Errorf("scrub: %w", err)
	}
	if _, err := w.d.ReadToken(); err != io.EOF {
		return nil, false, errors.New("scrub: trailing data after the JSON value")
	}
	if len(w.edits) == 0 {
		return payload, false, nil
	}
	return w.output(), true, nil
}

// ctx is what a value's position says about it.
type ctx struct {
	top       bool // the payload itself
	safe      bool // under a safe field: left alone
	rule      string
	inArray   bool // an element of an array: a [key, value] pair candidate
	pairValue bool // the value of a sensitive [key, value] pair
}

type edit struct {
	start, end int
	repl       []byte
}

type remark struct {
	path  []string
	rules []string
	len   int
}

type walker struct {
	s       *Scrubber
	d       *jsontext.Decoder
	in      []byte
	edits   []edit
	remarks []remark
	path    []string

	topObject             bool
	topMembers            int
	metaStart, metaEnd    int
	topStart, topCloseEnd int
}

// value reads one value at the decoder's position and scrubs it. It returns
// the decoded string when the value was one.
func (w *walker) value(c ctx) (string, error) {
	switch w.d.PeekKind() {
	case '{':
		if c.rule != "" {
			return "", w.filterRaw(c.rule)
		}
		return "", w.object(c)
	case '[':
		if c.rule != "" {
			return "", w.filterRaw(c.rule)
		}
		return "", w.array(c)
	case '"':
		raw, err := w.d.ReadValue()
		if err != nil {
			return "", err
		}
		end := int(w.d.InputOffset())
		start := end - len(raw)
		str := unquote(raw)
		if c.safe {
			return str, nil
		}
		if c.rule != "" {
			if str != "" && str != Filtered {
				w.replace(start, end, []byte(`"`+Filtered+`"`), utf8.RuneCountInString(str), c.rule)
			}
			return str, nil
		}
		if w.s.patterns {
			if out, rules := w.s.scrubString(str); rules != nil {
				q, _ := jsontext.AppendQuote(nil, out) // invalid UTF-8 becomes U+FFFD
				w.replace(start, end, q, utf8.RuneCountInString(str), rules...)
			}
		}
		return str, nil
	case 0:
		_, err := w.d.ReadToken() // reports the error
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	default:
		return "", w.d.SkipValue()
	}
}

// filterRaw replaces the container at the decoder's position whole.
func (w *walker) filterRaw(rule string) error {
	raw, err := w.d.ReadValue()
	if err != nil {
		return err
	}
	end := int(w.d.InputOffset())
	w.replace(end-len(raw), end, []byte(`"`+Filtered+`"`), len(raw), rule)
	return nil
}

func (w *walker) replace(start, end int, repl []byte, n int, rules ...string) {
	w.edits = append(w.edits, edit{start, end, repl})
	w.remarks = append(w.remarks, remark{path: append([]string(nil), w.path...), rules: rules, len: n})
}

func (w *walker) object(c ctx) error {
	if _, err := w.d.ReadToken(); err != nil {
		return err
	}
	if c.top {
		w.topObject = true
	}
	for w.d.PeekKind() != '}' {
		tok, err := w.d.ReadToken()
		if err != nil {
			return err
		}
		name := tok.String()
		if c.top {
			w.topMembers++
			if name == "_meta" {
				// Meta the payload already holds is kept as it is and
				// merged with what this scrub adds.
				raw, err := w.d.ReadValue()
				if err != nil {
					return err
				}
				w.metaEnd = int(w.d.InputOffset())
				w.metaStart = w.metaEnd - len(raw)
				continue
			}
		}
		child := ctx{safe: c.safe || w.s.safe[strings.ToLower(name)] || idFields[name]}
		if !child.safe {
			child.rule = w.s.keyRule(name)
			if w.s.ips && child.rule == "" && w.ipField(name) {
				child.rule = RuleIP
			}
		}
		w.path = append(w.path, name)
		_, err = w.value(child)
		w.path = w.path[:len(w.path)-1]
		if err != nil {
			return err
		}
	}
	_, err := w.d.ReadToken()
	if c.top {
		w.topCloseEnd = int(w.d.InputOffset())
	}
	return err
}

func (w *walker) array(c ctx) error {
	if _, err := w.d.ReadToken(); err != nil {
		return err
	}
	pairRule := ""
	for i := 0; w.d.PeekKind() != ']'; i++ {
		child := ctx{safe: c.safe, inArray: true}
		// [key, value] pairs, as SDKs send headers, cookies, query
		// strings and form data: a sensitive key filters its value.
		if i == 1 && c.inArray {
			child.rule = pairRule
		}
		w.path = append(w.path, strconv.Itoa(i))
		str, err := w.value(child)
		w.path = w.path[:len(w.path)-1]
		if err != nil {
			return err
		}
		if i == 0 && c.inArray && !c.safe && !w.s.safe[strings.ToLower(str)] {
			pairRule = w.s.keyRule(str)
		}
	}
	_, err := w.d.ReadToken()
	return err
}

// idFields are the protocol's identifiers, wherever they are: hex ids an
// SDK draws at random, which are not personal data (Relay does not scrub
// them either). A span id of 16 decimal digits would otherwise pass for
// a card number about once in 18,000 spans and be filtered, and spans
// that lost their ids collapse into one.
var idFields = map[string]bool{"event_id": true, "trace_id": true, "span_id": true, "parent_span_id": true,
	"segment_id": true, "profile_id": true, "replay_id": true, "sid": true, "check_in_id": true}

// ipField reports whether name, at the walker's path, holds an IP address.
func (w *walker) ipField(name string) bool {
	switch len(w.path) {
	case 1:
		return w.path[0] == "user" && name == "ip_address" || w.path[0] == "sdk" && name == "client_ip"
	case 2:
		return w.path[0] == "request" && w.path[1] == "env" && name == "REMOTE_ADDR"
	}
	return false
}

// keyRule is the rule that filters the values of key name, or "".
func (s *Scrubber) keyRule(name string) string {
	if name == "" || (len(s.defaults) == 0 && len(s.custom) == 0) {
		return ""
	}
	low := []byte(strings.ToLower(name))
	for _, n := range s.defaults {
		if bytes.Contains(low, n) {
			return RulePassword
		}
	}
	for _, n := range s.custom {
		if bytes.Contains(low, n) {
			return RuleCustom
		}
	}
	return ""
}

// output applies the edits and adds their remarks to _meta.
func (w *walker) output() []byte {
	meta := w.metaJSON()
	out := make([]byte, 0, len(w.in)+len(meta)+64*len(w.edits))
	pos := 0
	splice := func(start, end int, repl []byte) {
		out = append(out, w.in[pos:start]...)
		out = append(out, repl...)
		pos = end
	}
	for _, e := range w.edits {
		if w.metaStart >= 0 && e.start > w.metaStart && pos <= w.metaStart {
			splice(w.metaStart, w.metaEnd, meta)
		}
		splice(e.start, e.end, e.repl)
	}
	switch {
	case !w.topObject:
	case w.metaStart >= 0:
		if pos <= w.metaStart {
			splice(w.metaStart, w.metaEnd, meta)
		}
	default:
		closing := w.topCloseEnd - 1 // the top-level '}'
		sep := `,"_meta":`
		if w.topMembers == 0 {
			sep = `"_meta":`
		}
		splice(closing, closing, append([]byte(sep), meta...))
	}
	return append(out, w.in[pos:]...)
}

// metaJSON is the _meta object: the payload's own, if any, with the
// remarks added.
func (w *walker) metaJSON() []byte {
	root := map[string]any{}
	if w.metaStart >= 0 {
		d := json.NewDecoder(bytes.NewReader(w.in[w.metaStart:w.metaEnd]))
		d.UseNumber()
		var old any
		if d.Decode(&old) == nil {
			if m, ok := old.(map[string]any); ok {
				root = m
			}
		}
	}
	for _, r := range w.remarks {
		node := root
		for _, seg := range r.path {
			next, ok := node[seg].(map[string]any)
			if !ok {
				next = map[string]any{}
				node[seg] = next
			}
			node = next
		}
		rem := make([]any, len(r.rules))
		for i, rule := range r.rules {
			rem[i] = []any{rule, "s"}
		}
		node[""] = map[string]any{"rem": rem, "len": r.len}
	}
	b, err := json.Marshal(root)
	if err != nil { // only plain maps, strings and numbers: cannot happen
		return []byte("{}")
	}
	return b
}

// unquote decodes a JSON string literal.
func unquote(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	b, _ := jsontext.AppendUnquote(nil, raw)
	return string(b)
}
