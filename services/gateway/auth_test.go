package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/ratelimit"
)

func TestAuthHeaderKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Sentry sentry_key=abc, sentry_version=7", "abc"},
		{"Sentry sentry_version=7, sentry_client=sentry.go/0.50.0, sentry_key=abc", "abc"},
		{"sentry sentry_version=7,sentry_key=abc", "abc"},
		{"SENTRY sentry_key=abc", "abc"},
		{`Sentry sentry_key="abc", sentry_version="7"`, "abc"},
		{"  Sentry   sentry_key = abc , sentry_secret=s  ", "abc"},
		{"Sentry sentry_key=abc, sentry_key=def", "abc"},
		{"Sentry sentry_secret=s", ""},
		{"Sentry sentry_key=", ""},
		{"Sentry sentry_keyx=abc", ""},
		{"Sentry xsentry_key=abc", ""},
		{"Sentry sentry_key", ""},
		{"Sentry", ""},
		{"Sentrysentry_key=abc", ""},
		{"Bearer abc", ""},
		{"Basic c2VudHJ5X2tleT1hYmM=", ""},
		{"sentry_key=abc", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := authHeaderKey(tt.in); got != tt.want {
			t.Errorf("authHeaderKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestKeyFromRequest(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		headers map[string]string
		want    string
		refused bool
	}{
		{name: "none", want: ""},
		{name: "X-Sentry-Auth", headers: map[string]string{"X-Sentry-Auth": "Sentry sentry_key=abc, sentry_version=7"}, want: "abc"},
		{name: "Authorization", headers: map[string]string{"Authorization": "Sentry sentry_key=abc"}, want: "abc"},
		{name: "query", query: "sentry_version=7&sentry_key=abc", want: "abc"},
		{name: "empty query key ignored", query: "sentry_key=", want: ""},
		{name: "header and query agree", query: "sentry_key=abc", headers: map[string]string{"X-Sentry-Auth": "Sentry sentry_key=abc"}, want: "abc"},
		{name: "both headers agree", headers: map[string]string{"X-Sentry-Auth": "Sentry sentry_key=abc", "Authorization": "Sentry sentry_key=abc"}, want: "abc"},
		{name: "other Authorization scheme ignored", query: "sentry_key=abc", headers: map[string]string{"Authorization": "Bearer token"}, want: "abc"},
		{name: "header and query conflict", query: "sentry_key=def", headers: map[string]string{"X-Sentry-Auth": "Sentry sentry_key=abc"}, refused: true},
		{name: "headers conflict", headers: map[string]string{"X-Sentry-Auth": "Sentry sentry_key=abc", "Authorization": "Sentry sentry_key=def"}, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "/api/1/envelope/"
			if tt.query != "" {
				target += "?" + tt.query
			}
			r := httptest.NewRequest(http.MethodPost, target, nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			got, err := keyFromRequest(r)
			if tt.refused {
				wantError(t, err, http.StatusUnauthorized, "conflicting_keys")
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("keyFromRequest = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestOneKeyWithDSN(t *testing.T) {
	// The envelope header's dsn must agree with a key named in the request.
	if k, err := oneKey("abc", dsnKey("https://abc@example.com/1")); err != nil || k != "abc" {
		t.Errorf("agreeing keys: %q, %v", k, err)
	}
	if k, err := oneKey("", dsnKey("https://abc@example.com/1")); err != nil || k != "abc" {
		t.Errorf("dsn alone: %q, %v", k, err)
	}
	_, err := oneKey("abc", dsnKey("https://def@example.com/1"))
	wantError(t, err, http.StatusUnauthorized, "conflicting_keys")
}

func TestDSNKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://abc@o1.ingest.example.com/42", "abc"},
		{"http://abc:secret@localhost:8080/7", "abc"},
		{"http://0123456789abcdef0123456789abcdef@127.0.0.1:44413/42", "0123456789abcdef0123456789abcdef"},
		{"https://example.com/42", ""},
		{"", ""},
		{"abc", ""},
		{"://abc@host/1", ""},
		{"http://%zz@host/1", ""},
	}
	for _, tt := range tests {
		if got := dsnKey(tt.in); got != tt.want {
			t.Errorf("dsnKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		allowed []string
		origin  string
		want    bool
	}{
		{nil, "https://anything.example", true},
		{[]string{"*"}, "https://anything.example", true},
		{[]string{"https://example.com"}, "https://example.com", true},
		{[]string{"https://example.com"}, "http://example.com", false},
		{[]string{"example.com"}, "https://example.com", true},
		{[]string{"example.com"}, "https://example.com:8443", true},
		{[]string{"example.com"}, "https://sub.example.com", false},
		{[]string{"example.com"}, "https://example.com.evil.org", false},
		{[]string{"example.com"}, "https://notexample.com", false},
		{[]string{"*.example.com"}, "https://app.example.com", true},
		{[]string{"*.example.com"}, "https://a.b.example.com:3000", true},
		{[]string{"*.example.com"}, "https://evilexample.com", false},
		{[]string{"*.example.com"}, "https://example.com.evil.org", false},
		{[]string{"localhost"}, "http://localhost:3000", true},
		{[]string{"example.com"}, "null", false},
		{[]string{"other.org", "example.com"}, "https://example.com", true},
	}
	for _, tt := range tests {
		if got := originAllowed(tt.allowed, tt.origin); got != tt.want {
			t.Errorf("originAllowed(%q, %q) = %v, want %v", tt.allowed, tt.origin, got, tt.want)
		}
	}
}

func TestRateLimitsHeader(t *testing.T) {
	deny := func(cat, scope string, retry time.Duration) limitedCategory {
		return limitedCategory{cat, ratelimit.Denial{Rule: ratelimit.Rule{ScopeKind: scope}, RetryAfter: retry}, "too_many_events"}
	}
	spiked := func(retry time.Duration) limitedCategory {
		return limitedCategory{envelope.CategoryError, ratelimit.Denial{Rule: spikeRule, RetryAfter: retry}, reasonSpike}
	}
	tests := []struct {
		name string
		in   []limitedCategory
		want string
	}{
		{"one", []limitedCategory{deny(envelope.CategoryError, "project", time.Minute)}, "60:error:project:too_many_events"},
		{"categories of one scope and time", []limitedCategory{
			deny(envelope.CategoryError, "project", time.Minute), deny(envelope.CategoryAttachment, "project", time.Minute)},
			"60:error;attachment:project:too_many_events"},
		{"a category once", []limitedCategory{
			deny(envelope.CategoryLogItem, "key", 30*time.Second), deny(envelope.CategoryLogItem, "key", 30*time.Second)},
			"30:log_item:key:too_many_events"},
		{"scopes apart", []limitedCategory{
			deny(envelope.CategoryError, "project", time.Minute), deny(envelope.CategorySpan, "organization", time.Hour)},
			"60:error:project:too_many_events, 3600:span:organization:too_many_events"},
		{"same scope, other time", []limitedCategory{
			deny(envelope.CategoryError, "project", time.Minute), deny(envelope.CategorySession, "project", 10*time.Second)},
			"60:error:project:too_many_events, 10:session:project:too_many_events"},
		{"seconds round up", []limitedCategory{deny(envelope.CategoryError, "key", 1500*time.Millisecond)}, "2:error:key:too_many_events"},
		{"at least a second", []limitedCategory{deny(envelope.CategoryError, "key", 0)}, "1:error:key:too_many_events"},
		{"a spike cap", []limitedCategory{spiked(42 * time.Second)}, "42:error:project:spike_protection"},
		{"a spike cap beside a quota of the same scope and time", []limitedCategory{
			spiked(time.Minute), deny(envelope.CategorySession, "project", time.Minute)},
			"60:error:project:spike_protection, 60:session:project:too_many_events"},
	}
	for _, tt := range tests {
		if got := rateLimitsHeader(tt.in); got != tt.want {
			t.Errorf("%s: rateLimitsHeader = %q, want %q", tt.name, got, tt.want)
		}
	}
}
