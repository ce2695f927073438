package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/libs/scrub"
	"github.com/faultline/faultline/streams"
)

// TestProjectScrubbingSettings: a project's data-scrubbing settings are
// Sentry's defaults until an admin changes them through the project API,
// field by field, with Sentry's names; members may read and not change
// them; bad lists are refused; and every change reaches the gateway's key
// record, whose scrubber then applies it.
func TestProjectScrubbingSettings(t *testing.T) {
	e := newRestEnv(t)
	f := e.fixture()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv, err := e.nc.JS.CreateKeyValue(ctx, streams.KeysConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	ks := accounts.NewKeySync(e.store, kv, slog.New(slog.DiscardHandler))
	ks.Interval = time.Hour // only NOTIFY may deliver changes in this test
	done := make(chan struct{})
	go func() { ks.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	const path = "/api/0/projects/acme/web/"
	settings := func(c *client) map[string]any {
		t.Helper()
		res := c.do("GET", path, nil)
		if res.status != 200 {
			t.Fatalf("GET: %d %s", res.status, res.body)
		}
		obj := res.obj(t)
		out := map[string]any{}
		for _, k := range []string{"dataScrubber", "dataScrubberDefaults", "sensitiveFields", "safeFields", "scrubIPAddresses"} {
			out[k] = obj[k]
		}
		return out
	}
	member, admin := e.session(f.users["member"]), e.session(f.users["admin"])
	want := map[string]any{"dataScrubber": true, "dataScrubberDefaults": true,
		"sensitiveFields": []any{}, "safeFields": []any{}, "scrubIPAddresses": false}
	if got := settings(member); !reflect.DeepEqual(got, want) {
		t.Errorf("a new project's settings: %v, want Sentry's defaults %v", got, want)
	}

	if res := member.do("PUT", path, map[string]any{"sensitiveFields": []string{}}); res.status != 403 {
		t.Errorf("a member changed the scrubbing settings: %d %s", res.status, res.body)
	}
	for _, bad := range []map[string]any{
		{"dataScrubber": "no"},
		{"sensitiveFields": "order_secret"},
		{"sensitiveFields": make([]string, 201)},
		{"safeFields": []string{strings.Repeat("x", 256)}},
		{"sensitiveFields": []string{"two\nlines"}},
	} {
		if res := admin.do("PUT", path, bad); res.status != 400 {
			t.Errorf("PUT %v: %d %s, want 400", bad, res.status, res.body)
		}
	}
	if got := settings(member); !reflect.DeepEqual(got, want) {
		t.Errorf("refused changes changed the settings: %v", got)
	}

	res := admin.do("PUT", path, map[string]any{"dataScrubberDefaults": false,
		"sensitiveFields": []string{" order_secret ", "", "card_ref"}, "safeFields": []string{"session_id"}})
	if res.status != 200 {
		t.Fatalf("PUT: %d %s", res.status, res.body)
	}
	want = map[string]any{"dataScrubber": true, "dataScrubberDefaults": false,
		"sensitiveFields": []any{"order_secret", "card_ref"}, "safeFields": []any{"session_id"}, "scrubIPAddresses": false}
	if got := settings(member); !reflect.DeepEqual(got, want) {
		t.Errorf("after PUT: %v, want %v", got, want)
	}
	// One field changes alone; the others stay.
	if res := admin.do("PUT", path, map[string]any{"scrubIPAddresses": true}); res.status != 200 {
		t.Fatalf("PUT: %d %s", res.status, res.body)
	}
	want["scrubIPAddresses"] = true
	if got := settings(member); !reflect.DeepEqual(got, want) {
		t.Errorf("after changing scrubIPAddresses: %v, want %v", got, want)
	}

	// The gateway's record carries the settings; its scrubber filters the
	// project's field and, with the defaults off, keeps a password.
	wantSettings := scrub.Settings{DataScrubber: true, SensitiveFields: []string{"order_secret", "card_ref"},
		SafeFields: []string{"session_id"}, ScrubIPAddresses: true}
	k := waitKey(t, kv, f.key.PublicKey, func(k *projectkeys.Key) bool {
		return k.Scrub != nil && reflect.DeepEqual(*k.Scrub, wantSettings)
	})
	out, changed, err := k.Scrubber().Scrub([]byte(`{"extra":{"order_secret":"s3cr3t-value","password":"hunter2-value"}}`))
	if err != nil || !changed {
		t.Fatalf("scrub: changed %v, %v", changed, err)
	}
	if s := string(out); strings.Contains(s, "s3cr3t-value") || !strings.Contains(s, "hunter2-value") {
		t.Errorf("scrubbed with the project's settings: %s", s)
	}

	// Scrubbing off reaches the gateway too.
	if res := admin.do("PUT", path, map[string]any{"dataScrubber": false, "scrubIPAddresses": false}); res.status != 200 {
		t.Fatalf("PUT: %d %s", res.status, res.body)
	}
	k = waitKey(t, kv, f.key.PublicKey, func(k *projectkeys.Key) bool { return k.Scrub != nil && !k.Scrub.DataScrubber })
	if !k.Scrubber().Off() {
		t.Errorf("scrubbing off, the gateway's scrubber is on: %+v", *k.Scrub)
	}
}

// waitKey polls the key bucket until the key's record satisfies cond (at
// most 30 s) and returns it.
func waitKey(t *testing.T, kv jetstream.KeyValue, public string, cond func(*projectkeys.Key) bool) *projectkeys.Key {
	t.Helper()
	var k *projectkeys.Key
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ent, err := kv.Get(context.Background(), public)
		if err != nil {
			continue
		}
		k = &projectkeys.Key{}
		if err := json.Unmarshal(ent.Value(), k); err != nil {
			t.Fatal(err)
		}
		if cond(k) {
			return k
		}
	}
	t.Fatalf("key %s: the bucket has %+v", public, k)
	return nil
}
