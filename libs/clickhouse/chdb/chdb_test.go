package chdb_test

import (
	"os"
	"strings"
	"testing"

	"github.com/faultline/faultline/libs/clickhouse/chdb"
)

// lib is libchdb.so, or the test skips only when FAULTLINE_NO_CLICKHOUSE=1.
func lib(t *testing.T) string {
	t.Helper()
	p := chdb.Find(".")
	if p != "" {
		return p
	}
	if os.Getenv("FAULTLINE_NO_CLICKHOUSE") == "1" {
		t.Skip("FAULTLINE_NO_CLICKHOUSE=1 and no libchdb.so: chDB tests skipped")
	}
	t.Fatal("no libchdb.so: run scripts/deps.sh (npm ci in e2e/node installs @chdb/lib-linux-x64-gnu), set CHDB_LIB, or set FAULTLINE_NO_CLICKHOUSE=1 to skip")
	return ""
}

func TestSession(t *testing.T) {
	s, err := chdb.Open(lib(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Query("CREATE TABLE t (a UInt64, b String) ENGINE = MergeTree ORDER BY a", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Query("INSERT INTO t VALUES (2, 'x'), (1, 'y')", ""); err != nil {
		t.Fatal(err)
	}
	out, err := s.Query("SELECT b FROM t ORDER BY a", "TabSeparated")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != "y\nx\n" {
		t.Errorf("got %q, want %q", got, "y\nx\n")
	}
	_, err = s.Query("SELECT nosuchcolumn FROM t", "TabSeparated")
	if err == nil || !strings.Contains(err.Error(), "nosuchcolumn") {
		t.Errorf("error %v, want one naming the unknown column", err)
	}
	v, err := s.Query("SELECT version()", "TabSeparated")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chDB reports ClickHouse %s", strings.TrimSpace(string(v)))
}
