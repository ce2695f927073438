// Package ratelimit enforces event quotas over fixed windows of any whole
// number of seconds (a minute, an hour, a key's 90 s or day) shared by any
// number of gateway instances.
//
// The count of a window lives in a JetStream KV entry. An instance does not
// write it for every event: it leases a block of the remaining quota with a
// compare-and-set, admits events locally from its lease, and leases again when
// the block is used up. Blocks shrink as the quota runs out (a sixteenth of
// what is left, at most MaxLease), so all instances together never admit more
// than the limit, and admit less only by what they hold unused when traffic
// stops: a few events, not a fraction of the limit.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Rule is one quota: at most Limit per Window for Scope. Limit 0 is no quota.
type Rule struct {
	Scope     string // a KV-safe name: "global", "p12", "k<public key>"
	ScopeKind string // organization, project or key: what X-Sentry-Rate-Limits names
	Limit     int64
	Window    time.Duration // a whole number of seconds
}

// MaxLease caps one lease.
const MaxLease = 1000

// Limiter admits or refuses events against shared quotas.
type Limiter struct {
	kv  jetstream.KeyValue
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	counters map[string]*counter
	swept    time.Time
	warned   time.Time
}

type counter struct {
	local     int64 // leased and not yet used
	exhausted bool  // the window's quota is gone
	limit     int64 // the limit exhausted was found under; a new limit looks again
	end       time.Time
}

// New returns a limiter keeping its counts in kv.
func New(kv jetstream.KeyValue, log *slog.Logger) *Limiter {
	return &Limiter{kv: kv, log: log, now: time.Now, counters: map[string]*counter{}}
}

// Denial says which rule refused and for how long.
type Denial struct {
	Rule       Rule
	RetryAfter time.Duration
}

// Take admits n events of category under every rule, or none. It returns
// nil when admitted. When the shared counts cannot be reached it admits: a
// quota is a brake, and losing data for an outage of the counter is worse.
func (l *Limiter) Take(ctx context.Context, rules []Rule, category string, n int64) *Denial {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	cs := make([]*counter, 0, len(rules))
	for _, r := range rules {
		if r.Limit <= 0 {
			cs = append(cs, nil)
			continue
		}
		start := now.Truncate(r.Window)
		key := r.Scope + "." + category + "." + strconv.FormatInt(int64(r.Window/time.Second), 10) + "." + strconv.FormatInt(start.Unix(), 10)
		c := l.counters[key]
		if c == nil {
			c = &counter{end: start.Add(r.Window)}
			l.counters[key] = c
		}
		if c.exhausted && c.limit != r.Limit {
			c.exhausted = false // the quota was changed during the window
		}
		c.limit = r.Limit
		if c.local < n && !c.exhausted {
			if err := l.lease(ctx, key, r.Limit, n, c); errors.Is(err, errContention) {
				// The counter is reachable and moving: admitting here
				// would admit past the limit.
				return &Denial{Rule: r, RetryAfter: min(time.Second, c.end.Sub(now))}
			} else if err != nil {
				if now.Sub(l.warned) > time.Minute {
					l.warned = now
					l.log.Warn("rate-limit counters unreachable; admitting", slog.Any("error", err))
				}
				return nil
			}
		}
		if c.local < n {
			return &Denial{Rule: r, RetryAfter: c.end.Sub(now)}
		}
		cs = append(cs, c)
	}
	for _, c := range cs {
		if c != nil {
			c.local -= n
		}
	}
	return nil
}

// lease moves a block of the remaining quota of key into c.
func (l *Limiter) lease(ctx context.Context, key string, limit, n int64, c *counter) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for attempt := 0; attempt < 50; attempt++ {
		var used int64
		var rev uint64
		e, err := l.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			rev = e.Revision()
			if used, err = strconv.ParseInt(string(e.Value()), 10, 64); err != nil {
				return fmt.Errorf("counter %s holds %q", key, e.Value())
			}
		}
		remaining := limit - used
		if remaining < n-c.local {
			// What is left may still serve a smaller take.
			c.exhausted = remaining <= 0
			return nil
		}
		grant := min(max(n-c.local, remaining/16, 1), MaxLease, remaining)
		grant = max(grant, n-c.local)
		val := []byte(strconv.FormatInt(used+grant, 10))
		if rev == 0 {
			_, err = l.kv.Create(ctx, key, val)
		} else {
			_, err = l.kv.Update(ctx, key, val, rev)
		}
		if err == nil {
			c.local += grant
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return err
		}
		// Another instance moved the counter first: read it again after a
		// random pause, so that instances leasing in lockstep fall apart
		// instead of one losing every round.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(rand.N(time.Duration(attempt+1) * 200 * time.Microsecond)):
		}
	}
	return fmt.Errorf("%w: counter %s", errContention, key)
}

// errContention is returned by lease when other instances kept moving the
// counter through every attempt.
var errContention = errors.New("too much contention")

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// sweep forgets windows that have ended, once a minute.
func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for k, c := range l.counters {
		if !now.Before(c.end) {
			delete(l.counters, k)
		}
	}
}
