// Package cluster shows that faultline scales out and survives the loss of a
// NATS node: two gateways, three grouping replicas and an api run as separate
// processes over a three-node JetStream cluster with INGEST_REPLICAS=3; the
// INGEST stream's leader is stopped mid-load and restarted, and every event a
// gateway answered 200 is stored exactly once.
package cluster
