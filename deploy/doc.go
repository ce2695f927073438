// Package deploy holds Faultline's deployment files (compose, Dockerfile,
// Helm chart, Grafana dashboard) and the tests that validate them. It is a
// module of its own so that the main module does not carry the parsers'
// dependencies.
package deploy
