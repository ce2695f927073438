package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
)

// FuzzDecodeRateLimit: any rateLimit value is read as a limit or refused
// with a 400, never a panic; a limit read has a count only with a window.
func FuzzDecodeRateLimit(f *testing.F) {
	for _, s := range []string{`null`, `{"count":3,"window":90}`, `{"count":null,"window":null}`, `{"window":90}`,
		`{"count":1e40,"window":60}`, `"90/3"`, `{"count":3,"window":90,"x":1}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // the body decoder refuses it before
		}
		rl, err := decodeRateLimit(raw)
		var he *httpError
		switch {
		case err != nil && (!errors.As(err, &he) || he.status != http.StatusBadRequest):
			t.Fatalf("%s: %v, want a 400", raw, err)
		case err == nil && rl.Count != 0 && rl.Window == 0 && string(raw) != "null":
			var v map[string]any
			if json.Unmarshal(raw, &v) == nil && v["window"] == nil {
				t.Fatalf("%s: a count without a window was read as %+v", raw, rl)
			}
		}
	})
}
