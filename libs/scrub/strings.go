package scrub

import (
	"strings"
)

// Card numbers have 13 to 19 digits (ISO/IEC 7812), optionally grouped by
// single spaces or dashes.
const (
	minCardDigits = 13
	maxCardDigits = 19
)

// scrubString filters bearer tokens, card numbers and the values of
// sensitive key=value pairs in s. It returns the rules that applied, nil
// when none did.
func (s *Scrubber) scrubString(str string) (string, []string) {
	var rules []string
	if out, ok := filterBearer(str); ok {
		str, rules = out, append(rules, RuleBearer)
	}
	if out, ok := filterCards(str); ok {
		str, rules = out, append(rules, RuleCreditCard)
	}
	if strings.IndexByte(str, '=') >= 0 {
		if out, rule := s.filterPairs(str); rule != "" {
			str, rules = out, append(rules, rule)
		}
	}
	return str, rules
}

// filterBearer replaces "Bearer <token>" (any case) with Filtered.
func filterBearer(s string) (string, bool) {
	var b strings.Builder
	changed := false
	pos := 0
	for i := 0; i+6 <= len(s); {
		j := indexFold(s[i:], "bearer")
		if j < 0 {
			break
		}
		start := i + j
		k := start + 6
		ws := k
		for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
			k++
		}
		tok := k
		for k < len(s) && tokenChar(s[k]) {
			k++
		}
		for k < len(s) && s[k] == '=' {
			k++
		}
		if k == ws || tok == k {
			i = start + 6
			continue
		}
		b.WriteString(s[pos:start])
		b.WriteString(Filtered)
		pos, i, changed = k, k, true
	}
	if !changed {
		return s, false
	}
	b.WriteString(s[pos:])
	return b.String(), true
}

// tokenChar is a character of an RFC 6750 bearer token (b64token).
func tokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}

// indexFold is strings.Index ignoring ASCII case; sub is lower-case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for ; j < len(sub); j++ {
			c := s[i+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
		}
		if j == len(sub) {
			return i
		}
	}
	return -1
}

func wordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// cardRuns calls fn with the bounds of every card number in s: a maximal
// run of digits and single spaces or dashes between them, standing alone
// as a word, with 13 to 19 digits that pass the Luhn check.
func cardRuns[S ~string | ~[]byte](s S, fn func(start, end int)) {
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		start := i
		digits := 0
		end := i
		for i < len(s) {
			c := s[i]
			if c >= '0' && c <= '9' {
				digits++
				i++
				end = i
				continue
			}
			if (c == ' ' || c == '-') && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
				i++
				continue
			}
			break
		}
		if digits < minCardDigits || digits > maxCardDigits ||
			start > 0 && wordChar(s[start-1]) || end < len(s) && wordChar(s[end]) {
			continue
		}
		if luhn(s[start:end]) {
			fn(start, end)
		}
	}
}

// luhn checks the digits of s (other characters skipped) with the Luhn
// algorithm.
func luhn[S ~string | ~[]byte](s S) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func hasCard(p []byte) bool {
	found := false
	cardRuns(p, func(int, int) { found = true })
	return found
}

func filterCards(s string) (string, bool) {
	var b strings.Builder
	pos := 0
	cardRuns(s, func(start, end int) {
		b.WriteString(s[pos:start])
		b.WriteString(Filtered)
		pos = end
	})
	if pos == 0 {
		return s, false
	}
	b.WriteString(s[pos:])
	return b.String(), true
}

// pairKeyChar is a character of a key in key=value text (query strings,
// form bodies, cookies, log lines): card[number]=… included.
func pairKeyChar(c byte) bool {
	return wordChar(c) || c == '-' || c == '.' || c == '[' || c == ']'
}

// pairEnd ends a value in key=value text.
func pairEnd(c byte) bool {
	switch c {
	case '&', ';', ',', ' ', '\t', '\r', '\n', '"', '\'':
		return true
	}
	return false
}

// filterPairs filters the values of sensitive keys in key=value text.
func (s *Scrubber) filterPairs(str string) (string, string) {
	var b strings.Builder
	pos := 0
	rule := ""
	for i := 0; i < len(str); i++ {
		if str[i] != '=' {
			continue
		}
		k := i
		for k > pos && pairKeyChar(str[k-1]) {
			k--
		}
		key := str[k:i]
		if key == "" || s.safe[strings.ToLower(key)] {
			continue
		}
		r := s.keyRule(key)
		if r == "" {
			continue
		}
		v := i + 1
		for v < len(str) && !pairEnd(str[v]) {
			v++
		}
		if val := str[i+1 : v]; val == "" || val == Filtered {
			continue
		}
		b.WriteString(str[pos : i+1])
		b.WriteString(Filtered)
		pos, rule = v, r
		i = v - 1
	}
	if rule == "" {
		return str, ""
	}
	b.WriteString(str[pos:])
	return b.String(), rule
}
