package projectkeys_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/streams"
)

func TestCacheFollowsBucket(t *testing.T) {
	nc := natstest.Start(t).Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kv, err := nc.JS.CreateOrUpdateKeyValue(ctx, streams.KeysConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	a := projectkeys.Key{PublicKey: "aaaa", ProjectID: 1, AllowedOrigins: []string{"*"}}
	b := projectkeys.Key{PublicKey: "bbbb", ProjectID: 2, RateLimitPerHour: 5}
	gone := projectkeys.Key{PublicKey: "gone", ProjectID: 3}
	for _, k := range []projectkeys.Key{a, b, gone} {
		if err := projectkeys.Put(ctx, kv, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := projectkeys.Delete(ctx, kv, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := projectkeys.Delete(ctx, kv, "never-existed"); err != nil {
		t.Errorf("deleting a missing key: %v", err)
	}
	// A record that is not a key is skipped, not fatal.
	if _, err := kv.Put(ctx, "junk", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if err := projectkeys.Put(ctx, kv, projectkeys.Key{PublicKey: "bad key!"}); err == nil {
		t.Error("Put accepted an invalid public key")
	}

	c := projectkeys.NewCache(slog.New(slog.DiscardHandler))
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx, kv) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-c.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("cache not ready")
	}
	// Ready means the whole bucket is known, at once.
	if k := c.Lookup("aaaa"); k == nil || k.ProjectID != 1 {
		t.Errorf("Lookup(aaaa) = %+v right after Ready", k)
	}
	if k := c.Lookup("bbbb"); k == nil || k.RateLimitPerHour != 5 {
		t.Errorf("Lookup(bbbb) = %+v", k)
	}
	if c.Lookup("gone") != nil || c.Lookup("junk") != nil || c.Len() != 2 {
		t.Errorf("cache holds %d keys, gone=%v junk=%v; want 2", c.Len(), c.Lookup("gone"), c.Lookup("junk"))
	}

	b.Disabled = true
	if err := projectkeys.Put(ctx, kv, b); err != nil {
		t.Fatal(err)
	}
	if err := projectkeys.Delete(ctx, kv, "aaaa"); err != nil {
		t.Fatal(err)
	}
	if err := projectkeys.Put(ctx, kv, projectkeys.Key{PublicKey: "cccc", ProjectID: 4}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		k := c.Lookup("bbbb")
		if k != nil && k.Disabled && c.Lookup("aaaa") == nil && c.Lookup("cccc") != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("changes not applied: bbbb=%+v aaaa=%+v cccc=%+v", k, c.Lookup("aaaa"), c.Lookup("cccc"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEqual(t *testing.T) {
	k := projectkeys.Key{PublicKey: "abc", ProjectID: 9, Disabled: true}
	b := []byte(`{"public_key":"abc","project_id":9,"disabled":true}`)
	if !projectkeys.Equal(b, k) {
		t.Error("Equal: the record of k is not equal to k")
	}
	k.Disabled = false
	if projectkeys.Equal(b, k) {
		t.Error("Equal: a changed key is equal to its old record")
	}
}
