package web_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/accounts"
)

// BenchmarkAnalyticsPages measures the analytics pages' answer time, from
// the request to the last byte of HTML, over many stored transactions:
// BENCH_TRANSACTIONS (default 200,000) over 50 names in two projects across
// the last 7 days, written with one raw batch insert into the analytics
// role's table. Each page runs its ClickHouse queries side by side.
//
//	go test -run XXX -bench AnalyticsPages -benchtime 20x ./services/web/
func BenchmarkAnalyticsPages(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_TRANSACTIONS")); err == nil && v > 0 {
		n = v
	}
	e := newEnv(b)
	owner := e.user("owner@acme.test", false)
	members := map[*accounts.User]string{owner: "owner"}
	web, api := e.project("acme", "web", members), e.project("acme", "api", members)
	a := e.withAnalytics()
	ctx := context.Background()
	batch, err := a.ch.PrepareBatch(ctx, "INSERT INTO transactions (project_id, timestamp, start_ts, end_ts, event_id, trace_id, span_id, transaction, op, status, duration_ms, release, environment, user)")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i := range n {
		project := uint64(web.ID)
		if i%3 == 0 {
			project = uint64(api.ID)
		}
		end := now.Add(-time.Duration(i) * 7 * 24 * time.Hour / time.Duration(n))
		ms := float64(20 + (i*7919)%900)
		status := "ok"
		if i%50 == 0 {
			status = "internal_error"
		}
		if err := batch.Append(project, end, float64(end.UnixMicro())/1e6-ms/1000, float64(end.UnixMicro())/1e6,
			fmt.Sprintf("%032x", i+1), fmt.Sprintf("%032x", i+1), fmt.Sprintf("%016x", i+1), fmt.Sprintf("GET /route/%d", i%50), "http.server", status, ms,
			"1.0", "prod", strconv.Itoa(i%1000)); err != nil {
			b.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		b.Fatal(err)
	}
	br := e.signIn("owner@acme.test")
	for _, page := range []struct{ name, path string }{
		{"performance", perfURL("statsPeriod", "7d")},
		{"summary", summaryPath("statsPeriod", "7d", "transaction", "GET /route/7")},
		{"discover", discoverPath("statsPeriod", "7d", "fields", "transaction, count(), p95(), failure_rate()", "sort", "-p95()")},
	} {
		b.Run(page.name, func(b *testing.B) {
			for b.Loop() {
				if p := br.get(page.path); p.status != http.StatusOK {
					b.Fatalf("GET %s: %d\n%s", page.path, p.status, p.body)
				}
			}
		})
	}
}
