package alerting

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline/faultline/libs/alertrules"
	"github.com/faultline/faultline/libs/alertstore"
)

// rule is a stored rule, compiled.
type rule struct {
	id      int64
	project int64
	*alertrules.Rule
}

// ruleCache holds every project's compiled rules; it reloads them when
// alerting.rules_version moved, checked at most every refresh.
type ruleCache struct {
	pool    *pgxpool.Pool
	refresh time.Duration

	mu      sync.Mutex
	version int64
	checked time.Time
	loaded  bool
	byProj  map[int64][]rule
}

func newRuleCache(pool *pgxpool.Pool, refresh time.Duration) *ruleCache {
	return &ruleCache{pool: pool, refresh: refresh, byProj: map[int64][]rule{}}
}

// invalidate makes the next get check the version.
func (c *ruleCache) invalidate() {
	c.mu.Lock()
	c.checked = time.Time{}
	c.mu.Unlock()
}

// get returns the current rules by project.
func (c *ruleCache) get(ctx context.Context) (map[int64][]rule, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded && time.Since(c.checked) < c.refresh {
		return c.byProj, nil
	}
	v, err := alertstore.Version(ctx, c.pool)
	if err != nil {
		return nil, fmt.Errorf("rules version: %w", err)
	}
	c.checked = time.Now()
	if c.loaded && v == c.version {
		return c.byProj, nil
	}
	stored, err := alertstore.Rules(ctx, c.pool, 0, 1<<30, 0)
	if err != nil {
		return nil, err
	}
	by := map[int64][]rule{}
	for _, st := range stored {
		r, err := alertrules.Compile(st.Spec)
		if err != nil {
			continue // validated when written; a rule that no longer compiles does nothing
		}
		by[st.ProjectID] = append(by[st.ProjectID], rule{id: st.ID, project: st.ProjectID, Rule: r})
	}
	c.byProj, c.version, c.loaded = by, v, true
	return by, nil
}
