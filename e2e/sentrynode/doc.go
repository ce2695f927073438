// Package sentrynode drives a running faultline serve with the real
// @sentry/node SDK (scripts in e2e/node, run with node) and checks what the
// gateway stored in the INGEST stream.
package sentrynode
