// Package grouping is Faultline's grouping role and the owner of the
// Postgres schema "grouping": a durable consumer of the INGEST stream that
// normalizes error and security events, groups them into issues, stores
// issues, their hashes, events and tag counts, applies the issue lifecycle
// (regressions, unignores), and publishes every decision on the EVENTS
// stream.
//
// Each batch of messages is one Postgres transaction. Redelivery changes
// nothing (event ids are claimed with ON CONFLICT DO NOTHING), replicas on
// the same durable consumer agree (aggregates merge without regard to
// order; issue creation is serialized per project and guarded by a unique
// hash), bad payloads are terminated and recorded in grouping.rejected, and
// while Postgres is down messages are nak'ed with a growing delay.
package grouping

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/libs/sourcemapindex"
	"github.com/faultline/faultline/libs/telemetry"
	"github.com/faultline/faultline/streams"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations are the grouping service's schema migrations.
var Migrations = pg.Migrations{Service: "grouping", FS: migrationsFS, Dir: "migrations"}

// Options configure the service.
type Options struct {
	Consumer      string        // durable consumer name
	Subjects      []string      // INGEST subjects consumed
	BatchSize     int           // messages per transaction, at most
	Linger        time.Duration // how long a batch waits to fill once it has a message
	Workers       int           // goroutines normalizing and grouping
	RetentionDays int           // event partitions older than this are dropped; 0 keeps them
	AckWait       time.Duration
	OutboxAge     time.Duration // publications older than this are swept from the outbox
	RulesRefresh  time.Duration // how soon a change of a project's grouping rules is seen
	Envelope      envelope.Limits
	MonitorTick   time.Duration    // how often overdue cron check-ins are looked for
	Now           func() time.Time // the monitors' clock; nil is time.Now

	// Schema is where the projection is written: "grouping", or the next
	// generation's schema during a replay.
	Schema string
	// Quiet publishes nothing: a replay does not announce history again.
	Quiet bool
	// Tracer, when set, traces each batch with a span linked to the
	// context its messages carry, and the EVENTS messages it publishes
	// carry the batch span's context on; nil traces nothing.
	Tracer trace.Tracer
}

// DefaultOptions are the production options.
func DefaultOptions() Options {
	return Options{
		Consumer:  "grouping",
		Subjects:  []string{"ingest.*.error", "ingest.*.security"},
		BatchSize: 500,
		// Publishing no longer holds up the next batch, so under a steady
		// load a short linger made batches of a few events, each paying for
		// a transaction: at 1,000 events/s 20 ms instead of 5 ms took 30 %
		// off Postgres's CPU per event and 8 % off the server's.
		Linger:        20 * time.Millisecond,
		Workers:       runtime.GOMAXPROCS(0),
		RetentionDays: 90,
		// Short, so that what a killed replica held is redelivered soon; a
		// Keepalive keeps what a live one holds from being redelivered.
		AckWait:      natsx.MaxAckWait,
		OutboxAge:    30 * time.Second,
		RulesRefresh: 10 * time.Second,
		Envelope:     checkedLimits(),
		MonitorTick:  15 * time.Second,
		Schema:       "grouping",
	}
}

// OptionsFrom derives the options from the process configuration.
func OptionsFrom(c config.Config) Options {
	o := DefaultOptions()
	o.RetentionDays = c.EventRetentionDays
	return o
}

// Consumers are the durable consumers a replica with these options reads:
// INGEST's and, unless it is quiet (a replay), DECISIONS'.
func (o Options) Consumers() []natsx.ConsumerRef {
	refs := []natsx.ConsumerRef{{Stream: streams.Ingest, Consumer: o.Consumer}}
	if !o.Quiet {
		refs = append(refs, natsx.ConsumerRef{Stream: streams.Decisions, Consumer: DecisionsConsumer},
			natsx.ConsumerRef{Stream: streams.Ingest, Consumer: CheckInsConsumer})
	}
	return refs
}

// Service is one grouping replica.
type Service struct {
	opt   Options
	pool  *pgxpool.Pool
	nats  *natsx.Conn
	blobs jetstream.ObjectStore
	log   *slog.Logger
	maps  *sourcemapindex.Index // symbolicates JavaScript frames before grouping
	rules *ruleCache
	// owners are the projects' ownership rules, for auto-assignment.
	owners ownershipCache
	zenc   *zstd.Encoder
	zdec   *zstd.Decoder
	m      *metrics

	schema     string
	lockKey    int32 // first key of the per-project issue-creation lock
	changesKey int32 // first key of the per-project lock against merges and deletes

	// testHookAssigned, when set, runs after a batch's events have their
	// issues and before anything is written: tests interleave a merge there.
	testHookAssigned atomic.Pointer[func()]
	// testHookPrepare, when set, runs as each message is prepared: tests
	// make it panic.
	testHookPrepare atomic.Pointer[func(*message)]

	// tombstones, during a replay, are the deleted issues' hashes: their
	// events are not replayed.
	tombstones tombstones
	// feed, during a replay, are the decisions to apply in order with the
	// events; held is an envelope that waits for the decisions before it.
	feed *decisionFeed
	held jetstream.Msg

	partMu     sync.Mutex
	partitions map[time.Time]bool

	pendingMu sync.Mutex
	pending   []int64 // outbox rows published and still to delete
}

// New prepares a replica. The streams must have been applied and the
// migrations run.
func New(ctx context.Context, pool *pgxpool.Pool, nc *natsx.Conn, opt Options, reg prometheus.Registerer, log *slog.Logger) (*Service, error) {
	blobs, err := nc.JS.ObjectStore(ctx, streams.BlobsBucket)
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", streams.BlobsBucket, err)
	}
	if opt.Workers <= 0 {
		opt.Workers = 1
	}
	maps, err := sourcemapindex.New(ctx, pool, nc.JS, sourcemapindex.DefaultOptions())
	if err != nil {
		return nil, err
	}
	// One encoder per worker: EncodeAll waits for a free one.
	zenc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(opt.Workers))
	if err != nil {
		return nil, err
	}
	zdec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return nil, err
	}
	if opt.Schema == "" {
		opt.Schema = "grouping"
	}
	lockKey, changesKey := int32(lockIssueCreation), int32(lockIssueChanges)
	if opt.Schema != "grouping" {
		lockKey = int32(xxhash.Sum64String(opt.Schema))
		changesKey = lockKey ^ 0x5a5a5a5a
	}
	rules := newRuleCache(pool, log, opt.RulesRefresh)
	rules.schema = opt.Schema
	return &Service{
		opt: opt, pool: pool, nats: nc, blobs: blobs, log: log, maps: maps,
		rules: rules,
		zenc:  zenc, zdec: zdec, m: newMetrics(reg),
		partitions: map[time.Time]bool{},
		schema:     opt.Schema, lockKey: lockKey, changesKey: changesKey,
	}, nil
}

// q rewrites a statement written against the schema "grouping" for the
// schema this replica writes.
func (s *Service) q(sql string) string {
	if s.schema == "grouping" {
		return sql
	}
	return strings.ReplaceAll(sql, "grouping.", s.schema+".")
}

// ConsumerConfig is the durable consumer's definition.
func (s *Service) ConsumerConfig() jetstream.ConsumerConfig {
	ackWait := s.opt.AckWait
	if ackWait <= 0 {
		ackWait = natsx.MaxAckWait
	}
	return jetstream.ConsumerConfig{
		Durable:        s.opt.Consumer,
		Description:    "grouping: error and security events into issues",
		FilterSubjects: s.opt.Subjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxDeliver:     -1,
		MaxAckPending:  max(20*s.opt.BatchSize, 1000),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
}

// Run consumes until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	cons, err := natsx.CreateConsumer(ctx, s.nats.JS, streams.Ingest, s.ConsumerConfig(), s.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: not a failure
		}
		return err
	}
	if s.opt.Quiet {
		return s.consume(ctx, cons)
	}
	dctx, stop := context.WithCancel(ctx)
	errc, monc := make(chan error, 1), make(chan error, 1)
	go func() { errc <- s.runDecisions(dctx) }()
	go func() { monc <- s.runMonitors(dctx) }()
	err = s.consume(ctx, cons)
	stop()
	return errors.Join(err, <-errc, <-monc)
}

// consume processes cons's messages until ctx ends.
func (s *Service) consume(ctx context.Context, cons jetstream.Consumer) error {
	if err := s.maintainPartitions(ctx, time.Now()); err != nil {
		s.log.Warn("partition maintenance failed; will retry", slog.Any("error", err))
	}
	s.readGeneration(ctx)
	// Messages are held, and kept alive, from the moment they are handed
	// over until they are settled: waiting for a batch, being prepared or
	// stored. Those still in the client's buffer are not, so the buffer is
	// one batch, drained within half an ack wait at any plausible rate,
	// and the queue after it two.
	alive := natsx.NewKeepalive(s.ConsumerConfig().AckWait)
	defer func() { // runs last: what the stopped consumer did not settle goes back now
		if n := alive.GiveBack(); n > 0 {
			s.log.Info("stopping: gave back unfinished messages for redelivery", slog.Int("messages", n))
		}
	}()
	kctx, stopAlive := context.WithCancel(ctx)
	defer stopAlive()
	go alive.Run(kctx)
	ch := make(chan jetstream.Msg, 2*s.opt.BatchSize)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		h := alive.Hold(m)
		select {
		case ch <- h:
		case <-ctx.Done():
		}
	}, jetstream.PullMaxMessages(s.opt.BatchSize), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Debug("consume", slog.Any("error", err))
	}))
	if err != nil {
		return fmt.Errorf("consume %q: %w", s.opt.Consumer, err)
	}
	defer natsx.StopConsuming(cc, 5*time.Second)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.maintain(ctx) }()
	defer wg.Wait()

	// Two stages: while one batch is in Postgres the next is normalized.
	// During a replay a decision passes between batches, and the next batch
	// is prepared only once it is applied (a rule change regroups it).
	batches := make(chan work, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(batches)
		for {
			b, d := s.collect(ctx, ch)
			if d != nil {
				w := work{dec: d, done: make(chan struct{})}
				select {
				case batches <- w:
				case <-ctx.Done():
					return
				}
				select {
				case <-w.done:
				case <-ctx.Done():
					return
				}
				continue
			}
			if b == nil {
				return
			}
			span := s.startBatch(ctx, b)
			s.prepareAll(ctx, b)
			select {
			case batches <- work{msgs: b, span: span}:
			case <-ctx.Done():
				if span != nil {
					span.End()
				}
				return
			}
		}
	}()
	// The third stage publishes a committed batch's decisions while the
	// next batch is stored: the outbox already holds them, so the INGEST
	// messages are acknowledged at commit and publishing stays off the
	// Postgres stage's path. A publication that fails stays in the outbox
	// for the sweeper.
	pubq := make(chan outboxBatch, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ob := range pubq {
			if done := s.publish(ctx, ob.pubs, ob.trace); len(done) == len(ob.pubs) && ob.id != 0 {
				s.addPending(ob.id)
			}
		}
	}()
	defer close(pubq)
	failures := 0
	for w := range batches {
		if w.dec != nil {
			s.applyInOrder(ctx, w.dec)
			close(w.done)
			continue
		}
		b := w.msgs
		err := s.handle(ctx, b, w.span, pubq)
		if w.span != nil {
			telemetry.EndBatch(w.span, err)
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			wait := min(250*time.Millisecond<<min(failures, 8), 10*time.Second)
			s.log.Warn("batch failed; nak'ed for redelivery", slog.Int("messages", len(b)), slog.Any("error", err), slog.Duration("pause", wait))
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			continue
		}
		failures = 0
	}
	return nil
}

// work is a prepared batch, or a decision to apply between batches.
type work struct {
	msgs []*message
	span trace.Span // the batch's, from before it is prepared; nil when not tracing
	dec  *streams.Decision
	done chan struct{} // closed once dec is applied
}

// startBatch starts b's span, linked to the gateway requests its messages
// came from; nil when not tracing.
func (s *Service) startBatch(ctx context.Context, b []*message) trace.Span {
	if s.opt.Tracer == nil {
		return nil
	}
	links := make([]trace.Link, 0, len(b))
	for _, m := range b {
		links = telemetry.AppendLink(links, m.msg.Headers())
	}
	_, span := telemetry.StartBatch(ctx, s.opt.Tracer, s.opt.Consumer, streams.Ingest, len(b), links)
	return span
}

// collect waits for a message, then takes what else is ready, up to a
// batch, lingering briefly for more. During a replay it ends the batch
// before an envelope received after the next decision, and returns that
// decision alone when it is due.
func (s *Service) collect(ctx context.Context, ch <-chan jetstream.Msg) ([]*message, *streams.Decision) {
	var b []*message
	// take adds m to the batch, or holds it back behind a due decision.
	take := func(m jetstream.Msg) bool {
		if s.feed != nil && s.feed.dueBefore(m) {
			s.held = m
			return false
		}
		b = append(b, &message{msg: m})
		return true
	}
	if m := s.held; m != nil {
		s.held = nil
		if !take(m) {
			return nil, s.feed.pop()
		}
	} else {
		select {
		case m := <-ch:
			if !take(m) {
				return nil, s.feed.pop()
			}
		case <-ctx.Done():
			return nil, nil
		}
	}
	linger := time.NewTimer(s.opt.Linger)
	defer linger.Stop()
	for len(b) < s.opt.BatchSize {
		select {
		case m := <-ch:
			if !take(m) {
				return b, nil
			}
		case <-linger.C:
			return b, nil
		case <-ctx.Done():
			return b, nil
		}
	}
	return b, nil
}

func (s *Service) prepareAll(ctx context.Context, b []*message) {
	if err := s.rules.load(ctx); err != nil {
		for _, m := range b {
			m.err = fmt.Errorf("load grouping rules: %w", err)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan *message)
	for range min(s.opt.Workers, len(b)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range next {
				s.prepare(ctx, m)
			}
		}()
	}
	for _, m := range b {
		next <- m
	}
	close(next)
	wg.Wait()
}

// outboxBatch is one committed batch's publications and their outbox row.
type outboxBatch struct {
	pubs  []publication
	id    int64
	trace trace.SpanContext // the batch span's, carried on by each publication
}

// handle stores a prepared batch, acknowledges it, and hands its
// publications to pubq. On a transient failure every message not yet
// settled is nak'ed with a delay that grows with its delivery count. span
// is the batch's, nil when not tracing.
func (s *Service) handle(ctx context.Context, b []*message, span trace.Span, pubq chan<- outboxBatch) error {
	start := time.Now()
	var ok []*message
	for _, m := range b {
		if m.err != nil {
			s.nak(m)
			continue
		}
		ok = append(ok, m)
	}
	if len(ok) == 0 {
		s.m.failures.Inc()
		return b[0].err
	}
	published := s.takePending()
	var pubs []publication
	var stored int
	var outboxID int64
	var err error
	for attempt := 0; ; attempt++ {
		for _, m := range ok {
			for _, p := range m.events {
				p.issueID = 0
			}
		}
		pubs, outboxID, stored, err = s.store(ctx, ok, published)
		if err == nil || !retryable(err) || attempt >= 4 {
			break
		}
	}
	if err != nil {
		s.addPending(published...)
		for _, m := range ok {
			s.nak(m)
		}
		s.m.failures.Inc()
		return err
	}
	for _, m := range ok {
		if m.reject != "" {
			s.log.Warn("message rejected", slog.Uint64("stream_seq", m.seq), slog.String("subject", m.subject), slog.String("reason", m.reject))
			m.msg.TermWithReason(clip(m.reject, 200))
			s.m.rejected.Inc()
			continue
		}
		m.msg.Ack()
	}
	s.m.events.Add(float64(stored))
	s.m.batch.Observe(time.Since(start).Seconds())
	s.m.batchSize.Observe(float64(len(b)))
	var sc trace.SpanContext
	if span != nil {
		span.SetAttributes(attribute.Int("faultline.events.stored", stored), attribute.Int("faultline.messages.published", len(pubs)))
		sc = span.SpanContext()
	}
	if len(pubs) > 0 {
		select {
		case pubq <- outboxBatch{pubs: pubs, id: outboxID, trace: sc}:
		case <-ctx.Done(): // the sweeper publishes it after a restart
		}
	}
	return nil
}

// addPending records outbox rows whose publications the stream has; the
// next transaction or the sweep deletes them.
func (s *Service) addPending(ids ...int64) {
	s.pendingMu.Lock()
	s.pending = append(s.pending, ids...)
	s.pendingMu.Unlock()
}

// takePending hands over the outbox rows still to delete.
func (s *Service) takePending() []int64 {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	ids := s.pending
	s.pending = nil
	return ids
}

func (s *Service) nak(m *message) {
	d := min(500*time.Millisecond<<min(m.delivery, 6), 30*time.Second)
	m.msg.NakWithDelay(d)
}

// retryable errors are worth another attempt at once: a deadlock between
// replicas, a serialization failure.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// maintain runs the periodic work: unignoring issues whose ignore time has
// passed, the outbox sweep and, hourly, partition maintenance.
func (s *Service) maintain(ctx context.Context) {
	sweep := time.NewTicker(max(s.opt.OutboxAge/3, time.Second))
	defer sweep.Stop()
	parts := time.NewTicker(time.Hour)
	defer parts.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			done := s.takePending()
			if len(done) > 0 {
				if _, err := s.pool.Exec(ctx, s.q(`DELETE FROM grouping.outbox WHERE id = ANY($1)`), done); err != nil {
					s.addPending(done...)
				}
			}
			if n, err := s.sweepOutbox(ctx, s.opt.OutboxAge); err != nil {
				s.log.Debug("outbox sweep failed", slog.Any("error", err))
			} else if n > 0 {
				s.log.Info("published leftover outbox rows", slog.Int("count", n))
			}
			s.readGeneration(ctx)
			s.vacuum(ctx)
			// After the outbox sweep: its publications are made at once and
			// their row deleted on the next tick, before the next sweep.
			if !s.opt.Quiet {
				if err := s.sweepIgnores(ctx); err != nil {
					s.log.Warn("unignoring issues whose ignore time passed failed; will retry", slog.Any("error", err))
				}
			}
		case <-parts.C:
			if err := s.maintainPartitions(ctx, time.Now()); err != nil {
				s.log.Warn("partition maintenance failed", slog.Any("error", err))
			}
		}
	}
}

// vacuum keeps the tables every batch rewrites free of dead rows when the
// server's autovacuum is off or behind (pg.VacuumBloated).
func (s *Service) vacuum(ctx context.Context) {
	done, err := pg.VacuumBloated(ctx, s.pool, s.schema+".issues", s.schema+".issue_tags", s.schema+".outbox")
	if err != nil && ctx.Err() == nil {
		s.log.Warn("vacuuming grouping's tables failed; will retry", slog.Any("error", err))
	}
	if len(done) > 0 {
		s.log.Debug("vacuumed", slog.Any("tables", done))
	}
}

// readGeneration sets the generation gauge from the live projection: a
// replay in another process switches generations, and this replica's
// gauge follows within a sweep. A replay's own replica has none.
func (s *Service) readGeneration(ctx context.Context) {
	if s.schema != "grouping" {
		return
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT number FROM grouping.generation`).Scan(&n); err != nil {
		s.log.Debug("read the projection's generation", slog.Any("error", err))
		return
	}
	s.m.generation.Set(float64(n))
}

// checkedLimits are the envelope limits for envelopes the gateway accepted:
// their items' JSON is not checked again here, since the readers of the
// items grouping decodes (event.Normalize, event.NormalizeSecurity) check
// it themselves and name a bad payload as the poison message's reason.
func checkedLimits() envelope.Limits {
	l := envelope.DefaultLimits
	l.PayloadsChecked = true
	return l
}
