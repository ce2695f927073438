package httplog

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// entry is what a handler adds to its request's line: who asked.
type entry struct {
	userID, tokenID int64
}

type entryKey struct{}

// SetPrincipal names who made the request in its log line: the user and,
// for a bearer token, the token's id (never the token). It does nothing
// outside Requests.
func SetPrincipal(ctx context.Context, userID, tokenID int64) {
	if e, ok := ctx.Value(entryKey{}).(*entry); ok {
		e.userID, e.tokenID = userID, tokenID
	}
}

// Requests logs one line per request at level Info: method, route pattern
// (never the raw path, which may hold a reset or invitation token), status,
// duration and who asked (SetPrincipal). Requests answered 5xx are logged
// at level Error.
func Requests(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			e := &entry{}
			sw := &StatusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), entryKey{}, e)))
			attrs := make([]slog.Attr, 0, 6)
			attrs = append(attrs, slog.String("method", r.Method), slog.String("route", Route(r)), slog.Int("status", sw.Status()),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
			if e.userID != 0 {
				attrs = append(attrs, slog.Int64("user_id", e.userID))
			}
			if e.tokenID != 0 {
				attrs = append(attrs, slog.Int64("token_id", e.tokenID))
			}
			level := slog.LevelInfo
			if sw.Status() >= http.StatusInternalServerError {
				level = slog.LevelError
			}
			log.LogAttrs(r.Context(), level, "request", attrs...)
		})
	}
}

// StatusWriter remembers the status a request was answered with.
type StatusWriter struct {
	http.ResponseWriter
	status int
}

// Status is the status written, 200 when the handler wrote none.
func (w *StatusWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

func (w *StatusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush and Hijack pass through, for handlers that stream or upgrade.
func (w *StatusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *StatusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("hijack not supported")
}

// Unwrap lets http.ResponseController reach the writer beneath.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
