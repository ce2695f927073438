package config_test

import (
	"testing"

	"github.com/faultline/faultline/libs/config"
)

// TestSecureCookiesWithHTTPSPublicURL: an https PUBLIC_URL makes cookies
// Secure (and HSTS sent) without SSL_PROXY.
func TestSecureCookiesWithHTTPSPublicURL(t *testing.T) {
	tests := []struct {
		env           map[string]string
		https, cookie bool
	}{
		{map[string]string{}, false, false},
		{map[string]string{"PUBLIC_URL": "https://errors.example.com"}, true, true},
		{map[string]string{"PUBLIC_URL": "HTTPS://errors.example.com"}, true, true},
		{map[string]string{"PUBLIC_URL": "http://errors.example.com"}, false, false},
		{map[string]string{"PUBLIC_URL": "http://errors.example.com", "SSL_PROXY": "true",
			"SESSION_SECRET_KEY": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, false, true},
	}
	for _, tt := range tests {
		c, err := config.Load(env(tt.env))
		if err != nil {
			t.Fatal(err)
		}
		if c.HTTPS() != tt.https || c.SecureCookies() != tt.cookie {
			t.Errorf("%v: HTTPS %v, SecureCookies %v; want %v, %v", tt.env, c.HTTPS(), c.SecureCookies(), tt.https, tt.cookie)
		}
	}
}
