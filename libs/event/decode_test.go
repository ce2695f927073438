package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	expjson "github.com/go-json-experiment/json/v1"
)

// samplePayloads are the grouping test events, the fuzz corpus and a few
// payloads with the shapes where JSON decoders differ.
func samplePayloads(t testing.TB) [][]byte {
	var out [][]byte
	files, _ := filepath.Glob("../grouping/testdata/events/*.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	corpus, _ := filepath.Glob("testdata/fuzz/FuzzNormalize/*")
	for _, f := range corpus {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		lit := strings.TrimSuffix(strings.TrimPrefix(lines[len(lines)-1], "[]byte("), ")")
		s, err := strconv.Unquote(lit)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, []byte(s))
	}
	return append(out, decoderEdgeCases...)
}

var decoderEdgeCases = [][]byte{
	[]byte(`{"release":"a","release":"b","Release":"c","RELEASE":"d"}`),                              // duplicates, case
	[]byte("{\"message\":\"bad \xff utf-8 \xed\xa0\x80 surrogate\",\"tags\":{\"k\xff\":\"v\xfe\"}}"), // invalid UTF-8
	[]byte(`{"message":"\ud800 lone surrogate \u00e9 \u2028 <&>","logger":"\"q\"\\"}`),
	[]byte(`{"modules":5,"release":"kept","extra":[1],"contexts":{"trace":{"trace_id":12345678901234567890123456789012}}}`), // type errors
	[]byte(`{"timestamp":1e400,"exception":[{"type":"E","stacktrace":{"frames":[{"lineno":123456789012345678901234567890,"colno":-1,"in_app":"yes"}]}}]}`),
	[]byte(`{"breadcrumbs":{"values":[{"timestamp":"2024-05-01T12:00:00.123456789Z","data":{"b":1,"a":{"z":[1, 2 ,3]}}}]}}`),
	[]byte(`{"extra":{"html":"<script>&</script>","n":1.0e2,"big":123456789012345678901234567890}}`),
	[]byte(`{"user":{"id":42,"ip_address":"{{auto}}","data":{"x":null}},"request":{"headers":[["A","1"],{"key":"B","value":2}],"query_string":{"a":"1"}}}`),
}

// The stored form is encoding/json's output, byte for byte.
func TestMarshalMatchesEncodingJSON(t *testing.T) {
	for i, p := range samplePayloads(t) {
		e, err := Normalize(p, meta)
		if err != nil {
			continue
		}
		got, err := e.MarshalJSON()
		if err != nil {
			t.Fatalf("payload %d: %v", i, err)
		}
		want, err := json.Marshal(e.stored())
		if err != nil {
			t.Fatalf("payload %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("payload %d: stored form differs from encoding/json's:\n got %s\nwant %s", i, got, want)
		}
		var buf bytes.Buffer
		buf.WriteString("reused")
		buf.Reset()
		if err := e.WriteJSON(&buf); err != nil || !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("payload %d: WriteJSON = %v:\n got %s\nwant %s", i, err, buf.Bytes(), want)
		}
	}
}

// decodeTargets are the shapes the normalizer decodes into.
func decodeTargets() []func() any {
	return []func() any{
		func() any { return new(rawEvent) },
		func() any { return new(rawFrame) },
		func() any { return new(rawMechanism) },
		func() any { return new(rawSecurity) },
		func() any { return new(map[string]json.RawMessage) },
		func() any { return new([]json.RawMessage) },
		func() any { return new(flexStrings) },
		func() any { return new(string) },
		func() any { return new(any) },
	}
}

func checkDecodeMatches(t *testing.T, p []byte) {
	t.Helper()
	for _, target := range decodeTargets() {
		want, got := target(), target()
		errWant := json.Unmarshal(p, want)
		errGot := expjson.Unmarshal(p, got)
		var teWant *json.UnmarshalTypeError
		var teGot *expjson.UnmarshalTypeError
		if errors.As(errWant, &teWant) != errors.As(errGot, &teGot) || (errWant == nil) != (errGot == nil) {
			t.Fatalf("%T from %q: errors differ: encoding/json %v, v2 engine %v", want, p, errWant, errGot)
		}
		if errWant != nil && (teWant == nil || reflect.TypeOf(want).Elem().Kind() != reflect.Struct) {
			continue // only lenient uses a value decoded with an error, and only into structs
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%T from %q: values differ:\nencoding/json %#v\n    v2 engine %#v", want, p, want, got)
		}
	}
	if s := bytes.TrimSpace(p); len(s) > 0 && s[0] == '"' && json.Valid(s) {
		var want string
		json.Unmarshal(s, &want)
		if got := scalarText(s); got != want {
			t.Fatalf("scalarText(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, p := range samplePayloads(t) {
		checkDecodeMatches(t, p)
	}
}

// FuzzDecodeMatchesEncodingJSON holds the decoder to encoding/json's
// results on every shape the normalizer decodes.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, p := range samplePayloads(f) {
		f.Add(p)
	}
	f.Add([]byte(`"plain"`))
	f.Add([]byte("\"tab\\t \xff\""))
	for _, q := range []string{`"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`,
		`"\ud83d\ud83d\ude00"`, `"\u00e9\/\"\\\b\f\n\r\t"`, "\"\xed\xa0\x80 \xc3\"", `"\uD83D\uDE00"`} {
		f.Add([]byte(q))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		checkDecodeMatches(t, p)
		checkValues(t, p)
		// json.Valid itself skips JSON's whitespace; bytes.TrimSpace would
		// also strip \f and Unicode spaces, which JSON does not allow.
		if valid, _ := scanTop(p); valid != json.Valid(p) {
			t.Fatalf("scanTop(%q) valid = %v, json.Valid says otherwise", p, valid)
		}
		var v any
		if json.Unmarshal(p, &v) == nil {
			if got, want := isCompact(p), compactOf(p) == string(p); got != want {
				t.Fatalf("isCompact(%q) = %v, want %v", p, got, want)
			}
		}
	})
}

func compactOf(p []byte) string {
	var b bytes.Buffer
	json.Compact(&b, p)
	return b.String()
}

// valuesReference is values as it read payloads with encoding/json.
func valuesReference(b json.RawMessage) []json.RawMessage {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	var list []json.RawMessage
	switch b[0] {
	case '[':
		json.Unmarshal(b, &list)
	case '{':
		var c struct {
			Values json.RawMessage `json:"values"`
		}
		if json.Unmarshal(b, &c) != nil {
			return nil
		}
		if len(bytes.TrimSpace(c.Values)) > 0 && bytes.TrimSpace(c.Values)[0] == '[' {
			json.Unmarshal(c.Values, &list)
		} else if c.Values == nil {
			list = []json.RawMessage{b}
		}
	}
	return list
}

func checkValues(t *testing.T, b []byte) {
	t.Helper()
	if !json.Valid(b) {
		return // values reads valid JSON only
	}
	got, want := values(b), valuesReference(b)
	if len(got) != len(want) {
		t.Fatalf("values(%q) = %q, want %q", b, got, want)
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("values(%q) = %q, want %q", b, got, want)
		}
	}
}

func TestValuesMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{`[]`, `[1, {"a":2} ,"x"]`, `{"values":[{"a":1}]}`, `{"VALUES":[1],"values":[2]}`, `{"values":[1],"Values":null}`,
		`{"values":null}`, `{"valueſ":[3]}`, `{"a":1}`, `{}`, `{"values":{}}`, `"s"`, ` [ 1 , 2 ] `, `{"values":[],"values":[4]}`} {
		checkValues(t, []byte(s))
	}
}
