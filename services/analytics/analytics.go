// Package analytics is Faultline's analytics role and the owner of its
// ClickHouse schema: durable consumers of EVENTS (grouped errors with their
// issues), INGEST (transactions, spans, sessions, logs, client reports,
// and the accepted count of every envelope) and OUTCOMES (what the gateway
// filtered, rate-limited or refused) that write ClickHouse with native
// batch inserts.
//
// Rows are buffered up to BatchSize messages or FlushInterval, inserted
// (while the next batch fills), and only then are their messages
// acknowledged. Every table deduplicates on a key
// that a redelivery writes again (event id, span id, INGEST sequence), and
// libs/analyticsquery reads with FINAL (its tables and series: on every
// partition that is not one merged part), so redeliveries and replicas
// count once; the role merges quiet partitions into one part
// (OptimizeQuiet) so most reads need no FINAL. While ClickHouse is down
// the batch is nak'ed with a growing delay and the streams hold the
// backlog; Lag says how far behind the role is.
package analytics

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/faultline/faultline/libs/clickhouse"
	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/telemetry"
	"github.com/faultline/faultline/streams"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations are the analytics role's ClickHouse migrations.
var Migrations = clickhouse.Migrations{Service: "analytics", FS: migrationsFS, Dir: "migrations"}

// Tables are the role's tables, in the order a batch inserts them.
var Tables = []string{"errors", "transactions", "spans", "sessions", "logs", "outcomes"}

// Options configure the role.
type Options struct {
	IngestConsumer   string        // durable consumer on INGEST
	EventsConsumer   string        // durable consumer on EVENTS
	OutcomesConsumer string        // durable consumer on OUTCOMES
	BatchSize        int           // messages per insert, at most, and 4×BatchSize rows of one table (filling.full)
	FlushInterval    time.Duration // how long a partial batch waits
	RetentionDays    int           // partitions older than this are dropped; 0 keeps them
	AckWait          time.Duration
	Envelope         envelope.Limits
	// Tracer, when set, traces each insert with a span linked to the
	// context its messages carry (gateway requests, grouping batches);
	// nil traces nothing.
	Tracer trace.Tracer
}

// DefaultOptions are the production options.
func DefaultOptions() Options {
	return Options{
		IngestConsumer:   "analytics-ingest",
		EventsConsumer:   "analytics-events",
		OutcomesConsumer: "analytics-outcomes",
		BatchSize:        5000,
		FlushInterval:    time.Second,
		RetentionDays:    90,
		AckWait:          natsx.MaxAckWait,
		Envelope:         checkedLimits(),
	}
}

// OptionsFrom derives the options from the process configuration.
func OptionsFrom(c config.Config) Options {
	o := DefaultOptions()
	o.RetentionDays = c.EventRetentionDays
	if c.AnalyticsBatchSize > 0 {
		o.BatchSize = c.AnalyticsBatchSize
	}
	if c.AnalyticsFlushInterval > 0 {
		o.FlushInterval = c.AnalyticsFlushInterval
	}
	return o
}

// Consumers are the durable consumers a replica reads, of INGEST, EVENTS
// and OUTCOMES.
func (o Options) Consumers() []natsx.ConsumerRef {
	return []natsx.ConsumerRef{{Stream: streams.Ingest, Consumer: o.IngestConsumer}, {Stream: streams.Events, Consumer: o.EventsConsumer},
		{Stream: streams.Outcomes, Consumer: o.OutcomesConsumer}}
}

// Service is one analytics replica.
type Service struct {
	opt   Options
	ch    clickhouse.Conn
	nats  *natsx.Conn
	blobs jetstream.ObjectStore
	zdec  *zstd.Decoder
	log   *slog.Logger
	m     *metrics

	mu        sync.Mutex
	consumers []jetstream.Consumer
}

// New prepares a replica over an open ClickHouse connection; Run applies
// the migrations. The streams must have been applied. Its metrics are
// registered with reg unless it is nil.
func New(ctx context.Context, ch clickhouse.Conn, nc *natsx.Conn, opt Options, reg prometheus.Registerer, log *slog.Logger) (*Service, error) {
	blobs, err := nc.JS.ObjectStore(ctx, streams.BlobsBucket)
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", streams.BlobsBucket, err)
	}
	zdec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return nil, err
	}
	opt.BatchSize = max(opt.BatchSize, 1)
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = time.Second
	}
	if opt.AckWait <= 0 {
		opt.AckWait = natsx.MaxAckWait
	}
	return &Service{opt: opt, ch: ch, nats: nc, blobs: blobs, zdec: zdec, log: log, m: newMetrics(reg)}, nil
}

// IngestSubjects are the INGEST subjects consumed: every kind, since each
// envelope counts as accepted in the usage stats; transactions, spans,
// sessions, logs and client reports also become rows of their own.
var IngestSubjects = []string{"ingest.>"}

// EventsSubjects are the EVENTS subjects consumed: grouped events, and
// stored events a decision regrouped (their rows written again, which
// the errors table's deduplication makes the newest version).
var EventsSubjects = []string{"events.*.grouped", "events.*.regrouped"}

func (s *Service) consumerConfig(name, desc string, subjects []string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        name,
		Description:    desc,
		FilterSubjects: subjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        s.opt.AckWait,
		MaxDeliver:     -1,
		MaxAckPending:  max(4*s.opt.BatchSize, 1000),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
}

// Run applies the migrations (retrying while ClickHouse is unreachable)
// and consumes both streams until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		_, err := clickhouse.Migrate(ctx, s.ch, Migrations)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("clickhouse migrations failed; retrying", slog.Any("error", err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(min(time.Second<<min(attempt, 5), 30*time.Second)):
		}
	}
	ingest, err := natsx.CreateConsumer(ctx, s.nats.JS, streams.Ingest,
		s.consumerConfig(s.opt.IngestConsumer, "analytics: transactions, spans, sessions, logs, outcomes into ClickHouse", IngestSubjects), s.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: not a failure
		}
		return err
	}
	events, err := natsx.CreateConsumer(ctx, s.nats.JS, streams.Events,
		s.consumerConfig(s.opt.EventsConsumer, "analytics: grouped errors into ClickHouse", EventsSubjects), s.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: not a failure
		}
		return err
	}
	outcomes, err := natsx.CreateConsumer(ctx, s.nats.JS, streams.Outcomes,
		s.consumerConfig(s.opt.OutcomesConsumer, "analytics: the gateway's dropped counts into ClickHouse", []string{streams.OutcomesSubject}), s.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: not a failure
		}
		return err
	}
	s.mu.Lock()
	s.consumers = []jetstream.Consumer{ingest, events, outcomes}
	s.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, c := range []struct {
		name   string
		cons   jetstream.Consumer
		decode decodeFunc
	}{{s.opt.IngestConsumer, ingest, s.decodeIngest}, {s.opt.EventsConsumer, events, s.decodeGrouped},
		{s.opt.OutcomesConsumer, outcomes, s.decodeOutcomes}} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.consume(ctx, c.name, c.cons, c.decode) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.maintain(ctx) }()
	wg.Wait()
	return errors.Join(errs...)
}

// Lag is how far the role is behind: messages not yet delivered to it plus
// those delivered and not yet acknowledged, per consumer.
type Lag struct {
	Ingest, Events, Outcomes uint64
}

// Total is the lag of the consumers together.
func (l Lag) Total() uint64 { return l.Ingest + l.Events + l.Outcomes }

// Lag reads the consumers' state from JetStream; /readyz and
// `faultline status` can show it.
func (s *Service) Lag(ctx context.Context) (Lag, error) {
	s.mu.Lock()
	cs := s.consumers
	s.mu.Unlock()
	if len(cs) != 3 {
		return Lag{}, errors.New("analytics: not consuming yet")
	}
	var out [3]uint64
	for i, c := range cs {
		info, err := c.Info(ctx)
		if err != nil {
			return Lag{}, fmt.Errorf("analytics lag: %w", err)
		}
		out[i] = info.NumPending + uint64(info.NumAckPending)
	}
	return Lag{Ingest: out[0], Events: out[1], Outcomes: out[2]}, nil
}

// permanent marks errors that redelivery cannot fix.
type permanent struct{ reason string }

func (p *permanent) Error() string { return p.reason }

func reject(format string, args ...any) error { return &permanent{fmt.Sprintf(format, args...)} }

type decodeFunc func(ctx context.Context, m jetstream.Msg, r *rows) error

// testHookDecode, when set, is called on each message before it is decoded
// (tests inject a panic with it).
var testHookDecode atomic.Pointer[func(jetstream.Msg)]

// decodeRecovered is decode with a panic turned into a rejection: that
// message is terminated with the panic as its reason, the role goes on.
func (s *Service) decodeRecovered(decode decodeFunc, ctx context.Context, m jetstream.Msg, r *rows) (err error) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic while decoding a message; it is rejected", slog.String("subject", m.Subject()),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			err = reject("panic: %v", v)
		}
	}()
	if hook := testHookDecode.Load(); hook != nil {
		(*hook)(m)
	}
	return decode(ctx, m, r)
}

// filling is a batch of rows and the messages they came from.
type filling struct {
	rows  rows
	msgs  []jetstream.Msg
	first time.Time // when its first message came, when tracing
}

// full says whether a batch is as large as a batch gets: BatchSize
// messages, or 4×BatchSize rows of one table (a message is several rows:
// a transaction is a transaction, its spans and an outcome).
func (b *filling) full(size int) bool {
	r := &b.rows
	return len(b.msgs) >= size || max(len(r.errors), len(r.transactions), len(r.spans), len(r.sessions), len(r.logs), len(r.outcomes)) >= 4*size
}

// consume batches the messages of cons, named name, into ClickHouse until
// ctx ends. One batch is inserted while the next fills: inserts, one at a
// time and in the order of the batches, so the rows of one key reach a
// table in the order of the stream; the role holds two batches at most.
func (s *Service) consume(ctx context.Context, name string, cons jetstream.Consumer, decode decodeFunc) error {
	// Messages are held, and kept alive, from the moment they are handed
	// over until they are settled, so a ClickHouse insert slower than the
	// ack wait redelivers nothing. Those still in the client's buffer are
	// not: it is kept small, and the queue after it large.
	alive := natsx.NewKeepalive(s.opt.AckWait)
	defer alive.GiveBack() // runs last: what the stopped consumer did not settle goes back now
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
	}, jetstream.PullMaxMessages(min(s.opt.BatchSize, 1000)), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Debug("consume", slog.Any("error", err))
	}))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer natsx.StopConsuming(cc, 5*time.Second)
	// Batches go to the inserter full and come back empty, their room
	// kept: the rows of the next batch are not copied as it grows.
	full, empty := make(chan *filling), make(chan *filling, 1)
	inserted := make(chan struct{})
	go func() {
		defer close(inserted)
		failures := 0
		for b := range full {
			s.settle(ctx, name, cons, b, &failures)
			b.rows.clear()
			clear(b.msgs)
			b.msgs, b.first = b.msgs[:0], time.Time{}
			select {
			case empty <- b:
			default: // never blocks: the filler takes one back after each it hands over
			}
		}
	}()
	defer func() { close(full); <-inserted }() // runs first: the insert under way ends (or fails with ctx)
	cur := &filling{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		if len(cur.msgs) == 0 {
			return
		}
		select {
		case full <- cur:
		case <-ctx.Done():
			return
		}
		select {
		case cur = <-empty:
		default:
			cur = &filling{}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-ch:
			if len(cur.msgs) == 0 {
				timer.Reset(s.opt.FlushInterval)
				if s.opt.Tracer != nil {
					cur.first = time.Now()
				}
			}
			switch err := s.decodeRecovered(decode, ctx, m, &cur.rows); {
			case err == nil:
				cur.msgs = append(cur.msgs, m)
			case isPermanent(err):
				s.log.Warn("message rejected", slog.String("subject", m.Subject()), slog.String("reason", clip(err.Error(), 300)))
				kind := "invalid"
				if strings.HasPrefix(err.Error(), "panic: ") {
					kind = "panic"
				}
				natsx.Reject(m, "analytics", kind, err.Error())
			default:
				s.log.Warn("message not decoded; nak'ed", slog.String("subject", m.Subject()), slog.Any("error", err))
				nak(m)
			}
			if cur.full(s.opt.BatchSize) {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

// settle inserts batch b of cons, named name, and acknowledges its
// messages; when the insert fails it naks them and pauses for a time that
// grows with failures, the inserts that failed in a row.
func (s *Service) settle(ctx context.Context, name string, cons jetstream.Consumer, b *filling, failures *int) {
	start := time.Now()
	span := s.startBatch(ctx, cons, b.msgs, b.first)
	err := s.insert(ctx, &b.rows)
	if span != nil {
		telemetry.EndBatch(span, err)
	}
	if err != nil {
		*failures++
		if ctx.Err() != nil {
			return // the messages go back with the rest of what is held
		}
		for _, m := range b.msgs {
			nak(m)
		}
		wait := min(250*time.Millisecond<<min(*failures, 7), 15*time.Second)
		s.log.Warn("clickhouse insert failed; batch nak'ed for redelivery", slog.Int("messages", len(b.msgs)),
			slog.Any("error", err), slog.Duration("pause", wait))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		return
	}
	*failures = 0
	for _, m := range b.msgs {
		m.Ack()
	}
	s.m.batch.WithLabelValues(name).Observe(time.Since(start).Seconds())
	s.m.batchSize.WithLabelValues(name).Observe(float64(len(b.msgs)))
}

// startBatch starts the span of an insert of msgs from cons, from the
// moment the first of them came; nil when not tracing.
func (s *Service) startBatch(ctx context.Context, cons jetstream.Consumer, msgs []jetstream.Msg, first time.Time) trace.Span {
	if s.opt.Tracer == nil {
		return nil
	}
	links := make([]trace.Link, 0, len(msgs))
	for _, m := range msgs {
		links = telemetry.AppendLink(links, m.Headers())
	}
	info := cons.CachedInfo()
	_, span := telemetry.StartBatch(ctx, s.opt.Tracer, info.Name, info.Stream, len(msgs), links, trace.WithTimestamp(first))
	return span
}

func isPermanent(err error) bool {
	var p *permanent
	return errors.As(err, &p)
}

func nak(m jetstream.Msg) {
	var delivered uint64 = 1
	if md, err := m.Metadata(); err == nil {
		delivered = md.NumDelivered
	}
	m.NakWithDelay(min(500*time.Millisecond<<min(delivered, 6), 30*time.Second))
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// insert writes a batch, one native batch insert per table, the tables
// at once (each over a connection of its own from the pool).
func (s *Service) insert(ctx context.Context, r *rows) error {
	if hook := testHookInsert.Load(); hook != nil {
		if err := (*hook)(); err != nil {
			return err
		}
	}
	ictx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	errs, err := s.unstored(ictx, r.errors)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ictx)
	g.Go(func() error { return insertRows(gctx, s.ch, "errors", errs) })
	g.Go(func() error { return insertRows(gctx, s.ch, "transactions", r.transactions) })
	g.Go(func() error { return insertRows(gctx, s.ch, "spans", r.spans) })
	g.Go(func() error { return insertRows(gctx, s.ch, "sessions", r.sessions) })
	g.Go(func() error { return insertRows(gctx, s.ch, "logs", r.logs) })
	g.Go(func() error { return insertRows(gctx, s.ch, "outcomes", r.outcomes) })
	return g.Wait()
}

// testHookInsert, when set, is called before each batch is inserted; an
// error it returns fails the insert (tests fail one on purpose).
var testHookInsert atomic.Pointer[func() error]

// unstored is rs without the redelivered rows whose event already has a
// row: redeliveries are rare, so the lookup is too.
func (s *Service) unstored(ctx context.Context, rs []errorRow) ([]errorRow, error) {
	var projects []uint64
	var ids []string
	var from, to time.Time
	for _, r := range rs {
		if !r.redelivered {
			continue
		}
		if len(ids) == 0 || r.Timestamp.Before(from) {
			from = r.Timestamp
		}
		if len(ids) == 0 || r.Timestamp.After(to) {
			to = r.Timestamp
		}
		projects, ids = append(projects, r.ProjectID), append(ids, r.EventID)
	}
	if len(ids) == 0 {
		return rs, nil
	}
	rows, err := s.ch.Query(ctx, `SELECT DISTINCT project_id, event_id FROM errors
		WHERE has(?, project_id) AND timestamp >= ? AND timestamp <= ? AND has(?, event_id)`,
		projects, from.Truncate(time.Second), to.Truncate(time.Second).Add(time.Second), ids) // DateTime is whole seconds
	if err != nil {
		return nil, fmt.Errorf("look for redelivered events' rows: %w", err)
	}
	defer rows.Close()
	type key struct {
		project uint64
		id      string
	}
	stored := map[key]bool{}
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.project, &k.id); err != nil {
			return nil, fmt.Errorf("look for redelivered events' rows: %w", err)
		}
		stored[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look for redelivered events' rows: %w", err)
	}
	if len(stored) == 0 {
		return rs, nil
	}
	out := make([]errorRow, 0, len(rs))
	for _, r := range rs {
		if !r.redelivered || !stored[key{r.ProjectID, r.EventID}] {
			out = append(out, r)
		}
	}
	return out, nil
}

func insertRows[T any](ctx context.Context, c clickhouse.Conn, table string, rs []T) error {
	if len(rs) == 0 {
		return nil
	}
	b, err := c.PrepareBatch(ctx, "INSERT INTO "+table)
	if err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	for i := range rs {
		if err := b.AppendStruct(&rs[i]); err != nil {
			b.Abort()
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// decodeIngest turns an INGEST message into rows.
func (s *Service) decodeIngest(ctx context.Context, m jetstream.Msg, r *rows) error {
	h := m.Headers()
	project, err := strconv.ParseInt(h.Get(streams.HeaderProject), 10, 64)
	if err != nil || project <= 0 {
		parts := strings.Split(m.Subject(), ".")
		if len(parts) != 3 {
			return reject("no project: subject %q", m.Subject())
		}
		if project, err = strconv.ParseInt(parts[1], 10, 64); err != nil || project <= 0 {
			return reject("no project: subject %q", m.Subject())
		}
	}
	received, err := time.Parse(time.RFC3339Nano, h.Get(streams.HeaderReceived))
	if err != nil {
		return reject("header %s is not an RFC 3339 time: %q", streams.HeaderReceived, h.Get(streams.HeaderReceived))
	}
	md, err := m.Metadata()
	if err != nil {
		return fmt.Errorf("message metadata: %w", err)
	}
	body, err := streams.DecodeEnvelope(h, m.Data(), streams.MaxInlineEnvelope, nil)
	if err != nil {
		return reject("%v", err)
	}
	if name := h.Get(streams.HeaderBlob); name != "" {
		body, err = s.blobs.GetBytes(ctx, name)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return reject("envelope blob %q is gone", name)
		}
		if err != nil {
			return fmt.Errorf("fetch envelope blob %q: %w", name, err)
		}
	}
	env, err := envelope.Parse(body, s.opt.Envelope)
	if err != nil {
		return reject("envelope: %v", err)
	}
	// A bad item rejects the whole message without leaving half of it in
	// the batch.
	before := r.mark()
	if err := envelopeRows(r, project, md.Sequence.Stream, received.UTC(), env); err != nil {
		r.truncate(before)
		return reject("%v", err)
	}
	return nil
}

// decodeOutcomes turns an OUTCOMES batch into outcome rows, named by the
// message's stream sequence so a redelivery writes the same keys.
func (s *Service) decodeOutcomes(_ context.Context, m jetstream.Msg, r *rows) error {
	b, err := streams.DecodeOutcomes(m.Data())
	if err != nil {
		return reject("%v", err)
	}
	md, err := m.Metadata()
	if err != nil {
		return fmt.Errorf("message metadata: %w", err)
	}
	src := "gateway:" + strconv.FormatUint(md.Sequence.Stream, 10) + ":"
	for i, o := range b.Outcomes {
		r.outcomes = append(r.outcomes, outcomeRow{ProjectID: uint64(o.ProjectID), Timestamp: o.Hour.UTC().Truncate(time.Hour),
			Source: src + strconv.Itoa(i), Category: o.Category, Outcome: o.Outcome, Reason: o.Reason, Quantity: o.Quantity})
	}
	return nil
}

// decodeGrouped turns an events.<project>.grouped or .regrouped message
// into an error row.
//
// A regrouped event's row has the key of the row its grouped message
// wrote (project, time, event id): the errors table, a ReplacingMergeTree
// without a version, keeps the row inserted last, which is the regrouped
// one, since the role inserts EVENTS in stream order. Within a batch the
// role keeps only the newer row itself, as the order of two rows of one
// key in one insert is not the table's to keep. A grouped message
// delivered again (its first insert failed, or its acknowledgement was
// lost) can come after its event's regrouped one: its row is written only
// if the event has none (unstored).
func (s *Service) decodeGrouped(_ context.Context, m jetstream.Msg, r *rows) error {
	regrouped := strings.HasSuffix(m.Subject(), ".regrouped")
	var g streams.GroupedMessage
	var err error
	if regrouped {
		g, err = streams.DecodeRegrouped(m.Data(), s.zdec)
	} else {
		g, err = streams.DecodeGrouped(m.Headers(), m.Data(), s.zdec)
	}
	if err != nil {
		return reject("%v", err)
	}
	row, err := errorRowOf(g)
	if err != nil {
		return reject("%v", err)
	}
	if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 && !regrouped {
		row.redelivered = true
	}
	if regrouped {
		for i := len(r.errors) - 1; i >= 0; i-- {
			if o := &r.errors[i]; o.EventID == row.EventID && o.ProjectID == row.ProjectID && o.Timestamp.Equal(row.Timestamp) {
				*o = row
				return nil
			}
		}
	}
	r.errors = append(r.errors, row)
	return nil
}

func errorRowOf(g streams.GroupedMessage) (errorRow, error) {
	var e groupedEvent
	if err := json.Unmarshal(g.Event, &e); err != nil {
		return errorRow{}, fmt.Errorf("grouped event %s: %w", g.EventID, err)
	}
	keys, values := e.Tags.split()
	typ := string(e.Type)
	if typ == "" {
		typ = "error"
	}
	return errorRow{
		ProjectID: uint64(g.ProjectID), Timestamp: orNow(e.Timestamp.t, g.Received).UTC(), EventID: g.EventID,
		IssueID: uint64(max(g.IssueID, 0)), TraceID: string(e.Contexts.Trace.TraceID), SpanID: string(e.Contexts.Trace.SpanID),
		Transaction: string(e.Transaction), Level: string(e.Level), Title: string(e.Title), Type: typ,
		Release: string(e.Release), Environment: string(e.Environment), User: e.User.key(), Platform: string(e.Platform),
		TagKeys: keys, TagValues: values, Received: g.Received.UTC(),
	}, nil
}

// checkedLimits are the envelope limits for envelopes the gateway accepted;
// the items analytics decodes are checked by json.Unmarshal.
func checkedLimits() envelope.Limits {
	l := envelope.DefaultLimits
	l.PayloadsChecked = true
	return l
}

// QuietAfter is how long a daily partition goes without a new part
// before the role merges it into one (OptimizeQuiet).
const QuietAfter = 10 * time.Minute

// maintain drops partitions past the retention, hourly, and merges quiet
// partitions every QuietAfter.
func (s *Service) maintain(ctx context.Context) {
	var dropped time.Time
	for {
		now := time.Now()
		if s.opt.RetentionDays > 0 && now.Sub(dropped) >= time.Hour {
			dropped = now
			if err := DropExpired(ctx, s.ch, now, s.opt.RetentionDays); err != nil && ctx.Err() == nil {
				s.log.Warn("dropping expired analytics partitions failed; will retry", slog.Any("error", err))
			}
		}
		if err := OptimizeQuiet(ctx, s.ch, QuietAfter); err != nil && ctx.Err() == nil {
			s.log.Warn("merging quiet analytics partitions failed; will retry", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(QuietAfter):
		}
	}
}

// OptimizeQuiet merges each daily partition of the role's tables that has
// had no new part for quiet and is not yet one merged part into one part
// (OPTIMIZE ... FINAL), so libs/analyticsquery reads it without FINAL. A
// redelivery into it later makes it a FINAL read again until it is quiet
// once more.
func OptimizeQuiet(ctx context.Context, c clickhouse.Conn, quiet time.Duration) error {
	parts, err := partitions(ctx, c, "(count() > 1 OR min(level) = 0) AND max(modification_time) <= now() - ?", uint32(quiet/time.Second))
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := c.Exec(ctx, "OPTIMIZE TABLE "+p.table+" PARTITION ID '"+p.id+"' FINAL"); err != nil {
			return fmt.Errorf("merge partition %s of %s: %w", p.id, p.table, err)
		}
	}
	return nil
}

// DropExpired drops every daily partition of the role's tables older than
// days before now.
func DropExpired(ctx context.Context, c clickhouse.Conn, now time.Time, days int) error {
	cutoff := now.UTC().AddDate(0, 0, -days).Format("20060102")
	parts, err := partitions(ctx, c, "partition_id < ?", cutoff)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := c.Exec(ctx, "ALTER TABLE "+p.table+" DROP PARTITION ID '"+p.id+"'"); err != nil {
			return fmt.Errorf("drop partition %s of %s: %w", p.id, p.table, err)
		}
	}
	return nil
}

// partition is a daily partition of one of the role's tables.
type partition struct{ table, id string }

// partitions are the daily partitions of the role's tables that hold
// active parts and meet having, an SQL condition over system.parts'
// partition_id and aggregates of its columns, with its parameters args.
// Both fields come from system.parts, and the ids are checked to be
// numbers: safe in the SQL text of a statement.
func partitions(ctx context.Context, c clickhouse.Conn, having string, args ...any) ([]partition, error) {
	rows, err := c.Query(ctx, `SELECT table, partition_id FROM system.parts
		WHERE database = currentDatabase() AND active AND has(?, table)
		GROUP BY table, partition_id HAVING `+having, append([]any{Tables}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []partition
	for rows.Next() {
		var p partition
		if err := rows.Scan(&p.table, &p.id); err != nil {
			return nil, err
		}
		if _, err := strconv.ParseUint(p.id, 10, 32); err == nil {
			out = append(out, p)
		}
	}
	return out, rows.Err()
}
