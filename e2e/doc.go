// Package e2e holds Faultline's end-to-end tests: they build and run the
// faultline binary and drive it with real Sentry SDKs, sentry-cli and a
// browser. It is a module of its own so the SDKs stay out of the main module.
//
//	harness     runs faultline serve (fresh database, temporary data directory,
//	            free ports), creates projects with the CLI, reads INGEST back
//	sentrygo    the sentry-go SDK: errors, messages, transactions, logs,
//	            attachments, check-ins, client reports
//	sentrynode  @sentry/node (scripts in node/, pinned by package-lock.json,
//	            installed by scripts/deps.sh): the same, plus streamed spans
//	            and sessions
//	backoff     both SDKs stop sending after a 429 with X-Sentry-Rate-Limits
//	alerting    an issue-alert rule and the webhooks plugin set through the REST
//	            API; an error from sentry-go reaches a real webhook receiver once
//	recovery    kill -9 mid-load and a restart: every event answered 200 is
//	            stored exactly once within 30 s (NATS in the test process)
//	scrubbing   a project's scrubbing settings, set through the project API,
//	            are what the gateway scrubs stored events with
//	terraform   go-sentry, the Terraform provider's client, through every
//	            resource Faultline serves: each write read back, and a second
//	            identical write changing nothing
//
// `make test-e2e` builds bin/faultline and passes it as FAULTLINE_BIN; plain
// `go test ./...` here builds the binary itself, once per test binary.
package e2e
