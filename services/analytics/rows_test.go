package analytics

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"time"
)

// FuzzLenientValues holds the fast paths of lstring and flexTime to the
// decoding they replace: a string by a second json.Unmarshal, a number by
// strconv.ParseFloat of a copy.
func FuzzLenientValues(f *testing.F) {
	for _, s := range []string{`"GET /x"`, `"a\"b"`, `"\u00e9t\u00e9"`, "\"\xff\xfe\"", `"é"`, `12`, `null`, `{}`, `"1795308929.25"`,
		`1795308929.123456`, `"2026-11-22T10:15:29.5Z"`, `-1`, `1e12`, `"NaN"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got struct {
			V lstring  `json:"v"`
			T flexTime `json:"t"`
		}
		doc := append(append([]byte(`{"v":`), b...), '}')
		if err := json.Unmarshal(doc, &got); err == nil && len(b) > 0 {
			var want string
			if json.Unmarshal(b, &want) == nil && string(got.V) != want {
				t.Fatalf("lstring %q: got %q, want %q", b, got.V, want)
			}
		}
		tdoc := append(append([]byte(`{"t":`), b...), '}')
		var tt struct {
			T flexTime `json:"t"`
		}
		err := json.Unmarshal(tdoc, &tt)
		var raw any
		if json.Unmarshal(b, &raw) != nil {
			return
		}
		var num float64
		switch v := raw.(type) {
		case float64:
			num = v
		case string:
			if bytes.IndexByte(b, '\\') >= 0 {
				return // escapes are read as they were before: not a number
			}
			n, perr := strconv.ParseFloat(v, 64)
			if perr != nil {
				return // an RFC 3339 time or an error: not a fast path
			}
			num = n
		default:
			return
		}
		if math.IsNaN(num) || num < 0 || num > 1e11 {
			if err == nil {
				t.Fatalf("flexTime %q: out of range accepted as %v", b, tt.T.t)
			}
			return
		}
		sec, frac := math.Modf(num)
		if want := time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(); err != nil || !tt.T.t.Equal(want) {
			t.Fatalf("flexTime %q: got %v (%v), want %v", b, tt.T.t, err, want)
		}
	})
}
