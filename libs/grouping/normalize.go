package grouping

import (
	"net/url"
	"path"
	"strings"
)

// Parameterize replaces what varies between occurrences of the same message
// by placeholders, as Sentry's grouping does: URLs, e-mails, OpenStack
// Swift transaction ids, host names (under common top-level domains),
// UUIDs, dates and times (ISO 8601; RFC 822, 850, 1123 and 2822, numeric
// zones included; JavaScript's Date strings), IPv4 and IPv6 addresses
// (with a /prefix length, or IPv4-mapped), hex values, SHA-1 and MD5-like
// hashes, numbers (a "-" between two words is a dash, not a minus sign),
// quoted values and the booleans after "=" in any case: <url>, <email>,
// <swift_txn_id>, <hostname>, <uuid>, <datetime>, <date>, <time>, <ip>,
// <hex>, <sha1>, <md5>, <float>, <int>, <quoted>, <bool>.
func Parameterize(msg string) string {
	if len(msg) > 8192 {
		msg = msg[:8192]
	}
	if !strings.ContainsAny(msg, paramTriggers) && !strings.Contains(msg, "://") {
		return msg // nothing any pattern could match
	}
	sc := paramScanner{s: msg, hostDot: -1}
	var b strings.Builder
	last := 0
	for i := 0; ; {
		start, end, name := sc.next(i)
		if start < 0 {
			break
		}
		i = end
		name, keep := classifyParam(name, msg[start:end])
		if !keep {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(msg))
		}
		b.WriteString(msg[last:start])
		b.WriteString("<" + name + ">")
		last = end
	}
	if last == 0 {
		return msg
	}
	b.WriteString(msg[last:])
	return b.String()
}

// parameterKinds are the placeholders Parameterize writes.
var parameterKinds = []string{"<url>", "<email>", "<swift_txn_id>", "<hostname>", "<uuid>", "<datetime>", "<date>",
	"<time>", "<ip>", "<hex>", "<sha1>", "<md5>", "<float>", "<int>", "<quoted>", "<bool>"}

// parameterHint says what Parameterize replaced in msg (norm), for
// explanations: "" when nothing.
func parameterHint(msg, norm string) string {
	if norm == msg {
		return ""
	}
	var kinds []string
	for _, k := range parameterKinds {
		if strings.Contains(norm, k) && !strings.Contains(msg, k) {
			kinds = append(kinds, k)
		}
	}
	return "stripped event-specific values: " + strings.Join(kinds, ", ")
}

// paramTriggers are the bytes one of which every parameter has, unless it
// is a URL.
const paramTriggers = "0123456789'\"@.=-:"

// classifyParam names a hex match by what it looks like: digits only are
// an <int>, 40 and 32 digits a <sha1> and an <md5>; letters only are a
// word ("deadbeef", "facade") and stay (keep false).
func classifyParam(name, tok string) (string, bool) {
	if name != "hex" || strings.HasPrefix(tok, "0x") || strings.HasPrefix(tok, "0X") {
		return name, true
	}
	switch {
	case strings.Trim(tok, "0123456789") == "":
		return "int", true
	case strings.Trim(tok, "abcdefABCDEF") == "":
		return "", false
	case len(tok) == 40:
		return "sha1", true
	case len(tok) == 32:
		return "md5", true
	}
	return name, true
}

// topLevelDomains are the top-level domains a <hostname> ends with: the
// hundred most common, as Sentry takes them (lower or upper case).
var topLevelDomains = []string{
	"com", "net", "org", "jp", "de", "uk", "fr", "br", "it", "ru", "es", "me", "gov", "pl", "ca", "au", "cn",
	"co", "in", "nl", "edu", "info", "eu", "ch", "id", "at", "kr", "cz", "mx", "be", "tv", "se", "tr", "tw",
	"al", "ua", "ir", "vn", "cl", "sk", "ly", "cc", "to", "no", "fi", "us", "pt", "dk", "ar", "hu", "tk", "gr",
	"il", "news", "ro", "my", "biz", "ie", "za", "nz", "sg", "ee", "th", "io", "xyz", "pe", "bg", "hk", "rs",
	"lt", "link", "ph", "club", "si", "site", "mobi", "by", "cat", "wiki", "la", "ga", "xxx", "cf", "hr", "ng",
	"jobs", "online", "kz", "ug", "gq", "ae", "is", "lv", "pro", "fm", "tips", "ms", "sa", "app",
}

var tldSet = func() map[string]bool {
	m := make(map[string]bool, len(topLevelDomains))
	for _, t := range topLevelDomains {
		m[t] = true
	}
	return m
}()

// isTLD: t is a top-level domain, all in lower or all in upper case.
func isTLD(t string) bool {
	if len(t) < 2 || len(t) > 6 {
		return false
	}
	var buf [6]byte
	upper, lower := false, false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= 'A' && c <= 'Z':
			upper = true
			c |= 0x20
		default:
			return false
		}
		buf[i] = c
	}
	return upper != lower && tldSet[string(buf[:len(t)])]
}

// isVolatileSegment tells a path segment that changes with every
// deployment: a version ("v2", "1.2.3", "2024-01-31") or a lowercase hex
// hash of 7 to 40 characters. It matches
// ^(?:v?\d+(?:[._-]\d+)*|[0-9a-f]{7,40})$ (the reference in the tests).
func isVolatileSegment(s string) bool {
	return isVersionSegment(s) || isHexSegment(s)
}

// isVersionSegment matches ^v?\d+(?:[._-]\d+)*$.
func isVersionSegment(s string) bool {
	i := 0
	if i < len(s) && s[i] == 'v' {
		i++
	}
	for {
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j == i {
			return false // a number must follow "v" and every separator
		}
		if j == len(s) {
			return true
		}
		if c := s[j]; c != '.' && c != '_' && c != '-' {
			return false
		}
		i = j + 1
	}
}

// isHexSegment matches ^[0-9a-f]{7,40}$.
func isHexSegment(s string) bool {
	if len(s) < 7 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isDigit(c) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// stripNameVersions drops the versions in a file name ("jquery-3.6.0.min.js"
// → "jquery.min.js"): every leftmost match of [.-]v?\d+(?:\.\d+)+ (the
// reference in the tests).
func stripNameVersions(base string) string {
	var b []byte // nil until the first match
	last := 0
	for i := 0; i < len(base); i++ {
		if c := base[i]; c != '.' && c != '-' {
			continue
		}
		end := nameVersionEnd(base, i+1)
		if end < 0 {
			continue
		}
		if b == nil {
			b = make([]byte, 0, len(base))
		}
		b = append(b, base[last:i]...)
		last = end
		i = end - 1
	}
	if b == nil {
		return base
	}
	return string(append(b, base[last:]...))
}

// nameVersionEnd is where v?\d+(?:\.\d+)+ starting at i ends, or -1.
// Greedy matching never needs to backtrack here: a digit run always ends
// before a '.', and a '.' without digits after it ends the match.
func nameVersionEnd(s string, i int) int {
	if i < len(s) && s[i] == 'v' {
		i++
	}
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j == i {
		return -1
	}
	end := -1
	for j < len(s) && s[j] == '.' {
		k := j + 1
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k == j+1 {
			break
		}
		end, j = k, k
	}
	return end
}

// NormalizeFilename is the part of a file name that groups: for URLs the
// path without origin, query or fragment; backslashes as slashes; without
// version and hash segments that change from one build to the next.
func NormalizeFilename(name string) string {
	name = strings.ReplaceAll(strings.TrimSpace(name), `\`, "/")
	if i := strings.Index(name, "://"); i > 0 {
		if u, err := url.Parse(name); err == nil {
			name = u.Path
			if strings.Contains(u.Opaque, "/") {
				name = u.Opaque
			}
		} else {
			name = name[i+3:]
			if j := strings.IndexByte(name, '/'); j >= 0 {
				name = name[j:]
			}
		}
	}
	if i := strings.IndexAny(name, "?#"); i >= 0 {
		name = name[:i]
	}
	if name == "" {
		return ""
	}
	if strings.Contains(name, "/") {
		name = path.Clean(name)
	}
	cut := strings.LastIndexByte(name, '/') + 1
	dir, base := name[:cut], name[cut:]
	if hasVolatileSegment(dir) {
		var b strings.Builder
		for rest := dir; rest != ""; {
			seg, after, _ := strings.Cut(rest, "/")
			if !isVolatileSegment(seg) {
				b.WriteString(seg)
				b.WriteByte('/')
			}
			rest = after
		}
		dir = b.String()
	}
	stripped := stripNameHashes(stripNameVersions(base))
	if len(dir) == cut && stripped == base {
		return name // nothing changed: no copy
	}
	return dir + stripped
}

// hasVolatileSegment reports whether a directory part ("a/b/", each
// segment followed by its slash) has a segment isVolatileSegment drops.
func hasVolatileSegment(dir string) bool {
	for rest := dir; rest != ""; {
		seg, after, _ := strings.Cut(rest, "/")
		if isVolatileSegment(seg) {
			return true
		}
		rest = after
	}
	return false
}

// stripNameHashes drops the hash-like parts between "." or "-" from a file
// name, never its first part nor its extension.
func stripNameHashes(base string) string {
	if !dropsNameHash(base) {
		return base
	}
	var b strings.Builder
	start := 0
	first := true
	for i := 0; i <= len(base); i++ {
		if i < len(base) && base[i] != '.' && base[i] != '-' {
			continue
		}
		part := base[start:i] // with its leading separator, if any
		last := i == len(base)
		if first || last || !looksLikeHash(part[1:]) {
			b.WriteString(part)
		}
		first = false
		start = i
	}
	return b.String()
}

// dropsNameHash reports whether stripNameHashes would drop a part of base.
func dropsNameHash(base string) bool {
	start := 0
	first := true
	for i := 0; i < len(base); i++ {
		if base[i] != '.' && base[i] != '-' {
			continue
		}
		if !first && looksLikeHash(base[start+1:i]) {
			return true
		}
		first = false
		start = i
	}
	return false
}

// looksLikeHash tells a content hash ("3f2a1b9c", "B2xYz9_q") from a word
// ("vendors", "runtime", "base64"): hex with a digit and at least 7
// characters, or 8 characters mixing upper and lower case (Vite).
func looksLikeHash(s string) bool {
	var digit, upper, lower, nonHex bool
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digit = true
		case r >= 'A' && r <= 'Z':
			upper = true
			nonHex = nonHex || r > 'F'
		case r >= 'a' && r <= 'z':
			lower = true
			nonHex = nonHex || r > 'f'
		default:
			nonHex = true
		}
	}
	return (!nonHex && digit && len(s) >= 7) || (len(s) == 8 && upper && lower)
}
