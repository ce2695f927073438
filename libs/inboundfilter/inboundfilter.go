// Package inboundfilter decides which events a project does not want
// stored: Sentry's inbound data filters, applied by the gateway before
// anything is published. The filters and their names are Sentry's:
// browser-extensions, localhost, legacy-browser (with per-browser
// subfilters), web-crawlers and filtered-transaction (health checks), plus
// the project's lists of IP addresses and ranges, releases and error
// messages (glob patterns) to drop.
package inboundfilter

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Filter ids, as Sentry names them.
const (
	BrowserExtensions   = "browser-extensions"
	Localhost           = "localhost"
	LegacyBrowsers      = "legacy-browser"
	WebCrawlers         = "web-crawlers"
	FilteredTransaction = "filtered-transaction"
)

// Reasons an event is dropped for, as metrics and logs name them.
const (
	ReasonBrowserExtensions   = "browser-extensions"
	ReasonLocalhost           = "localhost"
	ReasonLegacyBrowsers      = "legacy-browsers"
	ReasonWebCrawlers         = "web-crawlers"
	ReasonFilteredTransaction = "filtered-transaction"
	ReasonIP                  = "ip-address"
	ReasonRelease             = "release-version"
	ReasonErrorMessage        = "error-message"
)

// Filters lists the filter ids in the order Sentry lists them.
var Filters = []string{BrowserExtensions, Localhost, LegacyBrowsers, WebCrawlers, FilteredTransaction}

// About says, for people, what each filter drops: a name and a description.
var About = map[string][2]string{
	BrowserExtensions:   {"Filter out errors known to be caused by browser extensions", "Certain browser extensions inject code that throws errors into your pages."},
	Localhost:           {"Filter out events coming from localhost", "Events sent from 127.0.0.1, ::1 or a localhost URL."},
	LegacyBrowsers:      {"Filter out known errors from legacy browsers", "Older browsers often give less accurate information."},
	WebCrawlers:         {"Filter out known web crawlers", "Search engines, link previewers and uptime monitors."},
	FilteredTransaction: {"Filter out health check transactions", "Transactions named like health checks: healthz, ready, live, ping, heartbeat."},
}

// On reports whether filter id is switched on in s (legacy-browser: any
// of its browsers).
func (s *Settings) On(id string) bool {
	switch id {
	case BrowserExtensions:
		return s.BrowserExtensions
	case Localhost:
		return s.Localhost
	case LegacyBrowsers:
		return len(s.LegacyBrowsers) > 0
	case WebCrawlers:
		return s.WebCrawlers
	case FilteredTransaction:
		return s.FilteredTransaction
	}
	return false
}

// LegacyBrowserSubfilters are the legacy-browser filter's browsers; "default"
// stands for all of them.
var LegacyBrowserSubfilters = []string{"ie_pre_9", "ie9", "ie10", "ie11", "opera_pre_15", "opera_mini_pre_8",
	"android_pre_4", "safari_pre_6", "edge_pre_79"}

// Settings are a project's filters, as stored and synced to the gateway.
type Settings struct {
	BrowserExtensions   bool     `json:"browser_extensions,omitempty"`
	Localhost           bool     `json:"localhost,omitempty"`
	WebCrawlers         bool     `json:"web_crawlers,omitempty"`
	FilteredTransaction bool     `json:"filtered_transaction,omitempty"`
	LegacyBrowsers      []string `json:"legacy_browsers,omitempty"` // subfilters
	BlacklistedIPs      []string `json:"blacklisted_ips,omitempty"` // addresses and CIDR ranges
	Releases            []string `json:"releases,omitempty"`        // globs
	ErrorMessages       []string `json:"error_messages,omitempty"`  // globs, case-insensitive
}

// Empty reports whether s filters nothing.
func (s *Settings) Empty() bool {
	return s == nil || !s.BrowserExtensions && !s.Localhost && !s.WebCrawlers && !s.FilteredTransaction &&
		len(s.LegacyBrowsers) == 0 && len(s.BlacklistedIPs) == 0 && len(s.Releases) == 0 && len(s.ErrorMessages) == 0
}

// Validate checks what Compile needs.
func (s *Settings) Validate() error {
	_, err := Compile(*s)
	return err
}

// Filter is a project's compiled filters.
type Filter struct {
	s        Settings
	legacy   map[string]bool
	prefixes []netip.Prefix
	releases *regexp.Regexp
	messages *regexp.Regexp
}

// Limits of the lists, generous for hand-written ones.
const (
	maxEntries  = 500
	maxEntryLen = 500
)

// Compile checks and compiles s.
func Compile(s Settings) (*Filter, error) {
	f := &Filter{s: s, legacy: map[string]bool{}}
	for _, b := range s.LegacyBrowsers {
		switch {
		case b == "default":
			for _, all := range LegacyBrowserSubfilters {
				f.legacy[all] = true
			}
		case contains(LegacyBrowserSubfilters, b):
			f.legacy[b] = true
		default:
			return nil, fmt.Errorf("legacy-browser: unknown browser %q", clip(b))
		}
	}
	for _, list := range [][]string{s.BlacklistedIPs, s.Releases, s.ErrorMessages} {
		if len(list) > maxEntries {
			return nil, fmt.Errorf("at most %d entries in a list", maxEntries)
		}
		for _, e := range list {
			if len(e) > maxEntryLen || strings.ContainsAny(e, "\r\n") {
				return nil, fmt.Errorf("entry %q: at most %d characters, one line", clip(e), maxEntryLen)
			}
		}
	}
	for _, ip := range s.BlacklistedIPs {
		p, err := parsePrefix(ip)
		if err != nil {
			return nil, fmt.Errorf("blacklisted_ips: %q is not an IP address or range", clip(ip))
		}
		f.prefixes = append(f.prefixes, p)
	}
	var err error
	if f.releases, err = globs(s.Releases, false); err != nil {
		return nil, fmt.Errorf("releases: %w", err)
	}
	if f.messages, err = globs(s.ErrorMessages, true); err != nil {
		return nil, fmt.Errorf("error_messages: %w", err)
	}
	return f, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// globs compiles Sentry's glob patterns (* any run, ? one character, the
// rest literal) into one anchored alternation; nil for none.
func globs(patterns []string, fold bool) (*regexp.Regexp, error) {
	var alts []string
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		var b strings.Builder
		for _, r := range p {
			switch r {
			case '*':
				b.WriteString(".*")
			case '?':
				b.WriteString(".")
			default:
				b.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		alts = append(alts, b.String())
	}
	if len(alts) == 0 {
		return nil, nil
	}
	flags := "(?s)"
	if fold {
		flags = "(?si)"
	}
	return regexp.Compile(flags + `\A(?:` + strings.Join(alts, "|") + `)\z`)
}

// Event is what the filters look at.
type Event struct {
	Type        string // "transaction" or an error type
	ClientIP    string // the sender's address (the IP filter)
	UserIP      string // the user's address as the event gives it ({{auto}}: the sender's; the localhost filter)
	UserAgent   string
	URL         string // request.url
	Release     string
	Transaction string
	Messages    []string // "Type: value" of each exception, and the message
	Frames      []string // abs_path (or filename) of every frame
}

// Check returns why e is dropped, or "" to keep it.
func (f *Filter) Check(e *Event) string {
	s := &f.s
	if e.Type == "transaction" {
		if s.FilteredTransaction && healthCheck(e.Transaction) {
			return ReasonFilteredTransaction
		}
	} else {
		if s.BrowserExtensions && fromExtension(e) {
			return ReasonBrowserExtensions
		}
		if f.messages != nil {
			for _, m := range e.Messages {
				if f.messages.MatchString(m) {
					return ReasonErrorMessage
				}
			}
		}
	}
	if s.Localhost && isLocal(e) {
		return ReasonLocalhost
	}
	if len(f.prefixes) > 0 {
		if a, err := netip.ParseAddr(e.ClientIP); err == nil {
			a = a.Unmap()
			for _, p := range f.prefixes {
				if p.Contains(a) {
					return ReasonIP
				}
			}
		}
	}
	if f.releases != nil && e.Release != "" && f.releases.MatchString(e.Release) {
		return ReasonRelease
	}
	if s.WebCrawlers && crawler.MatchString(e.UserAgent) {
		return ReasonWebCrawlers
	}
	if len(f.legacy) > 0 && e.UserAgent != "" {
		if b := legacyBrowser(e.UserAgent); b != "" && f.legacy[b] {
			return ReasonLegacyBrowsers
		}
	}
	return ""
}

// FromPayload reads what the filters look at from an event or transaction
// payload; clientIP is the sender's address (the user's too when the event
// asks for it with {{auto}}, as browser SDKs do).
func FromPayload(payload []byte, itemType, clientIP, userAgent string) (*Event, error) {
	var p struct {
		Type        string `json:"type"`
		Release     json.RawMessage
		Transaction string `json:"transaction"`
		Message     json.RawMessage
		LogEntry    *struct {
			Formatted string `json:"formatted"`
			Message   string `json:"message"`
		} `json:"logentry"`
		User *struct {
			IP string `json:"ip_address"`
		} `json:"user"`
		Request *struct {
			URL     string          `json:"url"`
			Headers json.RawMessage `json:"headers"`
		} `json:"request"`
		Exception json.RawMessage `json:"exception"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, err
	}
	e := &Event{Type: itemType, ClientIP: clientIP, UserAgent: userAgent, Transaction: p.Transaction}
	if itemType != "transaction" {
		e.Type = "error"
	}
	e.Release = scalar(p.Release)
	if p.User != nil {
		e.UserIP = p.User.IP
		if e.UserIP == "{{auto}}" {
			e.UserIP = clientIP
		}
	}
	if p.Request != nil {
		e.URL = p.Request.URL
		if ua := header(p.Request.Headers, "User-Agent"); ua != "" {
			e.UserAgent = ua
		}
	}
	if m := scalar(p.Message); m != "" {
		e.Messages = append(e.Messages, m)
	} else if len(p.Message) > 0 && p.Message[0] == '{' {
		var lm struct{ Formatted, Message string }
		if json.Unmarshal(p.Message, &lm) == nil {
			e.Messages = append(e.Messages, firstNonEmpty(lm.Formatted, lm.Message))
		}
	}
	if p.LogEntry != nil {
		e.Messages = append(e.Messages, firstNonEmpty(p.LogEntry.Formatted, p.LogEntry.Message))
	}
	for _, ex := range exceptions(p.Exception) {
		msg := ex.Type
		if ex.Value != "" {
			msg = strings.TrimPrefix(msg+": "+ex.Value, ": ")
		}
		e.Messages = append(e.Messages, msg)
		if ex.Stacktrace != nil {
			for _, fr := range ex.Stacktrace.Frames {
				e.Frames = append(e.Frames, firstNonEmpty(fr.AbsPath, fr.Filename))
			}
		}
	}
	return e, nil
}

type exception struct {
	Type       string `json:"type"`
	Value      string `json:"value"`
	Stacktrace *struct {
		Frames []struct {
			AbsPath  string `json:"abs_path"`
			Filename string `json:"filename"`
		} `json:"frames"`
	} `json:"stacktrace"`
}

// exceptions reads the exception interface: {"values": [...]} or a bare list.
func exceptions(raw json.RawMessage) []exception {
	if len(raw) == 0 {
		return nil
	}
	var wrapped struct {
		Values []exception `json:"values"`
	}
	if json.Unmarshal(raw, &wrapped) == nil && wrapped.Values != nil {
		return wrapped.Values
	}
	var list []exception
	json.Unmarshal(raw, &list)
	return list
}

// header finds a request header in either of Sentry's shapes: an object or
// a list of [name, value] pairs.
func header(raw json.RawMessage, name string) string {
	if len(raw) == 0 {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil {
		for k, v := range m {
			if strings.EqualFold(k, name) {
				return scalar(v)
			}
		}
		return ""
	}
	var pairs [][]json.RawMessage
	if json.Unmarshal(raw, &pairs) == nil {
		for _, p := range pairs {
			if len(p) == 2 && strings.EqualFold(scalar(p[0]), name) {
				return scalar(p[1])
			}
		}
	}
	return ""
}

// scalar is a JSON string's or number's text, "" otherwise.
func scalar(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
