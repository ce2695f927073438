package grouping

import (
	"net/url"
	"path"
	"regexp"
	"strings"
	"testing"
)

// The regexp implementations NormalizeFilename and Parameterize had before
// their hot paths were written by hand: the reference the differential
// fuzz targets compare with.
var (
	refVolatileSegmentRE = regexp.MustCompile(`^(?:v?\d+(?:[._-]\d+)*|[0-9a-f]{7,40})$`)
	refNameVersionRE     = regexp.MustCompile(`[.-]v?\d+(?:\.\d+)+`)
	refTLDs              = strings.Join(topLevelDomains, "|")
)

// refParamKind is one kind of parameter: its regexp, anchored where the
// scan stands, and what must come before it (RE2 has no lookbehind).
type refParamKind struct {
	name   string
	before func(s string, i int) bool
	re     *regexp.Regexp
}

func refWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || (c|0x20) >= 'a' && (c|0x20) <= 'z'
}

// refBoundary is \b before s[i].
func refBoundary(s string, i int) bool {
	return (i > 0 && refWord(s[i-1])) != (i < len(s) && refWord(s[i]))
}

func refAnywhere(string, int) bool { return true }

// refNotWordBefore: not after a word character (a minus sign, not a dash
// between two words; "::" not inside "Class::method").
func refNotWordBefore(s string, i int) bool { return i == 0 || !refWord(s[i-1]) }

func refNotWordOrColonBefore(s string, i int) bool {
	return i == 0 || (!refWord(s[i-1]) && s[i-1] != ':')
}

func refAfterEquals(s string, i int) bool { return i > 0 && s[i-1] == '=' }

// refParamKinds are tried in order at each position; the first that
// matches wins, with its leftmost-first (Perl) extent.
var refParamKinds = func() []refParamKind {
	const (
		h    = `[0-9a-fA-F]{1,4}`
		v4   = `(?:\d{1,3}\.){3}\d{1,3}`
		cidr = `(?:/\d{1,3}\b|\b)`
		mon  = `(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)`
		day  = `(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)`
	)
	k := func(name string, before func(string, int) bool, re string) refParamKind {
		return refParamKind{name, before, regexp.MustCompile(`^(?:` + re + `)`)}
	}
	tlds := `(?:` + refTLDs + `|` + strings.ToUpper(refTLDs) + `)`
	return []refParamKind{
		k("url", refBoundary, `[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"<>()\[\]{}]+`),
		k("email", refAnywhere, `[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`),
		k("swift_txn_id", refBoundary, `tx[0-9a-f]{21}-[0-9a-f]{10}\S*`),
		k("hostname", refBoundary, `(?:[a-zA-Z0-9-]{1,63}\.)+`+tlds+`\b`),
		k("uuid", refBoundary, `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b`),
		k("datetime", refBoundary, `\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2}\b)?`),
		// RFC 822, 1123 and 2822 ("Mon, 2 Jan 2006 15:04:05 -0700"), RFC 850
		// ("Monday, 02-Jan-06 15:04:05 MST").
		k("datetime", refBoundary, `(?:(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|`+day[3:len(day)-1]+`), )?`+
			`\d{1,2}[ -]`+mon+`[ -]\d{2,4} \d{2}:\d{2}(?::\d{2})?\b(?: (?:[+-]\d{4}|[A-Z]{2,4}|Z)\b)?`),
		// JavaScript's Date.prototype.toString.
		k("datetime", refBoundary, day+` `+mon+` \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT[+-]\d{4}(?: \([A-Za-z ]{1,64}\))?`),
		k("date", refBoundary, `\d{4}-\d{2}-\d{2}\b|\d{1,2}/\d{1,2}/\d{2,4}\b`),
		k("time", refBoundary, `\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b`),
		k("ip", refBoundary, v4+cidr+`|(?:`+h+`:){7}`+h+cidr+`|(?:`+h+`:){1,6}:(?:`+h+`(?::`+h+`)*)?`+cidr),
		k("ip", refNotWordOrColonBefore, `::(?:[fF]{4}:)?`+v4+cidr+`|::`+h+`(?::`+h+`)*`+cidr),
		k("hex", refBoundary, `0[xX][0-9a-fA-F]+\b|[0-9a-fA-F]{8,}\b`),
		k("float", refBoundary, `\d+\.\d+`),
		k("float", refNotWordBefore, `-\d+\.\d+`),
		k("int", refBoundary, `\d+`),
		k("int", refNotWordBefore, `-\d+`),
		k("quoted", refAnywhere, `'[^'\n]{1,200}'|"[^"\n]{1,200}"`),
		k("bool", refAfterEquals, `(?:[tT][rR][uU][eE]|[fF][aA][lL][sS][eE])\b`),
	}
}()

func refParameterize(msg string) string {
	if len(msg) > 8192 {
		msg = msg[:8192]
	}
	if !strings.ContainsAny(msg, paramTriggers) && !strings.Contains(msg, "://") {
		return msg
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(msg); {
		name, end := "", -1
		for _, k := range refParamKinds {
			if !k.before(msg, i) {
				continue
			}
			if m := k.re.FindStringIndex(msg[i:]); m != nil {
				name, end = k.name, i+m[1]
				break
			}
		}
		if end < 0 {
			i++
			continue
		}
		name, keep := classifyParam(name, msg[i:end])
		if keep {
			b.WriteString(msg[last:i])
			b.WriteString("<" + name + ">")
			last = end
		}
		i = end
	}
	if last == 0 {
		return msg
	}
	b.WriteString(msg[last:])
	return b.String()
}

func refNormalizeFilename(name string) string {
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
	segs := strings.Split(name, "/")
	out := segs[:0]
	for i, s := range segs {
		if i < len(segs)-1 && refVolatileSegmentRE.MatchString(s) {
			continue
		}
		out = append(out, s)
	}
	base := out[len(out)-1]
	base = refNameVersionRE.ReplaceAllString(base, "")
	out[len(out)-1] = stripNameHashes(base)
	return strings.Join(out, "/")
}

// filenameSeeds are file names and URLs as SDKs send them.
var filenameSeeds = []string{
	"https://cdn.example.com/static/js/main.3f2a1b9c.js",
	"https://app.example.com/assets/index-B2xYz9_q.js?v=12#L3",
	"webpack:///./src/components/App.tsx",
	"webpack-internal:///./node_modules/react-dom/cjs/react-dom.development.js",
	"app:///_next/static/chunks/pages/_app-8a9f0c1d2e3f4a5b.js",
	"/home/app/node_modules/.pnpm/lodash@4.17.21/node_modules/lodash/lodash.js",
	"node_modules/express/lib/router/index.js",
	"https://cdnjs.cloudflare.com/ajax/libs/jquery/3.6.0/jquery-3.6.0.min.js",
	"https://unpkg.com/react@18.2.0/umd/react.production.min.js",
	"https://cdn.jsdelivr.net/npm/vue@v3.4.21/dist/vue.global.prod.js",
	"/static/2024-01-31/v2/app.1.2.3.bundle.js",
	"/srv/releases/1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b/lib/app.rb",
	"/home/u/go/pkg/mod/github.com/jackc/pgx/v5@v5.5.4/pgconn/pgconn.go",
	"/usr/local/go/src/runtime/panic.go",
	"golang.org/x/sync@v0.6.0/errgroup/errgroup.go",
	"/usr/lib/python3.11/site-packages/django/core/handlers/base.py",
	"/app/.venv/lib/python3.12/site-packages/requests-2.31.0.dist-info/x.py",
	`C:\Users\dev\AppData\Local\Programs\Python\Python311\Lib\json\decoder.py`,
	"  ./src/../lib//x.v1.2-3.js  ",
	"file:///C:/app/main.js",
	"blob:https://example.com/1b4e28ba-2fa1-11d2-883f-0016d3cca427",
	"http://[::1]:8080/a/b/c.js",
	"mailto:a/b",
	"x://",
	"chunk-vendors.v1.2.3-4.5.6.js",
	".-v.1..2.3-v9.9v9.js",
	"a-.1.2",
	"",
	"/",
	"..",
}

// paramSeeds are error messages as applications raise them.
var paramSeeds = []string{
	"Connection refused to 10.0.12.7:5432 after 3 retries (timeout 2.5s)",
	"User 8675309 not found",
	"invalid order id 1b4e28ba-2fa1-11d2-883f-0016d3cca427",
	"invalid order id 1b4e28ba2fa111d2883f0016d3cca427!",
	"pointer 0x7ffde3a0 is nil; object deadbeef facade 3f2a1b9c",
	"Cannot read properties of undefined (reading 'map')",
	`KeyError: "user_id" missing in {"a": 1}`,
	"Email bob.smith+tag@mail.example.co.uk already registered",
	"GET https://api.example.com/v1/users/42?expand=orders#frag failed: 503",
	"at 2024-01-31T12:34:56.789Z and 2024-01-31 12:34:56+01:00, 2024-02-01",
	"Date: Mon, 2 Jan 2006 15:04:05 MST; or Tue, 31 Dec 1999 23:59:59 +0000",
	"deadline on 12/31/2024 at 9:05 or 23:59:60,123",
	"ipv6 fe80::1ff:fe23:4567:890a and 2001:0db8:85a3:0000:0000:8a2e:0370:7334 and ::1 and a::",
	"balance -12.50 of -7 and 3.14159 then 1e10",
	"value 'it''s' and \"\" and 'x\ny'",
	"released v1.2.3-rc.4 build_123 abc123def456 ABCDEF1234",
	"no params here at all",
	"3ee.1.2.3.4.5 1.2.3 1.2.3.4.5 256.256.256.256",
	"id=00000000000 0X1F 0xg 0x",
	"x@y.z a@b.co mail@-x.io",
	"connect to db-2.example.com failed; to API.EXAMPLE.NET, Mixed.Com and a.com.br or x.com-y, x.com_1, main.rs",
	"route 10.0.0.0/8 and 2001:db8::/32 and 2001:db8::1/128 via ::ffff:192.0.2.128 and ::FFFF:1.2.3.4/33 and ::abcd:1",
	"Foo::bar() and a ::1 b:::1 and x::y",
	"Mon, 02 Jan 2006 15:04:05 -0700 and Monday, 02-Jan-06 15:04:05 MST and 5 Jan 24 10:00 Z and Sat, 1 Feb 2020 10:00:61 GMTX",
	"Thu Jan 02 2025 15:04:05 GMT+0100 (Central European Standard Time) and Thu Jan 02 2025 15:04:05 GMT-0500",
	"ok=true done=FALSE x=True1 y= false z=falsey",
	"txb5b7f3d4e2c1a0f9e8d7c-0065f1a2b3 and txb5b7f3d4e2c1a0f9e8d7c-0065f1a2b3-dfw1 (retry) tx0123456789abcdef01234-0123456789",
	"range 1-2-3 and port-8080, -5 and a-1 and 12:345:6789",
	"sha1 3f786850e387550fdab836ed7e6dc881de23001b md5 9e107d9d372bb6826bd81d3542a419d6 hex 9e107d9d372bb",
}

func FuzzNormalizeFilenameMatchesRegexp(f *testing.F) {
	for _, s := range filenameSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := NormalizeFilename(name), refNormalizeFilename(name); got != want {
			t.Fatalf("NormalizeFilename(%q) = %q, the regexp gives %q", name, got, want)
		}
	})
}

func FuzzParameterizeMatchesRegexp(f *testing.F) {
	for _, s := range paramSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		if got, want := Parameterize(msg), refParameterize(msg); got != want {
			t.Fatalf("Parameterize(%q) = %q, the regexp gives %q", msg, got, want)
		}
	})
}

func TestNormalizeFilenameMatchesRegexp(t *testing.T) {
	for _, s := range filenameSeeds {
		t.Run(s, func(t *testing.T) {
			if got, want := NormalizeFilename(s), refNormalizeFilename(s); got != want {
				t.Errorf("NormalizeFilename(%q) = %q, the regexp gives %q", s, got, want)
			}
		})
	}
}

func TestParameterizeMatchesRegexp(t *testing.T) {
	for _, s := range paramSeeds {
		t.Run(s, func(t *testing.T) {
			if got, want := Parameterize(s), refParameterize(s); got != want {
				t.Errorf("Parameterize(%q) = %q, the regexp gives %q", s, got, want)
			}
		})
	}
}

// BenchmarkNormalizeFilename runs every seed once per op, with the regexp
// reference ("regexp") and the package's implementation ("scan").
func BenchmarkNormalizeFilename(b *testing.B) {
	for _, impl := range []struct {
		name string
		fn   func(string) string
	}{{"regexp", refNormalizeFilename}, {"scan", NormalizeFilename}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, s := range filenameSeeds {
					impl.fn(s)
				}
			}
		})
	}
}

// BenchmarkParameterize runs every seed once per op, like
// BenchmarkNormalizeFilename.
func BenchmarkParameterize(b *testing.B) {
	for _, impl := range []struct {
		name string
		fn   func(string) string
	}{{"regexp", refParameterize}, {"scan", Parameterize}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, s := range paramSeeds {
					impl.fn(s)
				}
			}
		})
	}
}
