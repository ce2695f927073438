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

// TestApplyTurnsOffIngestCompression: an INGEST stream made by an earlier
// release, with the stream's own S2 compression, keeps its messages and
// stops compressing new blocks (its bodies are S2-compressed already).
func TestApplyTurnsOffIngestCompression(t *testing.T) {
	srv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc := srv.Connect(t)
	o := streams.IngestOptions{MaxAge: time.Hour, DuplicateWindow: time.Minute}
	old := streams.IngestConfig(o)
	old.Compression = jetstream.S2Compression
	if _, err := nc.JS.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.JS.Publish(ctx, streams.IngestSubject(1, "error"), []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := streams.Apply(ctx, nc.JS, o); err != nil {
		t.Fatalf("Apply over a compressed INGEST: %v", err)
	}
	s, err := nc.JS.Stream(ctx, streams.Ingest)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Compression != jetstream.NoCompression || info.State.Msgs != 1 {
		t.Errorf("INGEST after Apply: compression %v, %d messages", info.Config.Compression, info.State.Msgs)
	}
}

// TestChunksExpireAfterADay: the object store of uploaded chunks, as the
// server holds it, drops what is not assembled after ChunkTTL, and a stream
// consumer of SOURCEMAPS sees delete commands as well as assemble ones.
func TestChunksExpireAfterADay(t *testing.T) {
	srv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc := srv.Connect(t)
	if err := streams.Apply(ctx, nc.JS, streams.IngestOptions{MaxAge: time.Hour, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	chunks, err := nc.JS.ObjectStore(ctx, streams.ChunksBucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := chunks.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 24*time.Hour || streams.ChunkTTL != 24*time.Hour {
		t.Errorf("chunks are kept %s, want a day", st.TTL())
	}
	artifacts, err := nc.JS.ObjectStore(ctx, streams.ArtifactsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := artifacts.Status(ctx); err != nil {
		t.Error(err)
	} else if st.TTL() != 0 {
		t.Errorf("artifacts expire after %v: they should go only when deleted", st.TTL())
	}
	s, err := nc.JS.Stream(ctx, streams.Sourcemaps)
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{streams.AssembleSubject(3), streams.DeleteSubject(3)} {
		if _, err := nc.JS.Publish(ctx, subj, []byte("{}")); err != nil {
			t.Errorf("publish on %s: %v", subj, err)
		}
	}
	if info, err := s.Info(ctx); err != nil {
		t.Error(err)
	} else if info.State.Msgs != 2 {
		t.Errorf("SOURCEMAPS holds %d messages, want 2", info.State.Msgs)
	}
}
