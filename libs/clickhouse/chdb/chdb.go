// Package chdb runs SQL on chDB (libchdb.so: ClickHouse's engine embedded
// as a library, "clickhouse local" with MergeTree tables in a data
// directory) for tests that check Faultline's ClickHouse SQL on a current
// release. The library is loaded at run time with dlopen, so nothing links
// against it: a build without it, or without cgo, only fails when Open is
// called.
//
// libchdb.so comes from the npm package @chdb/lib-linux-x64-gnu, which
// e2e/node/package.json installs; Find looks for it there or at CHDB_LIB.
package chdb

import (
	"errors"
	"os"
	"path/filepath"
)

// Lib names the environment variable that points at libchdb.so.
const Lib = "CHDB_LIB"

// Find returns the path of libchdb.so: $CHDB_LIB, or the npm package under
// e2e/node/node_modules of the repository holding dir (or a parent of
// it). It returns "" when there is none.
func Find(dir string) string {
	if p := os.Getenv(Lib); p != "" {
		return p
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "e2e", "node", "node_modules", "@chdb", "lib-linux-x64-gnu", "libchdb.so")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// ErrClosed is returned by Query after Close.
var ErrClosed = errors.New("chdb: session closed")
