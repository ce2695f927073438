package streams_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/streams"
)

func TestApplyIsIdempotentAndConcurrent(t *testing.T) {
	srv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o := streams.IngestOptions{MaxAge: 24 * time.Hour, MaxBytes: 1 << 30, DuplicateWindow: 2 * time.Minute}
	var wg sync.WaitGroup
	for range 3 {
		nc := srv.Connect(t)
		wg.Go(func() {
			if err := streams.Apply(ctx, nc.JS, o); err != nil {
				t.Errorf("concurrent Apply: %v", err)
			}
		})
	}
	wg.Wait()
	nc := srv.Connect(t)
	// Applying again with new sizes updates the stream in place.
	o.MaxAge = 48 * time.Hour
	if err := streams.Wait(ctx, nc.JS, o); err != nil {
		t.Fatal(err)
	}
	s, err := nc.JS.Stream(ctx, streams.Ingest)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if cfg.MaxAge != 48*time.Hour || cfg.MaxBytes != 1<<30 || cfg.Duplicates != 2*time.Minute ||
		cfg.Storage != jetstream.FileStorage || len(cfg.Subjects) != 1 || cfg.Subjects[0] != "ingest.>" {
		t.Errorf("INGEST config %+v", cfg)
	}
	for _, b := range []string{streams.KeysBucket, streams.LimitsBucket} {
		if _, err := nc.JS.KeyValue(ctx, b); err != nil {
			t.Errorf("bucket %s: %v", b, err)
		}
	}
	if _, err := nc.JS.ObjectStore(ctx, streams.BlobsBucket); err != nil {
		t.Errorf("object store: %v", err)
	}
	if got := streams.IngestSubject(12, "error"); got != "ingest.12.error" {
		t.Errorf("IngestSubject = %q", got)
	}
}
