package sourcemap

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func readMap(t testing.TB, name string) *Map {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return m
}

// The positions are those node reports for testdata/app.min.js (built by
// esbuild from testdata/src), and the wants those node --enable-source-maps
// and the unminified build report for the same throws.
var esbuildFrames = []struct {
	line, col   int
	source      string
	origLine    int
	origCol     int
	function    string
	contextLine string
}{
	{1, 335, "src/app.js", 13, 9, "explode", `  throw new Error("boom: " + detail.reason);`},
	{1, 403, "src/app.js", 20, 5, "run", `    explode(err.message);`},
	{1, 206, "src/parser.js", 16, 19, "Parser.fail", `    const error = new TypeError(message);`},
	{1, 157, "src/parser.js", 10, 12, "Parser.parse", `      this.fail("not a number: " + this.text);`},
	{1, 254, "src/app.js", 7, 24, "main", `  const value = parser.parse();`},
}

func TestLookupEsbuild(t *testing.T) {
	m := readMap(t, "app.min.js.map")
	for _, f := range esbuildFrames {
		t.Run(fmt.Sprintf("%d:%d", f.line, f.col), func(t *testing.T) {
			tok, ok := m.Lookup(f.line, f.col)
			if !ok {
				t.Fatal("no mapping")
			}
			if tok.Source != f.source || tok.Line != f.origLine || tok.Column != f.origCol {
				t.Errorf("got %s:%d:%d, want %s:%d:%d", tok.Source, tok.Line, tok.Column, f.source, f.origLine, f.origCol)
			}
			if got := tok.EnclosingFunction(); got != f.function {
				t.Errorf("function: got %q, want %q", got, f.function)
			}
			pre, line, post, ok := tok.Context(5)
			if !ok || line != f.contextLine {
				t.Errorf("context line: got %q (%v), want %q", line, ok, f.contextLine)
			}
			if len(pre) != min(5, f.origLine-1) || len(post) > 5 {
				t.Errorf("context: %d lines before, %d after", len(pre), len(post))
			}
		})
	}
}

func TestContext(t *testing.T) {
	m := readMap(t, "app.min.js.map")
	tok, _ := m.Lookup(1, 335) // src/app.js:13
	pre, line, post, _ := tok.Context(5)
	src, _ := os.ReadFile("testdata/src/app.js")
	lines := strings.Split(strings.TrimSuffix(string(src), "\n"), "\n")
	if want := lines[7:12]; !reflect.DeepEqual(pre, want) {
		t.Errorf("pre: got %q, want %q", pre, want)
	}
	if line != lines[12] {
		t.Errorf("line: got %q", line)
	}
	if want := lines[13:18]; !reflect.DeepEqual(post, want) {
		t.Errorf("post: got %q, want %q", post, want)
	}
	// The last line of a file has no post context, and no empty "line"
	// after the final newline.
	tok.Line = len(lines)
	if _, line, post, ok := tok.Context(5); !ok || line != lines[len(lines)-1] || len(post) != 0 {
		t.Errorf("last line: %q %q %v", line, post, ok)
	}
	tok.Line = len(lines) + 1
	if _, _, _, ok := tok.Context(5); ok {
		t.Error("a line past the end has context")
	}
}

func TestLookupMisses(t *testing.T) {
	m := readMap(t, "app.min.js.map")
	for _, p := range [][2]int{{0, 1}, {1, 0}, {2, 1}, {99, 1}, {-5, -5}, {1 << 40, 1}} {
		if tok, ok := m.Lookup(p[0], p[1]); ok {
			t.Errorf("Lookup(%d, %d) = %+v, want no mapping", p[0], p[1], tok)
		}
	}
}

func TestVendorSource(t *testing.T) {
	m := readMap(t, "app.min.js.map")
	// The pad function from src/node_modules/leftpad is at the start of the bundle.
	tok, ok := m.Lookup(1, 20)
	if !ok || !strings.Contains(tok.Source, "node_modules/leftpad") || !IsVendor(tok.Source) {
		t.Fatalf("got %+v %v, want a vendor source", tok, ok)
	}
	for path, want := range map[string]bool{
		"src/app.js": false, "node_modules/x/index.js": true, "../node_modules/x.js": true,
		"webpack:///./src/a.js": false, "webpack:///~/lodash/index.js": true, "lib/vendor/jquery.js": true,
		"C:\\app\\node_modules\\x.js": true, "vendors.js": false,
	} {
		if got := IsVendor(path); got != want {
			t.Errorf("IsVendor(%q) = %v, want %v", path, got, want)
		}
	}
}

// An index map of two sections (the unminified build's map, then the
// minified one's, starting at line 100 column 10) maps each part as its
// own map does.
func TestIndexMap(t *testing.T) {
	plain, _ := os.ReadFile("testdata/app.js.map")
	mini, _ := os.ReadFile("testdata/app.min.js.map")
	idx := fmt.Sprintf(`{"version":3,"file":"all.js","sections":[
		{"offset":{"line":0,"column":0},"map":%s},
		{"offset":{"line":99,"column":10},"map":%s}]}`, plain, mini)
	m, err := Parse([]byte(idx))
	if err != nil {
		t.Fatal(err)
	}
	want := readMap(t, "app.min.js.map")
	for _, f := range esbuildFrames {
		got, ok := m.Lookup(100, f.col+10)
		w, _ := want.Lookup(f.line, f.col)
		if !ok || got.Source != w.Source || got.Line != w.Line || got.Column != w.Column || got.EnclosingFunction() != f.function {
			t.Errorf("section 2 at %d: got %+v, want %+v", f.col, got, w)
		}
	}
	// Line 36 column 11 of the unminified build is explode's throw.
	got, ok := m.Lookup(36, 11)
	if !ok || got.Source != "src/app.js" || got.Line != 13 || got.EnclosingFunction() != "explode" {
		t.Errorf("section 1: got %+v", got)
	}
	if _, ok := m.Lookup(100, 5); ok {
		t.Error("line 100 before the second section's column maps, but the first section has no line 100")
	}
}

func TestParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":        `{`,
		"version 2":       `{"version":2,"mappings":""}`,
		"bad digit":       `{"version":3,"sources":["a"],"names":[],"mappings":"AA!A"}`,
		"source range":    `{"version":3,"sources":["a"],"names":[],"mappings":"ACAA"}`,
		"name range":      `{"version":3,"sources":["a"],"names":[],"mappings":"AAAAA"}`,
		"two fields":      `{"version":3,"sources":["a"],"names":[],"mappings":"AA"}`,
		"six fields":      `{"version":3,"sources":["a"],"names":["n"],"mappings":"AAAAAA"}`,
		"negative column": `{"version":3,"sources":["a"],"names":[],"mappings":"D"}`,
		"negative line":   `{"version":3,"sources":["a"],"names":[],"mappings":"AADA"}`,
		"section url":     `{"version":3,"sections":[{"offset":{"line":0,"column":0},"url":"x.map"}]}`,
		"nested index":    `{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"version":3,"sections":[]}}]}`,
		"section order":   `{"version":3,"sections":[{"offset":{"line":5,"column":0},"map":{"version":3,"mappings":""}},{"offset":{"line":1,"column":0},"map":{"version":3,"mappings":""}}]}`,
		"truncated":       `{"version":3,"sources":["a"],"names":[],"mappings":"AAAg"}`,
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseDetails(t *testing.T) {
	in := ")]}'\n" + `{"version":3,"sourceRoot":"webpack:///","sources":["src/a.js",null],"sourcesContent":[null],
		"names":["foo"],"mappings":";;KAAAA,EAAE;AAAC"}`
	m, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if m.Sources[0] != "webpack:///src/a.js" {
		t.Errorf("source root: %q", m.Sources[0])
	}
	tok, ok := m.Lookup(3, 6)
	if !ok || tok.Name != "foo" || tok.Line != 1 || tok.Column != 1 {
		t.Errorf("3:6 = %+v %v", tok, ok)
	}
	tok, ok = m.Lookup(3, 8)
	if !ok || tok.Name != "" || tok.Column != 3 {
		t.Errorf("3:8 = %+v %v", tok, ok)
	}
	if _, _, _, ok := tok.Context(5); ok {
		t.Error("context without sourcesContent")
	}
	if tok.EnclosingFunction() != "" {
		t.Error("a function without sourcesContent")
	}
	if _, ok := m.Lookup(3, 5); ok {
		t.Error("a column before the line's first segment maps")
	}
}

func TestScopes(t *testing.T) {
	src := "// function nope() {\n" + `const s = "function alsoNope() {";
function outer(a, b) {
  const inner = (x) => {
    return x + 1; // @inner
  };
  if (a) { return inner(b); } // @outer
}
class Store extends Base {
  static async load(id) {
    return fetch(` + "`/x/${id}`" + `); // @Store.load
  }
  get size() { return 1 } // @Store.size
}
const obj = {
  handler: function (e) { return e }, // @handler
  method(x) { return x }, // @method
  other: async function named() { return 1 }, // @named
};
export default function* gen() { yield 1 } // @gen
`
	m := &Map{contents: []*string{&src}, scopesOnce: make([]sync.Once, 1), scopes: make([][]scope, 1)}
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		at := strings.Index(l, "// @")
		if at < 0 {
			continue
		}
		want := l[at+4:]
		col := strings.Index(l, "return") + 1
		if col == 0 {
			col = strings.Index(l, "yield") + 1
		}
		tok := Token{Line: i + 1, Column: col, m: m}
		if got := tok.EnclosingFunction(); got != want {
			t.Errorf("line %d: got %q, want %q", i+1, got, want)
		}
	}
}

// refDecodeMappings is the straightforward decoder the fast one is held
// to: split on ';' and ',', decode each field with arbitrary precision.
func refDecodeMappings(s string) ([][][]int64, bool) {
	var out [][][]int64
	for _, line := range strings.Split(s, ";") {
		var segs [][]int64
		for _, seg := range strings.Split(line, ",") {
			if seg == "" {
				continue
			}
			var fields []int64
			for len(seg) > 0 {
				v, rest, ok := refVLQ(seg)
				if !ok {
					return nil, false
				}
				fields = append(fields, v)
				seg = rest
			}
			segs = append(segs, fields)
		}
		out = append(out, segs)
	}
	return out, true
}

func refVLQ(s string) (int64, string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var acc uint64
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(alphabet, s[i])
		if d < 0 || i >= 7 {
			return 0, "", false
		}
		acc |= uint64(d&31) << (5 * i)
		if d&32 == 0 {
			if acc >= 1<<32 {
				return 0, "", false
			}
			v := int64(acc >> 1)
			if acc&1 == 1 {
				v = -v
			}
			return v, s[i+1:], true
		}
	}
	return 0, "", false
}

func TestDecodeVLQ(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int32
		err  error
	}{
		{"A", 0, nil}, {"C", 1, nil}, {"D", -1, nil}, {"gB", 16, nil}, {"hB", -16, nil},
		{"+/////D", 1<<31 - 1, nil}, {"//////D", -(1<<31 - 1), nil}, {"gggggE", 1 << 26, nil}, {"ggggggE", 0, ErrVLQOverflow},
		{"g", 0, ErrVLQTruncate}, {"", 0, ErrVLQTruncate}, {"!", 0, ErrVLQDigit}, {"gggggggggggB", 0, ErrVLQOverflow},
	} {
		got, _, err := DecodeVLQ(c.in, 0)
		if got != c.want || err != c.err {
			t.Errorf("DecodeVLQ(%q) = %d, %v; want %d, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func FuzzDecodeVLQ(f *testing.F) {
	for _, s := range []string{"A", "gB", "+/////D", "gggggE", "AAgBC", "//////////"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, next, err := DecodeVLQ(s, 0)
		want, rest, ok := refVLQ(s)
		if (err == nil) != ok {
			t.Fatalf("DecodeVLQ(%q) error %v, reference ok %v", s, err, ok)
		}
		if ok && (int64(got) != want || s[next:] != rest) {
			t.Fatalf("DecodeVLQ(%q) = %d at %d, reference %d rest %q", s, got, next, want, rest)
		}
	})
}

// FuzzParse feeds maps to Parse and, for those it accepts, looks up
// positions; the mappings it decodes are held to the reference decoder.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"app.min.js.map", "app.js.map"} {
		b, _ := os.ReadFile("testdata/" + name)
		f.Add(b, 1, 200)
	}
	f.Add([]byte(`{"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"version":3,"sources":["a"],"names":["x"],"mappings":"AAAAA"}}]}`), 1, 1)
	f.Add([]byte(`{"version":3,"sources":["a"],"sourcesContent":["function f() {\n  return 1\n}"],"names":[],"mappings":"AAAA;AACA"}`), 2, 3)
	f.Fuzz(func(t *testing.T, data []byte, line, col int) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		if tok, ok := m.Lookup(line, col); ok {
			tok.Context(5)
			tok.EnclosingFunction()
		}
		m.Size()
		var r rawMap
		if json.Unmarshal(data, &r) != nil || r.Sections != nil {
			return
		}
		ref, ok := refDecodeMappings(r.Mappings)
		if !ok {
			t.Fatalf("Parse accepted mappings the reference rejects: %q", r.Mappings)
		}
		if len(ref) != len(m.lines) {
			t.Fatalf("%d lines, reference %d", len(m.lines), len(ref))
		}
		for i, segs := range ref {
			if len(segs) != len(m.lines[i]) {
				t.Fatalf("line %d: %d segments, reference %d", i, len(m.lines[i]), len(segs))
			}
		}
	})
}
