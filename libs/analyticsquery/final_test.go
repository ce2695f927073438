package analyticsquery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/clickhouse"
	"github.com/faultline/faultline/libs/clickhouse/chtest"
)

func TestMain(m *testing.M) { chtest.Main(m) }

// TestCleanPartitionChangedWhileQueried: a redelivery lands in a merged
// partition between the query's plan (which reads it without FINAL) and
// its run; the check after the query sees the new part and the answer is
// still exact.
func TestCleanPartitionChangedWhileQueried(t *testing.T) {
	ctx := context.Background()
	c, err := clickhouse.Open(ctx, chtest.NewDatabaseT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The columns the query reads, keyed and partitioned as the role's table.
	if err := c.Exec(ctx, `CREATE TABLE transactions (project_id UInt64, timestamp DateTime, event_id String,
		transaction String, duration_ms Float64) ENGINE = ReplacingMergeTree
		PARTITION BY toYYYYMMDD(timestamp) ORDER BY (project_id, timestamp, event_id)`); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	old := now.Add(-48 * time.Hour)
	insert := func(from, to int) {
		t.Helper()
		b, err := c.PrepareBatch(ctx, "INSERT INTO transactions")
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			if err := b.Append(uint64(1), old.Add(time.Duration(i)*time.Second), fmt.Sprintf("%032x", i), "GET /x", 100.0); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	insert(0, 10)
	if err := c.Exec(ctx, "OPTIMIZE TABLE transactions FINAL"); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(ctx, "SYSTEM STOP MERGES transactions"); err != nil {
		t.Fatal(err)
	}
	runs := 0
	testHookPlanned = func() {
		if runs++; runs == 1 {
			insert(0, 3) // redelivered
		}
	}
	defer func() { testHookPlanned = nil }()
	q := Query{Dataset: Transactions, Projects: []int64{1}, Start: now.Add(-72 * time.Hour), End: now, Fields: []string{"count()"}}
	tbl, err := Run(ctx, c, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := tbl.Data[0]["count()"]; got != uint64(10) || runs != 2 {
		t.Fatalf("count %v after %d runs, want 10 after a second run with FINAL", got, runs)
	}
}
