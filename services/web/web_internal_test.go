package web

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/faultline/faultline/libs/issues"
)

func TestLocalPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"}, {"/", "/"}, {"/organizations/acme/issues/?project=a&query=is%3Aunresolved", "/organizations/acme/issues/?project=a&query=is%3Aunresolved"},
		{"//evil.test/", "/"}, {"/\\evil.test", "/"}, {"https://evil.test/", "/"}, {"javascript:alert(1)", "/"},
		{"evil.test", "/"}, {"/x\r\nSet-Cookie: a=b", "/"}, {"/\t/evil.test", "/"},
	}
	for _, tc := range tests {
		if got := localPath(tc.in); got != tc.want {
			t.Errorf("localPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "//a", "/\\a", "https://a", "/a?b=c#d", "/%2F%2Fa"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := localPath(s)
		if got == "" || got[0] != '/' || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t") {
			t.Fatalf("localPath(%q) = %q: not a local path", s, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("localPath(%q) = %q leaves the site", s, got)
		}
	})
}

func TestSafeURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://example.com/a?b=c", "https://example.com/a?b=c"}, {"http://x.test", "http://x.test"},
		{"javascript:alert(1)", ""}, {" JavaScript:alert(1)", ""}, {"data:text/html,<script>", ""},
		{"vbscript:x", ""}, {"/relative", ""}, {"//host/x", ""}, {"https://", ""}, {"", ""},
	}
	for _, tc := range tests {
		if got := SafeURL(tc.in); got != tc.want {
			t.Errorf("SafeURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzSafeURL(f *testing.F) {
	for _, s := range []string{"https://a.test", "javascript:x", "data:x", "HTTP://A", "\x00http://a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SafeURL(s)
		if got == "" {
			return
		}
		u, err := url.Parse(got)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Fatalf("SafeURL(%q) = %q", s, got)
		}
	})
}

// FuzzSearchTerm: the links the issue page builds from tag values parse
// back to the same filter.
func FuzzSearchTerm(f *testing.F) {
	for _, s := range []string{"Chrome", "a b", `q"uote`, `back\slash`, "", "x:y"} {
		f.Add("browser.name", s)
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		if !utf8.ValidString(key) || !utf8.ValidString(value) || key == "" || strings.ContainsAny(key, " \t\r\n\":!") || len(key) > 32 || len(value) > 200 || strings.ContainsAny(value, "\r\n\t") {
			return
		}
		q, err := issues.ParseIssueSearch(searchTerm(key, value))
		if err != nil {
			if value == "" {
				return
			}
			t.Fatalf("%q: %v", searchTerm(key, value), err)
		}
		if len(q.Filters) != 1 || q.Filters[0].Value != value {
			t.Fatalf("%q parsed to %+v", searchTerm(key, value), q)
		}
	})
}

func TestNewChart(t *testing.T) {
	start := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	c := NewChart([]int64{0, 5, 10, 0}, start, time.Hour, 100, 20, "x")
	if c.Total != 15 || c.Max != 10 || len(c.Bars) != 4 {
		t.Fatalf("got total %d max %d bars %d", c.Total, c.Max, len(c.Bars))
	}
	tests := []struct {
		i     int
		h     float64
		title string
	}{
		{0, 1, "0 events, 2 Jan 10:00 UTC"},
		{1, 9.5, "5 events, 2 Jan 11:00 UTC"},
		{2, 19, "10 events, 2 Jan 12:00 UTC"},
	}
	for _, tc := range tests {
		b := c.Bars[tc.i]
		if b.H != tc.h || b.Title != tc.title || b.Y != 20-tc.h || b.X != float64(tc.i)*25 {
			t.Errorf("bar %d: %+v, want height %v title %q", tc.i, b, tc.h, tc.title)
		}
	}
	if NewChart(nil, start, time.Hour, 10, 10, "x").Bars != nil {
		t.Error("an empty chart has bars")
	}
	if got := NewChart([]int64{1}, start, 24*time.Hour, 10, 10, "x").Bars[0].Title; got != "1 event, 2 Jan 2026" {
		t.Errorf("daily title %q", got)
	}
}

func TestNewDistribution(t *testing.T) {
	d := NewDistribution("browser", []string{"Chrome", "Firefox"}, []int64{3, 1}, 4)
	if d.Values[0].Percent != 75 || d.Values[1].Percent != 25 || d.Values[0].Width != 75 {
		t.Errorf("got %+v", d.Values)
	}
}

func TestCompact(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1.0k", 1234: "1.2k", 56_789: "56k", 1_500_000: "1.5M", 12_000_000: "12M"} {
		if got := compact(n); got != want {
			t.Errorf("compact(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSnippetsHoldTheDSN(t *testing.T) {
	dsn := `http://k@h:1/2`
	for _, s := range Snippets(dsn, 1) {
		if !strings.Contains(s.Code, `"`+dsn+`"`) {
			t.Errorf("%s: no DSN in %q", s.SDK, s.Code)
		}
	}
}

// FuzzFormRateLimit: the key form's rate limit never panics, and what it
// accepts is no limit, or a count of 0 or more per a window of 60 to 86400
// seconds; what it refuses names the field.
func FuzzFormRateLimit(f *testing.F) {
	for _, s := range [][2]string{{"2", "21600"}, {"", ""}, {"0", "59"}, {"5", "86401"}, {"-1", "60"}, {"9", "a day"}, {"1e3", "60"}, {" 7 ", " 5400 "}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, count, window string) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(url.Values{"rate_limit_count": {count}, "rate_limit_window": {window}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rl, err := formRateLimit(r)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "rate limit ") {
				t.Errorf("refusal %q does not name the field", err)
			}
			return
		}
		if rl.Count < 0 || (rl.Count > 0 || rl.Window != 0) && (rl.Window < 60 || rl.Window > 86400) {
			t.Errorf("accepted %q per %q as %+v", count, window, rl)
		}
	})
}
