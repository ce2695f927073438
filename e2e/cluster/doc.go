// Package cluster shows that faultline scales out and survives the loss of a
// NATS node: two gateways, three grouping replicas, two each of alerting,
// analytics (on a real ClickHouse) and sourcemaps, and an api run as
// separate processes over a three-node JetStream cluster with
// INGEST_REPLICAS=3; the INGEST stream's leader is stopped mid-load and
// restarted, and every event a gateway answered 200 is stored exactly once,
// every new issue is notified exactly once, and ClickHouse holds every
// stored event once.
package cluster
