package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/projectkeys"
)

// KeySync keeps the gateway's key bucket equal to api.project_keys: a full
// reconcile at start and every interval, and each change as soon as Postgres
// announces it (NOTIFY faultline_keys), whichever process made it.
type KeySync struct {
	store    *Store
	kv       jetstream.KeyValue
	log      *slog.Logger
	Interval time.Duration
}

// NewKeySync returns a syncer writing to kv.
func NewKeySync(store *Store, kv jetstream.KeyValue, log *slog.Logger) *KeySync {
	return &KeySync{store: store, kv: kv, log: log, Interval: time.Minute}
}

// Run syncs until ctx ends. Postgres being down delays sync, never ingestion.
func (k *KeySync) Run(ctx context.Context) error {
	for {
		err := k.listen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		k.log.Warn("key sync interrupted; retrying", slog.Any("error", err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

func (k *KeySync) listen(ctx context.Context) error {
	conn, err := k.store.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN faultline_keys"); err != nil {
		return err
	}
	if err := k.Reconcile(ctx); err != nil {
		return err
	}
	next := time.Now().Add(k.Interval)
	for {
		wctx, cancel := context.WithDeadline(ctx, next)
		n, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if err := k.SyncKey(ctx, n.Payload); err != nil {
				return err
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			if err := k.Reconcile(ctx); err != nil {
				return err
			}
			next = time.Now().Add(k.Interval)
		default:
			return err
		}
	}
}

const keyRecordSQL = `
	SELECT k.public_key, k.project_id, k.disabled, k.rate_limit_per_minute, k.rate_limit_per_hour, k.rate_limit_count, k.rate_limit_window,
		p.allowed_origins, p.scrub,
		p.filters, p.settings->'options', k.browser_sdk_version, k.loader_options
	FROM api.project_keys k JOIN api.projects p ON p.id = k.project_id`

func scanKey(row pgx.Row) (projectkeys.Key, error) {
	var r projectkeys.Key
	var sc, filters, options, loader []byte
	var rl projectkeys.RateLimit
	var sdk string
	if err := row.Scan(&r.PublicKey, &r.ProjectID, &r.Disabled, &r.RateLimitPerMinute, &r.RateLimitPerHour, &rl.Count, &rl.Window,
		&r.AllowedOrigins, &sc, &filters, &options, &sdk, &loader); err != nil {
		return r, err
	}
	var lo LoaderOptions
	if err := json.Unmarshal(loader, &lo); err != nil {
		return r, fmt.Errorf("key %s: loader options: %w", r.PublicKey, err)
	}
	if sdk != "" && sdk != "latest" || lo != (LoaderOptions{}) {
		r.Loader = &projectkeys.Loader{SDKVersion: sdk, Performance: lo.HasPerformance, Replay: lo.HasReplay, Debug: lo.HasDebug}
	}
	if rl.Valid() {
		r.RateLimit = &rl
	}
	fs, err := filterSettings(filters, options)
	if err != nil {
		return r, fmt.Errorf("key %s: %w", r.PublicKey, err)
	}
	if r.SpikeProtectionDisabled, err = spikeProtectionDisabled(options); err != nil {
		return r, fmt.Errorf("key %s: %w", r.PublicKey, err)
	}
	if !fs.Empty() {
		r.Filters = &fs
	}
	// A project that never changed its settings has Sentry's defaults,
	// which the gateway applies to a record without any.
	if sc != nil {
		settings, err := scrubSettings(sc)
		if err != nil {
			return r, fmt.Errorf("key %s: %w", r.PublicKey, err)
		}
		r.Scrub = &settings
	}
	return r, nil
}

// SyncKey writes one key's current state to the bucket, or deletes it when
// the key no longer exists.
func (k *KeySync) SyncKey(ctx context.Context, publicKey string) error {
	r, err := scanKey(k.store.pool.QueryRow(ctx, keyRecordSQL+` WHERE k.public_key = $1`, publicKey))
	if errors.Is(err, pgx.ErrNoRows) {
		return projectkeys.Delete(ctx, k.kv, publicKey)
	}
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	return projectkeys.Put(ctx, k.kv, r)
}

// Reconcile makes the bucket hold exactly the keys in Postgres.
func (k *KeySync) Reconcile(ctx context.Context) error {
	rows, err := k.store.pool.Query(ctx, keyRecordSQL)
	if err != nil {
		return fmt.Errorf("read keys: %w", err)
	}
	want := map[string]projectkeys.Key{}
	for rows.Next() {
		r, err := scanKey(rows)
		if err != nil {
			rows.Close()
			return err
		}
		want[r.PublicKey] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	have, err := k.kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list bucket keys: %w", err)
	}
	for name := range have.Keys() {
		if _, ok := want[name]; !ok {
			if err := projectkeys.Delete(ctx, k.kv, name); err != nil {
				return err
			}
		}
	}
	for _, r := range want {
		if cur, err := k.kv.Get(ctx, r.PublicKey); err == nil && projectkeys.Equal(cur.Value(), r) {
			continue
		}
		if err := projectkeys.Put(ctx, k.kv, r); err != nil {
			return err
		}
	}
	k.log.Debug("key bucket reconciled", slog.Int("keys", len(want)))
	return nil
}
