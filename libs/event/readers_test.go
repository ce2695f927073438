package event

import (
	"encoding/json"
	"reflect"
	"testing"
)

// readerCases are shapes the in-place readers must read as the reference
// readers do: duplicates, nulls, elements of the wrong type, the forms of
// a list.
var readerCases = []string{
	`{"frames":[{"function":"a"},"x",null,7,{"filename":"b.go","lineno":"3"}]}`,
	`{"frames":[{"function":"a"}],"Frames":[{"function":"b"}]}`,
	`{"frames":[{"function":"a","function":"b","Function":"c"}]}`,
	`{"frames":null}`,
	`{"frames":{"function":"a"}}`,
	`[{"type":"E","stacktrace":{"frames":[{"function":"a"}]},"stacktrace":null}]`,
	`[{"type":"E","stacktrace":{"frames":[{"function":"a"}]},"stacktrace":{"other":1}}]`,
	`[{"type":"E","stacktrace":{"frames":[{"function":"a"}]},"Stacktrace":"x"}]`,
	`{"values":[{"type":"E","value":"v","stacktrace":{"frames":[{"function":"f","vars":{"b":1,"a":[1, 2]}}]}}]}`,
	`[{"message":"a","data":{"k":"v"}},"x",{"category":"c","level":"warn","timestamp":1700000000.5}]`,
	`{"values":[{"message":"a"}],"values":[{"message":"b"}]}`,
	`{"message":"one crumb"}`,
	`{"values":"x"}`,
	`[{"id":1,"crashed":true,"stacktrace":{"frames":[{"function":"t"}]}},{"id":"2","stacktrace":[1]}]`,
	`[{"message":"a","data":{"k":"v","k":"w","K":null}}]`,
	`{"a":1,"b":[1, 2],"c":{"x":"y"},"d":null,"e":"  spaced  "}`,
	`{"a":1,"b":[1,2]}`,
}

func checkReaders(t *testing.T, b []byte) {
	t.Helper()
	if !json.Valid(b) {
		return // the readers see valid JSON only
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) == nil && len(m) > 0 {
		if got, want := databags(m), databagsCopy(m); !reflect.DeepEqual(got, want) {
			t.Fatalf("databags(%q):\n got %q\nwant %q", b, got, want)
		}
	}
	if got, want := readStacktrace(b), readStacktraceReference(b); !reflect.DeepEqual(got, want) {
		t.Fatalf("readStacktrace(%q):\n got %#v\nwant %#v", b, got, want)
	}
	if got, want := readBreadcrumbs(b), readBreadcrumbsReference(b); !reflect.DeepEqual(got, want) {
		t.Fatalf("readBreadcrumbs(%q):\n got %#v\nwant %#v", b, got, want)
	}
	if got, want := readExceptions(b), readExceptionsReference(b); !reflect.DeepEqual(got, want) {
		t.Fatalf("readExceptions(%q):\n got %#v\nwant %#v", b, got, want)
	}
	if got, want := readThreads(b), readThreadsReference(b); !reflect.DeepEqual(got, want) {
		t.Fatalf("readThreads(%q):\n got %#v\nwant %#v", b, got, want)
	}
}

func TestReadersMatchReference(t *testing.T) {
	for _, c := range readerCases {
		checkReaders(t, []byte(c))
	}
	for _, p := range samplePayloads(t) {
		for _, key := range []string{"exception", "threads", "stacktrace", "breadcrumbs"} {
			if v, found, ok := member(p, key); ok && found {
				checkReaders(t, v)
			}
		}
	}
}

// FuzzReadersMatchReference holds the readers that decode lists in place
// to the results of the ones that decoded each element on its own.
func FuzzReadersMatchReference(f *testing.F) {
	for _, c := range readerCases {
		f.Add([]byte(c))
	}
	for _, p := range samplePayloads(f) {
		for _, key := range []string{"exception", "threads", "breadcrumbs"} {
			if v, found, ok := member(p, key); ok && found {
				f.Add(v)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkReaders(t, b)
	})
}
