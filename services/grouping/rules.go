package grouping

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline/faultline/libs/grouping"
)

// ruleCache holds every version of each project's parsed grouping rules,
// reloaded from grouping.rule_versions at most every refresh, and at once
// when a replica applies a rule change.
type ruleCache struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	refresh time.Duration

	schema string // whose project_rules: "grouping", or a replay's generation

	mu       sync.RWMutex
	rules    map[int64][]ruleVersion // by valid_from, ascending
	loadedAt time.Time
	gen      uint64 // invalidations so far
	none     *grouping.Rules
}

// ruleVersion is one version of a project's rules and when it took effect.
type ruleVersion struct {
	from               time.Time
	stack, fingerprint string
	rules              *grouping.Rules
}

func newRuleCache(pool *pgxpool.Pool, log *slog.Logger, refresh time.Duration) *ruleCache {
	none, err := grouping.ParseRules("", "")
	if err != nil {
		panic("grouping: empty rules do not parse: " + err.Error())
	}
	return &ruleCache{pool: pool, log: log, refresh: refresh, rules: map[int64][]ruleVersion{}, none: none, schema: "grouping"}
}

// get returns the rules project had at time at (an event's received
// time), or the empty rule set.
func (c *ruleCache) get(project int64, at time.Time) *grouping.Rules {
	c.mu.RLock()
	defer c.mu.RUnlock()
	vs := c.rules[project]
	for i := len(vs) - 1; i >= 0; i-- {
		if !vs[i].from.After(at) {
			return vs[i].rules
		}
	}
	return c.none
}

// load reloads the rules when they are older than the refresh interval,
// parsing only versions it has not parsed before. A version that does not
// parse is the empty rule set, logged.
func (c *ruleCache) load(ctx context.Context) error {
	c.mu.RLock()
	fresh := time.Since(c.loadedAt) < c.refresh
	old, gen := c.rules, c.gen
	c.mu.RUnlock()
	if fresh {
		return nil
	}
	started := time.Now()
	// Rules written to project_rules without versions (before versions
	// existed) hold since always.
	rows, err := c.pool.Query(ctx, sq(c.schema, `SELECT project_id, valid_from, stack_rules, fingerprint_rules FROM grouping.rule_versions
		UNION ALL
		SELECT project_id, 'epoch', stack_rules, fingerprint_rules FROM grouping.project_rules r
		WHERE NOT EXISTS (SELECT 1 FROM grouping.rule_versions v WHERE v.project_id = r.project_id)
		ORDER BY 1, 2`))
	if err != nil {
		return err
	}
	defer rows.Close()
	m := map[int64][]ruleVersion{}
	for rows.Next() {
		var id int64
		var v ruleVersion
		if err := rows.Scan(&id, &v.from, &v.stack, &v.fingerprint); err != nil {
			return err
		}
		for _, o := range old[id] {
			if o.from.Equal(v.from) && o.stack == v.stack && o.fingerprint == v.fingerprint {
				v.rules = o.rules
			}
		}
		if v.rules == nil {
			r, err := grouping.ParseRules(v.stack, v.fingerprint)
			if err != nil {
				c.log.Warn("project grouping rules do not parse; using none", slog.Int64("project_id", id),
					slog.Time("valid_from", v.from), slog.Any("error", err))
				r = c.none
			}
			v.rules = r
		}
		m[id] = append(m[id], v)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.rules = m
	// An invalidation while this load ran keeps the next load due: the
	// change may have committed after the query read.
	if c.gen == gen {
		c.loadedAt = started
	}
	c.mu.Unlock()
	return nil
}

// invalidate makes the next load read the rules again.
func (c *ruleCache) invalidate() {
	c.mu.Lock()
	c.loadedAt = time.Time{}
	c.gen++
	c.mu.Unlock()
}
