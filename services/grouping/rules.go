package grouping

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline/faultline/libs/grouping"
)

// ruleCache holds each project's parsed grouping rules, reloaded from
// grouping.project_rules at most every refresh.
type ruleCache struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	refresh time.Duration

	schema string // whose project_rules: "grouping", or a replay's generation

	mu       sync.RWMutex
	rules    map[int64]*grouping.Rules
	loadedAt time.Time
	none     *grouping.Rules
}

func newRuleCache(pool *pgxpool.Pool, log *slog.Logger, refresh time.Duration) *ruleCache {
	none, err := grouping.ParseRules("", "")
	if err != nil {
		panic("grouping: empty rules do not parse: " + err.Error())
	}
	return &ruleCache{pool: pool, log: log, refresh: refresh, rules: map[int64]*grouping.Rules{}, none: none, schema: "grouping"}
}

// get returns project's rules, or the empty rule set.
func (c *ruleCache) get(project int64) *grouping.Rules {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if r := c.rules[project]; r != nil {
		return r
	}
	return c.none
}

// load reloads the rules when they are older than the refresh interval. A
// project whose rules do not parse keeps the empty rule set, logged.
func (c *ruleCache) load(ctx context.Context) error {
	c.mu.RLock()
	fresh := time.Since(c.loadedAt) < c.refresh
	c.mu.RUnlock()
	if fresh {
		return nil
	}
	rows, err := c.pool.Query(ctx, `SELECT project_id, stack_rules, fingerprint_rules FROM `+c.schema+`.project_rules`)
	if err != nil {
		return err
	}
	defer rows.Close()
	m := map[int64]*grouping.Rules{}
	for rows.Next() {
		var id int64
		var stack, fp string
		if err := rows.Scan(&id, &stack, &fp); err != nil {
			return err
		}
		r, err := grouping.ParseRules(stack, fp)
		if err != nil {
			c.log.Warn("project grouping rules do not parse; using none", slog.Int64("project_id", id), slog.Any("error", err))
			continue
		}
		m[id] = r
	}
	if err := rows.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.rules, c.loadedAt = m, time.Now()
	c.mu.Unlock()
	return nil
}

// invalidate makes the next load read the rules again.
func (c *ruleCache) invalidate() {
	c.mu.Lock()
	c.loadedAt = time.Time{}
	c.mu.Unlock()
}
