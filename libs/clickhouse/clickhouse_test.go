package clickhouse_test

import (
	"context"
	"os"
	"reflect"
	"testing"

	"github.com/faultline/faultline/libs/clickhouse"
	"github.com/faultline/faultline/libs/clickhouse/chtest"
)

func TestMain(m *testing.M) { chtest.Main(m) }

func TestStatements(t *testing.T) {
	got := clickhouse.Statements("-- c\nCREATE A\n  x\n;\n\n;\nINSERT B\n")
	want := []string{"CREATE A\n  x", "INSERT B"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParseURL(t *testing.T) {
	for _, bad := range []string{"clickhouse://h:9000/x-y", "clickhouse://h:9000/a`b", "::"} {
		if _, err := clickhouse.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
	o, err := clickhouse.ParseURL("clickhouse://h:9000")
	if err != nil || o.Auth.Database != "default" {
		t.Fatalf("got %v, %v; want database default", o, err)
	}
}

func TestMigrateOnceAndDatabaseCreated(t *testing.T) {
	ctx := context.Background()
	u := chtest.NewDatabaseT(t) // Open created it
	c, err := clickhouse.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	set := clickhouse.Migrations{Service: "test", FS: os.DirFS("testdata"), Dir: "migrations"}
	for i, want := range []int{1, 0} {
		n, err := clickhouse.Migrate(ctx, c, set)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("run %d applied %d, want %d", i, n, want)
		}
	}
	var n uint64
	if err := c.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('things', 'things2')").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d of the migration's 2 tables exist", n)
	}
}

func TestServerRestartKeepsData(t *testing.T) {
	s := chtest.Get(t)
	if s.External() {
		t.Skip("external server")
	}
	ctx := context.Background()
	u := chtest.URL(t)
	c, err := clickhouse.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Exec(ctx, "CREATE TABLE IF NOT EXISTS kept (x UInt8) ENGINE = MergeTree ORDER BY x"); err != nil {
		t.Fatal(err)
	}
	b, err := c.PrepareBatch(ctx, "INSERT INTO kept")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint8(7)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := c.Ping(ctx); err == nil {
		t.Fatal("ping answered with the server stopped")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	var x uint8
	if err := c.QueryRow(ctx, "SELECT x FROM kept").Scan(&x); err != nil || x != 7 {
		t.Fatalf("after restart got %d, %v; want 7", x, err)
	}
}
