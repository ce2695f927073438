package projectkeys_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/streams"
)

// TestCacheLoadsExistingKeys: keys already in the bucket when the cache
// starts (a gateway restart) are known once it is ready, and a later change
// keeps them.
func TestCacheLoadsExistingKeys(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nc := natstest.Start(t).Connect(t)
	kv, err := nc.JS.CreateKeyValue(ctx, streams.KeysConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []projectkeys.Key{{PublicKey: "aaaa", ProjectID: 1}, {PublicKey: "bbbb", ProjectID: 2}} {
		if err := projectkeys.Put(ctx, kv, k); err != nil {
			t.Fatal(err)
		}
	}
	c := projectkeys.NewCache(slog.New(slog.DiscardHandler))
	go c.Run(ctx, kv)
	<-c.Ready()
	for _, tc := range []struct {
		key     string
		project int64
	}{{"aaaa", 1}, {"bbbb", 2}} {
		t.Run(tc.key, func(t *testing.T) {
			k := c.Lookup(tc.key)
			if k == nil || k.ProjectID != tc.project {
				t.Fatalf("Lookup(%q) = %+v, want project %d", tc.key, k, tc.project)
			}
		})
	}
	if got := c.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
}
