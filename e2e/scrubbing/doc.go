// Package scrubbing shows that a project's data-scrubbing settings, changed
// through the project API with Sentry's names, reach the gateway, which
// scrubs events with them before anything is stored.
package scrubbing
