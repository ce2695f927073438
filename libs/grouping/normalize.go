package grouping

import (
	"net/url"
	"path"
	"strings"
)

// Parameterize replaces what varies between occurrences of the same message
// (numbers, hex values, UUIDs, IP addresses, e-mails, dates and times, URLs,
// quoted values) by placeholders such as <int> and <uuid>.
func Parameterize(msg string) string {
	if len(msg) > 8192 {
		msg = msg[:8192]
	}
	if !strings.ContainsAny(msg, "0123456789'\"@") && !strings.Contains(msg, "://") {
		return msg // nothing any pattern could match
	}
	sc := paramScanner{s: msg}
	var b strings.Builder
	last := 0
	for i := 0; ; {
		start, end, name := sc.next(i)
		if start < 0 {
			break
		}
		i = end
		tok := msg[start:end]
		if name == "hex" && !strings.HasPrefix(tok, "0x") && !strings.HasPrefix(tok, "0X") {
			switch {
			case strings.Trim(tok, "0123456789") == "":
				name = "int"
			case strings.Trim(tok, "abcdefABCDEF") == "":
				continue // a word such as "deadbeef" or "facade"
			}
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
