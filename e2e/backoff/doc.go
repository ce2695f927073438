// Package backoff shows that real SDKs back off when faultline rate-limits
// them: over a per-project quota the gateway answers 429 with Retry-After and
// X-Sentry-Rate-Limits, and sentry-go and @sentry/node stop sending.
package backoff
