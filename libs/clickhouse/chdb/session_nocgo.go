//go:build !cgo || !linux

package chdb

import "errors"

// Session is one chDB connection; without cgo on Linux there is none.
type Session struct{}

// Open fails: loading libchdb.so needs cgo on Linux.
func Open(lib, dir string) (*Session, error) {
	return nil, errors.New("chdb: loading libchdb.so needs cgo on linux (CGO_ENABLED=1 and a C compiler)")
}

// Query fails: there is no session.
func (s *Session) Query(sql, format string) ([]byte, error) { return nil, ErrClosed }

// Close does nothing.
func (s *Session) Close() {}
