// Package recovery shows that faultline recovers fast and loses nothing when
// it is killed: after a kill -9 in the middle of a load and a restart, every
// event the gateway answered 200 is stored exactly once, within 30 seconds of
// the restart.
package recovery
