package inboundfilter

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// The filters' knowledge, as data: what browser extensions throw and where
// their code lives, what crawlers call themselves, which user agents are
// legacy browsers, what health checks are named.

// extensionMessages are errors browser extensions and injected scripts
// throw into pages, matched as substrings of "Type: value".
var extensionMessages = []string{
	"top.GLOBALS", "originalCreateNotification", "canvas.contentDocument", "MyApp_RemoveAllHighlights",
	"http://tt.epicplay.com", "Can't find variable: ZiteReader", "jigsaw is not defined", "ComboSearch is not defined",
	"http://loading.retry.widdit.com/", "atomicFindClose", "fb_xd_fragment", "bmi_SafeAddOnload",
	"EBCallBackMessageReceived", "conduitPage", "null is not an object (evaluating 'elt.parentNode')",
	"plugin.setSuspendState is not a function", "Extension context invalidated",
	"Object Not Found Matching Id", "webkit-masked-url:",
}

// extensionSources are where extensions' code runs from, matched as
// substrings of a frame's path.
var extensionSources = []string{
	"chrome-extension://", "moz-extension://", "safari-extension://", "safari-web-extension://",
	"ms-browser-extension://", "chrome://", "resource://", "webkit-masked-url://",
	"graph.facebook.com", "connect.facebook.net", "eatdifferent.com", "static.woopra.com", "js.addthis.com",
	"metrics.itunes.apple.com", "127.0.0.1:4001/isrunning", "webappstoolbarba.texthelp.com", "fpnpmcdn.net/v3",
}

func fromExtension(e *Event) bool {
	for _, m := range e.Messages {
		for _, x := range extensionMessages {
			if strings.Contains(m, x) {
				return true
			}
		}
	}
	for _, f := range e.Frames {
		for _, x := range extensionSources {
			if strings.Contains(f, x) {
				return true
			}
		}
	}
	return false
}

func isLocal(e *Event) bool {
	switch e.UserIP {
	case "127.0.0.1", "::1":
		return true
	}
	if e.URL == "" {
		return false
	}
	u, err := url.Parse(e.URL)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == "localhost" || h == "127.0.0.1" || h == "::1" || strings.HasSuffix(h, ".localhost")
}

// crawler matches the user agents of search engines, link previewers,
// uptime monitors and headless browsers.
var crawler = regexp.MustCompile(`(?i)googlebot|mediapartners-google|adsbot-google|feedfetcher-google|apis-google|` +
	`google-read-aloud|storebot-google|bingbot|bingpreview|msnbot|slurp|duckduckbot|baiduspider|yandex(bot|images|metrika|mobilebot)|` +
	`sogou|exabot|facebot|facebookexternalhit|ia_archiver|slackbot|twitterbot|linkedinbot|pinterest(bot)?/|` +
	`applebot|semrushbot|ahrefsbot|mj12bot|dotbot|petalbot|seznambot|qwantify|` +
	`uptimerobot|pingdom|statuscake|site24x7|newrelicpinger|datadog agent|zabbix|calypso appdata client|` +
	`headlesschrome|phantomjs|lighthouse|` +
	`\bbot[/\s);]|\bspider[/\s);]|crawler`)

var (
	msie        = regexp.MustCompile(`MSIE (\d+)`)
	trident     = regexp.MustCompile(`Trident/\d+.*rv:(\d+)`)
	operaMini   = regexp.MustCompile(`Opera Mini/(\d+)`)
	operaPresto = regexp.MustCompile(`Opera[/ ].*Version/(\d+)|^Opera[/ ](\d+)`)
	android     = regexp.MustCompile(`Android (\d+)`)
	safari      = regexp.MustCompile(`Version/(\d+)[.\d]* .*Safari/`)
	edgeLegacy  = regexp.MustCompile(`Edge/\d+`)
)

// legacyBrowser names the legacy-browser subfilter a user agent falls
// under, "" for none.
func legacyBrowser(ua string) string {
	if m := msie.FindStringSubmatch(ua); m != nil {
		switch v := atoi(m[1]); {
		case v < 9:
			return "ie_pre_9"
		case v == 9:
			return "ie9"
		case v == 10:
			return "ie10"
		}
		return ""
	}
	if m := trident.FindStringSubmatch(ua); m != nil && atoi(m[1]) == 11 {
		return "ie11"
	}
	if edgeLegacy.MatchString(ua) {
		return "edge_pre_79" // EdgeHTML; Chromium's Edge says "Edg/"
	}
	if m := operaMini.FindStringSubmatch(ua); m != nil {
		if atoi(m[1]) < 8 {
			return "opera_mini_pre_8"
		}
		return ""
	}
	if m := operaPresto.FindStringSubmatch(ua); m != nil && !strings.Contains(ua, "OPR/") {
		if atoi(m[1]+m[2]) < 15 {
			return "opera_pre_15"
		}
		return ""
	}
	chromium := strings.Contains(ua, "Chrome/") || strings.Contains(ua, "Chromium/") || strings.Contains(ua, "CriOS/")
	if m := android.FindStringSubmatch(ua); m != nil && !chromium {
		if atoi(m[1]) < 4 {
			return "android_pre_4"
		}
		return ""
	}
	if m := safari.FindStringSubmatch(ua); m != nil && !chromium && !strings.Contains(ua, "Android") {
		if atoi(m[1]) < 6 {
			return "safari_pre_6"
		}
	}
	return ""
}

// healthCheckName matches the transaction names of health checks:
// *healthcheck*, *healthy*, *heartbeat*, live and ready (alone or as a path
// segment, with a z or a suffix), */health, */healthz and */ping.
var healthCheckName = regexp.MustCompile(`(?i)healthcheck|healthy|heartbeat|` +
	`(^|[/-])(live|ready)(z|[/-]|$)|/(health|healthz|ping)$`)

func healthCheck(name string) bool { return name != "" && healthCheckName.MatchString(name) }

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 1 << 30
	}
	return n
}
