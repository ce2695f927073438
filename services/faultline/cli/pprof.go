//go:build pprof

package cli

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

// Built with -tags pprof, FAULTLINE_PPROF=host:port serves net/http/pprof
// there, for profiling a server under load (docs/benchmarks.md). Release
// builds do not contain it.
func init() {
	addr := os.Getenv("FAULTLINE_PPROF")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			slog.Error("pprof listener", slog.Any("error", err))
		}
	}()
}
