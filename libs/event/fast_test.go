package event

import (
	"bytes"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	expjson "github.com/go-json-experiment/json/v1"
)

// The reference for the hand-written decoders in scan.go: lenient, the
// encoding/json rules on the engine of encoding/json/v2 (itself held to
// encoding/json by FuzzDecodeMatchesEncodingJSON), decoding into the same
// raw structs. The two methods below give lenient the decoders' in-place
// shapes: a list element that is not an object is dropped, and each
// occurrence of a stack trace starts afresh.

func (e *objectElem[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*e = objectElem[T]{}
	if dec.PeekKind() != '{' {
		return dec.SkipValue()
	}
	e.ok = true
	return ignoreTypeErrors(jsonv2.UnmarshalDecode(dec, &e.v))
}

func (s *stacktraceField) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*s = stacktraceField{}
	if dec.PeekKind() != '{' {
		return dec.SkipValue()
	}
	var r rawStacktrace
	if err := ignoreTypeErrors(jsonv2.UnmarshalDecode(dec, &r)); err != nil {
		return err
	}
	s.st = r.build()
	return nil
}

// fastCases are shapes where encoding/json's rules are easy to get wrong:
// duplicates (the last wins, maps and pointed-to structs merge), nulls,
// values of the wrong type, keys matched case-insensitively (ſ folds to s,
// K to k), escaped keys, empty lists.
var fastCases = []string{
	`{"function":"a","Function":"b","FUNCTION":null}`,
	`{"vars":{"a":1},"vars":{"b":2}}`, `{"vars":{"a":1},"vars":null}`, `{"vars":{"a":1},"vars":"x"}`, `{"vars":{}}`,
	`{"\u0066unction":"esc","abſ_path":"/x","in_app":"yes","lineno":"12","colno":3.0,"pre_context":"one"}`,
	`{"frames":[]}`, `{"frames":[{"function":"a"}],"frames":"x"}`, `{"frames":[{"function":"a"}],"frames":null}`,
	`{"mechanism":{"type":"a","data":{"x":1}},"mechanism":{"handled":false,"data":{"y":2}}}`,
	`{"mechanism":{"type":"a"},"mechanism":null}`, `{"mechanism":{"type":"a"},"mechanism":[1]}`, `{"mechanism":"x"}`,
	`{"value":{"a":[1, 2]},"type":7,"stacktrace":{"frames":[{"vars":{"k":"v"}},1]}}`,
	`{"modules":{"a":"1","b":2,"c":null},"modules":{"d":"4"}}`, `{"modules":null}`, `{"modules":{}}`,
	`{"message":"m","exception":{"values":[]},"fingerprint":["{{ default }}",1,null],"tags":[["a","b"]]}`,
	`{"timestamp":"2024-01-02T03:04:05Z","data":{"k":"v","k":"w"},"dAta":{"k2":1}}`,
	"{\"ty\xffpe\":\"bad key\",\"type\":\"t\",\"\\ud800\":1}",
	` { "id" : 1 , "name" : "n" , "crashed" : true , "stacktrace" : { "frames" : [ { "function" : "f" } ] } } `,
	`{"KELVIN":"k","\u212aelvin":1}`, `{"":1,"type":""}`, `[1,2]`, `"s"`, `null`,
	`[["a","b"],["c"],["d","e","f"],{"key":"k","value":1},null,"x",7,{"KEY":"K","Value":null},[]]`,
	`{"a":1,"a":"2","b":null,"c":{"x":1},"\u00e9":"\t"}`,
}

// checkFastMatchesLenient decodes b with every hand-written decoder and
// with lenient into the same struct; the results must be equal.
func checkFastMatchesLenient(t *testing.T, b []byte) {
	t.Helper()
	if !json.Valid(b) {
		return // the decoders read valid JSON only
	}
	b = trimJSONSpace(b)
	checkFast[rawFrame](t, b)
	checkFast[rawStacktrace](t, b)
	checkFast[rawMechanism](t, b)
	checkFast[rawException](t, b)
	checkFast[rawThread](t, b)
	checkFast[rawBreadcrumb](t, b)
	checkFast[rawEvent](t, b)
	checkFast[rawUser](t, b)
	checkFast[rawRequest](t, b)
	checkFast[rawSDK](t, b)
	checkFast[rawTrace](t, b)
	checkFast[rawPair](t, b)
	checkFast[contextTag](t, b)
	if got, want := pairs(b), pairsReference(b); !reflect.DeepEqual(got, want) {
		t.Fatalf("pairs(%q):\n fast %q\n  ref %q", b, got, want)
	}
	if got, want := object(b), objectReference(b); !reflect.DeepEqual(got, want) {
		t.Fatalf("object(%q):\n fast %q\n  ref %q", b, got, want)
	}
	if b[0] == '[' {
		var l, lr []objectElem[rawBreadcrumb]
		lenient(b, &lr)
		w := walker{b: b}
		listAt(&l, &w, objectAt[rawBreadcrumb])
		if w.i != len(b) {
			t.Fatalf("listAt(%q) ended at %d of %d", b, w.i, len(b))
		}
		if !reflect.DeepEqual(l, lr) {
			t.Fatalf("breadcrumb list from %q:\n fast %#v\n  ref %#v", b, l, lr)
		}
	}
}

// objectReference is object as it decoded with the encoding/json rules.
func objectReference(b json.RawMessage) map[string]json.RawMessage {
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var m map[string]json.RawMessage
	if lenient(b, &m) != nil {
		return nil
	}
	return m
}

// decoder is a raw struct read from an object that opens at b[i];
// decodeAt returns where the object ends.
type decoder interface{ decodeAt(b []byte, i int) int }

// decodeObject decodes the object b into d, which must read all of it.
func decodeObject(t *testing.T, d decoder, b []byte) {
	t.Helper()
	if end := d.decodeAt(b, 0); end != len(b) {
		t.Fatalf("%T.decodeAt(%q) ended at %d of %d", d, b, end, len(b))
	}
}

// values unwraps Sentry's {"values": [...]} container, which SDKs also send
// as a bare array; a single object counts as a one-item list. b is valid
// JSON. It reads b once, as decoding it into struct{ Values json.RawMessage }
// and then the array would (TestValuesMatchesEncodingJSON); the items alias b.
func values(b json.RawMessage) []json.RawMessage {
	arr, one := container(b)
	switch {
	case one != nil:
		return []json.RawMessage{one}
	case arr != nil:
		return elements(arr)
	}
	return nil
}

// checkFast decodes the valid JSON b into a T with its hand-written decoder
// and with lenient; the two must be equal.
func checkFast[T any, P interface {
	*T
	decoder
}](t *testing.T, b []byte) {
	t.Helper()
	var fast, ref T
	lenient(b, &ref)
	if b[0] == '{' {
		decodeObject(t, P(&fast), b)
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Fatalf("%T from %q:\n fast %#v\n  ref %#v", fast, b, fast, ref)
	}
}

// trimJSONSpace drops JSON's own white space around a value.
func trimJSONSpace(b []byte) []byte {
	i := skipSpace(b, 0)
	j := len(b)
	for j > i && (b[j-1] == ' ' || b[j-1] == '\t' || b[j-1] == '\n' || b[j-1] == '\r') {
		j--
	}
	return b[i:j]
}

func TestFastMatchesLenient(t *testing.T) {
	for _, c := range fastCases {
		checkFastMatchesLenient(t, []byte(c))
	}
	for _, c := range readerCases {
		checkFastMatchesLenient(t, []byte(c))
	}
	for _, p := range samplePayloads(t) {
		checkFastMatchesLenient(t, p)
		for _, key := range []string{"exception", "threads", "stacktrace", "breadcrumbs"} {
			if v, found, ok := member(p, key); ok && found {
				checkFastMatchesLenient(t, v)
				for _, item := range values(v) {
					checkFastMatchesLenient(t, item)
				}
			}
		}
	}
}

// FuzzFastMatchesLenient holds the hand-written decoders to lenient's
// results on any valid JSON.
func FuzzFastMatchesLenient(f *testing.F) {
	for _, c := range fastCases {
		f.Add([]byte(c))
	}
	for _, c := range readerCases {
		f.Add([]byte(c))
	}
	for _, p := range samplePayloads(f) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastMatchesLenient(t, b)
	})
}

// filenameOfReference is filenameOf before its fast path.
func filenameOfReference(abs string) string {
	if u, err := url.Parse(abs); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Path != "" {
		return u.Path
	}
	return abs
}

func FuzzFilenameOf(f *testing.F) {
	for _, s := range []string{"/src/app.go", "http://x.com/a.js?v=1", "HTTPS://x.com/b.js", "http:/local", "http:opaque",
		"https:", "htt://x/y", "httpx://x/y", " http://x/y", "webpack:///src/a.js", "c:\\x\\y", "http://[::1]:8/a", "http://%zz/a", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := filenameOf(s), filenameOfReference(s); got != want {
			t.Fatalf("filenameOf(%q) = %q, want %q", s, got, want)
		}
	})
}

// FuzzFrameMarshal holds Frame.MarshalJSONTo to encoding/json's struct
// encoding: every field, escapes for HTML and JavaScript, invalid UTF-8.
func FuzzFrameMarshal(f *testing.F) {
	f.Add("main", "/src/a<b>&c.go", "\u2028\xff\"\\", int64(12), int64(-3), true, true, `{"b":[1, 2],"a":"<x>"}`)
	f.Add("", "", "", int64(0), int64(0), false, false, ``)
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, n1, n2 int64, hasInApp, inApp bool, vars string) {
		// Normalized text is valid UTF-8 (both encoders of the v2 engine
		// write U+FFFD itself where encoding/json writes \ufffd).
		s1, s2, s3 = strings.ToValidUTF8(s1, "\uFFFD"), strings.ToValidUTF8(s2, "\uFFFD"), strings.ToValidUTF8(s3, "\uFFFD")
		fr := Frame{Function: s1, RawFunction: s2, Symbol: s3, Module: s1 + s2, Package: s3, Filename: s2, AbsPath: s1,
			Lineno: n1, Colno: n2, ContextLine: s3, PreContext: []string{s1, s2}, PostContext: []string{s3},
			Platform: s1, InstructionAddr: s2}
		if s1 == "" {
			fr.PreContext, fr.PostContext = nil, []string{}
		}
		if hasInApp {
			fr.InApp = &inApp
		}
		if m := object([]byte(vars)); len(m) > 0 {
			fr.Vars = m
		}
		want, err := json.Marshal(fr)
		if err != nil {
			return
		}
		got, err := expjson.Marshal(&fr)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %+v:\n got %s (%v)\nwant %s", fr, got, err, want)
		}
		st, err := expjson.Marshal(Stacktrace{Frames: []Frame{fr, fr}})
		if want := `{"frames":[` + string(want) + `,` + string(want) + `]}`; err != nil || string(st) != want {
			t.Fatalf("stack trace: got %s (%v)\nwant %s", st, err, want)
		}
	})
}

// pairsReference is pairs as it read lists with encoding/json.
func pairsReference(b json.RawMessage) [][2]string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	var out [][2]string
	switch b[0] {
	case '{':
		dec := json.NewDecoder(bytes.NewReader(b))
		if _, err := dec.Token(); err != nil {
			return nil
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return out
			}
			key, _ := tok.(string)
			var v json.RawMessage
			if dec.Decode(&v) != nil {
				return out
			}
			out = append(out, [2]string{key, scalarText(v)})
		}
	case '[':
		var list []json.RawMessage
		if expjson.Unmarshal(b, &list) != nil {
			return nil
		}
		for _, item := range list {
			var pair []json.RawMessage
			if expjson.Unmarshal(item, &pair) == nil {
				if len(pair) == 2 {
					out = append(out, [2]string{scalarText(pair[0]), scalarText(pair[1])})
				}
				continue
			}
			var kv rawPair
			if expjson.Unmarshal(item, &kv) == nil {
				out = append(out, [2]string{string(kv.Key), string(kv.Value)})
			}
		}
	}
	return out
}
