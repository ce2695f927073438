// Package sentrygo drives a running faultline serve with the real sentry-go
// SDK and checks what the gateway stored in the INGEST stream.
package sentrygo
