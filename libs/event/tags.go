package event

import (
	"strings"
)

// Tags Sentry derives from an event's interfaces, so that searches like
// browser.name:Chrome and user.email:x and the tag facets work on events
// whose SDK set no such tag: browser and browser.name (from
// contexts.browser, else the request's User-Agent), os and os.name (likewise),
// device and device.family, runtime and runtime.name, url (request.url),
// transaction, handled and mechanism (the main exception's mechanism),
// server_name, dist, logger, and user.email.

// contextTag is what a tag needs of a context: its name and version, or a
// device's model and family.
type contextTag struct {
	Name    flexString `json:"name"`
	Version flexString `json:"version"`
	Model   flexString `json:"model"`
	Family  flexString `json:"family"`
}

// context reads the context called key; its value is a data bag, valid
// JSON.
func (e *Event) context(key string) (c contextTag, ok bool) {
	b := e.Contexts[key]
	if len(b) == 0 || b[0] != '{' {
		return c, false
	}
	c.decodeAt(b, 0)
	return c, true
}

// nameVersion is "Chrome 120.0.1", or the name alone.
func nameVersion(name, version string) string {
	if version == "" {
		return name
	}
	return name + " " + version
}

// DerivedTags calls add with each tag derived from e's interfaces; add
// decides what to keep (an SDK's own tag of the same key wins there).
func (e *Event) DerivedTags(add func(key, value string)) {
	var ua UserAgent
	uaDone := false
	userAgent := func() UserAgent {
		if !uaDone {
			uaDone = true
			if s := e.Request.Header("User-Agent"); s != "" {
				ua = ParseUserAgent(s)
			}
		}
		return ua
	}
	if c, ok := e.context("browser"); ok && c.Name != "" {
		add("browser", nameVersion(string(c.Name), string(c.Version)))
		add("browser.name", string(c.Name))
	} else if u := userAgent(); u.Browser != "" {
		add("browser", nameVersion(u.Browser, u.BrowserVersion))
		add("browser.name", u.Browser)
	}
	if c, ok := e.context("os"); ok && c.Name != "" {
		add("os", nameVersion(string(c.Name), string(c.Version)))
		add("os.name", string(c.Name))
	} else if u := userAgent(); u.OS != "" {
		add("os", nameVersion(u.OS, u.OSVersion))
		add("os.name", u.OS)
	}
	if c, ok := e.context("device"); ok {
		if c.Model != "" {
			add("device", string(c.Model))
		}
		if c.Family != "" {
			add("device.family", string(c.Family))
		}
	}
	if c, ok := e.context("runtime"); ok && c.Name != "" {
		add("runtime", nameVersion(string(c.Name), string(c.Version)))
		add("runtime.name", string(c.Name))
	}
	if e.Request != nil && e.Request.URL != "" {
		add("url", e.Request.URL)
	}
	add("transaction", e.Transaction)
	if x := e.MainException(); x != nil && x.Mechanism != nil {
		if h := x.Mechanism.Handled; h != nil {
			if *h {
				add("handled", "yes")
			} else {
				add("handled", "no")
			}
		}
		add("mechanism", x.Mechanism.Type)
	}
	add("server_name", e.ServerName)
	add("dist", e.Dist)
	add("logger", e.Logger)
	if e.User != nil {
		add("user.email", e.User.Email)
	}
}

// UserAgent is what a User-Agent header says of the browser and operating
// system, as far as the common browsers go; fields are "" when unknown.
type UserAgent struct {
	Browser, BrowserVersion string
	OS, OSVersion           string
}

// ParseUserAgent reads the browser and operating system from a browser's
// User-Agent header. It is a small table of the browsers users have, not a
// full database: anything else is left unknown.
func ParseUserAgent(s string) UserAgent {
	var u UserAgent
	if len(s) > 512 {
		s = s[:512]
	}
	// Browser: the more specific tokens first (Edge and Opera also say
	// Chrome and Safari; Chrome also says Safari).
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"Edge/", "Edge"},
		{"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"}, {"YaBrowser/", "Yandex Browser"},
		{"FxiOS/", "Firefox iOS"}, {"Firefox/", "Firefox"},
		{"CriOS/", "Chrome Mobile iOS"}, {"HeadlessChrome/", "HeadlessChrome"}, {"Chrome/", "Chrome"},
	} {
		if v, ok := tokenVersion(s, b.token); ok {
			u.Browser, u.BrowserVersion = b.name, v
			if b.name == "Chrome" && strings.Contains(s, "Mobile") {
				u.Browser = "Chrome Mobile"
			}
			break
		}
	}
	if u.Browser == "" {
		switch {
		case strings.Contains(s, "Safari/") && strings.Contains(s, "Version/"):
			u.Browser, u.BrowserVersion = "Safari", mustTokenVersion(s, "Version/")
			if strings.Contains(s, "Mobile") {
				u.Browser = "Mobile Safari"
			}
		case strings.Contains(s, "MSIE "):
			u.Browser, u.BrowserVersion = "IE", mustTokenVersion(s, "MSIE ")
		case strings.Contains(s, "Trident/"):
			u.Browser, u.BrowserVersion = "IE", mustTokenVersion(s, "rv:")
		}
	}
	switch {
	case strings.Contains(s, "Windows NT "):
		u.OS = "Windows"
		u.OSVersion = map[string]string{"10.0": "10", "6.3": "8.1", "6.2": "8", "6.1": "7", "6.0": "Vista", "5.1": "XP"}[mustTokenVersion(s, "Windows NT ")]
	case strings.Contains(s, "iPhone") || strings.Contains(s, "iPad") || strings.Contains(s, "iPod"):
		u.OS = "iOS"
		if v, ok := tokenVersion(s, " OS "); ok {
			u.OSVersion = v
		}
	case strings.Contains(s, "Android"):
		u.OS = "Android"
		if v, ok := tokenVersion(s, "Android "); ok {
			u.OSVersion = v
		}
	case strings.Contains(s, "CrOS "):
		u.OS = "Chrome OS"
	case strings.Contains(s, "Mac OS X"):
		u.OS = "Mac OS X"
		if v, ok := tokenVersion(s, "Mac OS X "); ok {
			u.OSVersion = v
		}
	case strings.Contains(s, "Linux"):
		u.OS = "Linux"
	}
	return u
}

func mustTokenVersion(s, token string) string {
	v, _ := tokenVersion(s, token)
	return v
}

// tokenVersion finds token in s and reads the version after it: up to three
// numeric parts, separated by dots or underscores (Apple writes 10_15_7).
func tokenVersion(s, token string) (string, bool) {
	i := strings.Index(s, token)
	if i < 0 {
		return "", false
	}
	rest := s[i+len(token):]
	var b strings.Builder
	parts := 0
	for parts < 3 {
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 0 {
			break
		}
		if parts > 0 {
			b.WriteByte('.')
		}
		b.WriteString(rest[:j])
		parts++
		rest = rest[j:]
		if len(rest) < 2 || rest[0] != '.' && rest[0] != '_' || rest[1] < '0' || rest[1] > '9' {
			break
		}
		rest = rest[1:]
	}
	return b.String(), true
}
