package spike

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Read is project's spike protection at now from every gateway's record
// in kv (the limits bucket): what the dashboard shows. A malformed record
// is skipped.
func Read(ctx context.Context, kv jetstream.KeyValue, cfg Config, project int64, now time.Time) (Status, error) {
	lister, err := kv.ListKeysFiltered(ctx, ProjectKeys(project))
	if err != nil {
		return Status{}, fmt.Errorf("list spike records: %w", err)
	}
	var records []Record
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return Status{}, fmt.Errorf("read spike record: %w", err)
		}
		if r, err := ParseRecord(e.Value()); err == nil {
			records = append(records, r)
		}
	}
	return cfg.Compute(records, cfg.MinuteOf(now)), nil
}
