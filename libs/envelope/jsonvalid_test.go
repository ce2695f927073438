package envelope

import (
	"encoding/json"
	"strings"
	"testing"
)

var validJSONCases = []string{
	``, ` `, `{}`, `[]`, ` { } `, `{"a":1}`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`,
	`"x"`, `"\u00e9\n\t\"\\\/\b\f\r"`, `"\u00g0"`, `"\u00"`, `"\x"`, "\"a\x01b\"", "\"a\x7fb\"", "\"\xff\xfe\"",
	`"unterminated`, `"\`, `true`, `false`, `null`, `tru`, `nul`, `truex`, `True`, `nan`,
	`0`, `-0`, `01`, `-`, `-a`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-05`, `1e`, `1e+`, `-12.34e56`, `1 2`,
	`[1,2,[3,{"a":[true,false,null]}]]`, `{"a":{"b":{"c":[]}}}`, `[1}`, `{"a":1]`, `]`, `}`, `[`, `{`,
	"\ufeff{}", "{}\n", "\t[1]\r\n", `{"a":1}{}`, `{"a":"b" , "c" : [ 1 , 2 ] }`,
}

func TestValidJSON(t *testing.T) {
	deep := func(n int, open, inner, close string) string {
		return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
	}
	cases := append([]string{}, validJSONCases...)
	cases = append(cases,
		deep(maxJSONDepth, "[", "", "]"), deep(maxJSONDepth+1, "[", "", "]"),
		deep(maxJSONDepth-1, "[", "{}", "]"), deep(maxJSONDepth, "[", "{}", "]"),
		deep(maxJSONDepth, `{"a":`, "1", "}"), deep(maxJSONDepth+1, `{"a":`, "1", "}"),
	)
	for _, c := range cases {
		name := c
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			if got, want := ValidJSON([]byte(c)), json.Valid([]byte(c)); got != want {
				t.Errorf("ValidJSON(%q) = %v, json.Valid says %v", name, got, want)
			}
		})
	}
}

// FuzzValidJSON checks ValidJSON accepts exactly what encoding/json does.
func BenchmarkValidJSON(b *testing.B) {
	payload := []byte(`{"exception":{"values":[{"type":"*errors.errorString","value":"connection refused","stacktrace":{"frames":[` +
		strings.Repeat(`{"function":"loadOrder","module":"github.com/acme/shop/internal/order","abs_path":"/src/order.go","lineno":120,"in_app":true,"pre_context":["\tif err != nil {"]},`, 20) +
		`{}]}}]},"level":"error","timestamp":1712345678.123,"tags":{"a":"b"}}`)
	for _, bc := range []struct {
		name  string
		valid func([]byte) bool
	}{{"ValidJSON", ValidJSON}, {"encoding_json", json.Valid}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if !bc.valid(payload) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
