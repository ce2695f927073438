package event

import (
	"slices"
	"testing"
	"time"
)

func TestParseUserAgent(t *testing.T) {
	for _, tc := range []struct {
		ua   string
		want UserAgent
	}{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36",
			UserAgent{"Chrome", "120.0.6099", "Windows", "10"}},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
			UserAgent{"Safari", "17.1", "Mac OS X", "10.15.7"}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
			UserAgent{"Mobile Safari", "17.1.2", "iOS", "17.1.2"}},
		{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
			UserAgent{"Firefox", "121.0", "Linux", ""}},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
			UserAgent{"Edge", "120.0.2210", "Windows", "10"}},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
			UserAgent{"Chrome Mobile", "120.0.6099", "Android", "14"}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
			UserAgent{"Chrome Mobile iOS", "120.0.6099", "iOS", "17.2"}},
		{"Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko", UserAgent{"IE", "11.0", "Windows", "7"}},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
			UserAgent{"Opera", "106.0.0", "Chrome OS", ""}},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.28 Safari/537.36",
			UserAgent{"HeadlessChrome", "120.0.6099", "Linux", ""}},
		{"sentry.go/0.29.0", UserAgent{}},
		{"curl/8.5.0", UserAgent{}},
		{"", UserAgent{}},
	} {
		t.Run(tc.want.Browser+"_"+tc.want.OS, func(t *testing.T) {
			if got := ParseUserAgent(tc.ua); got != tc.want {
				t.Errorf("ParseUserAgent(%q)\n got %+v\nwant %+v", tc.ua, got, tc.want)
			}
		})
	}
}

func FuzzParseUserAgent(f *testing.F) {
	for _, s := range []string{"Chrome/1.2.3", "Mac OS X 10_", "Version/ Safari/", "MSIE ", "rv:1.", "Android 1_2_3_4", "Windows NT 10.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u := ParseUserAgent(s)
		if len(u.BrowserVersion) > 512 || len(u.OSVersion) > 512 {
			t.Errorf("version longer than the header: %+v", u)
		}
	})
}

func TestDerivedTags(t *testing.T) {
	collect := func(e *Event) [][2]string {
		var out [][2]string
		e.DerivedTags(func(k, v string) {
			if v != "" {
				out = append(out, [2]string{k, v})
			}
		})
		return out
	}
	meta := Meta{ProjectID: 1, Received: time.Now()}
	for _, tc := range []struct {
		name    string
		payload string
		want    [][2]string
	}{
		{"contexts", `{"contexts":{"browser":{"name":"Chrome","version":"120.0.1"},"os":{"name":"Windows","version":"10"},
			"device":{"model":"iPhone14,2","family":"iPhone"},"runtime":{"name":"CPython","version":"3.11.2"}},
			"request":{"url":"https://example.com/cart?x=1","headers":{"User-Agent":"Firefox/121.0"}},
			"transaction":"/cart","server_name":"web-1","dist":"42","logger":"app",
			"user":{"id":"7","email":"ann@example.com"},
			"exception":{"values":[{"type":"E","value":"x","mechanism":{"type":"onerror","handled":false}}]}}`,
			[][2]string{{"browser", "Chrome 120.0.1"}, {"browser.name", "Chrome"}, {"os", "Windows 10"}, {"os.name", "Windows"},
				{"device", "iPhone14,2"}, {"device.family", "iPhone"}, {"runtime", "CPython 3.11.2"}, {"runtime.name", "CPython"},
				{"url", "https://example.com/cart"}, {"transaction", "/cart"}, {"handled", "no"}, {"mechanism", "onerror"},
				{"server_name", "web-1"}, {"dist", "42"}, {"logger", "app"}, {"user.email", "ann@example.com"}}},
		{"user agent", `{"request":{"headers":[["User-Agent","Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"]]},
			"exception":[{"type":"E","mechanism":{"type":"generic","handled":true}}]}`,
			[][2]string{{"browser", "Safari 17.1"}, {"browser.name", "Safari"}, {"os", "Mac OS X 10.15.7"}, {"os.name", "Mac OS X"},
				{"handled", "yes"}, {"mechanism", "generic"}}},
		{"nothing to derive", `{"message":"hi","contexts":{"browser":"Chrome","os":{"version":"1"}}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Normalize([]byte(tc.payload), meta)
			if err != nil {
				t.Fatal(err)
			}
			if got := collect(e); !slices.Equal(got, tc.want) {
				t.Errorf("derived tags\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func BenchmarkDerivedTags(b *testing.B) {
	e, err := Normalize([]byte(`{"contexts":{"browser":{"name":"Chrome","version":"120.0.1"},"os":{"name":"Windows","version":"10"},
		"runtime":{"name":"node","version":"v20.1.0"}},"request":{"url":"https://example.com/x"},
		"exception":[{"type":"E","mechanism":{"type":"generic","handled":true}}]}`), Meta{Received: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		e.DerivedTags(func(k, v string) { n++ })
	}
	if n == 0 {
		b.Fatal("no tags derived")
	}
}
