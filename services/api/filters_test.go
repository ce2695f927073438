package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/streams"
)

// TestInboundFilterSettings: the filters are listed and switched in
// Sentry's shapes, the lists are project options, bad values are refused,
// and what is set reaches the gateway's key bucket.
func TestInboundFilterSettings(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	ns := natstest.Start(t)
	nc := ns.Connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv, err := nc.JS.CreateKeyValue(ctx, streams.KeysConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	ks := accounts.NewKeySync(e.store, kv, slog.New(slog.DiscardHandler))
	ks.Interval = time.Hour // only NOTIFY may deliver changes in this test
	done := make(chan struct{})
	go func() { ks.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	c := e.session(f.users["member"])
	const filters = "/api/0/projects/acme/web/filters/"
	list := func() map[string]any {
		var got []struct {
			ID     string `json:"id"`
			Active any    `json:"active"`
		}
		c.do("GET", filters, nil).json(t, &got)
		m := map[string]any{}
		for _, f := range got {
			m[f.ID] = f.Active
		}
		return m
	}
	if got := list(); len(got) != 5 || got["localhost"] != false || got["legacy-browser"] != false {
		t.Fatalf("filters of a new project: %v", got)
	}
	for _, step := range []struct {
		id   string
		body map[string]any
		want int
	}{
		{"localhost", map[string]any{"active": true}, 204},
		{"web-crawlers", map[string]any{"active": true}, 204},
		{"legacy-browser", map[string]any{"subfilters": []string{"ie9", "netscape"}}, 400},
		{"legacy-browser", map[string]any{"subfilters": []string{"ie9", "safari_pre_6"}}, 204},
		{"no-such-filter", map[string]any{"active": true}, 404},
		{"localhost", map[string]any{"active": true, "extra": 1}, 400},
	} {
		if res := c.do("PUT", filters+step.id+"/", step.body); res.status != step.want {
			t.Errorf("PUT %s %v: %d %s, want %d", step.id, step.body, res.status, res.body, step.want)
		}
	}
	got := list()
	if got["localhost"] != true || got["web-crawlers"] != true || fmt.Sprint(got["legacy-browser"]) != "[ie9 safari_pre_6]" {
		t.Errorf("after the changes: %v", got)
	}
	admin := e.session(f.users["admin"])
	if res := admin.do("PUT", "/api/0/projects/acme/web/", map[string]any{"options": map[string]any{
		accounts.OptionBlacklistedIPs: "10.0.0.0/8\nnot an address"}}); res.status != 400 {
		t.Errorf("a bad address: %d %s", res.status, res.body)
	}
	if res := admin.do("PUT", "/api/0/projects/acme/web/", map[string]any{"options": map[string]any{
		accounts.OptionBlacklistedIPs: "10.0.0.0/8\n192.0.2.1", accounts.OptionReleases: "*-dev"}}); res.status != 200 {
		t.Fatalf("lists: %d %s", res.status, res.body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var k projectkeys.Key
		if ent, err := kv.Get(ctx, f.key.PublicKey); err == nil {
			json.Unmarshal(ent.Value(), &k)
		}
		fs := k.Filters
		if fs != nil && fs.Localhost && fs.WebCrawlers && slices.Equal(fs.LegacyBrowsers, []string{"ie9", "safari_pre_6"}) &&
			slices.Equal(fs.BlacklistedIPs, []string{"10.0.0.0/8", "192.0.2.1"}) && slices.Equal(fs.Releases, []string{"*-dev"}) &&
			k.Filter() != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway's record: %+v", fs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
