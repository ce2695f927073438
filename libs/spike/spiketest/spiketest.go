// Package spiketest helps tests of what reads spike protection's records
// (the API, the dashboard): a configuration whose current minute does not
// end during a test, and a gateway's record put in the bucket.
package spiketest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/spike"
)

// Days is a configuration (a window of 5, 10 ×, a floor of 20) whose counted
// minutes are days, so that the current one does not end during a test,
// and the current minute; near a day's end it first waits for the next.
func Days() (spike.Config, int64) {
	cfg := spike.Config{Enabled: true, Window: 5, Multiplier: 10, Floor: 20, Minute: 24 * time.Hour}
	if end := time.Now().Truncate(cfg.Minute).Add(cfg.Minute); time.Until(end) < 10*time.Second {
		time.Sleep(time.Until(end) + 10*time.Millisecond)
	}
	return cfg, cfg.MinuteOf(time.Now())
}

// Put writes rec as gateway instance's record of project into kv.
func Put(t testing.TB, kv jetstream.KeyValue, project int64, instance string, rec spike.Record) {
	t.Helper()
	val, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), spike.RecordKey(project, instance), val); err != nil {
		t.Fatal(err)
	}
}
