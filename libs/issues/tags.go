package issues

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// TagValue is one value of a tag key in an issue, with how often it was seen.
type TagValue struct {
	Key       string
	Value     string
	Count     int64
	FirstSeen time.Time
	LastSeen  time.Time
}

// TagKey is one tag key of an issue: its values' total count, how many
// distinct values it has, and the most frequent ones.
type TagKey struct {
	Key          string
	TotalValues  int64
	UniqueValues int64
	TopValues    []TagValue
}

// TagKeys returns issueID's tag keys, by key, each with its top values
// (at most top, most frequent first).
func (s *Store) TagKeys(ctx context.Context, issueID int64, top int) ([]TagKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value, times_seen, first_seen, last_seen, total, uniq FROM (
		SELECT key, value, times_seen, first_seen, last_seen,
			sum(times_seen) OVER (PARTITION BY key) AS total, count(*) OVER (PARTITION BY key) AS uniq,
			row_number() OVER (PARTITION BY key ORDER BY times_seen DESC, value) AS rank
		FROM grouping.issue_tags WHERE issue_id = $1) t
		WHERE rank <= $2 ORDER BY key, rank`, issueID, top)
	if err != nil {
		return nil, fmt.Errorf("tag keys: %w", err)
	}
	defer rows.Close()
	var out []TagKey
	for rows.Next() {
		var v TagValue
		var total, uniq int64
		if err := rows.Scan(&v.Key, &v.Value, &v.Count, &v.FirstSeen, &v.LastSeen, &total, &uniq); err != nil {
			return nil, fmt.Errorf("tag keys: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Key != v.Key {
			out = append(out, TagKey{Key: v.Key, TotalValues: total, UniqueValues: uniq})
		}
		out[len(out)-1].TopValues = append(out[len(out)-1].TopValues, v)
	}
	return out, rows.Err()
}

// TagValues returns a page of the values of key in issueID, most frequent
// first.
func (s *Store) TagValues(ctx context.Context, issueID int64, key string, limit, offset int) ([]TagValue, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value, times_seen, first_seen, last_seen FROM grouping.issue_tags
		WHERE issue_id = $1 AND key = $2 ORDER BY times_seen DESC, value LIMIT $3 OFFSET $4`, issueID, key, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("tag values: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TagValue, error) {
		var v TagValue
		err := r.Scan(&v.Key, &v.Value, &v.Count, &v.FirstSeen, &v.LastSeen)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("tag values: %w", err)
	}
	return out, nil
}

// --- counts over time
