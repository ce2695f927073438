package grouping

import "unicode/utf8"

// paramScanner finds what Parameterize replaces by hand, with exactly the
// leftmost-first semantics of the regexp in normalize_ref_test.go (the
// differential fuzz target FuzzParameterizeMatchesRegexp holds it to
// that): at the leftmost position where any kind matches, the first kind
// in the list wins, each with its greedy, backtracking extent.
type paramScanner struct {
	s string
	// The email local part run that starts at or before the current
	// position ends at emailRun; emailEnd is where the email ends, or -1.
	emailRun, emailEnd int
	// A host name's labels up to the first '.' at hostDot are followed by
	// the same labels whatever the start: hostEnd is where it ends, or -1.
	hostDot, hostEnd int
}

// next is the first match at or after i: its start, end and kind, or
// start -1.
func (p *paramScanner) next(i int) (start, end int, kind string) {
	s := p.s
	for ; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			continue
		}
		b := p.boundary(i)
		if b && isLetter(c) {
			if e := p.url(i); e >= 0 {
				return i, e, "url"
			}
		}
		if isEmailLocal(c) {
			if e := p.email(i); e >= 0 {
				return i, e, "email"
			}
		}
		if b && c == 't' {
			if e := p.swiftTxn(i); e >= 0 {
				return i, e, "swift_txn_id"
			}
		}
		if b && isLabel(c) {
			if e := p.hostname(i); e >= 0 {
				return i, e, "hostname"
			}
		}
		if b && isHex(c) {
			if e := p.uuid(i); e >= 0 {
				return i, e, "uuid"
			}
		}
		if b && isDigit(c) {
			if e := p.datetimeISO(i); e >= 0 {
				return i, e, "datetime"
			}
		}
		if b && (isDigit(c) || (c >= 'A' && c <= 'Z')) {
			if e := p.datetimeRFC(i); e >= 0 {
				return i, e, "datetime"
			}
			if e := p.datetimeJS(i); e >= 0 {
				return i, e, "datetime"
			}
		}
		if b && isDigit(c) {
			if e := p.date(i); e >= 0 {
				return i, e, "date"
			}
			if e := p.time(i); e >= 0 {
				return i, e, "time"
			}
		}
		if b && isHex(c) {
			if e := p.ip(i); e >= 0 {
				return i, e, "ip"
			}
		}
		if c == ':' && (i == 0 || (!isWordByte(s[i-1]) && s[i-1] != ':')) {
			if e := p.ip6Leading(i); e >= 0 {
				return i, e, "ip"
			}
		}
		if b && isHex(c) {
			if e := p.hex(i); e >= 0 {
				return i, e, "hex"
			}
		}
		if (b && isDigit(c)) || (c == '-' && i+1 < len(s) && isDigit(s[i+1]) && (i == 0 || !isWordByte(s[i-1]))) {
			j := i
			if c == '-' {
				j++
			}
			j = p.digits(j)
			if j+1 < len(s) && s[j] == '.' && isDigit(s[j+1]) {
				return i, p.digits(j + 1), "float"
			}
			return i, j, "int"
		}
		if c == '\'' || c == '"' {
			if e := p.quoted(i); e >= 0 {
				return i, e, "quoted"
			}
		}
		if i > 0 && s[i-1] == '=' {
			if e := p.boolean(i); e >= 0 {
				return i, e, "bool"
			}
		}
	}
	return -1, -1, ""
}

func isWordByte(c byte) bool {
	return isDigit(c) || isLetter(c) || c == '_'
}

func isLetter(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

func isHex(c byte) bool { return isDigit(c) || ((c|0x20) >= 'a' && (c|0x20) <= 'f') }

func isEmailLocal(c byte) bool {
	return isDigit(c) || isLetter(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isLabel(c byte) bool { return isDigit(c) || isLetter(c) || c == '-' }

// boundary is \b at i: a word character on one side only (ASCII, as in
// Go's regexp).
func (p *paramScanner) boundary(i int) bool {
	before := i > 0 && isWordByte(p.s[i-1])
	after := i < len(p.s) && isWordByte(p.s[i])
	return before != after
}

// run is the end of the run of bytes from i for which in holds.
func (p *paramScanner) run(i int, in func(byte) bool) int {
	for i < len(p.s) && in(p.s[i]) {
		i++
	}
	return i
}

func (p *paramScanner) digits(i int) int { return p.run(i, isDigit) }

// nDigits is i+n when n digits start at i, or -1.
func (p *paramScanner) nDigits(i, n int) int {
	if i+n > len(p.s) {
		return -1
	}
	for k := i; k < i+n; k++ {
		if !isDigit(p.s[k]) {
			return -1
		}
	}
	return i + n
}

func (p *paramScanner) at(i int, c byte) bool { return i >= 0 && i < len(p.s) && p.s[i] == c }

// url: \b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"<>()\[\]{}]+
func (p *paramScanner) url(i int) int {
	j := p.run(i+1, func(c byte) bool { return isDigit(c) || isLetter(c) || c == '+' || c == '.' || c == '-' })
	if !p.at(j, ':') || !p.at(j+1, '/') || !p.at(j+2, '/') {
		return -1
	}
	e := p.run(j+3, func(c byte) bool {
		switch c {
		case '\t', '\n', '\f', '\r', ' ', '\'', '"', '<', '>', '(', ')', '[', ']', '{', '}':
			return false
		}
		return true
	})
	if e == j+3 {
		return -1
	}
	return e
}

// email: [A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}
// Every start in one local part run ends the same way: computed once.
func (p *paramScanner) email(i int) int {
	if i < p.emailRun {
		return p.emailEnd
	}
	at := p.run(i, isEmailLocal)
	p.emailRun, p.emailEnd = at, -1
	if !p.at(at, '@') {
		return -1
	}
	d := at + 1
	e := p.run(d, isLabel)
	if e == d {
		return -1
	}
	// The labels after the first, each after its '.': the star takes as
	// many as it can and gives them back from the last until a label that
	// starts with two letters is left for \.[A-Za-z]{2,}.
	var starts []int
	for p.at(e, '.') {
		n := p.run(e+1, isLabel)
		if n == e+1 {
			break
		}
		starts = append(starts, e+1)
		e = n
	}
	for k := len(starts) - 1; k >= 0; k-- {
		if l := p.run(starts[k], isLetter); l-starts[k] >= 2 {
			p.emailEnd = l
			return l
		}
	}
	return -1
}

// nHex is i+n when n hex digits start at i, or -1.
func (p *paramScanner) nHex(i, n int) int {
	if i < 0 || i+n > len(p.s) {
		return -1
	}
	for k := i; k < i+n; k++ {
		if !isHex(p.s[k]) {
			return -1
		}
	}
	return i + n
}

// uuid: \b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b
// (without dashes it is an <md5>, as Sentry has it).
func (p *paramScanner) uuid(i int) int {
	j := p.nHex(i, 8)
	for _, n := range [...]int{4, 4, 4, 12} {
		if j < 0 || !p.at(j, '-') {
			return -1
		}
		j = p.nHex(j+1, n)
	}
	if j < 0 || !p.boundary(j) {
		return -1
	}
	return j
}

// datetimeISO: \b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2}\b)?
func (p *paramScanner) datetimeISO(i int) int {
	j := p.isoDate(i)
	if j < 0 || !(p.at(j, 'T') || p.at(j, ' ')) {
		return -1
	}
	j = p.nDigits(j+1, 2)
	if j < 0 || !p.at(j, ':') {
		return -1
	}
	if j = p.nDigits(j+1, 2); j < 0 {
		return -1
	}
	if p.at(j, ':') {
		if k := p.nDigits(j+1, 2); k >= 0 {
			j = k
			if (p.at(j, '.') || p.at(j, ',')) && j+1 < len(p.s) && isDigit(p.s[j+1]) {
				j = p.digits(j + 1)
			}
		}
	}
	if p.at(j, 'Z') {
		return j + 1
	}
	if p.at(j, '+') || p.at(j, '-') {
		k := p.nDigits(j+1, 2)
		if k >= 0 && p.at(k, ':') {
			k++
		}
		if k >= 0 {
			k = p.nDigits(k, 2)
		}
		if k >= 0 && p.boundary(k) {
			return k
		}
	}
	return j
}

// isoDate: \d{4}-\d{2}-\d{2}, the end or -1.
func (p *paramScanner) isoDate(i int) int {
	j := p.nDigits(i, 4)
	if j < 0 || !p.at(j, '-') {
		return -1
	}
	j = p.nDigits(j+1, 2)
	if j < 0 || !p.at(j, '-') {
		return -1
	}
	return p.nDigits(j+1, 2)
}

// prefixFold is s[i:] starting with w, ASCII letters in either case.
func (p *paramScanner) hasPrefix(i int, w string) bool {
	return i >= 0 && i+len(w) <= len(p.s) && p.s[i:i+len(w)] == w
}

// month is the end of a month's abbreviation at i, or -1.
func (p *paramScanner) month(i int) int {
	if i+3 > len(p.s) {
		return -1
	}
	switch p.s[i : i+3] {
	case "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec":
		return i + 3
	}
	return -1
}

// weekday is the end of a day's abbreviation at i, or -1.
func (p *paramScanner) weekday(i int) int {
	if i+3 > len(p.s) {
		return -1
	}
	switch p.s[i : i+3] {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
		return i + 3
	}
	return -1
}

var weekdayNames = [...]string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}

// datetimeRFC: \b(?:(?:Monday|…|Sunday|Mon|…|Sun), )?\d{1,2}[ -]MON[ -]\d{2,4}
// \d{2}:\d{2}(?::\d{2})?\b(?: (?:[+-]\d{4}|[A-Z]{2,4}|Z)\b)?
func (p *paramScanner) datetimeRFC(i int) int {
	j := i
	if !isDigit(p.s[i]) {
		d := -1
		for _, w := range weekdayNames {
			if p.hasPrefix(i, w) {
				d = i + len(w)
				break
			}
		}
		if d < 0 || !p.hasPrefix(d, ", ") {
			d = p.weekday(i)
		}
		if d < 0 || !p.hasPrefix(d, ", ") {
			return -1
		}
		j = d + 2
	}
	d := p.digits(j)
	if d-j < 1 || d-j > 2 || !(p.at(d, ' ') || p.at(d, '-')) {
		return -1
	}
	if j = p.month(d + 1); j < 0 || !(p.at(j, ' ') || p.at(j, '-')) {
		return -1
	}
	d = p.digits(j + 1)
	if d-(j+1) < 2 || d-(j+1) > 4 || !p.at(d, ' ') {
		return -1
	}
	if j = p.nDigits(d+1, 2); j < 0 || !p.at(j, ':') {
		return -1
	}
	if j = p.nDigits(j+1, 2); j < 0 {
		return -1
	}
	if p.at(j, ':') {
		if k := p.nDigits(j+1, 2); k >= 0 && p.boundary(k) {
			j = k
		} else if !p.boundary(j) {
			return -1
		}
	} else if !p.boundary(j) {
		return -1
	}
	if !p.at(j, ' ') {
		return j
	}
	z := j + 1
	if p.at(z, '+') || p.at(z, '-') {
		if k := p.nDigits(z+1, 4); k >= 0 && p.boundary(k) {
			return k
		}
	}
	u := z
	for u < len(p.s) && p.s[u] >= 'A' && p.s[u] <= 'Z' {
		u++
	}
	if n := u - z; n >= 2 && n <= 4 && p.boundary(u) {
		return u
	}
	if p.at(z, 'Z') && p.boundary(z+1) {
		return z + 1
	}
	return j
}

// datetimeJS: \bDAY MON \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT[+-]\d{4}(?: \([A-Za-z ]{1,64}\))?
func (p *paramScanner) datetimeJS(i int) int {
	j := p.weekday(i)
	if j < 0 || !p.at(j, ' ') {
		return -1
	}
	if j = p.month(j + 1); j < 0 || !p.at(j, ' ') {
		return -1
	}
	for _, n := range [...]int{2, 4} {
		if j = p.nDigits(j+1, n); j < 0 || !p.at(j, ' ') {
			return -1
		}
	}
	j++
	for k := 0; k < 3; k++ {
		if k > 0 {
			if !p.at(j, ':') {
				return -1
			}
			j++
		}
		if j = p.nDigits(j, 2); j < 0 {
			return -1
		}
	}
	if !p.hasPrefix(j, " GMT") || !(p.at(j+4, '+') || p.at(j+4, '-')) {
		return -1
	}
	if j = p.nDigits(j+5, 4); j < 0 {
		return -1
	}
	if p.hasPrefix(j, " (") {
		k := p.run(j+2, func(c byte) bool { return isLetter(c) || c == ' ' })
		if n := k - (j + 2); n >= 1 && p.at(k, ')') {
			if n <= 64 {
				return k + 1
			}
		}
	}
	return j
}

// date: \b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b
func (p *paramScanner) date(i int) int {
	if j := p.isoDate(i); j >= 0 && p.boundary(j) {
		return j
	}
	j := i
	for k := 0; k < 2; k++ {
		d := p.digits(j)
		if d-j < 1 || d-j > 2 || !p.at(d, '/') {
			return -1
		}
		j = d + 1
	}
	d := p.digits(j)
	if d-j < 2 || d-j > 4 || !p.boundary(d) {
		return -1
	}
	return d
}

// time: \b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b
func (p *paramScanner) time(i int) int {
	d := p.digits(i)
	if d-i > 2 || !p.at(d, ':') {
		return -1
	}
	j := p.nDigits(d+1, 2)
	if j < 0 {
		return -1
	}
	if p.at(j, ':') {
		if k := p.nDigits(j+1, 2); k >= 0 {
			if (p.at(k, '.') || p.at(k, ',')) && k+1 < len(p.s) && isDigit(p.s[k+1]) {
				if f := p.digits(k + 1); p.boundary(f) {
					return f
				}
			}
			if p.boundary(k) {
				return k
			}
		}
	}
	if p.boundary(j) {
		return j
	}
	return -1
}

// ipEnd: (?:/\d{1,3}\b|\b) at i, where an address ends with its prefix
// length, or -1.
func (p *paramScanner) ipEnd(i int) int {
	if p.at(i, '/') {
		if d := p.digits(i + 1); d-(i+1) >= 1 && d-(i+1) <= 3 && p.boundary(d) {
			return d
		}
	}
	if p.boundary(i) {
		return i
	}
	return -1
}

// ipv4: (?:\d{1,3}\.){3}\d{1,3}, the end or -1.
func (p *paramScanner) ipv4(i int) int {
	j := i
	for k := 0; k < 4; k++ {
		d := p.digits(j)
		if d-j < 1 || d-j > 3 {
			return -1
		}
		if k < 3 {
			if !p.at(d, '.') {
				return -1
			}
			d++
		}
		j = d
	}
	return j
}

// ip: \b(?:\d{1,3}\.){3}\d{1,3}END
// | \b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}END
// | \b(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?END
// where END is ipEnd.
func (p *paramScanner) ip(i int) int {
	if isDigit(p.s[i]) {
		if j := p.ipv4(i); j >= 0 {
			if e := p.ipEnd(j); e >= 0 {
				return e
			}
		}
	}
	// Full form: seven groups then a last one.
	j := i
	groups := 0
	for groups < 7 {
		h := p.run(j, isHex)
		if h-j < 1 || h-j > 4 || !p.at(h, ':') {
			break
		}
		j = h + 1
		groups++
	}
	if groups == 7 {
		if h := p.run(j, isHex); h-j >= 1 && h-j <= 4 {
			if e := p.ipEnd(h); e >= 0 {
				return e
			}
		}
	}
	// Compressed form: one to six groups, "::", then the rest.
	j = i
	groups = 0
	for groups < 6 {
		h := p.run(j, isHex)
		if h-j < 1 || h-j > 4 || !p.at(h, ':') {
			break
		}
		j = h + 1
		groups++
	}
	if groups == 0 || !p.at(j, ':') {
		return -1
	}
	return p.ip6Tail(j + 1)
}

// ip6Tail: (?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?END after a "::"
// that ends at t.
func (p *paramScanner) ip6Tail(t int) int {
	r := p.run(t, isHex) - t
	for a := min(4, r); a >= 1; a-- {
		if e := p.ip6Rest(t + a); e >= 0 {
			return e
		}
	}
	return p.ipEnd(t)
}

// ip6Leading, at a "::" not after a word character or ':':
// ::(?:[fF]{4}:)?IPV4END | ::[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*END
func (p *paramScanner) ip6Leading(i int) int {
	if !p.at(i+1, ':') {
		return -1
	}
	t := i + 2
	for _, skip := range [...]int{5, 0} {
		if skip == 5 && !(p.at(t+4, ':') && (p.s[t]|0x20) == 'f' && (p.s[t+1]|0x20) == 'f' && (p.s[t+2]|0x20) == 'f' && (p.s[t+3]|0x20) == 'f') {
			continue
		}
		if j := p.ipv4(t + skip); j >= 0 {
			if e := p.ipEnd(j); e >= 0 {
				return e
			}
		}
	}
	r := p.run(t, isHex) - t
	for a := min(4, r); a >= 1; a-- {
		if e := p.ip6Rest(t + a); e >= 0 {
			return e
		}
	}
	return -1
}

// ip6Rest: (?::[0-9a-fA-F]{1,4})*END from i, greedy with backtracking.
func (p *paramScanner) ip6Rest(i int) int {
	for {
		if !p.at(i, ':') {
			break
		}
		r := p.run(i+1, isHex) - (i + 1)
		if r < 1 {
			break
		}
		// Only the longest group can be followed by ':' or END; shorter
		// ones are followed by a hex digit.
		if r > 4 {
			// {1,4} stops inside the run: neither ':' nor END follows.
			break
		}
		if e := p.ip6Rest(i + 1 + r); e >= 0 {
			return e
		}
		break
	}
	return p.ipEnd(i)
}

// hex: \b0[xX][0-9a-fA-F]+\b|\b[0-9a-fA-F]{8,}\b
func (p *paramScanner) hex(i int) int {
	if p.s[i] == '0' && (p.at(i+1, 'x') || p.at(i+1, 'X')) {
		if h := p.run(i+2, isHex); h > i+2 && p.boundary(h) {
			return h
		}
	}
	if h := p.run(i, isHex); h-i >= 8 && p.boundary(h) {
		return h
	}
	return -1
}

// quoted: '[^'\n]{1,200}'|"[^"\n]{1,200}" (200 runes, not bytes).
func (p *paramScanner) quoted(i int) int {
	q := p.s[i]
	j := i + 1
	for n := 0; j < len(p.s); n++ {
		c := p.s[j]
		if c == q {
			if n == 0 {
				return -1
			}
			return j + 1
		}
		if c == '\n' || n == 200 {
			return -1
		}
		_, w := utf8.DecodeRuneInString(p.s[j:])
		j += w
	}
	return -1
}

// swiftTxn: \btx[0-9a-f]{21}-[0-9a-f]{10}\S*
func (p *paramScanner) swiftTxn(i int) int {
	if !p.hasPrefix(i, "tx") {
		return -1
	}
	lowerHex := func(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') }
	j := i + 2
	for _, n := range [...]int{21, 10} {
		if j+n > len(p.s) {
			return -1
		}
		for k := j; k < j+n; k++ {
			if !lowerHex(p.s[k]) {
				return -1
			}
		}
		j += n
		if n == 21 {
			if !p.at(j, '-') {
				return -1
			}
			j++
		}
	}
	return p.run(j, func(c byte) bool {
		return c != ' ' && c != '\t' && c != '\n' && c != '\f' && c != '\r'
	})
}

// hostname: \b(?:[a-zA-Z0-9-]{1,63}\.)+TLD\b, TLD as isTLD tells: the
// labels go as far as they can, then give back from the last until a top-
// level domain follows.
func (p *paramScanner) hostname(i int) int {
	dot := p.run(i, isLabel)
	if dot-i > 63 || !p.at(dot, '.') {
		return -1
	}
	if dot == p.hostDot {
		return p.hostEnd
	}
	var dotsBuf [8]int
	dots := append(dotsBuf[:0], dot)
	for j := dot; ; {
		n := p.run(j+1, isLabel)
		if n-(j+1) < 1 || n-(j+1) > 63 || !p.at(n, '.') {
			break
		}
		dots, j = append(dots, n), n
	}
	end := -1
	for k := len(dots) - 1; k >= 0; k-- {
		if w := p.run(dots[k]+1, isWordByte); isTLD(p.s[dots[k]+1 : w]) {
			end = w
			break
		}
	}
	p.hostDot, p.hostEnd = dot, end
	return end
}

// boolean: (?:true|false)\b in any case, after "=".
func (p *paramScanner) boolean(i int) int {
	for _, w := range [...]string{"true", "false"} {
		if i+len(w) <= len(p.s) && asciiEqualFold(p.s[i:i+len(w)], w) && p.boundary(i+len(w)) {
			return i + len(w)
		}
	}
	return -1
}

// asciiEqualFold: s and lower (lower case ASCII letters) are equal, ASCII
// letters of s in either case.
func asciiEqualFold(s, lower string) bool {
	for k := 0; k < len(s); k++ {
		if c := s[k]; c|0x20 != lower[k] || !isLetter(c) {
			return false
		}
	}
	return true
}
