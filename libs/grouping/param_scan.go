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
		if b && (c == 'M' || c == 'T' || c == 'W' || c == 'F' || c == 'S') {
			if e := p.datetimeRFC(i); e >= 0 {
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
			if e := p.hex(i); e >= 0 {
				return i, e, "hex"
			}
		}
		if (b && isDigit(c)) || (c == '-' && i+1 < len(s) && isDigit(s[i+1])) {
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

// uuid: \b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b
func (p *paramScanner) uuid(i int) int {
	j := p.nHex(i, 8)
	for _, n := range []int{4, 4, 4, 12} {
		if j < 0 {
			return -1
		}
		if p.at(j, '-') {
			j++
		}
		j = p.nHex(j, n)
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

// datetimeRFC: \b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}(?: [A-Z]{3}|[+-]\d{4})?
func (p *paramScanner) datetimeRFC(i int) int {
	s := p.s
	if i+5 > len(s) {
		return -1
	}
	switch s[i : i+3] {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
	default:
		return -1
	}
	if s[i+3:i+5] != ", " {
		return -1
	}
	j := i + 5
	d := p.digits(j)
	if d-j < 1 || d-j > 2 || !p.at(d, ' ') {
		return -1
	}
	j = d + 1
	if j+4 > len(s) || s[j] < 'A' || s[j] > 'Z' || s[j+1] < 'a' || s[j+1] > 'z' || s[j+2] < 'a' || s[j+2] > 'z' || s[j+3] != ' ' {
		return -1
	}
	j = p.nDigits(j+4, 4)
	if j < 0 || !p.at(j, ' ') {
		return -1
	}
	for k := 0; k < 3; k++ {
		if k > 0 {
			if !p.at(j, ':') {
				return -1
			}
			j++
		} else {
			j++
		}
		if j = p.nDigits(j, 2); j < 0 {
			return -1
		}
	}
	if p.at(j, ' ') && j+4 <= len(s) {
		if u := s[j+1 : j+4]; u[0] >= 'A' && u[0] <= 'Z' && u[1] >= 'A' && u[1] <= 'Z' && u[2] >= 'A' && u[2] <= 'Z' {
			return j + 4
		}
	}
	if p.at(j, '+') || p.at(j, '-') {
		if k := p.nDigits(j+1, 4); k >= 0 {
			return k
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

// ip: \b(?:\d{1,3}\.){3}\d{1,3}\b
// | \b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b
// | \b(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?\b
func (p *paramScanner) ip(i int) int {
	if isDigit(p.s[i]) {
		j := i
		ok := true
		for k := 0; k < 4 && ok; k++ {
			d := p.digits(j)
			if d-j < 1 || d-j > 3 {
				ok = false
				break
			}
			if k < 3 {
				if !p.at(d, '.') {
					ok = false
					break
				}
				d++
			}
			j = d
		}
		if ok && p.boundary(j) {
			return j
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
		if h := p.run(j, isHex); h-j >= 1 && h-j <= 4 && p.boundary(h) {
			return h
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
	t := j + 1
	r := p.run(t, isHex) - t
	for a := min(4, r); a >= 1; a-- {
		if e := p.ip6Rest(t + a); e >= 0 {
			return e
		}
	}
	if p.boundary(t) {
		return t
	}
	return -1
}

// ip6Rest: (?::[0-9a-fA-F]{1,4})*\b from i, greedy with backtracking.
func (p *paramScanner) ip6Rest(i int) int {
	for {
		if !p.at(i, ':') {
			break
		}
		r := p.run(i+1, isHex) - (i + 1)
		if r < 1 {
			break
		}
		// Only the longest group can be followed by ':' or \b; shorter
		// ones are followed by a hex digit.
		if r > 4 {
			// {1,4} stops inside the run: neither ':' nor \b follows.
			break
		}
		if e := p.ip6Rest(i + 1 + r); e >= 0 {
			return e
		}
		break
	}
	if p.boundary(i) {
		return i
	}
	return -1
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
