package accounts_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/libs/projectkeys"
	"github.com/faultline/faultline/streams"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// keysBucket starts a JetStream server and returns its keys bucket.
func keysBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	nc := natstest.Start(t).Connect(t)
	kv, err := nc.JS.CreateOrUpdateKeyValue(testContext(t), streams.KeysConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// record is the bucket's record of publicKey, or nil when it has none.
func record(t *testing.T, kv jetstream.KeyValue, publicKey string) *projectkeys.Key {
	t.Helper()
	e, err := kv.Get(testContext(t), publicKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var k projectkeys.Key
	if err := json.Unmarshal(e.Value(), &k); err != nil {
		t.Fatalf("record %s: %v", publicKey, err)
	}
	return &k
}

// eventually polls cond until it holds or 10 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var dsnRE = regexp.MustCompile(`^http://([0-9a-f]{32})@faultline\.example:9000/(\d+)$`)

func TestCreateProject(t *testing.T) {
	db := pgtest.NewT(t, accounts.Migrations)
	store := accounts.NewStore(db.Pool, "http://faultline.example:9000/")
	ctx := testContext(t)

	p, err := store.CreateProject(ctx, "Acme Corp", "Web Shop")
	if err != nil {
		t.Fatal(err)
	}
	if p.OrgSlug != "acme-corp" || p.Slug != "web-shop" || p.Name != "Web Shop" || p.ID <= 0 {
		t.Errorf("project %+v", p)
	}
	if len(p.Keys) != 1 {
		t.Fatalf("%d keys, want 1", len(p.Keys))
	}
	k := p.Keys[0]
	m := dsnRE.FindStringSubmatch(k.DSN)
	if m == nil || m[1] != k.PublicKey || m[2] != itoa(p.ID) {
		t.Errorf("DSN %q, want http://<public key>@faultline.example:9000/<project id>", k.DSN)
	}
	if !projectkeys.ValidPublicKey(k.PublicKey) || k.Disabled || k.Label == "" {
		t.Errorf("key %+v", k)
	}

	// Again, with another spelling of the same names: the same project and key.
	again, err := store.CreateProject(ctx, "acme-corp", "web shop")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != p.ID || len(again.Keys) != 1 || again.Keys[0].PublicKey != k.PublicKey {
		t.Errorf("second create gave %+v, want project %d with key %s", again, p.ID, k.PublicKey)
	}
	// Concurrent creates of one new project make one project with one key.
	var wg sync.WaitGroup
	ids := make([]int64, 4)
	for i := range ids {
		wg.Go(func() {
			p, err := store.CreateProject(ctx, "acme-corp", "Mobile")
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = p.ID
		})
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Errorf("concurrent creates gave projects %v", ids)
		}
	}
	// Another organisation may use the same project name.
	other, err := store.CreateProject(ctx, "Globex", "Web Shop")
	if err != nil {
		t.Fatal(err)
	}
	if other.ID == p.ID || other.OrgSlug != "globex" {
		t.Errorf("project of another organisation: %+v", other)
	}

	ps, err := store.Projects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.OrgSlug+"/"+p.Slug)
		if len(p.Keys) != 1 {
			t.Errorf("%s/%s has %d keys", p.OrgSlug, p.Slug, len(p.Keys))
		}
	}
	if want := []string{"acme-corp/mobile", "acme-corp/web-shop", "globex/web-shop"}; !equal(names, want) {
		t.Errorf("projects %v, want %v", names, want)
	}

	for _, bad := range [][2]string{{"", "x"}, {"acme", "!!!"}, {"   ", "   "}} {
		if _, err := store.CreateProject(ctx, bad[0], bad[1]); !errors.Is(err, accounts.ErrInvalid) {
			t.Errorf("CreateProject(%q, %q): %v, want ErrInvalid", bad[0], bad[1], err)
		}
	}
}

func TestKeySyncPropagatesChanges(t *testing.T) {
	db := pgtest.NewT(t, accounts.Migrations)
	kv := keysBucket(t)
	ctx := testContext(t)

	// A project that exists before the sync starts is pushed by the first
	// reconcile.
	syncStore := accounts.NewStore(db.Pool, "http://localhost:8080")
	early, err := syncStore.CreateProject(ctx, "acme", "early")
	if err != nil {
		t.Fatal(err)
	}
	ks := accounts.NewKeySync(syncStore, kv, slog.New(slog.DiscardHandler))
	ks.Interval = time.Hour // only NOTIFY can bring later changes in time
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ks.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return 10s after its context ended")
		}
	})
	earlyKey := early.Keys[0].PublicKey
	eventually(t, "existing key in bucket", func() bool { return record(t, kv, earlyKey) != nil })

	// Changes made by another process (its own pool and store).
	otherPool, err := pg.Open(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(otherPool.Close)
	other := accounts.NewStore(otherPool, "http://localhost:8080")
	p, err := other.CreateProject(ctx, "acme", "late")
	if err != nil {
		t.Fatal(err)
	}
	key := p.Keys[0].PublicKey
	eventually(t, "new key in bucket", func() bool {
		r := record(t, kv, key)
		return r != nil && r.ProjectID == p.ID && !r.Disabled
	})
	if r := record(t, kv, key); len(r.AllowedOrigins) != 1 || r.AllowedOrigins[0] != "*" {
		t.Errorf("allowed origins %v, want [*]", r.AllowedOrigins)
	}

	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := otherPool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE api.project_keys SET disabled = true WHERE public_key = $1`, key)
	eventually(t, "disabled key", func() bool { r := record(t, kv, key); return r != nil && r.Disabled })

	exec(`UPDATE api.project_keys SET rate_limit_per_minute = 10, rate_limit_per_hour = 100 WHERE public_key = $1`, key)
	eventually(t, "key limits", func() bool {
		r := record(t, kv, key)
		return r != nil && r.RateLimitPerMinute == 10 && r.RateLimitPerHour == 100
	})

	if r := record(t, kv, key); r.Loader != nil {
		t.Errorf("loader %+v, want none for the latest SDK with errors only", r.Loader)
	}
	exec(`UPDATE api.project_keys SET browser_sdk_version = '8.x', loader_options = '{"hasPerformance":true,"hasDebug":true}' WHERE public_key = $1`, key)
	eventually(t, "loader settings", func() bool {
		r := record(t, kv, key)
		return r != nil && r.Loader != nil && *r.Loader == projectkeys.Loader{SDKVersion: "8.x", Performance: true, Debug: true}
	})

	exec(`UPDATE api.projects SET allowed_origins = '{https://app.example.com}' WHERE id = $1`, p.ID)
	eventually(t, "allowed origins", func() bool {
		r := record(t, kv, key)
		return r != nil && len(r.AllowedOrigins) == 1 && r.AllowedOrigins[0] == "https://app.example.com"
	})

	// The spike-protection switch (a project option) reaches the gateway.
	if r := record(t, kv, key); r.SpikeProtectionDisabled {
		t.Error("spike protection off in a new project's key record")
	}
	org, _, err := other.OrgRole(ctx, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := other.OrgProject(ctx, org.ID, "late")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.UpdateProject(ctx, pr, accounts.ProjectUpdate{Settings: accounts.SettingsUpdate{
		Options: map[string]any{accounts.OptionSpikeProtectionDisabled: true}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "spike protection off", func() bool { r := record(t, kv, key); return r != nil && r.SpikeProtectionDisabled })

	exec(`DELETE FROM api.project_keys WHERE public_key = $1`, earlyKey)
	eventually(t, "deleted key gone", func() bool { return record(t, kv, earlyKey) == nil })

	exec(`DELETE FROM api.projects WHERE id = $1`, p.ID)
	eventually(t, "deleted project's key gone", func() bool { return record(t, kv, key) == nil })
}

func TestReconcile(t *testing.T) {
	db := pgtest.NewT(t, accounts.Migrations)
	kv := keysBucket(t)
	ctx := testContext(t)
	store := accounts.NewStore(db.Pool, "http://localhost:8080")
	p, err := store.CreateProject(ctx, "acme", "web")
	if err != nil {
		t.Fatal(err)
	}
	key := p.Keys[0].PublicKey
	stray := "5742a700000000000000000000000000"
	if err := projectkeys.Put(ctx, kv, projectkeys.Key{PublicKey: stray, ProjectID: 999}); err != nil {
		t.Fatal(err)
	}
	// A record that says something else than Postgres is rewritten.
	if err := projectkeys.Put(ctx, kv, projectkeys.Key{PublicKey: key, ProjectID: p.ID, Disabled: true}); err != nil {
		t.Fatal(err)
	}

	ks := accounts.NewKeySync(store, kv, slog.New(slog.DiscardHandler))
	for range 2 { // a second reconcile finds nothing to do
		if err := ks.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if record(t, kv, stray) != nil {
			t.Error("stray key still in bucket")
		}
		if r := record(t, kv, key); r == nil || r.Disabled || r.ProjectID != p.ID {
			t.Errorf("record %+v, want the enabled key of project %d", r, p.ID)
		}
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range lister.Keys() {
		names = append(names, k)
	}
	if len(names) != 1 || names[0] != key {
		t.Errorf("bucket holds %v, want [%s]", names, key)
	}
}

func TestDSN(t *testing.T) {
	tests := []struct {
		publicURL string
		want      string
	}{
		{"http://localhost:8080", "http://abc@localhost:8080/7"},
		{"http://localhost:8080/", "http://abc@localhost:8080/7"},
		{"https://errors.example.com", "https://abc@errors.example.com/7"},
		{"https://example.com/faultline/", "https://abc@example.com/faultline/7"},
		{"https://example.com/faultline?x=1#frag", "https://abc@example.com/faultline/7"},
		{"http://[::1]:9000", "http://abc@[::1]:9000/7"},
		{"http://user:pw@example.com", "http://abc@example.com/7"},
	}
	for _, tt := range tests {
		t.Run(tt.publicURL, func(t *testing.T) {
			got := accounts.DSN(tt.publicURL, "abc", 7)
			if got != tt.want {
				t.Errorf("DSN(%q) = %q, want %q", tt.publicURL, got, tt.want)
			}
			if u, err := url.Parse(got); err != nil || u.User.Username() != "abc" {
				t.Errorf("DSN %q does not parse back to its key: %v", got, err)
			}
		})
	}
}

func TestSlugify(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Web Shop", "web-shop"},
		{"  Acme, Inc.  ", "acme-inc"},
		{"already-a-slug", "already-a-slug"},
		{"snake_case_name", "snake_case_name"},
		{"--Leading and trailing--", "leading-and-trailing"},
		{"_under_", "under"},
		{"Ünïcödé Näme", "n-c-d-n-me"},
		{"日本語", ""},
		{"!!!", ""},
		{"", ""},
		{"a123456789012345678901234567890123456789012345678901234567890", "a1234567890123456789012345678901234567890123456789"},
		{"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvw-xyz", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvw"},
	}
	slugRE := regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,49}$`) // the database's check
	for _, tt := range tests {
		got := accounts.Slugify(tt.in)
		if got != tt.want {
			t.Errorf("Slugify(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got != "" && !slugRE.MatchString(got) {
			t.Errorf("Slugify(%q) = %q, which the database refuses", tt.in, got)
		}
	}
}

func FuzzSlugify(f *testing.F) {
	for _, s := range []string{"Web Shop", "_x_", "-a-", "日本語", "a_-_b"} {
		f.Add(s)
	}
	slugRE := regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,49}$`)
	f.Fuzz(func(t *testing.T, s string) {
		if got := accounts.Slugify(s); got != "" && !slugRE.MatchString(got) {
			t.Errorf("Slugify(%q) = %q, which the database refuses", s, got)
		}
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
