package cli

import "net/http"

// hsts tells browsers to reach Faultline over HTTPS only, for a year; it is
// used when PUBLIC_URL is https.
func hsts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		next.ServeHTTP(w, r)
	})
}
