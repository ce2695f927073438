package api

import "testing"

func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "0:100:0", "0:0:1", "abc", "1:2", "0:-1:0", "0:99999999999999999999:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCursor(s)
		if err == nil && (n < 0 || n > 1_000_000) {
			t.Fatalf("ParseCursor(%q) = %d", s, n)
		}
	})
}
