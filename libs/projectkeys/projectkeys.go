// Package projectkeys owns the record that tells the gateway which DSN keys
// exist, which project each belongs to, and its limits. The api service writes
// records into the KV bucket streams.KeysBucket; gateways keep a watched copy
// in memory, so ingestion needs no Postgres.
package projectkeys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/inboundfilter"
	"github.com/faultline/faultline/libs/scrub"
)

// Key is one DSN key as the gateway sees it.
type Key struct {
	PublicKey string `json:"public_key"`
	ProjectID int64  `json:"project_id"`
	Disabled  bool   `json:"disabled,omitempty"`
	// RateLimitPerMinute and RateLimitPerHour tighten the operator's
	// per-project limits for events sent with this key; 0 means none.
	RateLimitPerMinute int64 `json:"rate_limit_per_minute,omitempty"`
	RateLimitPerHour   int64 `json:"rate_limit_per_hour,omitempty"`
	// RateLimit is Sentry's key rate limit, over any window from a minute
	// to a day; nil means none.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// AllowedOrigins are the browser origins allowed to send with this key;
	// empty or "*" allows all, as Sentry's default.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// Scrub are the project's data-scrubbing settings (Sentry's names);
	// nil means Sentry's defaults, scrub.Defaults.
	Scrub *scrub.Settings `json:"scrub,omitempty"`
	// Filters are the project's inbound data filters; nil filters nothing.
	Filters *inboundfilter.Settings `json:"filters,omitempty"`
	// Loader is what the key's JavaScript loader script loads; nil is
	// the latest SDK, errors only.
	Loader *Loader `json:"loader,omitempty"`
	// SpikeProtectionDisabled is the project option
	// quotas:spike-protection-disabled: its spikes are never capped.
	SpikeProtectionDisabled bool `json:"spike_protection_disabled,omitempty"`

	scrubber *scrub.Scrubber       // compiled from Scrub when the record is read
	filter   *inboundfilter.Filter // compiled from Filters when the record is read
}

// Filter is the key's project's compiled inbound filters, nil for none.
func (k *Key) Filter() *inboundfilter.Filter {
	if k.filter != nil || k.Filters.Empty() {
		return k.filter
	}
	f, err := inboundfilter.Compile(*k.Filters)
	if err != nil {
		return nil
	}
	return f
}

// Loader is a key's JavaScript loader settings (Sentry's
// browserSdkVersion and dynamicSdkLoaderOptions).
type Loader struct {
	SDKVersion  string `json:"sdk_version,omitempty"` // "latest", "10.x", …
	Performance bool   `json:"performance,omitempty"`
	Replay      bool   `json:"replay,omitempty"`
	Debug       bool   `json:"debug,omitempty"`
}

// RateLimit is at most Count events per Window seconds.
type RateLimit struct {
	Count  int64 `json:"count"`
	Window int64 `json:"window"`
}

// PerMinute is the most events per minute the key's own limits allow, 0
// when it has none.
func (k *Key) PerMinute() int64 {
	n := k.RateLimitPerMinute
	if l := k.RateLimit; l != nil && l.Valid() {
		n = max(n, (l.Count*60+l.Window-1)/l.Window)
	}
	return n
}

// Window bounds of a key's rate limit, as Sentry's: a minute to a day.
const (
	MinRateLimitWindow = 60
	MaxRateLimitWindow = 86400
)

// Valid reports whether l can be enforced.
func (l RateLimit) Valid() bool {
	return l.Count > 0 && l.Window >= MinRateLimitWindow && l.Window <= MaxRateLimitWindow
}

var defaultScrubber = scrub.New(scrub.Defaults)

// Scrubber is the key's project's compiled data scrubber.
func (k *Key) Scrubber() *scrub.Scrubber {
	switch {
	case k.scrubber != nil:
		return k.scrubber
	case k.Scrub != nil:
		return scrub.New(*k.Scrub)
	}
	return defaultScrubber
}

var publicKeyRE = regexp.MustCompile(`^[0-9a-zA-Z_-]{1,64}$`)

// ValidPublicKey reports whether s can be a public key (and a KV key).
func ValidPublicKey(s string) bool { return publicKeyRE.MatchString(s) }

// Put writes k to the bucket.
func Put(ctx context.Context, kv jetstream.KeyValue, k Key) error {
	if !ValidPublicKey(k.PublicKey) {
		return fmt.Errorf("put key: invalid public key %q", k.PublicKey)
	}
	b, err := json.Marshal(k)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, k.PublicKey, b); err != nil {
		return fmt.Errorf("put key %s: %w", k.PublicKey, err)
	}
	return nil
}

// Equal reports whether the stored record b says the same as k.
func Equal(b []byte, k Key) bool {
	want, err := json.Marshal(k)
	return err == nil && string(want) == string(b)
}

// Delete removes a key from the bucket.
func Delete(ctx context.Context, kv jetstream.KeyValue, publicKey string) error {
	if err := kv.Delete(ctx, publicKey); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete key %s: %w", publicKey, err)
	}
	return nil
}

// Cache is an in-memory copy of the bucket, kept current by a watch.
type Cache struct {
	keys      atomic.Pointer[map[string]*Key]
	mu        sync.Mutex // serialises writers of keys
	ready     chan struct{}
	readyOnce sync.Once
	log       *slog.Logger
}

// NewCache returns an empty cache; Run fills it.
func NewCache(log *slog.Logger) *Cache {
	c := &Cache{ready: make(chan struct{}), log: log}
	m := map[string]*Key{}
	c.keys.Store(&m)
	return c
}

// Lookup returns the key with the given public key, or nil.
func (c *Cache) Lookup(publicKey string) *Key { return (*c.keys.Load())[publicKey] }

// Ready is closed once the cache holds the whole bucket.
func (c *Cache) Ready() <-chan struct{} { return c.ready }

// Len is the number of keys held.
func (c *Cache) Len() int { return len(*c.keys.Load()) }

// Run watches the bucket until ctx ends, applying every change. It restarts
// the watch when it breaks.
func (c *Cache) Run(ctx context.Context, kv jetstream.KeyValue) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	defer w.Stop()
	initial := map[string]*Key{} // filled without copying until the bucket has been read whole
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("key watch closed")
			}
			switch {
			case e == nil: // initial values delivered
				if initial != nil {
					loaded := initial // a copy: &initial would see the nil stored next
					c.keys.Store(&loaded)
					initial = nil
					c.readyOnce.Do(func() { close(c.ready) })
				}
			case initial != nil:
				c.applyTo(initial, e)
			default:
				c.mu.Lock()
				old := *c.keys.Load()
				next := make(map[string]*Key, len(old)+1)
				for k, v := range old {
					next[k] = v
				}
				c.applyTo(next, e)
				c.keys.Store(&next)
				c.mu.Unlock()
			}
		}
	}
}

func (c *Cache) applyTo(next map[string]*Key, e jetstream.KeyValueEntry) {
	switch e.Operation() {
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
		delete(next, e.Key())
	default:
		var k Key
		if err := json.Unmarshal(e.Value(), &k); err != nil || k.PublicKey != e.Key() {
			c.log.Error("ignoring malformed key record", slog.String("key", e.Key()), slog.Any("error", err))
			return
		}
		if k.Scrub != nil {
			k.scrubber = scrub.New(*k.Scrub)
		}
		if !k.Filters.Empty() {
			f, err := inboundfilter.Compile(*k.Filters)
			if err != nil {
				c.log.Error("key record's filters do not compile; filtering nothing", slog.String("key", e.Key()), slog.Any("error", err))
			}
			k.filter = f
		}
		next[e.Key()] = &k
	}
}

// DSN builds the DSN SDKs are configured with:
// scheme://public_key@host[:port][/path]/project_id.
func DSN(publicURL, publicKey string, projectID int64) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	u.User = url.User(publicKey)
	u.Path = strings.TrimRight(u.Path, "/") + "/" + strconv.FormatInt(projectID, 10)
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}
