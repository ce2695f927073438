package inboundfilter

import (
	"testing"
)

func TestFiltersDropWhatTheyName(t *testing.T) {
	all, err := Compile(Settings{BrowserExtensions: true, Localhost: true, WebCrawlers: true, FilteredTransaction: true,
		LegacyBrowsers: []string{"default"}, BlacklistedIPs: []string{"203.0.113.0/24", "2001:db8::7"},
		Releases: []string{"1.*-beta", "[!3].0"}, ErrorMessages: []string{"TypeError*", "*: integer division or modulo by zero"}})
	if err != nil {
		t.Fatal(err)
	}
	none, err := Compile(Settings{})
	if err != nil {
		t.Fatal(err)
	}
	const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	for _, c := range []struct {
		name string
		ev   Event
		want string
	}{
		{"an ordinary error", Event{Type: "error", ClientIP: "198.51.100.4", UserAgent: chrome, Release: "2.0", Messages: []string{"ValueError: bad"}}, ""},
		{"an extension's frame", Event{Type: "error", Frames: []string{"app.js", "chrome-extension://abc/content.js"}}, ReasonBrowserExtensions},
		{"an extension's error", Event{Type: "error", Messages: []string{"Error: Extension context invalidated."}}, ReasonBrowserExtensions},
		{"localhost by address", Event{Type: "error", UserIP: "127.0.0.1"}, ReasonLocalhost},
		{"a server on localhost sending", Event{Type: "error", ClientIP: "127.0.0.1"}, ""},
		{"localhost by URL", Event{Type: "error", URL: "http://localhost:3000/cart"}, ReasonLocalhost},
		{"a blocked range", Event{Type: "error", ClientIP: "203.0.113.77"}, ReasonIP},
		{"a blocked IPv6 address", Event{Type: "error", ClientIP: "2001:db8::7"}, ReasonIP},
		{"a blocked release", Event{Type: "error", Release: "1.4-beta"}, ReasonRelease},
		{"a message glob", Event{Type: "error", Messages: []string{"ZeroDivisionError: integer division or modulo by zero"}}, ReasonErrorMessage},
		{"a message glob, any case", Event{Type: "error", Messages: []string{"typeerror: x is undefined"}}, ReasonErrorMessage},
		{"Googlebot", Event{Type: "error", UserAgent: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}, ReasonWebCrawlers},
		{"IE 8", Event{Type: "error", UserAgent: "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)"}, ReasonLegacyBrowsers},
		{"IE 11", Event{Type: "error", UserAgent: "Mozilla/5.0 (Windows NT 10.0; Trident/7.0; rv:11.0) like Gecko"}, ReasonLegacyBrowsers},
		{"EdgeHTML", Event{Type: "error", UserAgent: "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/64.0 Safari/537.36 Edge/17.17134"}, ReasonLegacyBrowsers},
		{"Safari 5", Event{Type: "error", UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_6_8) AppleWebKit/534.59 (KHTML, like Gecko) Version/5.1.9 Safari/534.59"}, ReasonLegacyBrowsers},
		{"Safari 17", Event{Type: "error", UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"}, ""},
		{"a health check", Event{Type: "transaction", Transaction: "GET /healthz"}, ReasonFilteredTransaction},
		{"a readiness probe", Event{Type: "transaction", Transaction: "/ready"}, ReasonFilteredTransaction},
		{"an ordinary transaction", Event{Type: "transaction", Transaction: "GET /checkout/delivery"}, ""},
		{"a transaction named like an error glob", Event{Type: "transaction", Transaction: "TypeError", Messages: []string{"TypeError"}}, ""},
	} {
		if got := all.Check(&c.ev); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		if got := none.Check(&c.ev); got != "" {
			t.Errorf("%s with no filter: dropped for %q", c.name, got)
		}
	}
}

func TestCompileRefusesBadSettings(t *testing.T) {
	for _, s := range []Settings{
		{LegacyBrowsers: []string{"netscape"}},
		{BlacklistedIPs: []string{"300.1.1.1"}},
		{Releases: []string{"a\nb"}},
	} {
		if _, err := Compile(s); err == nil {
			t.Errorf("%+v compiled", s)
		}
	}
}

func TestFromPayload(t *testing.T) {
	e, err := FromPayload([]byte(`{"release":"web@1.2","user":{"ip_address":"{{auto}}"},
		"request":{"url":"https://shop.example.test/cart","headers":[["User-Agent","Googlebot/2.1"]]},
		"exception":{"values":[{"type":"TypeError","value":"x is undefined","stacktrace":{"frames":[{"abs_path":"moz-extension://x/y.js"}]}}]},
		"logentry":{"formatted":"checkout failed"}}`), "event", "198.51.100.9", "curl/8")
	if err != nil {
		t.Fatal(err)
	}
	if e.Release != "web@1.2" || e.ClientIP != "198.51.100.9" || e.UserIP != "198.51.100.9" || e.UserAgent != "Googlebot/2.1" || e.URL != "https://shop.example.test/cart" ||
		len(e.Messages) != 2 || e.Messages[1] != "TypeError: x is undefined" || e.Frames[0] != "moz-extension://x/y.js" {
		t.Errorf("%+v", e)
	}
}

// FuzzFromPayload: whatever a client sends, reading and checking it never
// panics.
func FuzzFromPayload(f *testing.F) {
	f.Add([]byte(`{"exception":[{"type":"E","stacktrace":{"frames":[{"filename":"a"}]}}],"message":{"formatted":"x"}}`))
	f.Add([]byte(`{"request":{"headers":{"user-agent":"MSIE 6.0"}},"release":12}`))
	filter, err := Compile(Settings{BrowserExtensions: true, Localhost: true, WebCrawlers: true, FilteredTransaction: true,
		LegacyBrowsers: []string{"default"}, BlacklistedIPs: []string{"10.0.0.0/8"}, Releases: []string{"*"}, ErrorMessages: []string{"*x*"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, typ := range []string{"event", "transaction"} {
			if e, err := FromPayload(b, typ, "10.1.2.3", "ua"); err == nil {
				filter.Check(e)
			}
		}
	})
}
