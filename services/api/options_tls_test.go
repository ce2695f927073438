package api

import (
	"testing"

	"github.com/faultline/faultline/libs/config"
)

// TestCookiesSecureWithHTTPSPublicURL: the API's (and the dashboard's,
// which shares these options) cookies are Secure when PUBLIC_URL is https,
// with or without SSL_PROXY.
func TestCookiesSecureWithHTTPSPublicURL(t *testing.T) {
	if !OptionsFrom(config.Config{PublicURL: "https://errors.example.com"}).SSLProxy {
		t.Error("cookies not Secure with an https PUBLIC_URL")
	}
	if OptionsFrom(config.Config{PublicURL: "http://localhost:8080"}).SSLProxy {
		t.Error("cookies Secure on plain http")
	}
}
