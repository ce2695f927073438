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
	refParamRE           = regexp.MustCompile(strings.Join([]string{
		`(?P<url>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"<>()\[\]{}]+)`,
		`(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})`,
		`(?P<uuid>\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b)`,
		`(?P<datetime>\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2}\b)?)`,
		`(?P<datetime>\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}(?: [A-Z]{3}|[+-]\d{4})?)`,
		`(?P<date>\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b)`,
		`(?P<time>\b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b)`,
		`(?P<ip>\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b|\b(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?\b)`,
		`(?P<hex>\b0[xX][0-9a-fA-F]+\b|\b[0-9a-fA-F]{8,}\b)`,
		`(?P<float>-?\b\d+\.\d+)`,
		`(?P<int>-?\b\d+)`,
		`(?P<quoted>'[^'\n]{1,200}'|"[^"\n]{1,200}")`,
	}, "|"))
	refParamNames = refParamRE.SubexpNames()
)

func refParameterize(msg string) string {
	if len(msg) > 8192 {
		msg = msg[:8192]
	}
	if !strings.ContainsAny(msg, "0123456789'\"@") && !strings.Contains(msg, "://") {
		return msg
	}
	idx := refParamRE.FindAllStringSubmatchIndex(msg, -1)
	if idx == nil {
		return msg
	}
	var b strings.Builder
	last := 0
	for _, m := range idx {
		name := ""
		for g := 1; 2*g < len(m); g++ {
			if m[2*g] >= 0 {
				name = refParamNames[g]
				break
			}
		}
		tok := msg[m[0]:m[1]]
		if name == "hex" && !strings.HasPrefix(tok, "0x") && !strings.HasPrefix(tok, "0X") {
			switch {
			case strings.Trim(tok, "0123456789") == "":
				name = "int"
			case strings.Trim(tok, "abcdefABCDEF") == "":
				continue
			}
		}
		b.WriteString(msg[last:m[0]])
		b.WriteString("<" + name + ">")
		last = m[1]
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
