//go:build cgo && linux

package chdb

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef void *(*connect_fn)(int, char **);
typedef void (*close_fn)(void *);
typedef void *(*query_n_fn)(void *, const char *, size_t, const char *, size_t);
typedef void (*destroy_fn)(void *);
typedef char *(*buffer_fn)(void *);
typedef size_t (*length_fn)(void *);
typedef const char *(*error_fn)(void *);

typedef struct {
	connect_fn connect;
	close_fn close;
	query_n_fn query_n;
	destroy_fn destroy;
	buffer_fn buffer;
	length_fn length;
	error_fn error;
} chdb_api;

static const char *load(const char *path, chdb_api *api) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) return dlerror();
	api->connect = (connect_fn)dlsym(h, "chdb_connect");
	api->close = (close_fn)dlsym(h, "chdb_close_conn");
	api->query_n = (query_n_fn)dlsym(h, "chdb_query_n");
	api->destroy = (destroy_fn)dlsym(h, "chdb_destroy_query_result");
	api->buffer = (buffer_fn)dlsym(h, "chdb_result_buffer");
	api->length = (length_fn)dlsym(h, "chdb_result_length");
	api->error = (error_fn)dlsym(h, "chdb_result_error");
	if (!api->connect || !api->close || !api->query_n || !api->destroy || !api->buffer || !api->length || !api->error)
		return "libchdb.so lacks a chdb_* function of the v3 API";
	return NULL;
}

// chdb_connect returns a pointer to the connection handle; queries take
// the handle itself.
static void *do_connect(chdb_api *api, int argc, char **argv) { return api->connect(argc, argv); }
static void do_close(chdb_api *api, void *conn) { api->close(conn); }
static void *do_query(chdb_api *api, void *conn, const char *q, size_t qn, const char *f, size_t fn) {
	return api->query_n(*(void **)conn, q, qn, f, fn);
}
static void do_destroy(chdb_api *api, void *r) { api->destroy(r); }
static char *do_buffer(chdb_api *api, void *r) { return api->buffer(r); }
static size_t do_length(chdb_api *api, void *r) { return api->length(r); }
static const char *do_error(chdb_api *api, void *r) { return api->error(r); }
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// Session is one chDB connection over a data directory. libchdb allows
// one per process; its queries run one at a time.
type Session struct {
	mu   sync.Mutex
	api  C.chdb_api
	conn unsafe.Pointer
}

// Open loads the library at lib and opens a session whose tables live in
// dir.
func Open(lib, dir string) (*Session, error) {
	s := &Session{}
	clib := C.CString(lib)
	defer C.free(unsafe.Pointer(clib))
	if msg := C.load(clib, &s.api); msg != nil {
		return nil, fmt.Errorf("chdb: load %s: %s", lib, C.GoString(msg))
	}
	args := []string{"clickhouse", "--path=" + dir}
	argv := C.malloc(C.size_t(len(args)) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(argv)
	ptrs := unsafe.Slice((**C.char)(argv), len(args))
	for i, a := range args {
		ptrs[i] = C.CString(a)
		defer C.free(unsafe.Pointer(ptrs[i]))
	}
	s.conn = C.do_connect(&s.api, C.int(len(args)), (**C.char)(argv))
	if s.conn == nil {
		return nil, errors.New("chdb: chdb_connect failed")
	}
	return s, nil
}

// Query runs one statement and returns its output in format (JSONCompact,
// TabSeparated, ...; "" for statements without output).
func (s *Session) Query(sql, format string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil, ErrClosed
	}
	if format == "" {
		format = "TabSeparated"
	}
	cq := C.CString(sql)
	defer C.free(unsafe.Pointer(cq))
	cf := C.CString(format)
	defer C.free(unsafe.Pointer(cf))
	r := C.do_query(&s.api, s.conn, cq, C.size_t(len(sql)), cf, C.size_t(len(format)))
	if r == nil {
		return nil, errors.New("chdb: chdb_query returned no result")
	}
	defer C.do_destroy(&s.api, r)
	if e := C.do_error(&s.api, r); e != nil {
		return nil, fmt.Errorf("chdb: %s", C.GoString(e))
	}
	n := C.do_length(&s.api, r)
	if n == 0 {
		return nil, nil
	}
	return C.GoBytes(unsafe.Pointer(C.do_buffer(&s.api, r)), C.int(n)), nil
}

// Close ends the session.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		C.do_close(&s.api, s.conn)
		s.conn = nil
	}
}
