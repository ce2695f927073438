package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/streams"
)

// bucket starts a JetStream server and returns its limits bucket and the
// server.
func bucket(t *testing.T) (jetstream.KeyValue, *natstest.Server) {
	t.Helper()
	srv := natstest.Start(t)
	nc := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := nc.JS.CreateOrUpdateKeyValue(ctx, streams.LimitsConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	return kv, srv
}

// at is a limiter whose clock stands still at now, so a test never straddles
// two windows.
func at(kv jetstream.KeyValue, now time.Time) *Limiter {
	l := New(kv, slog.New(slog.DiscardHandler))
	l.now = func() time.Time { return now }
	return l
}

// windowStart is a minute boundary; tests run 10s into it.
var windowStart = time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)

func TestTakeAdmitsExactlyTheLimit(t *testing.T) {
	kv, _ := bucket(t)
	for _, limit := range []int64{1, 7, 100, 2500} {
		rule := Rule{Scope: "p1", ScopeKind: "project", Limit: limit, Window: time.Minute}
		l := at(kv, windowStart.Add(10*time.Second))
		admitted := int64(0)
		var denial *Denial
		for range limit + 10 {
			if d := l.Take(context.Background(), []Rule{rule}, "error", 1); d != nil {
				denial = d
			} else {
				admitted++
			}
		}
		if admitted != limit {
			t.Errorf("limit %d: admitted %d", limit, admitted)
		}
		if denial == nil || denial.Rule != rule || denial.RetryAfter != 50*time.Second {
			t.Errorf("limit %d: denial %+v, want the rule and 50s", limit, denial)
		}
		// The next window admits again; its count starts from zero.
		next := at(kv, windowStart.Add(time.Minute+time.Second))
		if d := next.Take(context.Background(), []Rule{rule}, "error", 1); d != nil {
			t.Errorf("limit %d: next window denied: %+v", limit, d)
		}
		// Each limit runs in a window of its own.
		windowStart = windowStart.Add(time.Hour)
	}
}

func TestTakeCountsCategoriesAndRulesApart(t *testing.T) {
	kv, _ := bucket(t)
	l := at(kv, windowStart.Add(30*time.Second))
	ctx := context.Background()
	project := Rule{Scope: "p1", ScopeKind: "project", Limit: 5, Window: time.Minute}
	key := Rule{Scope: "kabc", ScopeKind: "key", Limit: 2, Window: time.Hour}
	none := Rule{Scope: "global", ScopeKind: "organization", Limit: 0, Window: time.Minute}
	rules := []Rule{none, project, key}

	for i := range 2 {
		if d := l.Take(ctx, rules, "error", 1); d != nil {
			t.Fatalf("take %d: %+v", i, d)
		}
	}
	d := l.Take(ctx, rules, "error", 1)
	if d == nil || d.Rule != key {
		t.Fatalf("third error: %+v, want the key rule to refuse", d)
	}
	// An hour window started at 03:00; it is 03:04:30.
	if want := 55*time.Minute + 30*time.Second; d.RetryAfter != want {
		t.Errorf("RetryAfter %v, want %v", d.RetryAfter, want)
	}
	// Another category has quotas of its own.
	if d := l.Take(ctx, rules, "transaction", 2); d != nil {
		t.Errorf("transactions: %+v", d)
	}
	// A refused take charges nothing: the project rule still has 3 errors.
	if d := l.Take(ctx, []Rule{project}, "error", 3); d != nil {
		t.Errorf("project rule alone: %+v", d)
	}
	if d := l.Take(ctx, []Rule{project}, "error", 1); d == nil || d.Rule != project {
		t.Errorf("project rule exhausted: %+v", d)
	}
	// n larger than what is left is refused whole.
	big := Rule{Scope: "p2", ScopeKind: "project", Limit: 10, Window: time.Minute}
	if d := l.Take(ctx, []Rule{big}, "span", 11); d == nil {
		t.Error("11 spans under a limit of 10 admitted")
	}
	if d := l.Take(ctx, []Rule{big}, "span", 10); d != nil {
		t.Errorf("10 spans under a limit of 10: %+v", d)
	}
}

// TestSharedLimitAcrossInstances hammers one quota from three limiters (as
// three gateway instances would) at once: together they admit at most the
// limit and at least 90% of it.
func TestSharedLimitAcrossInstances(t *testing.T) {
	kv, _ := bucket(t)
	for _, limit := range []int64{50, 1000, 20000} {
		rule := Rule{Scope: "p7", ScopeKind: "project", Limit: limit, Window: time.Minute}
		now := windowStart.Add(5 * time.Second)
		windowStart = windowStart.Add(time.Hour)
		var admitted, denied atomic.Int64
		var wg sync.WaitGroup
		for range 3 {
			l := at(kv, now)
			for range 4 {
				wg.Go(func() {
					// Every worker sends until refused ten times in a row.
					for misses := 0; misses < 10; {
						if l.Take(context.Background(), []Rule{rule}, "error", 1) == nil {
							admitted.Add(1)
							misses = 0
						} else {
							denied.Add(1)
							misses++
						}
					}
				})
			}
		}
		wg.Wait()
		got := admitted.Load()
		if got > limit || got < limit*9/10 {
			t.Errorf("limit %d: three instances admitted %d, want between %d and %d", limit, got, limit*9/10, limit)
		}
		t.Logf("limit %d: admitted %d, denied %d", limit, got, denied.Load())
	}
}

func TestUnreachableCountersAdmit(t *testing.T) {
	kv, srv := bucket(t)
	rule := Rule{Scope: "p1", ScopeKind: "project", Limit: 1, Window: time.Minute}
	l := at(kv, windowStart.Add(time.Second))
	if d := l.Take(context.Background(), []Rule{rule}, "error", 1); d != nil {
		t.Fatalf("first: %+v", d)
	}
	if d := l.Take(context.Background(), []Rule{rule}, "error", 1); d == nil {
		t.Fatal("second under a limit of 1 admitted")
	}
	srv.Shutdown()
	fresh := at(kv, windowStart.Add(time.Second))
	for i := range 3 {
		if d := fresh.Take(context.Background(), []Rule{rule}, "error", 1); d != nil {
			t.Errorf("take %d with the counters unreachable: %+v, want admitted", i, d)
		}
	}
}

func TestRaisedLimitTakesEffectInTheWindow(t *testing.T) {
	kv, _ := bucket(t)
	l := at(kv, windowStart.Add(time.Second))
	rule := Rule{Scope: "kx", ScopeKind: "key", Limit: 2, Window: time.Hour}
	for range 2 {
		if d := l.Take(context.Background(), []Rule{rule}, "error", 1); d != nil {
			t.Fatal(d)
		}
	}
	if d := l.Take(context.Background(), []Rule{rule}, "error", 1); d == nil {
		t.Fatal("third take under a limit of 2 admitted")
	}
	rule.Limit = 3
	if d := l.Take(context.Background(), []Rule{rule}, "error", 1); d != nil {
		t.Fatalf("limit raised to 3: %+v", d)
	}
	if d := l.Take(context.Background(), []Rule{rule}, "error", 1); d == nil {
		t.Fatal("fourth take under a limit of 3 admitted")
	}
}
