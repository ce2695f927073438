// Package alerting is Faultline's alerting role and the owner of the
// Postgres schema "alerting": a durable consumer (alerting) of the EVENTS
// stream that counts events per issue and minute, evaluates the projects'
// issue-alert rules (libs/alertrules) on events and issue changes, and
// queues their notifications; a delivery loop that sends them with retries;
// the applier of the ALERTING stream's commands (rule and webhooks plugin
// changes people make through the api); and the daily and weekly digest
// mails (digest.go).
//
// Exactly once: an event is counted once (alerting.seen_events), a rule
// fires at most once per frequency per issue (alerting.fires, updated
// conditionally under its row lock), and a notification is keyed by rule,
// issue and trigger (alerting.notifications) — all in the batch's
// transaction, so redeliveries and concurrent replicas notify once.
package alerting

import (
	"context"
	"embed"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/mailer"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/notify"
	"github.com/faultline/faultline/libs/outbound"
	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/streams"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations are the alerting role's schema migrations.
var Migrations = pg.Migrations{Service: "alerting", FS: migrationsFS, Dir: "migrations"}

// Options configure the role.
type Options struct {
	Consumer       string // durable consumer of EVENTS
	CommandsName   string // durable consumer of ALERTING
	BatchSize      int
	Linger         time.Duration
	InFlight       int // batches stored at once (each in its own transaction)
	AckWait        time.Duration
	PublicURL      string
	AllowPrivate   bool            // ALLOW_PRIVATE_WEBHOOKS
	Backoff        []time.Duration // waits after failed attempts; one more failure is final
	Poll           time.Duration   // how often the delivery queue is looked at
	SendTimeout    time.Duration
	MaxSending     int    // deliveries in flight per replica
	PagerDutyURL   string // Events API v2 endpoint
	RulesRefresh   time.Duration
	SMTP           config.SMTPConfig
	MailTLS        *mailer.Mailer // overrides SMTP (tests)
	HistoryRetains time.Duration  // counts kept
	DigestEvery    time.Duration  // how often due digests are looked for; 0: never
	// Tracer, when set, traces each EVENTS batch with a span linked to
	// the grouping batches its messages came from; nil traces nothing.
	Tracer trace.Tracer
}

// DefaultOptions are the production options.
func DefaultOptions() Options {
	return Options{
		Consumer:       "alerting",
		CommandsName:   "alerting",
		BatchSize:      1000,
		Linger:         20 * time.Millisecond,
		InFlight:       3,
		AckWait:        natsx.MaxAckWait,
		Backoff:        []time.Duration{time.Second, 10 * time.Second, time.Minute, 10 * time.Minute},
		Poll:           250 * time.Millisecond,
		SendTimeout:    10 * time.Second,
		MaxSending:     64,
		PagerDutyURL:   notify.PagerDutyURL,
		RulesRefresh:   time.Second,
		HistoryRetains: 61 * 24 * time.Hour,
		DigestEvery:    time.Minute,
	}
}

// OptionsFrom derives the options from the process configuration and the
// environment's ALLOW_PRIVATE_WEBHOOKS.
func OptionsFrom(c config.Config, getenv func(string) string) Options {
	o := DefaultOptions()
	o.PublicURL = c.PublicURL
	o.SMTP = c.SMTP
	o.AllowPrivate = getenv("ALLOW_PRIVATE_WEBHOOKS") == "true"
	return o
}

// Consumers are the durable consumers a replica reads: EVENTS' and
// ALERTING's (rule and plugin commands).
func (o Options) Consumers() []natsx.ConsumerRef {
	return []natsx.ConsumerRef{{Stream: streams.Events, Consumer: o.Consumer}, {Stream: streams.Alerting, Consumer: o.CommandsName}}
}

// Service is one alerting replica.
type Service struct {
	opt    Options
	pool   *pgxpool.Pool
	nats   *natsx.Conn
	log    *slog.Logger
	zdec   *zstd.Decoder
	rules  *ruleCache
	dir    *directory
	sender *notify.Sender
	poke   chan struct{}
	m      *metrics

	secrets sync.Map // project id → its signing secret ([]byte)

	startMu sync.Mutex
	since   time.Time // messages stored before the consumer existed are history
}

// New prepares a replica; the streams must be applied and the migrations
// run. Its metrics are registered with reg unless it is nil.
func New(pool *pgxpool.Pool, nc *natsx.Conn, opt Options, reg prometheus.Registerer, log *slog.Logger) (*Service, error) {
	zdec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return nil, err
	}
	m := opt.MailTLS
	if m == nil {
		m = mailer.New(opt.SMTP)
	}
	if opt.AckWait <= 0 {
		opt.AckWait = natsx.MaxAckWait
	}
	timeout := opt.SendTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Service{
		opt: opt, pool: pool, nats: nc, log: log, zdec: zdec,
		rules: newRuleCache(pool, opt.RulesRefresh),
		dir:   &directory{pool: pool},
		sender: &notify.Sender{
			HTTP: outbound.NewClient(outbound.Options{AllowPrivate: opt.AllowPrivate, Timeout: timeout}),
			Mail: m,
		},
		poke: make(chan struct{}, 1),
		m:    newMetrics(reg),
	}, nil
}

// HTTPClient is the client deliveries use.
func (s *Service) HTTPClient() *http.Client { return s.sender.HTTP }

// ConsumerConfig is the EVENTS consumer's definition. A new consumer
// starts at the stream's end: what happened before alerting existed is
// history, not news.
func (s *Service) ConsumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        s.opt.Consumer,
		Description:    "alerting: rules evaluated on grouped events and issue changes",
		FilterSubjects: []string{"events.*.grouped", "issues.*.*"},
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        s.opt.AckWait,
		MaxDeliver:     -1,
		MaxAckPending:  max(20*s.opt.BatchSize, 1000),
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	}
}

// Run consumes and delivers until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	cons, err := natsx.CreateConsumer(ctx, s.nats.JS, streams.Events, s.ConsumerConfig(), s.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: not a failure
		}
		return err
	}
	s.startMu.Lock()
	s.since = cons.CachedInfo().Created // as the server answered the create: no second request
	s.startMu.Unlock()
	cmds, err := natsx.CreateConsumer(ctx, s.nats.JS, streams.Alerting, jetstream.ConsumerConfig{
		Durable:       s.opt.CommandsName,
		Description:   "alerting: rule and plugin changes",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       natsx.MaxAckWait,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}, s.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: not a failure
		}
		return err
	}
	var wg sync.WaitGroup
	parts := []func(context.Context) error{
		func(ctx context.Context) error { return s.consume(ctx, cons) },
		func(ctx context.Context) error { return s.consumeCommands(ctx, cmds) },
		s.deliverLoop,
		s.maintain,
		s.runDigests,
	}
	errs := make(chan error, len(parts))
	for _, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := part(ctx); err != nil && ctx.Err() == nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// maintain prunes what no rule can look at any more and keeps the tables
// every batch rewrites free of dead rows when the server's autovacuum is
// off or behind (pg.VacuumBloated).
func (s *Service) maintain(ctx context.Context) error {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	vacuum := time.NewTicker(30 * time.Second)
	defer vacuum.Stop()
	for {
		now := time.Now()
		for _, q := range []struct {
			sql string
			age time.Duration
		}{
			{`DELETE FROM alerting.seen_events WHERE received < $1`, 24 * time.Hour},
			{`DELETE FROM alerting.triggers WHERE at < $1`, 24 * time.Hour},
			{`DELETE FROM alerting.counts WHERE minute < $1`, s.opt.HistoryRetains},
			{`DELETE FROM alerting.counts_hourly WHERE hour < $1`, s.opt.HistoryRetains},
			{`DELETE FROM alerting.users WHERE minute < $1`, s.opt.HistoryRetains},
			{`DELETE FROM alerting.users_hourly WHERE hour < $1`, s.opt.HistoryRetains},
			{`DELETE FROM alerting.notifications WHERE created_at < $1`, 90 * 24 * time.Hour},
		} {
			if _, err := s.pool.Exec(ctx, q.sql, now.Add(-q.age)); err != nil && ctx.Err() == nil {
				s.log.Warn("alerting maintenance failed", slog.Any("error", err))
			}
		}
		for pruneDue := false; !pruneDue; {
			select {
			case <-ctx.Done():
				return nil
			case <-vacuum.C:
				_, err := pg.VacuumBloated(ctx, s.pool, "alerting.issues", "alerting.counts", "alerting.counts_hourly", "alerting.users", "alerting.users_hourly",
					"alerting.seen_events", "alerting.deliveries")
				if err != nil && ctx.Err() == nil {
					s.log.Warn("vacuuming alerting's tables failed; will retry", slog.Any("error", err))
				}
			case <-t.C:
				pruneDue = true
			}
		}
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
