package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds Parse arbitrary bytes, seeded with every captured SDK
// payload. Parse never panics, rejects only with a 400 or 413 *Error, and
// what it accepts is framed soundly: payloads lie inside the input, declared
// lengths match, and writing the items back parses to the same items.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/sdk/*.envelope")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "{}", "{}\n", "null\n", "{}\n{\"type\":\"event\"}\n{}\n",
		"{\"event_id\":\"9EC79C33-EC99-42AB-8353-589FCB2E04DC\"}\r\n{\"type\":\"attachment\",\"length\":3}\r\na\nb\r\n\n",
		"{}\n{\"type\":\"attachment\",\"length\":0}",
		"{}\n{\"type\":\"session\"}\n{}\n{\"type\":\"sessions\",\"length\":2}\n{}\n",
		"{}\n{\"type\":\"log\",\"item_count\":2,\"length\":null}\n{\"items\":[1,2]}\n",
	} {
		f.Add([]byte(s))
	}
	lim := DefaultLimits
	lim.MaxSessions = 3
	lim.MaxItems = 20
	lim.MaxEvent = 4 << 10
	lim.MaxAttachment = 2 << 10
	lim.MaxAttachments = 3 << 10
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := Parse(b, lim)
		if err != nil {
			var ee *Error
			if !errors.As(err, &ee) || (ee.Status != http.StatusBadRequest && ee.Status != http.StatusRequestEntityTooLarge) || ee.Reason == "" {
				t.Fatalf("Parse error %#v is not a 400 or 413 *Error with a reason", err)
			}
			return
		}
		if env == nil {
			t.Fatal("Parse returned neither an envelope nor an error")
		}
		checkFraming(t, b, env)
		_ = env.Kind()
		for i := range env.Items {
			if cat, n := env.Items[i].Category(); (cat == "") != (n == 0) {
				t.Fatalf("item %s: category %q counts %d", env.Items[i].Type, cat, n)
			}
		}
		var out bytes.Buffer
		out.Write(env.RawHeader)
		out.WriteByte('\n')
		for _, it := range env.Items {
			out.Write(it.RawHeader)
			out.WriteByte('\n')
			out.Write(it.Payload)
			if it.Length < 0 && bytes.HasSuffix(it.Payload, []byte{'\r'}) {
				// Without a length, "\r\n" ends a line: a payload's own
				// trailing CR needs the full CRLF after it to survive.
				out.WriteByte('\r')
			}
			out.WriteByte('\n')
		}
		again, err := Parse(out.Bytes(), lim)
		if err != nil {
			t.Fatalf("written back, the envelope no longer parses: %v\n%q", err, out.Bytes())
		}
		if len(again.Items) != len(env.Items) || again.Header.EventID != env.Header.EventID {
			t.Fatalf("written back: %d items, event_id %q; was %d, %q", len(again.Items), again.Header.EventID, len(env.Items), env.Header.EventID)
		}
		for i := range env.Items {
			a, b := env.Items[i], again.Items[i]
			if a.Type != b.Type || !bytes.Equal(a.Payload, b.Payload) || a.Length != b.Length || a.ItemCount != b.ItemCount {
				t.Fatalf("written back, item %d changed: %s/%d/%q became %s/%d/%q", i, a.Type, a.Length, a.Payload, b.Type, b.Length, b.Payload)
			}
		}
	})
}

// FuzzValidJSON holds ValidJSON to encoding/json's json.Valid.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{}`, ` {"a":[1,2.5e3,"x\u00e9",true,null]} `, "\"\xff\"", `{"a":1,"a":2}`, `[1,]`, `{"a"}`, "", " ", `1 2`, `"\ud800"`, `01`, `-`, `[[[[]]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := ValidJSON(b), json.Valid(b); got != want {
			t.Fatalf("ValidJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}
