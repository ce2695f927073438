package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faultline/faultline/streams"
)

// readiness finds what keeps the process from being ready: NATS, the
// INGEST stream, each role's own check. Nothing means ready.
func readiness(d *deps, roles []*role) func(context.Context) []string {
	return func(ctx context.Context) []string {
		var problems []string
		if !d.nats.NC.IsConnected() {
			problems = append(problems, "nats: not connected")
		} else {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := d.nats.JS.Stream(ctx, streams.Ingest)
			cancel()
			if err != nil {
				problems = append(problems, "stream "+streams.Ingest+": "+err.Error())
			}
		}
		for _, ro := range roles {
			if ro.ready != nil {
				if err := ro.ready(); err != nil {
					problems = append(problems, err.Error())
				}
			}
		}
		return problems
	}
}

// publicReadyz answers the public /readyz: "ready" or "not ready" and
// nothing more, since anyone can ask. What is not ready is logged when it
// changes and named by the metrics listener's /readyz.
func publicReadyz(check func(context.Context) []string, log *slog.Logger) http.HandlerFunc {
	var mu sync.Mutex
	last := ""
	return func(w http.ResponseWriter, r *http.Request) {
		problems := check(r.Context())
		now := strings.Join(problems, "; ")
		mu.Lock()
		if now != last {
			if now == "" {
				log.Info("ready")
			} else {
				log.Warn("not ready", slog.String("problems", now))
			}
			last = now
		}
		mu.Unlock()
		if len(problems) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready\n"))
			return
		}
		w.Write([]byte("ready\n"))
	}
}

// detailedReadyz names every problem; it is served on METRICS_LISTEN only.
func detailedReadyz(check func(context.Context) []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		problems := check(r.Context())
		if len(problems) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, p := range problems {
				fmt.Fprintln(w, p)
			}
			return
		}
		w.Write([]byte("ok\n"))
	}
}

// serveMetrics serves /metrics and the detailed /readyz on addr until ctx
// ends. A listener that cannot be opened (the default port taken by another
// process on the host) is logged and leaves the process running without
// it: metrics must not stop ingestion.
func serveMetrics(ctx context.Context, addr string, d *deps, check func(context.Context) []string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		d.log.Error("metrics listener not started; /metrics is unavailable", slog.String("addr", addr), slog.Any("error", err))
		return nil
	}
	r := chi.NewRouter()
	r.Handle("/metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{}))
	r.Get("/readyz", detailedReadyz(check))
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	d.log.Info("metrics listening", slog.String("addr", ln.Addr().String()))
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
