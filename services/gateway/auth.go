package gateway

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/faultline/faultline/libs/envelope"
)

// keyFromRequest returns the public key the request names in X-Sentry-Auth
// (or Authorization with the Sentry scheme) or the sentry_key query
// parameter. Two different keys are refused.
func keyFromRequest(r *http.Request) (string, error) {
	var keys []string
	for _, h := range []string{"X-Sentry-Auth", "Authorization"} {
		v := r.Header.Get(h)
		if k := authHeaderKey(v); k != "" {
			keys = append(keys, k)
		}
	}
	if r.URL.RawQuery != "" {
		if k := r.URL.Query().Get("sentry_key"); k != "" {
			keys = append(keys, k)
		}
	}
	return oneKey(keys...)
}

func oneKey(keys ...string) (string, error) {
	key := ""
	for _, k := range keys {
		if k == "" {
			continue
		}
		if key != "" && k != key {
			return "", &envelope.Error{Status: http.StatusUnauthorized, Reason: "conflicting_keys",
				Detail: "the request names more than one DSN key"}
		}
		key = k
	}
	return key, nil
}

// authHeaderKey parses "Sentry sentry_key=abc, sentry_version=7, ..." and
// returns sentry_key.
func authHeaderKey(v string) string {
	v = strings.TrimSpace(v)
	if len(v) < 7 || !strings.EqualFold(v[:7], "sentry ") {
		return ""
	}
	for _, part := range strings.Split(v[7:], ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.TrimSpace(name) == "sentry_key" {
			return strings.Trim(strings.TrimSpace(value), `"`)
		}
	}
	return ""
}

// dsnKey returns the public key of a DSN, or "" when it has none.
func dsnKey(dsn string) string {
	if dsn == "" {
		return ""
	}
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return ""
	}
	return u.User.Username()
}
