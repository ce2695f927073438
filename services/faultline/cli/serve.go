package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/clickhouse"
	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/libs/httplog"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/libs/selfreport"
	"github.com/faultline/faultline/libs/spike"
	"github.com/faultline/faultline/libs/telemetry"
	"github.com/faultline/faultline/services/alerting"
	"github.com/faultline/faultline/services/analytics"
	"github.com/faultline/faultline/services/api"
	"github.com/faultline/faultline/services/gateway"
	"github.com/faultline/faultline/services/grouping"
	"github.com/faultline/faultline/services/sourcemaps"
	"github.com/faultline/faultline/services/web"
	"github.com/faultline/faultline/streams"
)

var rolesAll = []string{"gateway", "api", "grouping", "web", "sourcemaps", "alerting"}

// deps is what roles share in one process.
type deps struct {
	cfg  config.Config
	log  *slog.Logger
	reg  *prometheus.Registry
	nats *natsx.Conn
	pg   *lazyPool
	// consumers exports the state of the durable consumers of the roles
	// this process runs; each role adds its own.
	consumers *natsx.ConsumerMetrics
	// traces is nil when traces are off; its tracers are then nil too.
	traces *telemetry.Tracing
}

// role is one started role: routes to mount, background work, and a
// readiness check.
type role struct {
	mount func(chi.Router)
	run   func(context.Context) error
	ready func() error
	// stop, if set, runs once the listener has drained and every role's
	// run has returned, while NATS is still connected: what the role still
	// holds from requests finished during the drain goes out then.
	stop func(context.Context) error
}

var roleStarters = map[string]func(context.Context, *deps) (*role, error){
	"gateway":    startGateway,
	"api":        startAPI,
	"grouping":   startGrouping,
	"web":        startWeb,
	"sourcemaps": startSourcemaps,
	"alerting":   startAlerting,
	"analytics":  startAnalytics,
}

// gcPercent is the garbage collector's target for long-running roles when
// GOGC is not set. Most of what the gateway allocates is short-lived copies
// of envelopes on their way to JetStream; collecting half as often saved
// about 4% of CPU per envelope under load on a 2-core machine
// (docs/benchmarks.md), for about 25 MB more heap at 10,000 envelopes/s.
// A process that also groups keeps Go's default: its live heap holds the
// embedded JetStream's block caches and the batches in flight, and tripling
// it (GOGC=200) put the all-in-one server at 370 MB instead of 280 MB at
// 2,000 events/s for no measurable CPU. Idle memory is the same either way.
func gcPercent(groups bool) int {
	if groups {
		return 100
	}
	return 200
}

// groupingMemoryLimit is the soft memory limit of a process that groups,
// when GOMEMLIMIT is not set. Under a steady 1,000 events/s the all-in-one
// server's live heap is about 150 MB (JetStream's block caches and
// duplicate-window ids, the batches in flight and the messages held while
// they are kept alive), so Go's default GOGC=100 already holds the heap
// near 300 MB. The limit is the ceiling above that: a heap that outgrows
// it (a huge envelope, a backlog) makes the collector run more often,
// never fail, and the runtime caps GC at half the CPU. It was 224 MiB:
// close enough to the live heap that a backlog made the collector run
// nearly back to back, and the CPU it took kept the backlog from draining
// (make soak degraded after 2-4 minutes; docs/benchmarks.md, session 8).
// GOMEMLIMIT=off removes it.
const groupingMemoryLimit = 512 << 20

func tuneGC(getenv func(string) string, roles []string) {
	groups := slices.Contains(roles, "grouping")
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent(groups))
	}
	if getenv("GOMEMLIMIT") == "" && groups {
		debug.SetMemoryLimit(groupingMemoryLimit)
	}
}

// serve runs the given roles in one process until ctx ends, then shuts down
// gracefully: in-flight requests finish, NATS drains, the embedded server
// stops. rep, when not nil, reports the process's errors to SELF_DSN.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, rep *selfreport.Reporter, roles []string, args []string) error {
	if len(args) > 0 {
		// serve --roles gateway,api: the all-in-one process with some roles only.
		fs := newFlags("serve", os.Stderr)
		only := fs.String("roles", "", "comma-separated roles to run (default: "+strings.Join(rolesAll, ",")+")")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected arguments %q", fs.Args())
		}
		if *only != "" {
			roles = nil
			for _, r := range strings.Split(*only, ",") {
				r = strings.TrimSpace(r)
				if _, ok := roleStarters[r]; !ok {
					return fmt.Errorf("--roles: unknown role %q (want some of %s)", r, strings.Join(rolesAll, ", "))
				}
				roles = append(roles, r)
			}
		}
	}
	tuneGC(os.Getenv, roles)
	// Set up first, shut down last: the spans of the roles' last batches
	// are exported too.
	traces, err := telemetry.Setup(ctx, cfg.Traces, Version, roles, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), telemetry.ShutdownTimeout)
		defer cancel()
		if err := traces.Shutdown(sctx); err != nil {
			log.Warn("traces not all exported at shutdown", slog.Any("error", err))
		}
	}()
	d := &deps{cfg: cfg, log: log, reg: prometheus.NewRegistry(), traces: traces}
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		natsx.RejectedMessages)
	if rep != nil {
		d.reg.MustRegister(rep.Metrics())
		rep.SetTag("roles", strings.Join(roles, ","))
	}

	var embedded *natsx.Embedded
	if cfg.NATSURL == "" {
		embedded, err = natsx.StartEmbedded(natsx.EmbeddedOptions{StoreDir: filepath.Join(cfg.DataDir, "nats"), Listen: cfg.NATSListen, Token: cfg.NATSToken,
			SyncInterval: cfg.NATSSyncInterval, SyncAlways: cfg.NATSSyncAlways})
		if err != nil {
			return err
		}
		defer embedded.Shutdown()
		log.Info("embedded nats started", slog.String("store", filepath.Join(cfg.DataDir, "nats")), slog.String("url", embedded.ClientURL()))
	}
	nc, err := natsx.Connect(cfg.NATSURL, embedded, "faultline "+fmt.Sprint(roles), log, natsx.Token(cfg.NATSToken))
	if err != nil {
		return err
	}
	d.nats = nc
	d.consumers = natsx.NewConsumerMetrics(nc.JS, natsx.ConsumerScrapeTimeout)
	d.reg.MustRegister(d.consumers)
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nc.Close(cctx)
	}()
	ingest := streams.IngestOptions{MaxAge: cfg.Ingest.MaxAge, MaxBytes: cfg.Ingest.MaxBytes,
		Replicas: cfg.Ingest.Replicas, DuplicateWindow: cfg.Ingest.DuplicateWindow}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = streams.Wait(sctx, nc.JS, ingest)
	cancel()
	if err != nil {
		return err
	}
	d.pg = newLazyPool(cfg.DatabaseURL, log)
	defer d.pg.Close()

	r := chi.NewRouter()
	r.Use(recoverer(log))
	if cfg.HTTPS() {
		r.Use(hsts)
	}
	var started []*role
	for _, name := range roles {
		ro, err := roleStarters[name](ctx, d)
		if err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		if ro.mount != nil {
			ro.mount(r)
		}
		started = append(started, ro)
	}
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	check := readiness(d, started)
	r.Get("/readyz", publicReadyz(check, log))

	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr(), err)
	}
	srv := &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, ro := range started {
		if ro.run != nil {
			g.Go(func() error { return ro.run(gctx) })
		}
	}
	g.Go(func() error { return serveMetrics(gctx, cfg.MetricsListen, d, check) })
	g.Go(func() error {
		log.Info("faultline listening", slog.String("addr", ln.Addr().String()), slog.Any("roles", roles),
			slog.String("public_url", cfg.PublicURL))
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down: finishing in-flight requests")
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	err = g.Wait()
	for _, ro := range started {
		if ro.stop == nil {
			continue
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if serr := ro.stop(sctx); serr != nil {
			log.Warn("role did not stop cleanly", slog.Any("error", serr))
		}
		cancel()
	}
	return err
}

func startGateway(ctx context.Context, d *deps) (*role, error) {
	opt := gateway.OptionsFrom(d.cfg)
	opt.Tracer = d.traces.Tracer("github.com/faultline/faultline/services/gateway")
	gw, err := gateway.New(ctx, opt, d.nats, d.reg, d.log.With(slog.String("role", "gateway")))
	if err != nil {
		return nil, err
	}
	return &role{
		mount: gw.Mount,
		run:   gw.Run,
		// Drops counted by requests that finished while the listener
		// drained, after Run's own last flush.
		stop: gw.FlushOutcomes,
		ready: func() error {
			select {
			case <-gw.Ready():
				return nil
			default:
				return errors.New("gateway: project keys not loaded yet")
			}
		},
	}, nil
}

// decisionWait bounds how long a request that records a decision waits for
// grouping to apply it before answering 202.
const decisionWait = 2 * time.Second

func startAPI(ctx context.Context, d *deps) (*role, error) {
	kv, err := d.nats.JS.KeyValue(ctx, streams.KeysBucket)
	if err != nil {
		return nil, err
	}
	log := d.log.With(slog.String("role", "api"))
	rest, err := api.New(api.OptionsFrom(d.cfg), log)
	if err != nil {
		return nil, err
	}
	if err := rest.SetUploads(ctx, d.nats.JS); err != nil {
		return nil, err
	}
	// Rule and webhooks-plugin changes are commands on ALERTING, applied by
	// an alerting replica in this process or another.
	rest.SetAlerting(&api.AlertingBus{NC: d.nats.NC, JS: d.nats.JS})
	limits, err := d.nats.JS.KeyValue(ctx, streams.LimitsBucket)
	if err != nil {
		return nil, err
	}
	rest.SetSpikes(limits, spike.FromConfig(d.cfg.Spike)) // the gateways' spike counts
	if d.cfg.ClickHouseURL != "" {
		rest.ExpectAnalytics() // its routes answer 503 "not reachable yet" until connected
	}
	return &role{
		mount: rest.Mount, // answers 503 until Postgres is ready
		run: func(ctx context.Context) error {
			if d.cfg.ClickHouseURL != "" {
				go connectAnalytics(ctx, d.cfg.ClickHouseURL, rest.SetAnalytics, log)
			}
			pool, err := d.pg.Wait(ctx, accounts.Migrations)
			if err != nil {
				return nil // ctx ended
			}
			store := accounts.NewStore(pool, d.cfg.PublicURL)
			store.SetDecisions(decide.New(d.nats.NC, d.nats.JS, decisionWait))
			if su := d.cfg.CreateSuperuser; su != nil {
				created, err := store.EnsureSuperuser(ctx, su.Email, su.Password)
				if err != nil {
					return fmt.Errorf("CREATE_SUPERUSER: %w", err)
				}
				if created {
					log.Info("superuser created", slog.String("email", su.Email))
				}
			}
			rest.SetStore(store)
			go rest.RunAutoResolve(ctx, time.Minute) // projects' resolveAge
			return accounts.NewKeySync(store, kv, log).Run(ctx)
		},
	}, nil
}

// connectAnalytics opens a ClickHouse connection for the analytics queries
// of the api or the dashboard and hands it to set, retrying while
// ClickHouse is unreachable, and closes it when ctx ends. Neither writes:
// they read the tables the analytics role creates.
func connectAnalytics(ctx context.Context, url string, set func(clickhouse.Conn), log *slog.Logger) {
	backoff := 500 * time.Millisecond
	for {
		ch, err := clickhouse.Open(ctx, url)
		if err == nil {
			set(ch)
			<-ctx.Done()
			ch.Close()
			return
		}
		log.Warn("clickhouse unavailable for analytics queries; retrying", slog.Any("error", err), slog.Duration("in", backoff))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 15*time.Second)
	}
}

// startWeb serves the dashboard over the accounts and the issues read
// model, the libraries the REST API uses too.
func startWeb(_ context.Context, d *deps) (*role, error) {
	log := d.log.With(slog.String("role", "web"))
	acc, err := accounts.New(accounts.OptionsFrom(d.cfg), log)
	if err != nil {
		return nil, err
	}
	dash, err := web.New(web.Options{PublicURL: d.cfg.PublicURL, SSLProxy: d.cfg.SecureCookies()}, acc, log)
	if err != nil {
		return nil, err
	}
	if d.cfg.ClickHouseURL != "" {
		dash.ExpectAnalytics() // its analytics pages say "not reachable yet" until connected
	}
	return &role{
		mount: dash.Mount, // answers 503 until Postgres is ready
		run: func(ctx context.Context) error {
			if d.cfg.ClickHouseURL != "" {
				go connectAnalytics(ctx, d.cfg.ClickHouseURL, dash.SetAnalytics, log)
			}
			pool, err := d.pg.Wait(ctx, accounts.Migrations)
			if err != nil {
				return nil // ctx ended
			}
			store := accounts.NewStore(pool, d.cfg.PublicURL)
			store.SetDecisions(decide.New(d.nats.NC, d.nats.JS, decisionWait))
			dash.SetBackend(store, pool)
			if kv, err := d.nats.JS.KeyValue(ctx, streams.LimitsBucket); err == nil {
				dash.SetSpikes(kv, spike.FromConfig(d.cfg.Spike))
			} else {
				log.Warn("spike counts not readable; project settings will not show them", slog.Any("error", err))
			}
			return nil
		},
	}, nil
}

func startGrouping(_ context.Context, d *deps) (*role, error) {
	log := d.log.With(slog.String("role", "grouping"))
	d.consumers.Add(grouping.OptionsFrom(d.cfg).Consumers()...)
	return &role{
		run: func(ctx context.Context) error {
			pool, err := d.pg.Wait(ctx, grouping.Migrations)
			if err != nil {
				return nil // ctx ended
			}
			opt := grouping.OptionsFrom(d.cfg)
			opt.Tracer = d.traces.Tracer("github.com/faultline/faultline/services/grouping")
			svc, err := grouping.New(ctx, pool, d.nats, opt, d.reg, log)
			if err != nil {
				return err
			}
			return svc.Run(ctx)
		},
	}, nil
}

// startSourcemaps assembles uploaded artifact bundles.
func startSourcemaps(_ context.Context, d *deps) (*role, error) {
	log := d.log.With(slog.String("role", "sourcemaps"))
	d.consumers.Add(sourcemaps.DefaultOptions().Consumers()...)
	return &role{
		run: func(ctx context.Context) error {
			pool, err := d.pg.Wait(ctx, sourcemaps.Migrations)
			if err != nil {
				return nil // ctx ended
			}
			svc, err := sourcemaps.New(ctx, pool, d.nats, sourcemaps.OptionsFrom(d.cfg), log)
			if err != nil {
				return err
			}
			return svc.Run(ctx)
		},
	}, nil
}

// lazyPool opens Postgres in the background, retrying, so roles that can
// work without it (the gateway) start while it is down.
type lazyPool struct {
	url  string
	log  *slog.Logger
	mu   sync.Mutex
	pool *pgxpool.Pool
	done chan struct{}
	once sync.Once
	err  error
	sets []pg.Migrations
}

func newLazyPool(url string, log *slog.Logger) *lazyPool {
	return &lazyPool{url: url, log: log, done: make(chan struct{})}
}

// Wait returns the pool once Postgres is reachable and sets, the calling
// role's own migrations, are applied: each role applies only its own.
func (l *lazyPool) Wait(ctx context.Context, sets ...pg.Migrations) (*pgxpool.Pool, error) {
	l.once.Do(func() {
		go func() {
			defer close(l.done)
			backoff := 500 * time.Millisecond
			for {
				pool, err := pg.Open(ctx, l.url)
				if err == nil {
					l.log.Info("postgres ready")
					l.mu.Lock()
					l.pool = pool
					l.mu.Unlock()
					return
				}
				l.log.Warn("postgres unavailable; retrying", slog.Any("error", err), slog.Duration("in", backoff))
				select {
				case <-ctx.Done():
					l.err = ctx.Err()
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 15*time.Second)
			}
		}()
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
	}
	l.mu.Lock()
	pool := l.pool
	l.mu.Unlock()
	if pool == nil {
		return nil, errors.Join(errors.New("postgres not opened"), l.err)
	}
	backoff := 500 * time.Millisecond
	for {
		n, err := pg.Migrate(ctx, pool, sets...)
		if err == nil {
			if n > 0 && len(sets) > 0 {
				l.log.Info("migrations applied", slog.Int("count", n), slog.String("service", sets[0].Service))
			}
			return pool, nil
		}
		l.log.Warn("migrations failed; retrying", slog.Any("error", err), slog.Duration("in", backoff))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 15*time.Second)
	}
}

func (l *lazyPool) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pool != nil {
		l.pool.Close()
	}
}

func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.Error("panic serving request", slog.String("route", httplog.Route(r)), slog.Any("panic", v),
						slog.String("stack", string(debug.Stack())))
					http.Error(w, `{"detail":"internal error"}`, http.StatusInternalServerError)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// startAlerting evaluates issue-alert rules against EVENTS and delivers
// notifications.
func startAlerting(_ context.Context, d *deps) (*role, error) {
	log := d.log.With(slog.String("role", "alerting"))
	opt := alerting.OptionsFrom(d.cfg, os.Getenv)
	d.consumers.Add(opt.Consumers()...)
	return &role{
		run: func(ctx context.Context) error {
			pool, err := d.pg.Wait(ctx, alerting.Migrations)
			if err != nil {
				return nil // ctx ended
			}
			opt.Tracer = d.traces.Tracer("github.com/faultline/faultline/services/alerting")
			svc, err := alerting.New(pool, d.nats, opt, d.reg, log)
			if err != nil {
				return err
			}
			return svc.Run(ctx)
		},
	}, nil
}

// startAnalytics writes events, transactions, spans, sessions, logs and
// outcomes into ClickHouse. serve runs it when CLICKHOUSE_URL is set.
func startAnalytics(_ context.Context, d *deps) (*role, error) {
	if d.cfg.ClickHouseURL == "" {
		return nil, errors.New("analytics: set CLICKHOUSE_URL")
	}
	log := d.log.With(slog.String("role", "analytics"))
	d.consumers.Add(analytics.OptionsFrom(d.cfg).Consumers()...)
	return &role{
		run: func(ctx context.Context) error {
			backoff := 500 * time.Millisecond
			for {
				ch, err := clickhouse.Open(ctx, d.cfg.ClickHouseURL)
				if err == nil {
					defer ch.Close()
					opt := analytics.OptionsFrom(d.cfg)
					opt.Tracer = d.traces.Tracer("github.com/faultline/faultline/services/analytics")
					svc, err := analytics.New(ctx, ch, d.nats, opt, d.reg, log)
					if err != nil {
						return err
					}
					return svc.Run(ctx)
				}
				log.Warn("clickhouse unavailable; retrying", slog.Any("error", err), slog.Duration("in", backoff))
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 15*time.Second)
			}
		},
	}, nil
}
